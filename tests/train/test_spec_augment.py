"""SpecAugment masks on hand-built tiles: bands within their widths, the tile's mean as fill, seeded."""

from __future__ import annotations

import numpy as np

from dfembed.train.config import TrainConfig
from dfembed.train.spec_augment import SpecAugmenter, SpecAugmentParams, mask_bands


def _tile() -> np.ndarray:
    """A 40 × 50 checkerboard of 0 and 100: its mean, the fill, is 50, which no pixel holds."""
    rows, columns = np.indices((40, 50))
    return np.repeat(((rows + columns) % 2 * 100).astype(np.uint8)[..., None], 3, axis=2)


def test_masks_are_bands_of_rows_and_columns_filled_with_the_mean() -> None:
    tile = _tile()
    fill = 50
    params = SpecAugmentParams(image_size=40, freq_masks=1, freq_mask_width=0.25, time_masks=1, time_mask_width=0.2)
    for seed in range(30):
        out = mask_bands(tile, params, np.random.default_rng(seed))
        changed = out[..., 0] != tile[..., 0]
        masked_rows = np.flatnonzero(changed.all(axis=1))  # a frequency mask changes whole rows
        masked_columns = np.flatnonzero(changed.all(axis=0))
        assert len(masked_rows) <= 10 and len(masked_columns) <= 10  # floor(0.25 × 40), floor(0.2 × 50)
        for band in (masked_rows, masked_columns):
            assert band.size == 0 or (np.diff(band) == 1).all()  # one contiguous band each
        expected = np.zeros_like(changed)
        expected[masked_rows] = True
        expected[:, masked_columns] = True
        assert (changed == expected).all() and (out[expected] == fill).all()


def test_no_masks_leave_the_tile_and_the_same_seed_gives_the_same_tile() -> None:
    tile = _tile()
    none = SpecAugmentParams(image_size=40, freq_masks=0, time_masks=0)
    assert np.array_equal(mask_bands(tile, none, np.random.default_rng(1)), tile)
    augmenter = SpecAugmenter(SpecAugmentParams.from_config(TrainConfig(image_size=32)))
    first, again, other = augmenter(tile, 7), augmenter(tile, 7), augmenter(tile, 8)
    assert first.shape == (32, 32, 3) and first.dtype == np.uint8
    assert np.array_equal(first, again) and not np.array_equal(first, other)
