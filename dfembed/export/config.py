"""Configuration of the export stage (``dfembed export MODEL_H5 SVM_PKL OUT``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dfembed.core.config import check

#: The oldest ONNX opset the exported graph is written for (uint8 input, Cast, the SVM's float64 ops).
MIN_OPSET = 13


@dataclass(frozen=True)
class ExportConfig:
    """Every option of ``dfembed export``.

    Attributes:
        format: ``onnx`` (one ``model.onnx``, for ONNX Runtime and dfembed's inference) or
            ``savedmodel`` (a TensorFlow SavedModel, for TensorFlow Serving).
        opset: ONNX opset of the graph; none = tf2onnx's default.
        verify: After writing, run the exported model in its runtime (ONNX Runtime,
            TensorFlow) on seeded random crops and compare P(fake) and the embeddings with
            the Keras model and the classifier; a difference above ``tolerance`` is an
            error and nothing is written.
        verify_images: Crops of that comparison.
        tolerance: The largest difference allowed there.
        seed: Seed of the comparison's crops.
    """

    format: Literal["onnx", "savedmodel"] = "onnx"
    opset: int | None = None
    verify: bool = True
    verify_images: int = 8
    tolerance: float = 1e-4
    seed: int = 0

    def __post_init__(self) -> None:
        check(self.opset is None or self.opset >= MIN_OPSET, "opset", self.opset, f"at least {MIN_OPSET} or none")
        check(self.verify_images >= 1, "verify_images", self.verify_images, "at least 1")
        check(self.tolerance > 0, "tolerance", self.tolerance, "positive")
