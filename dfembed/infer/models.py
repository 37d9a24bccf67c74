"""The model inference scores with: a Keras embedding model and its classifier, or an exported model.

``inference.py TEST SUB_CSV MODEL_H5 SVM_PKL`` scores with the Keras model and the
classifier's safe file (:mod:`dfembed.infer.scoring`); ``inference.py TEST SUB_CSV
MODEL.onnx`` with an exported model (``dfembed export``) on ONNX Runtime, whose contract
gives the crop settings and face detector of training. :func:`load_inference_model` loads
either and gives what the rest of inference needs — the input size, the crop settings
and detector record of training, and the scorer — as one :class:`InferenceModel`.

An exported model is named by its ``.onnx`` file or its export folder; a Keras model by
its ``.h5``/``.hdf5``/``.keras`` file (:func:`is_keras_model`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dfembed.core.errors import ConfigError, InputError
from dfembed.infer.config import InferConfig
from dfembed.infer.scoring import FaceScorer, Scorer, load_checked

log = logging.getLogger(__name__)

#: Suffixes of a Keras embedding model file (``train.py``'s OUT_H5, or its ``.keras`` copy).
KERAS_SUFFIXES = (".h5", ".hdf5", ".keras")


def is_keras_model(path: Path) -> bool:
    """Whether ``path`` names a Keras model file (by its suffix), which needs its classifier beside it."""
    return path.suffix.lower() in KERAS_SUFFIXES


@dataclass
class InferenceModel:
    """What inference scores with, whichever kind of model it came from.

    Attributes:
        kind: ``"keras"`` (MODEL_H5 + SVM_PKL) or ``"onnx"`` (an exported model).
        image_size: The model's input size; crops are resized to it.
        crop_config: The crop configuration of training (``None``: unknown).
        detector: The crop stage's record of the training detector (``None``: unknown).
        make_scorer: Inference options → the scorer of face crops.
        model: The Keras embedding model (``None`` for an exported model).
        record: What the JSON record says about the model (kind, file, runtime).
        bundle: The classifier bundle of a Keras model (``None`` for an exported model).
    """

    kind: str
    image_size: int
    crop_config: dict[str, Any] | None
    detector: dict[str, Any] | None
    make_scorer: Callable[[InferConfig], Scorer]
    model: Any = None
    record: dict[str, Any] = field(default_factory=dict)
    bundle: Any = None


class ExportedScorer:
    """Face crops → P(fake) with an exported model, in batches, optionally with flip TTA.

    Args:
        model: The :class:`~dfembed.model.exported.ExportedModel`.
        batch_size: Faces per runtime call.
        tta: ``"flip"`` averages each face's P(fake) with its mirror image's.
    """

    def __init__(self, model: Any, batch_size: int, tta: str = "none") -> None:
        self.model = model
        self.batch_size = batch_size
        self.tta = tta

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """P(fake) of each crop ``(n, S, S, 3)``, shape ``(n,)``.

        Raises:
            InputError: ONNX Runtime fails on the crops, or the model is faulty (a P(fake)
                outside [0, 1], a non-finite embedding): :meth:`ExportedModel.predict` checks both.
        """
        return self.scores_and_embeddings(images)[0]

    def scores_and_embeddings(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(P(fake) (n,), embeddings (n, D))``; with flip TTA the scores average both views and the
        embeddings are those of the crops as given."""
        scores, embeddings = self._run(images)
        if self.tta == "flip":
            scores = (scores + self._run(images[:, :, ::-1])[0]) / 2.0
        return scores, embeddings

    def _run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        outputs = [self.model.predict(images[start : start + self.batch_size])
                   for start in range(0, max(len(images), 1), self.batch_size)]
        return np.concatenate([s for s, _ in outputs]), np.concatenate([e for _, e in outputs])


def load_inference_model(model: Path, svm_pkl: Path | None, config: InferConfig,
                         trust_pickle: bool = False) -> InferenceModel:
    """Load the model inference scores with, checked before any face is detected.

    Args:
        model: MODEL_H5 (with ``svm_pkl``) or an exported model (``.onnx`` or its folder; no ``svm_pkl``).
        svm_pkl: The classifier of a Keras model; ``None`` for an exported model.
        config: Inference options (``onnx_provider``; ``aggregate``).
        trust_pickle: Allow unpickling SVM_PKL when it has no safe file (**runs code**).

    Returns:
        The loaded model.

    Raises:
        InputError: A missing, damaged or mismatched model or classifier; a Keras model
            without a classifier, or an exported model with one.
        ConfigError: ``--aggregate temporal`` with an exported model, or a missing ONNX runtime.
    """
    if is_keras_model(model):
        if svm_pkl is None:
            raise InputError(f"MODEL {model} is a Keras model: give its classifier SVM_PKL after it "
                             "(inference.py TEST SUB_CSV MODEL_H5 SVM_PKL), or export the two with dfembed export")
        return _keras(model, svm_pkl, trust_pickle)
    if svm_pkl is not None:
        raise InputError(f"MODEL {model} is not a Keras model (.h5, .hdf5, .keras) but an exported model: it holds "
                         f"its classifier, so give no SVM_PKL ({svm_pkl})")
    return _exported(model, config)


def _keras(model_h5: Path, svm_pkl: Path, trust_pickle: bool) -> InferenceModel:
    model, bundle, info = load_checked(model_h5, svm_pkl, trust_pickle)

    def make_scorer(config: InferConfig) -> Scorer:
        return FaceScorer.from_bundle(model, bundle, config.batch_size, config.tta,
                                      model_name=f"{model_h5} (with classifier {svm_pkl})")

    return InferenceModel("keras", info.image_size, bundle.crop_config, getattr(bundle, "detector", None),
                          make_scorer, model, {"kind": "keras", "backbone": info.backbone}, bundle)


def _exported(path: Path, config: InferConfig) -> InferenceModel:
    from dfembed.model.exported import load_exported

    if config.aggregate == "temporal":
        raise ConfigError("--aggregate temporal reads the frames' embeddings with the Keras model: give MODEL_H5 and "
                          "SVM_PKL (an exported model holds no sequence model)")
    exported = load_exported(path, config.onnx_provider, config.onnx_threads)
    contract = exported.contract

    def make_scorer(options: InferConfig) -> Scorer:
        return ExportedScorer(exported, options.batch_size, options.tta)

    record = {"kind": "onnx", "file": str(exported.path), "sha256": exported.sha256, "providers": exported.providers,
              "backbone": contract.backbone, "kernel": contract.kernel}
    return InferenceModel("onnx", contract.image_size, contract.crop_config, contract.detector, make_scorer,
                          None, record)
