"""Crop presets: each file's values as its source gives them, and the layering defaults < preset < file < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from dfembed.core.errors import ConfigError
from dfembed.crop.presets import preset_values, resolve_crop_options
from dfembed.faces.config import PRESET_NAMES, CropConfig
from tests.support import REPO


def test_every_preset_has_a_file_and_resolves() -> None:
    assert {p.stem for p in (REPO / "dfembed" / "resources" / "presets").glob("*.yaml")} == set(PRESET_NAMES)
    for name in PRESET_NAMES:
        assert resolve_crop_options(None, {"preset": name}).preset == name


def test_the_dfembed_preset_is_the_defaults() -> None:
    assert preset_values("dfembed") == {}
    assert resolve_crop_options(None) == CropConfig()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # DeepfakeBench img_align_crop: similarity onto the five-point template, scale 1.3, 256 px, largest face
        ("deepfakebench", {"align": "similarity", "align_scale": 1.3, "size": 256, "faces": "largest",
                           "frames_per_video": 32}),
        # SBI crop_face(phase='test'): w/4 * 0.5 = 1/8 of the box on each side, 380 px
        ("sbi", {"margin": 0.125, "size": 380, "faces": "all"}),
        # DFDC winner extract_crops.py: w // 3 each side, MTCNN thresholds 0.85 0.95 0.95, all faces
        ("dfdc-winner", {"margin": 0.3333, "size": 380, "faces": "all", "thresholds": (0.85, 0.95, 0.95)}),
    ],
)
def test_preset_values(name: str, expected: dict[str, object]) -> None:
    config = resolve_crop_options(None, {"preset": name})
    assert {key: getattr(config, key) for key in expected} == expected


def test_file_and_flags_win_over_the_preset(tmp_path: Path) -> None:
    file = tmp_path / "crop.yaml"
    file.write_text("preset: sbi\nsize: 300\n")
    from_file = resolve_crop_options(file, {"size": None})
    assert (from_file.preset, from_file.margin, from_file.size) == ("sbi", 0.125, 300)
    flagged = resolve_crop_options(file, {"preset": "dfdc-winner", "size": 200})
    assert (flagged.preset, flagged.margin, flagged.size) == ("dfdc-winner", 0.3333, 200)


def test_unknown_preset_is_a_config_error() -> None:
    for call in (lambda: resolve_crop_options(None, {"preset": "nope"}), lambda: preset_values("nope")):
        with pytest.raises(ConfigError, match="unknown crop preset 'nope'; choose one of: dfembed, deepfakebench"):
            call()


def test_one_file_sets_a_preset_and_the_audio_tiles(tmp_path: Path) -> None:
    from dfembed.audio.config import AudioConfig
    from dfembed.crop.presets import resolve_crop_configs

    file = tmp_path / "crop.yaml"
    file.write_text("preset: sbi\nsize: 300\naudio: true\nn_mels: 64\n")
    crop, audio = resolve_crop_configs(file, {"audio_hop": 0.5, "size": None}, also=(AudioConfig,))
    assert (crop.preset, crop.margin, crop.size) == ("sbi", 0.125, 300)
    assert (audio.audio, audio.n_mels, audio.audio_hop) == (True, 64, 0.5)
    file.write_text("preset: sbi\nsample_rte: 8000\n")
    with pytest.raises(ConfigError, match=r"unknown option 'sample_rte'"):
        resolve_crop_configs(file, {}, also=(AudioConfig,))
