"""Timelines to masked sequences, on hand-written arrays."""

from __future__ import annotations

import numpy as np
import pytest

from dfembed.core.config import resolve_config
from dfembed.core.errors import ConfigError
from dfembed.model.sequence import SequenceSpec, gather_sequences, nearest_face, sequence_positions


def test_evenly_spread_positions_run_from_the_first_to_the_last_entry() -> None:
    # linspace(0, 10, 4) = 0, 3.33, 6.67, 10 → rounded 0, 3, 7, 10
    np.testing.assert_array_equal(sequence_positions(11, 4)[0], [0, 3, 7, 10])
    (short,) = sequence_positions(3, 4)
    np.testing.assert_array_equal(short, [0, 1, 2])  # shorter than T: all of it


def test_windows_start_every_stride_entries_while_they_fit() -> None:
    windows = sequence_positions(7, 3, window=2)
    assert [w.tolist() for w in windows] == [[0, 1, 2], [2, 3, 4], [4, 5, 6]]
    assert [w.tolist() for w in sequence_positions(2, 3, window=2)] == [[0, 1]]


def test_gather_pads_with_masked_zeros_and_drops_sequences_without_a_face() -> None:
    values = np.arange(6, dtype=np.float32).reshape(6, 1) + 1.0  # entry k holds k + 1
    mask = np.array([True, True, False, False, False, True])
    spec = SequenceSpec(frames=2, window=2, min_faces=1)  # windows [0,1], [2,3], [4,5]
    sequences, masks = gather_sequences(values, mask, spec)
    np.testing.assert_array_equal(sequences[..., 0], [[1, 2], [5, 6]])  # [2,3] has no face: left out
    np.testing.assert_array_equal(masks, [[True, True], [False, True]])
    padded, padded_mask = gather_sequences(values[:1], mask[:1], SequenceSpec(frames=3, min_faces=1))
    np.testing.assert_array_equal(padded[0, :, 0], [1, 0, 0])
    np.testing.assert_array_equal(padded_mask, [[True, False, False]])


def test_nearest_face_fills_gaps_from_the_closest_face_earlier_on_ties() -> None:
    mask = np.array([False, True, False, False, True, False])
    np.testing.assert_array_equal(nearest_face(mask), [1, 1, 1, 4, 4, 4])  # entry 2: 1 away from 1, 2 from 4
    with pytest.raises(ValueError, match="no face"):
        nearest_face(np.zeros(3, bool))


def test_spec_values_are_checked_by_name() -> None:
    with pytest.raises(ConfigError, match="window must be at least 1"):
        resolve_config(SequenceSpec, None, {"window": 0})
