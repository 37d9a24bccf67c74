"""Configuration of the evaluation stage (``dfembed evaluate PRED.csv LABELS``)."""

from __future__ import annotations

from dataclasses import dataclass

from dfembed.core.config import check


@dataclass(frozen=True)
class EvaluateConfig:
    """Options of ``dfembed evaluate``.

    Attributes:
        threshold: A score above it counts as FAKE (accuracy only; the other metrics
            use the scores themselves).
    """

    threshold: float = 0.5

    def __post_init__(self) -> None:
        check(0.0 <= self.threshold <= 1.0, "threshold", self.threshold, "in [0, 1]")
