"""Log-mel tiles: fixed-duration windows of a track's spectrogram, as 8-bit grayscale images.

A tile is ``config.window_frames`` spectrogram columns starting every ``config.hop_frames``
columns (the first at column 0, the last that fits entirely; a track shorter than one tile
gives one tile, padded on the right with the floor). Its image has ``n_mels`` rows, the
highest band on top (row 0) as in a spectrogram plot, and one column per spectrogram
column. Pixel values map the dB range linearly, **pixel ``p`` = ``p * top_db / 255 -
top_db`` dB relative to the track's loudest bin** (0 → ``-top_db`` or below, 255 → the
loudest bin): :func:`db_to_pixels` and :func:`pixels_to_db`. The crop stage writes them as
PNG files, which the training stage reads with its image readers (grayscale → three equal
channels), and inference scores them from memory, the same way.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import cv2
import numpy as np

from dfembed.audio.config import AudioConfig
from dfembed.audio.decode import read_soundtrack
from dfembed.audio.mel import LogMel, log_mel


@dataclasses.dataclass(frozen=True)
class Tile:
    """One tile of a track.

    Attributes:
        index: Its rank in the track (0, 1, …).
        column: Its first spectrogram column.
        start: Time of that column, seconds from the soundtrack's first sample.
        end: Time one past its last real column (earlier than ``start + window`` for a padded tile).
        pixels: ``(n_mels, window_frames)`` uint8, the highest band in row 0.
    """

    index: int
    column: int
    start: float
    end: float
    pixels: np.ndarray


@dataclasses.dataclass(frozen=True)
class TrackTiles:
    """A soundtrack cut into tiles.

    Attributes:
        tiles: The tiles, in time order.
        mel: The whole track's log-mel spectrogram (for shifted views).
        duration: The soundtrack's length in seconds.
    """

    tiles: list[Tile]
    mel: LogMel
    duration: float


def tile_starts(columns: int, window: int, hop: int) -> list[int]:
    """First columns of the tiles of a spectrogram of ``columns`` columns.

    Args:
        columns: Spectrogram columns (>= 1).
        window: Columns per tile.
        hop: Columns between tile starts.

    Returns:
        ``0, hop, 2 hop, …`` up to the last start whose tile fits; ``[0]`` when none fits.
    """
    if columns <= window:
        return [0]
    return list(range(0, columns - window + 1, hop))


def db_to_pixels(db: np.ndarray, top_db: float) -> np.ndarray:
    """dB relative to the loudest bin (``<= 0``) → uint8 pixels: ``round((db + top_db) * 255 / top_db)``, clipped."""
    scaled = (np.asarray(db, dtype=np.float64) + top_db) * (255.0 / top_db)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def pixels_to_db(pixels: np.ndarray, top_db: float) -> np.ndarray:
    """uint8 pixels → dB relative to the track's loudest bin: ``p * top_db / 255 - top_db``."""
    return np.asarray(pixels, dtype=np.float64) * (top_db / 255.0) - top_db


def tile_image(mel: LogMel, column: int, config: AudioConfig) -> np.ndarray:
    """The image of the tile starting at ``column``: ``(n_mels, window_frames)`` uint8, floor-padded on the right."""
    window = config.window_frames
    db = mel.db[:, column : column + window]
    if db.shape[1] < window:
        db = np.pad(db, ((0, 0), (0, window - db.shape[1])), constant_values=-config.audio_top_db)
    return db_to_pixels(db[::-1], config.audio_top_db)


def make_tiles(mel: LogMel, config: AudioConfig) -> list[Tile]:
    """Cut a track's spectrogram into tiles (see the module docstring).

    Args:
        mel: The track's log-mel spectrogram.
        config: Tile settings (window, hop, rate, hop length, dB range).

    Returns:
        The tiles in time order (at least one).
    """
    columns = mel.db.shape[1]
    seconds = config.hop_length / config.sample_rate
    starts = tile_starts(columns, config.window_frames, config.hop_frames)
    return [Tile(i, a, a * seconds, min(a + config.window_frames, columns) * seconds, tile_image(mel, a, config))
            for i, a in enumerate(starts)]


def shifted_columns(tile: Tile, columns: int, config: AudioConfig, shift: float) -> list[int]:
    """First columns of a tile's views for time-shift TTA: the tile itself and ``±shift`` seconds.

    A view that would leave the spectrogram is dropped, so a tile at the track's edge (or a
    track shorter than a tile) has fewer views.

    Args:
        tile: The tile.
        columns: Columns of the whole spectrogram.
        config: Tile settings.
        shift: Shift in seconds (rounded to columns; ``0`` gives the tile alone).

    Returns:
        Start columns, the tile's own first.
    """
    step = round(shift * config.sample_rate / config.hop_length)
    last = max(columns - config.window_frames, 0)
    views = [tile.column] + [tile.column + d for d in (-step, step) if step > 0]
    return [c for i, c in enumerate(views) if i == 0 or 0 <= c <= last]


def soundtrack_tiles(path: str | os.PathLike[str], config: AudioConfig) -> TrackTiles:
    """Decode a file's soundtrack and cut it into tiles.

    Args:
        path: A video (or audio) file.
        config: Tile settings.

    Returns:
        The :class:`TrackTiles`.

    Raises:
        AudioError: No soundtrack, a silent one, or a file PyAV cannot read.
        ConfigError: Mel settings that leave a band empty.
    """
    samples = read_soundtrack(path, config.sample_rate, config.audio_silence_db)
    mel = log_mel(samples, config)
    return TrackTiles(make_tiles(mel, config), mel, samples.size / config.sample_rate)


def encode_png(pixels: np.ndarray) -> bytes:
    """A tile as 8-bit grayscale PNG bytes.

    Raises:
        ValueError: OpenCV could not encode the array.
    """
    ok, data = cv2.imencode(".png", np.ascontiguousarray(pixels, dtype=np.uint8))
    if not ok:
        raise ValueError(f"OpenCV could not encode a {pixels.shape} tile as PNG")
    return data.tobytes()


def as_rgb(images: Sequence[np.ndarray]) -> np.ndarray:
    """Tiles ``(H, W)`` → ``(n, H, W, 3)`` uint8 with three equal channels, as the image readers give them."""
    return np.repeat(np.stack([np.asarray(i, dtype=np.uint8) for i in images])[..., None], 3, axis=-1)
