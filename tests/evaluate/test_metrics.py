"""Metrics against scikit-learn and hand-derived values on hand-written arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

from dfembed.core.errors import InputError
from dfembed.evaluate.metrics import (
    MetricsInputError,
    compute_metrics,
    equal_error_rate,
    metrics_by_group,
)

Y = [0, 0, 1, 1, 0, 1, 1, 0]
S = [0.1, 0.7, 0.8, 0.4, 0.3, 0.95, 0.6, 0.2]


def test_metrics_equal_scikit_learn() -> None:
    m = compute_metrics(Y, S)
    # threshold 0.5: predictions 0,1,1,0,0,1,1,0 -> wrong at positions 1 and 3
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(Y, S))
    assert m["log_loss"] == pytest.approx(log_loss(Y, S))
    assert m["average_precision"] == pytest.approx(average_precision_score(Y, S))
    assert (m["n"], m["n_real"], m["n_fake"]) == (8, 4, 4)


def test_roc_auc_by_hand() -> None:
    # fake/real pairs ordered correctly: 0.8 beats all 4 reals, 0.4 beats 0.1, 0.3, 0.2,
    # 0.95 beats all, 0.6 beats 0.1, 0.3, 0.2 -> 14 of 16 pairs
    assert compute_metrics(Y, S)["roc_auc"] == pytest.approx(14 / 16)


def test_threshold_moves_accuracy() -> None:
    # threshold 0.75: predictions 0,0,1,0,0,1,0,0 -> wrong at positions 3 and 6
    assert compute_metrics(Y, S, threshold=0.75)["accuracy"] == pytest.approx(6 / 8)
    # a score equal to the threshold counts as REAL (as inference.py --hard-labels writes it)
    assert compute_metrics([0, 1], [0.5, 0.5], threshold=0.5)["accuracy"] == 0.5
    assert compute_metrics([0], [0.5], threshold=0.5)["accuracy"] == 1.0


def test_log_loss_clips_certain_mistakes() -> None:
    m = compute_metrics([0, 1], [1.0, 0.0])
    # each item costs about -ln(1e-15) = 34.54 (1 - 1e-15 rounds in float64, hence rel=1e-4)
    assert m["log_loss"] == pytest.approx(-math.log(1e-15), rel=1e-4)


def test_eer_on_a_vertical_roc_segment() -> None:
    # Reals 0.1, 0.2, 0.7 and one fake 0.5. For thresholds in (0.5, 0.7]: FPR = 1/3 and
    # FNR = 1; in (0.2, 0.5]: FPR = 1/3 and FNR = 0. FNR falls from 1 to 0 while FPR
    # stays at 1/3, so the rates meet at 1/3.
    assert equal_error_rate([0, 0, 0, 1], [0.1, 0.2, 0.7, 0.5]) == pytest.approx(1 / 3)


def test_eer_interpolates_ties_and_hits_exact_points() -> None:
    # A tie: the ROC goes straight from (0, 0) to (1, 1); FNR = 1 - FPR meets FPR at 1/2.
    assert equal_error_rate([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    # Threshold 0.6 flags real 0.6 and fake 0.9, misses fake 0.4: FPR = FNR = 1/2.
    assert equal_error_rate([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9]) == pytest.approx(0.5)
    # Perfect separation.
    assert equal_error_rate([0, 1, 0, 1], [0.2, 0.9, 0.1, 0.8]) == 0.0


def test_single_class_gives_nan_and_a_logged_reason(caplog: pytest.LogCaptureFixture) -> None:
    m = compute_metrics([1, 1, 1], [0.9, 0.2, 0.7])
    for name in ("roc_auc", "average_precision", "eer"):
        assert math.isnan(m[name])
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["log_loss"] == pytest.approx(log_loss([1, 1, 1], [0.9, 0.2, 0.7], labels=[0, 1]))
    assert "need both classes" in caplog.text
    assert math.isnan(equal_error_rate([0, 0], [0.3, 0.4]))


def test_metrics_by_group() -> None:
    groups = ["a", "a", "a", "b", "b", "b", "a", "b"]
    per = metrics_by_group(Y, S, groups)
    assert list(per) == ["a", "b"]
    a = [i for i, g in enumerate(groups) if g == "a"]
    assert per["a"]["n"] == 4
    assert per["a"]["roc_auc"] == pytest.approx(
        roc_auc_score([Y[i] for i in a], [S[i] for i in a])
    )
    with pytest.raises(MetricsInputError, match="groups has 2 entries but y_true has 8"):
        metrics_by_group(Y, S, ["a", "b"])


@pytest.mark.parametrize(
    ("y", "s", "message"),
    [
        ([0, 1], [0.5], "y_true has 2 items but y_score has 1"),
        ([], [], "empty"),
        ([0, 2], [0.1, 0.2], r"only 0 \(REAL\) and 1 \(FAKE\); found \[2.0\]"),
        ([0, 1], [0.1, float("nan")], "1 NaN values"),
        ([0, 1], [0.1, 1.5], r"in \[0, 1\]; found \[1.5\]"),
        ([[0, 1]], [[0.1, 0.2]], "1-D"),
        (["x", 1], [0.1, 0.2], "y_true must be numeric"),
    ],
)
def test_validation_errors(y: list, s: list, message: str) -> None:
    with pytest.raises(MetricsInputError, match=message) as info:
        compute_metrics(y, s)
    # usable both as a plain ValueError and as a dfembed error the CLI reports cleanly
    assert isinstance(info.value, ValueError) and isinstance(info.value, InputError)


def test_bad_threshold() -> None:
    with pytest.raises(MetricsInputError, match="threshold"):
        compute_metrics([0, 1], [0.1, 0.9], threshold=1.5)


def test_accepts_numpy_and_returns_plain_floats() -> None:
    m = compute_metrics(np.array([0, 1], dtype=bool), np.array([0.2, 0.8], dtype=np.float32))
    assert all(isinstance(v, (int, float)) for v in m.values())
    assert m["roc_auc"] == 1.0
