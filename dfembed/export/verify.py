"""The export's check: the written model, in its own runtime, against the Keras model and the SVM.

Seeded random crops go through (a) what inference with ``MODEL_H5 SVM_PKL`` computes — the
Keras embedding model, then the calibrated SVM in NumPy (float64) — and (b) the exported
file, loaded as a user would load it (ONNX Runtime, or TensorFlow for a SavedModel). The
largest differences of P(fake) and of the embeddings must stay within the tolerance, or
the export fails and nothing is written. A model trained in mixed precision is compared
through its float32 rebuild (what the export computes); how far that moved its outputs
is logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dfembed.core.errors import InputError
from dfembed.model.network import embed_images

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verification:
    """The largest differences between the exported model and the Keras path.

    Attributes:
        images: Crops compared.
        p_fake: Largest absolute difference of P(fake).
        embedding: Largest absolute difference of an embedding value.
        tolerance: The limit both had to stay within.
    """

    images: int
    p_fake: float
    embedding: float
    tolerance: float


def probe_images(count: int, size: int, seed: int) -> np.ndarray:
    """``count`` seeded random uint8 RGB crops of ``size`` px."""
    return np.random.default_rng(seed).integers(0, 256, size=(count, size, size, 3), dtype=np.uint8)


def keras_outputs(model: Any, classifier: Any, fake_column: int, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(fake) and embeddings as inference computes them from the Keras model and the classifier."""
    embeddings = embed_images(model, images.astype(np.float32), batch_size=len(images))
    return np.asarray(classifier.predict_proba(embeddings))[:, fake_column], embeddings


def onnx_outputs(path: Path, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(fake) and embeddings of the exported ONNX file, read and run as inference runs it (CPU)."""
    from dfembed.model.exported import load_exported

    return load_exported(path, provider="cpu").predict(images)


def saved_model_outputs(folder: Path, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(fake) and embeddings of the SavedModel's serving signature (TensorFlow)."""
    from dfembed.export.saved_model import load_signature
    from dfembed.model.contract import EMBEDDING_OUTPUT, INPUT_NAME, SCORE_OUTPUT

    outputs = load_signature(folder)(**{INPUT_NAME: images})
    return np.asarray(outputs[SCORE_OUTPUT]), np.asarray(outputs[EMBEDDING_OUTPUT])


def compare(expected: tuple[np.ndarray, np.ndarray], exported: tuple[np.ndarray, np.ndarray], tolerance: float,
            what: Path) -> Verification:
    """Check the exported outputs against the expected ones.

    Args:
        expected: ``(P(fake), embeddings)`` of the Keras path.
        exported: The same from the exported model.
        tolerance: Largest absolute difference allowed.
        what: The exported file, for the message.

    Returns:
        The differences.

    Raises:
        InputError: A difference exceeds ``tolerance`` (or the shapes differ).
    """
    (p_ref, e_ref), (p_out, e_out) = expected, exported
    if p_ref.shape != p_out.shape or e_ref.shape != e_out.shape:
        raise InputError(f"the exported model {what} gives outputs of shapes {p_out.shape}, {e_out.shape}; "
                         f"the Keras model {p_ref.shape}, {e_ref.shape}")
    result = Verification(len(p_ref), float(np.max(np.abs(p_ref - p_out))),
                          float(np.max(np.abs(e_ref.astype(np.float64) - e_out))), tolerance)
    if not (result.p_fake <= tolerance and result.embedding <= tolerance):
        raise InputError(f"the exported model {what} differs from the Keras model and its classifier by "
                         f"{result.p_fake:.2e} in P(fake) and {result.embedding:.2e} in the embeddings on "
                         f"{result.images} crops, more than the tolerance {tolerance:g}; nothing was written")
    log.info("verified %s on %d crops: P(fake) within %.1e, embeddings within %.1e of the Keras model", what,
             result.images, result.p_fake, result.embedding)
    return result


def log_precision_change(original: Any, rebuilt: Any, images: np.ndarray) -> None:
    """Log how far the float32 rebuild of a mixed-precision model moved its embeddings."""
    size = len(images)
    before = embed_images(original, images.astype(np.float32), batch_size=size).astype(np.float64)
    after = embed_images(rebuilt, images.astype(np.float32), batch_size=size)
    log.info("the float32 rebuild moves the embeddings of the mixed-precision model by at most %.2e",
             float(np.max(np.abs(before - after))))
