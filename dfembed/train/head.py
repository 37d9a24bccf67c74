"""Embeddings of crops and the SVM fitted on them, shared by the per-epoch validation
callback and the final classifier of the training stage.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from dfembed.model.classifier import EmbeddingSVM
from dfembed.train.batches import Crop, CropImages, resolve_workers
from dfembed.train.config import TrainConfig


def balanced_subset(crops: Sequence[Crop], limit: int, seed: int) -> list[Crop]:
    """At most ``limit`` crops, half of each class where possible, drawn with ``seed``."""
    chosen: list[Crop] = []
    rng = np.random.default_rng(seed)
    for label in (0, 1):
        pool = [c for c in crops if c.label == label]
        take = min(len(pool), limit // 2)
        chosen.extend(pool[i] for i in sorted(rng.choice(len(pool), size=take, replace=False)))
    return chosen


def embed(model: keras.Model, crops: Sequence[Crop], config: TrainConfig) -> np.ndarray:
    """Embeddings of ``crops`` (resized, not augmented), shape ``(n, embedding_dim)``."""
    paths = [c.path for c in crops]
    images = CropImages(paths, config.image_size, config.embed_batch_size, workers=resolve_workers(config.workers))
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
