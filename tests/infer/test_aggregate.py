"""Frame → video aggregation on hand-written arrays (expected values derived in comments)."""

from __future__ import annotations

import numpy as np
import pytest

from dfembed.core.errors import ConfigError
from dfembed.infer.aggregate import (
    AGGREGATORS,
    aggregate_file,
    confident,
    get_aggregator,
    maximum,
    mean,
    reduce_frames,
)


def test_mean_and_max() -> None:
    assert mean([0.2, 0.4, 0.9]) == pytest.approx(0.5)
    assert maximum([0.2, 0.4, 0.9]) == pytest.approx(0.9)


def test_confident_fake_branch_needs_more_than_eleven_and_n_over_2_5() -> None:
    # 32 frames: 32 // 2.5 = 12.0, so 13 frames at 0.9 are enough; their mean is 0.9.
    scores = [0.9] * 13 + [0.5] * 19
    assert confident(scores) == pytest.approx(0.9)


def test_confident_twelve_fakes_of_32_fall_back_to_mean() -> None:
    # 12 > 12.0 is false → mean of all: (12 * 0.9 + 20 * 0.5) / 32 = 20.8 / 32 = 0.65.
    scores = [0.9] * 12 + [0.5] * 20
    assert confident(scores) == pytest.approx(0.65)


def test_confident_fake_branch_needs_more_than_min_fakes() -> None:
    # 20 frames, 11 at 0.9: 11 > 20 // 2.5 = 8.0 but 11 > 11 is false → plain mean
    # (9.9 + 9 * 0.3) / 20 = 0.63.
    scores = [0.9] * 11 + [0.3] * 9
    assert confident(scores) == pytest.approx(0.63)
    # one more confident fake (12 > 11 and 12 > 21 // 2.5 = 8.0) → mean of the fakes, 0.9.
    assert confident(scores + [0.9]) == pytest.approx(0.9)


def test_confident_real_branch() -> None:
    # 30 of 32 below 0.2: 30 > 0.9 * 32 = 28.8 → mean of those 30 scores, 0.1.
    assert confident([0.1] * 30 + [0.7] * 2) == pytest.approx(0.1)
    # 28 of 32: 28 > 28.8 is false → mean of all: (2.8 + 4 * 0.7) / 32 = 0.175.
    assert confident([0.1] * 28 + [0.7] * 4) == pytest.approx(0.175)


def test_confident_threshold_is_strict() -> None:
    # scores equal to the threshold are not confident fakes: all 0.8 → plain mean 0.8.
    assert confident([0.8] * 32) == pytest.approx(0.8)
    assert confident([0.8] * 32, threshold=0.7) == pytest.approx(0.8)


def test_single_frame_is_its_own_score_for_every_strategy() -> None:
    for name, func in AGGREGATORS.items():
        assert func([0.37]) == pytest.approx(0.37), name


def test_reduce_frames_takes_max_per_frame_in_frame_order() -> None:
    frames = [5, 0, 5, 2, 0]
    scores = [0.1, 0.3, 0.7, 0.4, 0.2]
    np.testing.assert_allclose(reduce_frames(frames, scores), [0.3, 0.4, 0.7])


def test_aggregate_file_max_then_mean() -> None:
    # frame 0: max(0.2, 0.6) = 0.6; frame 1: 0.4 → mean 0.5.
    assert aggregate_file([0, 0, 1], [0.2, 0.6, 0.4], mean) == pytest.approx(0.5)


def test_unknown_aggregator_lists_choices() -> None:
    with pytest.raises(ConfigError, match="unknown aggregation 'median'.*confident, max, mean"):
        get_aggregator("median")
    assert get_aggregator("confident") is confident


@pytest.mark.parametrize("bad", [[], [[0.1, 0.2]]])
def test_bad_shapes_rejected(bad: list) -> None:
    with pytest.raises(ValueError, match="non-empty 1-D"):
        mean(bad)


def test_reduce_frames_length_mismatch() -> None:
    with pytest.raises(ValueError, match="2 frame indices for 3 scores"):
        reduce_frames([0, 1], [0.1, 0.2, 0.3])
