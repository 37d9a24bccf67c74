"""Tiles: window starts, the pixel ↔ dB map, flipped rows, padding, shifted views, tiles of a real file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from dfembed.audio.config import AudioConfig
from dfembed.audio.mel import LogMel
from dfembed.audio.tiles import (
    as_rgb,
    db_to_pixels,
    encode_png,
    make_tiles,
    pixels_to_db,
    shifted_columns,
    soundtrack_tiles,
    tile_starts,
)
from tests.audio.signals import sweep, write_video


@pytest.mark.parametrize(
    ("columns", "window", "hop", "starts"),
    [(641, 128, 64, [0, 64, 128, 192, 256, 320, 384, 448, 512]),  # 10 s at the defaults: 9 tiles
     (192, 128, 64, [0, 64]), (191, 128, 64, [0]), (128, 128, 64, [0]), (50, 128, 64, [0]), (10, 4, 3, [0, 3, 6])],
)
def test_tile_starts(columns: int, window: int, hop: int, starts: list[int]) -> None:
    assert tile_starts(columns, window, hop) == starts


def test_pixels_map_the_db_range_linearly_and_back() -> None:
    db = np.array([-100.0, -80.0, -64.0, -40.0, -0.1, 0.0])
    # (db + 80) * 255 / 80: -64 -> 51, -40 -> 127.5 -> 128 (round half to even), -0.1 -> 254.68 -> 255
    assert db_to_pixels(db, 80.0).tolist() == [0, 0, 51, 128, 255, 255]
    assert pixels_to_db(np.array([0, 51, 255], np.uint8), 80.0).tolist() == [-80.0, -64.0, 0.0]
    grid = np.linspace(-80.0, 0.0, 1001)
    assert np.max(np.abs(pixels_to_db(db_to_pixels(grid, 80.0), 80.0) - grid)) <= 80.0 / 510 + 1e-9


def _ramp_mel(bands: int, columns: int) -> LogMel:
    """dB = -column (0, -1, -2, …) plus -10 in band 0, so rows and columns can be told apart."""
    db = -np.tile(np.arange(columns, dtype=np.float32), (bands, 1))
    db[0] -= 10.0
    return LogMel(db, ref_db=3.0)


def test_tiles_cut_columns_with_the_highest_band_on_top_and_pad_the_end() -> None:
    config = AudioConfig(n_mels=4, n_fft=64, hop_length=16, sample_rate=8000, audio_window=0.016, audio_hop=0.008,
                         audio_top_db=80.0)
    assert (config.window_frames, config.hop_frames) == (8, 4)  # 0.016 s * 8000 / 16; 0.008 s
    tiles = make_tiles(_ramp_mel(4, 14), config)
    assert [(t.index, t.column) for t in tiles] == [(0, 0), (1, 4)]
    assert tiles[1].start == pytest.approx(4 * 16 / 8000) and tiles[1].end == pytest.approx(12 * 16 / 8000)
    expected = db_to_pixels(-np.arange(4, 12, dtype=np.float64), 80.0)
    assert tiles[1].pixels.shape == (4, 8) and tiles[1].pixels[0].tolist() == expected.tolist()
    assert tiles[1].pixels[3].tolist() == db_to_pixels(-np.arange(4, 12) - 10.0, 80.0).tolist()  # band 0 at the bottom
    short = make_tiles(_ramp_mel(4, 5), config)
    assert len(short) == 1 and short[0].end == pytest.approx(5 * 16 / 8000)
    assert short[0].pixels[0, 5:].tolist() == [0, 0, 0]  # padded with the floor


def test_shifted_views_stay_inside_the_spectrogram() -> None:
    config = AudioConfig()  # 128-column tiles, 250 samples per column at 16 kHz
    tiles = make_tiles(_ramp_mel(128, 641), config)
    # 0.1 s = 6.4 columns -> 6
    assert shifted_columns(tiles[0], 641, config, 0.1) == [0, 6]
    assert shifted_columns(tiles[4], 641, config, 0.1) == [256, 250, 262]
    assert shifted_columns(tiles[8], 641, config, 0.1) == [512, 506]  # 518 + 128 > 641
    assert shifted_columns(tiles[4], 641, config, 0.0) == [256]
    assert shifted_columns(make_tiles(_ramp_mel(128, 60), config)[0], 60, config, 0.1) == [0]


def test_png_and_rgb_are_what_the_image_readers_give(tmp_path: Path) -> None:
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    (tmp_path / "t.png").write_bytes(encode_png(pixels))
    read = cv2.imread(str(tmp_path / "t.png"), cv2.IMREAD_UNCHANGED)
    assert read.dtype == np.uint8 and read.tolist() == pixels.tolist()
    rgb = as_rgb([pixels, pixels])
    assert rgb.shape == (2, 3, 4, 3) and (rgb[..., 0] == rgb[..., 2]).all() and rgb[1, 2, 3, 1] == pixels[2, 3]


def test_a_three_second_sweep_gives_two_tiles(tmp_path: Path) -> None:
    path = write_video(tmp_path / "sweep.mp4", 3.0, sweep(3.0, 48000))
    track = soundtrack_tiles(path, AudioConfig())
    # about 48000 samples -> 1 + 48000 // 250 = 193 columns (a few more or fewer with AAC padding): starts 0, 64
    assert [t.column for t in track.tiles] == [0, 64]
    assert track.duration == pytest.approx(3.0, abs=0.05)
    assert all(t.pixels.shape == (128, 128) and t.pixels.dtype == np.uint8 for t in track.tiles)
    assert track.tiles[1].start == 1.0 and track.tiles[1].end == 3.0
    assert max(t.pixels.max() for t in track.tiles) == 255  # the loudest bin is in some tile
