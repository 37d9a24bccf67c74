"""The training configuration: defaults, resources/train.yaml, validation, layering."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest
import yaml

from dfembed.core.config import resolve_config
from dfembed.core.errors import ConfigError
from dfembed.model.backbones import list_backbones
from dfembed.model.names import DEFAULT_DISTANCE, DISTANCE_NAMES
from dfembed.train.config import TrainConfig

RESOURCE = Path(__file__).resolve().parents[2] / "dfembed" / "resources" / "train.yaml"


def test_resource_file_lists_exactly_the_defaults() -> None:
    listed = yaml.safe_load(RESOURCE.read_text(encoding="utf-8"))
    defaults = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(TrainConfig()).items()}
    assert listed == defaults


def test_resource_file_resolves_to_the_defaults() -> None:
    assert resolve_config(TrainConfig, RESOURCE) == TrainConfig()


def test_upstream_defaults() -> None:
    config = TrainConfig()
    assert (config.backbone, config.image_size, config.batch_size, config.lr) == ("b4", 380, 28, 0.01)
    assert (config.embedding_dim, config.dropout, config.l2, config.margin) == (512, 0.4, 1e-4, 1.0)


def test_distance_and_backbone_names_are_the_same_everywhere() -> None:
    from dfembed.commands.train import train_command
    from dfembed.model.losses import DISTANCES

    choices = {option.name: tuple(option.type.choices) for option in train_command.params if option.name in
               ("distance", "backbone")}
    assert DISTANCE_NAMES == ("squared-L2", "L2") == tuple(DISTANCES) == choices["distance"]
    assert typing.get_args(typing.get_type_hints(TrainConfig)["distance"]) == DISTANCE_NAMES
    assert TrainConfig().distance == DEFAULT_DISTANCE == "squared-L2"
    assert list_backbones() == ("b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "lite0", "lite1", "lite2", "tiny")
    assert list_backbones() == choices["backbone"]


def test_flags_override_file(tmp_path: Path) -> None:
    file = tmp_path / "train.yaml"
    file.write_text("batch-size: 8\nepochs: 3\nnoise_std: [0.02, 0.04]\n", encoding="utf-8")
    config = resolve_config(TrainConfig, file, {"epochs": 5, "lr": None})
    assert (config.batch_size, config.epochs, config.noise_std, config.lr) == (8, 5, (0.02, 0.04), 0.01)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"batch_size": 7}, "batch_size must be even"),
        ({"batch_size": 2}, "batch_size must be even and at least 4"),
        ({"image_size": 16}, "image_size must be at least 32"),
        ({"jpeg_quality": (90, 50)}, "jpeg_quality must be a range"),
        ({"flip_p": 1.5}, "flip_p must be in [0, 1], got 1.5"),
        ({"val_fraction": 1.0}, "val_fraction must be in [0, 1), got 1.0"),
        ({"steps_per_epoch": 0}, "steps_per_epoch must be at least 1"),
        ({"seed": -1}, "seed must be 0 or more, got -1"),
        ({"backbone": "b9"},
         "backbone must be one of b0, b1, b2, b3, b4, b5, b6, b7, lite0, lite1, lite2, tiny, got 'b9'"),
        ({"schedule": "linear"}, "'linear' is not one of"),
        ({"batchsize": 8}, "unknown option 'batchsize'"),
        ({"modality": "audio", "pseudo_fakes": "sbi"}, "pseudo_fakes must be none with --modality audio"),
    ],
)
def test_bad_values_are_rejected_by_name(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=None) as caught:
        resolve_config(TrainConfig, None, overrides)
    assert message in str(caught.value)
