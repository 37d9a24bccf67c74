"""The classifier head: embeddings of crops and the SVM fitted on them.

Shared by the per-epoch validation callback and the final step of training, which fits
the SVM on every training crop and bundles it with what inference must check.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from dfembed.core.classes import CLASSES
from dfembed.core.config import json_ready
from dfembed.core.provenance import library_versions
from dfembed.model.classifier import ClassifierBundle, EmbeddingSVM
from dfembed.train.batches import CropImages, resolve_workers
from dfembed.train.config import TrainConfig
from dfembed.train.crops import Crop
from dfembed.train.distributed import local_embedder
from dfembed.train.pseudo import PseudoFakes

log = logging.getLogger(__name__)


def balanced_subset(crops: Sequence[Crop], limit: int, seed: int) -> list[Crop]:
    """At most ``limit`` crops, half of each class where possible, drawn with ``seed``."""
    chosen: list[Crop] = []
    rng = np.random.default_rng(seed)
    for label in CLASSES.values():
        pool = [c for c in crops if c.label == label]
        take = min(len(pool), limit // 2)
        chosen.extend(pool[i] for i in sorted(rng.choice(len(pool), size=take, replace=False)))
    return chosen


def embed(
    model: keras.Model, crops: Sequence[Crop], config: TrainConfig, pseudo: PseudoFakes | None = None
) -> np.ndarray:
    """Embeddings of ``crops`` (resized, not augmented; a pseudo-fake crop is its self-blend),
    shape ``(n, embedding_dim)``.

    A model trained under a TensorFlow strategy is run on this process alone
    (:func:`~dfembed.train.distributed.local_embedder`): no other worker takes part.
    """
    paths = [c.path for c in crops]
    images = CropImages(paths, config.image_size, config.embed_batch_size, workers=resolve_workers(config.workers),
                        blend_seeds=[c.blend_seed for c in crops], pseudo=pseudo)
    local = local_embedder(model)
    if local is not None:
        return np.concatenate([local(images[i]) for i in range(len(images))]).astype(np.float32)[: len(paths)]
    return np.asarray(model.predict(images, verbose=0), dtype=np.float32)[: len(paths)]


def fit_classifier(embeddings: np.ndarray, crops: Sequence[Crop], config: TrainConfig) -> EmbeddingSVM:
    """Fit the calibrated SVM on embeddings of ``crops``."""
    classifier = EmbeddingSVM(
        kernel=config.svm_kernel, C=config.svm_c, calibration_cv=config.svm_calibration_cv, random_state=config.seed
    )
    return classifier.fit(embeddings, crop_labels(crops))


def crop_labels(crops: Sequence[Crop]) -> np.ndarray:
    """The crops' labels (fake = 1) as an ``int64`` array."""
    return np.asarray([c.label for c in crops], dtype=np.int64)


def fit_final_classifier(
    model: keras.Model, train: Sequence[Crop], config: TrainConfig, crop_config: dict[str, Any] | None,
    pseudo: PseudoFakes | None = None,
    detector: dict[str, Any] | None = None,
) -> ClassifierBundle:
    """Embed every training crop (no augmentation), fit the SVM and bundle it for inference.

    Args:
        model: The trained embedding model.
        train: All training crops (with pseudo-fakes: one self-blend of each real crop too).
        config: The training configuration (recorded in the bundle).
        crop_config: The crop stage's configuration, when the crops came from it.
        pseudo: Maker of the pseudo-fakes among ``train``.
        detector: The crop stage's record of its face detector, when known.

    Returns:
        The :class:`~dfembed.model.classifier.ClassifierBundle` to save as OUT_PKL.
    """
    log.info("embedding %d training crops for the final SVM", len(train))
    classifier = fit_classifier(embed(model, train, config, pseudo), train, config)
    return ClassifierBundle(
        classifier=classifier,
        embedding_dim=config.embedding_dim,
        backbone=config.backbone,
        image_size=config.image_size,
        crop_config=crop_config,
        train_config=json_ready(config),
        versions=library_versions(),
        detector=detector,
    )
