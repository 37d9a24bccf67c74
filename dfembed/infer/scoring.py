"""Scoring face crops: the embedding model, then the SVM bundle's P(fake).

:func:`load_checked` loads the embedding model and the classifier bundle and checks that
they belong together; :class:`FaceScorer` turns face crops into P(fake) (zero-padded
batches, optional flip TTA), refusing a P(fake) outside [0, 1] or a non-finite embedding
as a faulty model (:mod:`dfembed.model.outputs`) instead of writing it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dfembed.model.outputs import check_embeddings, check_p_fake

if TYPE_CHECKING:  # the model modules import Keras; this module is imported without it
    import keras

    from dfembed.model.classifier import ClassifierBundle
    from dfembed.model.network import ModelInfo

log = logging.getLogger(__name__)

#: Face crops ``(n, s, s, 3)`` uint8 RGB at the model's input size → P(fake) of each, ``(n,)``.
Scorer = Callable[[np.ndarray], np.ndarray]
#: Face crops → ``(P(fake) (n,), embeddings (n, d))``: what a temporal model needs besides the scores.
EmbeddingScorer = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def load_classifier_checked(model_h5: Path, svm_pkl: Path, trust_pickle: bool = False) -> ClassifierBundle:
    """Load the classifier (the safe file beside SVM_PKL; a pickle only when trusted) and check
    that MODEL_H5 is a model it was fitted for (SHA-256), without loading the model.

    Args:
        model_h5: The embedding model (``train.py``'s OUT_H5).
        svm_pkl: ``train.py``'s OUT_PKL (``svm.pkl``, whose ``svm.npz`` is read) or ``svm.npz``.
        trust_pickle: Allow unpickling SVM_PKL when it has no safe file (**runs code**).

    Returns:
        The bundle.

    Raises:
        InputError: A file is missing, unreadable or damaged, only a pickle exists without
            ``trust_pickle``, or the model is not the classifier's.
    """
    from dfembed.model.safe_bundle import load_classifier

    loaded = load_classifier(svm_pkl, trust_pickle)
    loaded.check_model(model_h5)
    return loaded.bundle


def load_checked(
    model_h5: Path, svm_pkl: Path, trust_pickle: bool = False
) -> tuple[keras.Model, ClassifierBundle, ModelInfo]:
    """Load the embedding model and the classifier and check that they belong together.

    The classifier is read from its safe file (no code runs); SVM_PKL itself, a joblib
    pickle, is loaded only with ``trust_pickle`` — **loading a pickle runs code**.

    Args:
        model_h5: The embedding model (``train.py``'s OUT_H5).
        svm_pkl: The classifier (``train.py``'s OUT_PKL, or the ``.npz`` beside it).
        trust_pickle: Allow unpickling SVM_PKL when it has no safe file.

    Returns:
        ``(model, bundle, model_info)``.

    Raises:
        InputError: A file is missing, unreadable or damaged, the model is not the one the
            classifier was fitted for, or the two do not match (backbone, image size or
            embedding size).
    """
    from dfembed.model.classifier import check_compatible
    from dfembed.model.network import load_embedding_model, model_info

    bundle = load_classifier_checked(model_h5, svm_pkl, trust_pickle)
    model = load_embedding_model(model_h5)
    info = model_info(model)
    check_compatible(bundle, info)
    log.info("model %s: %s, %d px, %d-d embeddings", model_h5, info.backbone, info.image_size, info.embedding_dim)
    return model, bundle, info


class FaceScorer:
    """Face crops → P(fake): embedding model, then the SVM, optionally with flip TTA.

    Batches are zero-padded to ``batch_size`` so the compiled predict function sees one
    shape only.

    Args:
        model: The embedding model (input: RGB pixels 0..255).
        classifier: Fitted estimator with ``predict_proba``.
        batch_size: Faces per model call.
        tta: ``"flip"`` averages each face's P(fake) with its mirror image's.
        fake_column: Column of P(fake) in ``predict_proba``'s output.
        model_name: How messages name the model (its files) when it gives a P(fake) outside
            [0, 1] or a non-finite embedding.
    """

    def __init__(self, model: Any, classifier: Any, batch_size: int, tta: str = "none", fake_column: int = 1,
                 model_name: str = "the Keras model and its classifier") -> None:
        self.model = model
        self.classifier = classifier
        self.batch_size = batch_size
        self.tta = tta
        self.fake_column = fake_column
        self.model_name = model_name

    @classmethod
    def from_bundle(cls, model: Any, bundle: ClassifierBundle, batch_size: int, tta: str = "none",
                    model_name: str = "the Keras model and its classifier") -> FaceScorer:
        """Build a scorer whose P(fake) column is found from the bundle's class mapping.

        Args:
            model: The embedding model.
            bundle: A :class:`~dfembed.model.classifier.ClassifierBundle` (``classifier`` with
                ``classes_`` and ``class_mapping["fake"]``, the label of FAKE).
            batch_size: Faces per model call.
            tta: ``"none"`` or ``"flip"``.
            model_name: How messages name the model (its files).

        Returns:
            The scorer.

        Raises:
            InputError: The classifier has no class with the FAKE label.
        """
        from dfembed.core.errors import InputError

        classes = list(np.asarray(bundle.classifier.classes_).tolist())
        fake = bundle.class_mapping["fake"]
        if fake not in classes:
            raise InputError(f"the classifier's classes {classes} do not include the FAKE label {fake}")
        return cls(model, bundle.classifier, batch_size, tta, classes.index(fake), model_name)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Score face crops.

        Args:
            images: ``(n, s, s, 3)`` uint8 RGB crops at the model's input size.

        Returns:
            P(fake) of each crop, shape ``(n,)``.

        Raises:
            InputError: The model is faulty: a P(fake) outside [0, 1] or a non-finite embedding.
        """
        if len(images) == 0:
            return np.zeros((0,), dtype=np.float64)
        scores = self._proba(images)
        if self.tta == "flip":
            scores = (scores + self._proba(images[:, :, ::-1])) / 2.0
        return scores

    def scores_and_embeddings(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score face crops and return their embeddings too (an :data:`EmbeddingScorer`).

        Args:
            images: ``(n, s, s, 3)`` uint8 RGB crops at the model's input size.

        Returns:
            ``(scores (n,), embeddings (n, d))``; with flip TTA the scores average both
            views and the embeddings are those of the crops as given.

        Raises:
            InputError: The model is faulty: a P(fake) outside [0, 1] or a non-finite embedding.
        """
        if len(images) == 0:
            return np.zeros((0,), dtype=np.float64), np.zeros((0, 0), dtype=np.float32)
        embeddings = self.embed(images)
        scores = self._p_fake(embeddings)
        if self.tta == "flip":
            scores = (scores + self._proba(images[:, :, ::-1])) / 2.0
        return scores, embeddings

    def embed(self, images: np.ndarray) -> np.ndarray:
        """Embed crops in padded batches; returns ``(n, embedding_dim)``, checked to be finite.

        Raises:
            InputError: The model gave a NaN or infinite embedding (a faulty model).
        """
        out = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            padded = np.zeros((self.batch_size, *chunk.shape[1:]), dtype=np.float32)
            padded[: len(chunk)] = chunk
            out.append(np.asarray(self.model.predict_on_batch(padded))[: len(chunk)])
        return check_embeddings(np.concatenate(out), self.model_name)

    def _proba(self, images: np.ndarray) -> np.ndarray:
        return self._p_fake(self.embed(images))

    def _p_fake(self, embeddings: np.ndarray) -> np.ndarray:
        """The classifier's P(fake) of each embedding, checked to be a number in [0, 1]."""
        scores = np.asarray(self.classifier.predict_proba(embeddings))[:, self.fake_column]
        return check_p_fake(scores, self.model_name, len(embeddings))
