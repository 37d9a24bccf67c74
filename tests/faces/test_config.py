"""CropConfig: the shipped default file equals the dataclass, bad values are named."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from dfembed.core.config import resolve_config
from dfembed.core.errors import ConfigError
from dfembed.faces.config import CropConfig
from tests.support import REPO


def test_resources_crop_yaml_is_the_defaults() -> None:
    path = REPO / "dfembed" / "resources" / "crop.yaml"
    assert set(yaml.safe_load(path.read_text())) == {f.name for f in dataclasses.fields(CropConfig)}
    assert resolve_config(CropConfig, path) == CropConfig()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("size: 4\n", "size must be an integer >= 8, got 4"), ("margin: -0.1\n", "margin"), ("faces: some\n", "not one of"),
     ("thresholds: [0.6, 0.7]\n", "expected 3 values"), ("thresholds: [0.6, 0.7, 1.5]\n", "thresholds"),
     ("scale_factor: 1.0\n", "scale_factor"), ("jobs: 0\n", "jobs"), ("group_regex: '(a'\n", "group_regex"),
     ("detector_min_face_size: 8\n", "detector_min_face_size"), ("jpeg_quality: 101\n", "jpeg_quality"),
     ("min_face_size: 0\n", "min_face_size must be >= 2, got 0"), ("min_face_size: 1\n", "min_face_size must be >= 2, got 1")],
)
def test_bad_values_name_the_option(tmp_path: Path, text: str, fragment: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=fragment):
        resolve_config(CropConfig, cfg)


def test_flags_override_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('faces = "all"\nthresholds = [0.5, 0.6, 0.7]\nframes-per-video = 4\n')
    config = resolve_config(CropConfig, cfg, {"frames_per_video": 2, "size": None})
    assert (config.faces, config.thresholds, config.frames_per_video, config.size) == ("all", (0.5, 0.6, 0.7), 2, 380)
