"""The configuration of ``dfembed explain``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dfembed.core.config import check
from dfembed.faces.config import detector_names


@dataclass(frozen=True)
class ExplainConfig:
    """Every option of ``dfembed explain``.

    Attributes:
        faces_per_frame: The most suspicious faces (highest P(fake)) explained per sampled frame.
        max_faces: At most this many faces in all (the most suspicious first).
        frames_per_video: Frames sampled from a video; none = as in training.
        detector: Face detector; none = the one the model was trained with.
        alpha: Weight of the heat map over the crop in the overlays.
        threshold: P(fake) above which a face or the file reads as fake in the report.
        aggregate: Frame → file score (:mod:`dfembed.infer.aggregate`), as ``dfembed infer`` does.
    """

    faces_per_frame: int = 1
    max_faces: int = 16
    frames_per_video: int | None = None
    detector: str | None = None
    alpha: float = 0.45
    threshold: float = 0.5
    aggregate: Literal["mean", "max", "confident"] = "confident"

    def __post_init__(self) -> None:
        for name in ("faces_per_frame", "max_faces", "frames_per_video"):
            value = getattr(self, name)
            check(value is None or value >= 1, name, value, "at least 1")
        check(self.detector is None or self.detector in detector_names(), "detector", self.detector,
              f"a registered face detector ({', '.join(detector_names())}) or none (as in training)")
        check(0.0 <= self.alpha <= 1.0, "alpha", self.alpha, "in [0, 1]")
        check(0.0 <= self.threshold <= 1.0, "threshold", self.threshold, "in [0, 1]")
