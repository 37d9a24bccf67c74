"""SpecAugment-style augmentation of log-mel tiles: frequency and time masks.

Park et al. (2019, "SpecAugment") mask ``F`` consecutive mel bands and ``T`` consecutive
time steps of a spectrogram, each width drawn uniformly; here each of ``freq_masks``
masks covers ``0 … freq_mask_width × rows`` rows and each of ``time_masks`` masks
``0 … time_mask_width × columns`` columns, at uniformly drawn positions, filled with the
tile's mean pixel (SpecAugment masks normalised spectrograms with their mean, zero). No
time warping, no flip (it would reverse time), no pixel noise. A tile is resized to the
model's input first, as :class:`~dfembed.train.augment.Augmenter` does, and every tile has
its own seed, so a batch is the same whichever thread builds it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from dfembed.faces.geometry import fit_size
from dfembed.train.config import TrainConfig


@dataclass(frozen=True)
class SpecAugmentParams:
    """Counts and widths of the masks.

    Attributes:
        image_size: Output side in pixels (every tile is resized to a square first).
        freq_masks: Frequency masks (bands of rows) per tile.
        freq_mask_width: Largest frequency mask, as a share of the rows.
        time_masks: Time masks (bands of columns) per tile.
        time_mask_width: Largest time mask, as a share of the columns.
    """

    image_size: int
    freq_masks: int = 2
    freq_mask_width: float = 0.15
    time_masks: int = 2
    time_mask_width: float = 0.15

    @classmethod
    def from_config(cls, config: TrainConfig) -> SpecAugmentParams:
        """Take the mask options of a training configuration (the fields of the same names)."""
        return cls(**{f.name: getattr(config, f.name) for f in dataclasses.fields(cls)})


def mask_bands(image: np.ndarray, params: SpecAugmentParams, rng: np.random.Generator) -> np.ndarray:
    """Apply the frequency masks, then the time masks, to a copy of ``image``.

    Args:
        image: ``(rows, columns, channels)`` uint8 tile.
        params: Mask counts and widths.
        rng: The random source.

    Returns:
        The masked copy; masked pixels hold ``round(mean(image))`` (the mean of the tile before masking).
    """
    out = image.copy()
    fill = np.uint8(round(float(image.mean())))
    rows, columns = image.shape[:2]
    for _ in range(params.freq_masks):
        start, stop = _band(rows, params.freq_mask_width, rng)
        out[start:stop] = fill
    for _ in range(params.time_masks):
        start, stop = _band(columns, params.time_mask_width, rng)
        out[:, start:stop] = fill
    return out


def _band(length: int, share: float, rng: np.random.Generator) -> tuple[int, int]:
    """A band of ``0 … floor(share × length)`` lines at a uniform position inside ``length``."""
    width = int(rng.integers(0, int(share * length) + 1))
    start = int(rng.integers(0, length - width + 1))
    return start, start + width


class SpecAugmenter:
    """Resizes a tile to the model's input and masks it with an explicit seed; safe to share across threads.

    Args:
        params: Mask counts and widths.
    """

    def __init__(self, params: SpecAugmentParams) -> None:
        self.params = params

    def __call__(self, image: np.ndarray, seed: int) -> np.ndarray:
        """Augment one tile.

        Args:
            image: ``uint8`` tile as the image readers give it, ``(H, W, 3)``.
            seed: The tile's seed; the same seed gives the same output.

        Returns:
            A ``uint8`` image of shape ``(image_size, image_size, 3)``.
        """
        return mask_bands(fit_size(image, self.params.image_size), self.params, np.random.default_rng(seed))
