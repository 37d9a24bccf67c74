"""Inference stage: configuration, then end to end on the shared sample data with a tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest

from dfembed.config import resolve_config
from dfembed.errors import ConfigError
from dfembed.infer_config import InferConfig, parse_crop_options

REPO = Path(__file__).resolve().parents[1]


def test_resources_yaml_equals_defaults() -> None:
    assert resolve_config(InferConfig, REPO / "resources" / "inference.yaml") == InferConfig()


def test_crop_overrides_named_fields_win() -> None:
    config = InferConfig(frames_per_video=3, crop_options=("frames_per_video=9", "thresholds=[0.6, 0.7, 0.7]"))
    assert config.crop_overrides() == {"frames_per_video": 3, "thresholds": [0.6, 0.7, 0.7]}


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"clip": [0.9, 0.1]}, "clip must be"),
        ({"no_face_score": 1.5}, "no_face_score must lie in"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"aggregate": "median"}, "not one of"),
        ({"crop_options": ["margin"]}, "not KEY=VALUE"),
    ],
)
def test_bad_options_rejected(overrides: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        resolve_config(InferConfig, None, overrides)


def test_parse_crop_options_reads_yaml_values() -> None:
    assert parse_crop_options(("min-face-size=20", "faces=all")) == {"min_face_size": 20, "faces": "all"}
