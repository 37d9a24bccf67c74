"""Configuration of the evaluation stage (``dfembed evaluate PRED.csv LABELS``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dfembed.core.config import check
from dfembed.core.datasets import FFPP_DEFAULT_METHODS, FFPP_METHODS, check_methods


@dataclass(frozen=True)
class EvaluateConfig:
    """Options of ``dfembed evaluate``.

    Attributes:
        threshold: A score above it counts as FAKE (accuracy only; the other metrics
            use the scores themselves).
        layout: How a LABELS folder is read: ``auto`` (recognised, as ``crop_face.py`` does)
            or a forced layout.
        split: The subset of a FaceForensics++ or Celeb-DF v2 LABELS folder.
        compression: The FaceForensics++ quality folder of the labels.
        methods: The FaceForensics++ manipulations of the labels.
    """

    threshold: float = 0.5
    layout: Literal["auto", "labelled", "dfdc", "ffpp", "celebdf", "unlabelled"] = "auto"
    split: Literal["all", "train", "val", "test"] = "all"
    compression: Literal["raw", "c23", "c40"] = "c23"
    methods: tuple[str, ...] = FFPP_DEFAULT_METHODS

    def __post_init__(self) -> None:
        check(0.0 <= self.threshold <= 1.0, "threshold", self.threshold, "in [0, 1]")
        check(check_methods(self.methods), "methods", self.methods, f"one or more of {', '.join(FFPP_METHODS)}")
