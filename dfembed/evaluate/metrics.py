"""Binary deepfake-detection metrics: pure functions on label and score arrays.

Convention everywhere: label 1 is FAKE, 0 is REAL, and a score is P(fake) in [0, 1].
The same code serves ``dfembed evaluate`` and the per-epoch validation of ``train.py``.

Metrics that need both classes (ROC AUC, average precision, equal error rate) are NaN
when ``y_true`` holds a single class; the reason is logged, nothing is raised, so a
per-group table or a tiny validation split never stops a run.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    log_loss,
    roc_auc_score,
    roc_curve,
)

from dfembed.core.errors import InputError

log = logging.getLogger(__name__)

#: Scores are clipped to [LOG_LOSS_EPS, 1 - LOG_LOSS_EPS] for the log loss, so one
#: confident mistake costs about 34.5 nats instead of infinity (Kaggle's DFDC clip).
LOG_LOSS_EPS = 1e-15

#: Metrics that are undefined unless both classes are present.
RANKING_METRICS = ("roc_auc", "average_precision", "eer")


class MetricsInputError(InputError, ValueError):
    """Labels or scores unusable for metrics (a ``ValueError`` and a dfembed ``InputError``)."""


def compute_metrics(
    y_true: Sequence[Any] | np.ndarray,
    y_score: Sequence[Any] | np.ndarray,
    threshold: float = 0.5,
) -> dict[str, float]:
    """Compute the detection metrics of one set of predictions.

    Args:
        y_true: Labels, 1 for FAKE and 0 for REAL.
        y_score: P(fake) per item, in [0, 1].
        threshold: A score ``> threshold`` counts as a FAKE prediction (accuracy only),
            the rule of ``inference.py --hard-labels``.

    Returns:
        ``accuracy``, ``roc_auc``, ``log_loss`` (scores clipped to
        ``[LOG_LOSS_EPS, 1 - LOG_LOSS_EPS]``), ``average_precision`` (FAKE is the
        positive class), ``eer`` (equal error rate), and the counts ``n``, ``n_real``,
        ``n_fake``. Ranking metrics are NaN when only one class is present.

    Raises:
        MetricsInputError: Lengths differ, arrays are empty or not 1-D, labels are not
            0/1, scores are NaN or outside [0, 1], or the threshold is outside [0, 1].
    """
    y, s = check_predictions(y_true, y_score)
    return _metrics(y, s, threshold, log_undefined=True)


def equal_error_rate(
    y_true: Sequence[Any] | np.ndarray, y_score: Sequence[Any] | np.ndarray
) -> float:
    """Return the equal error rate: where the false-positive and false-negative rates meet.

    The ROC curve is a polyline; between two of its points both rates change linearly,
    so the crossing of FPR and FNR = 1 - TPR is found by linear interpolation on the
    first segment where ``FNR - FPR`` changes sign.

    Args:
        y_true: Labels, 1 for FAKE and 0 for REAL.
        y_score: P(fake) per item, in [0, 1].

    Returns:
        The EER in [0, 1], or NaN (with a logged reason) when only one class is present.

    Raises:
        MetricsInputError: As for :func:`compute_metrics`.
    """
    y, s = check_predictions(y_true, y_score)
    if _single_class_reason(y):
        log.warning("eer is undefined (NaN): %s", _single_class_reason(y))
        return math.nan
    return _eer(y, s)


def metrics_by_group(
    y_true: Sequence[Any] | np.ndarray,
    y_score: Sequence[Any] | np.ndarray,
    groups: Sequence[Any] | np.ndarray,
    threshold: float = 0.5,
) -> dict[str, dict[str, float]]:
    """Compute :func:`compute_metrics` separately for each group (e.g. DFDC source video).

    Args:
        y_true: Labels, 1 for FAKE and 0 for REAL.
        y_score: P(fake) per item, in [0, 1].
        groups: One group name per item; names are turned into strings.
        threshold: As for :func:`compute_metrics`.

    Returns:
        ``{group: metrics}`` with groups in sorted order.

    Raises:
        MetricsInputError: ``groups`` has a different length, or as for
            :func:`compute_metrics`.
    """
    y, s = check_predictions(y_true, y_score)
    names = np.asarray([str(g) for g in groups], dtype=object)
    if names.size != y.size:
        raise MetricsInputError(
            f"groups has {names.size} entries but y_true has {y.size}; expected one group per item"
        )
    result = {}
    for name in sorted(set(names)):
        mask = names == name
        log.debug("metrics for group %s (%d items)", name, int(mask.sum()))
        result[name] = _metrics(y[mask], s[mask], threshold, log_undefined=False)
    single = sum(1 for m in result.values() if m["n_real"] == 0 or m["n_fake"] == 0)
    if single:
        log.info(
            "%d of %d groups hold a single class: their %s are NaN",
            single, len(result), ", ".join(RANKING_METRICS),
        )  # fmt: skip
    return result


def check_predictions(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate labels and scores and return them as arrays.

    Args:
        y_true: Labels, 1 for FAKE and 0 for REAL.
        y_score: P(fake) per item, in [0, 1].

    Returns:
        ``(labels as int, scores as float)``, both 1-D of the same, non-zero length.

    Raises:
        MetricsInputError: Lengths differ, arrays are empty or not 1-D, labels are not
            0/1, or scores are NaN or outside [0, 1].
    """
    y = _as_1d(y_true, "y_true")
    s = _as_1d(y_score, "y_score")
    if y.size != s.size:
        raise MetricsInputError(f"y_true has {y.size} items but y_score has {s.size}")
    if y.size == 0:
        raise MetricsInputError("no predictions: y_true and y_score are empty")
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        raise MetricsInputError(
            f"y_true must hold only 0 (REAL) and 1 (FAKE); found {y[bad][:5].tolist()} "
            f"at positions {np.flatnonzero(bad)[:5].tolist()}"
        )
    _check_scores(s)
    return y.astype(int), s


def _metrics(y: np.ndarray, s: np.ndarray, threshold: float, log_undefined: bool) -> dict[str, float]:
    if not 0.0 <= threshold <= 1.0:
        raise MetricsInputError(f"threshold must be in [0, 1], got {threshold}")
    n_fake = int(y.sum())
    metrics: dict[str, float] = {
        "accuracy": float(accuracy_score(y, (s > threshold).astype(int))),
        "log_loss": float(
            log_loss(y, np.clip(s, LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS), labels=[0, 1])
        ),
    }
    metrics.update(_ranking_metrics(y, s, log_undefined))
    metrics.update({"n": int(y.size), "n_real": int(y.size - n_fake), "n_fake": n_fake})
    return metrics


def _ranking_metrics(y: np.ndarray, s: np.ndarray, log_undefined: bool) -> dict[str, float]:
    reason = _single_class_reason(y)
    if reason:
        log.log(logging.WARNING if log_undefined else logging.DEBUG,"%s are undefined (NaN): %s", ", ".join(RANKING_METRICS), reason)
        return {name: math.nan for name in RANKING_METRICS}
    return {
        "roc_auc": float(roc_auc_score(y, s)),
        "average_precision": float(average_precision_score(y, s)),
        "eer": _eer(y, s),
    }


def _eer(y: np.ndarray, s: np.ndarray) -> float:
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    diff = (1.0 - tpr) - fpr  # starts at 1 (threshold above every score), ends at -1
    i = int(np.argmax(diff <= 0.0))
    if diff[i] == 0.0:
        return float(fpr[i])
    t = diff[i - 1] / (diff[i - 1] - diff[i])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def _single_class_reason(y: np.ndarray) -> str:
    n_fake = int(y.sum())
    if 0 < n_fake < y.size:
        return ""
    only = "FAKE (1)" if n_fake else "REAL (0)"
    return f"they need both classes, but all {y.size} labels are {only}"


def _check_scores(s: np.ndarray) -> None:
    nan = np.isnan(s)
    if nan.any():
        raise MetricsInputError(
            f"y_score holds {int(nan.sum())} NaN values (first at position {int(np.argmax(nan))})"
        )
    out = (s < 0.0) | (s > 1.0)
    if out.any():
        raise MetricsInputError(
            f"y_score must be probabilities in [0, 1]; found {s[out][:5].tolist()} "
            f"at positions {np.flatnonzero(out)[:5].tolist()}"
        )


def _as_1d(values: Any, name: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise MetricsInputError(f"{name} must be numeric: {err}") from err
    if array.ndim != 1:
        raise MetricsInputError(f"{name} must be 1-D, got shape {array.shape}")
    return array
