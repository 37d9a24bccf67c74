"""Every stage's options: types, choices and the defaults their help shows come from the dataclass."""

from __future__ import annotations

import dataclasses
import re
import typing

import click
import pytest
import yaml

from dfembed.audio.config import AudioConfig
from dfembed.cli import ConfigOption
from dfembed.commands.crop import crop_command
from dfembed.commands.demo import demo_command
from dfembed.commands.detectors import compare_command
from dfembed.commands.embed import embed_command
from dfembed.commands.evaluate import evaluate_command
from dfembed.commands.export import export_command
from dfembed.commands.infer import infer_command
from dfembed.commands.temporal import temporal_command
from dfembed.commands.train import train_command
from dfembed.demo import DemoConfig
from dfembed.detectors.config import CompareConfig
from dfembed.evaluate.config import EvaluateConfig
from dfembed.export.config import ExportConfig
from dfembed.faces.config import CropConfig
from dfembed.infer.config import InferConfig
from dfembed.temporal.config import EmbedConfig, TemporalConfig
from dfembed.train.config import TrainConfig

COMMANDS = [
    (crop_command, CropConfig, True),
    (crop_command, AudioConfig, True),  # the audio tiles' options of the crop stage
    (train_command, TrainConfig, True),
    (infer_command, InferConfig, True),
    (evaluate_command, EvaluateConfig, True),
    (embed_command, EmbedConfig, True),
    (temporal_command, TemporalConfig, True),
    (demo_command, DemoConfig, False),  # the demo exposes its seed; the rest goes through --config
    (compare_command, CompareConfig, True),
    (export_command, ExportConfig, True),
]
NONE_WORDS = ("none", "as in training", "start a local cluster", "one pass over the larger class",
              "the detector's default", "mtcnn if compared, else the first", "evenly", "frame model",
              "1 without fake crops, else 0.5", "tf2onnx's default", "one per core")


def _default(cls: type, name: str) -> object:
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    return field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default


def _bracket(help_text: str) -> str:
    match = re.search(r"\[([^\[\]]*)\]$", help_text.strip())
    assert match, f"no [default] at the end of {help_text!r}"
    return match.group(1)


def _shown(help_text: str) -> object:
    """The default a help text shows in its trailing ``[...]``, read back as YAML values."""
    text = _bracket(help_text)
    if text in NONE_WORDS:
        return None
    if text in ("on", "off"):
        return text == "on"
    values = [yaml.safe_load(part) for part in text.split(" ")]
    return values[0] if len(values) == 1 else values


@pytest.mark.parametrize(("command", "cls", "complete"), COMMANDS, ids=lambda x: getattr(x, "name", ""))
def test_help_shows_each_fields_default(command: click.Command, cls: type, complete: bool) -> None:
    options = [p for p in command.params if isinstance(p, ConfigOption)]
    assert options, command.name
    for option in options:
        default = _default(option.config_class, option.config_field)
        expected = list(default) if isinstance(default, tuple) else default
        if expected == []:
            expected = None
        shown = _bracket(option.help) if isinstance(expected, str) else _shown(option.help)
        assert shown == expected, (command.name, option.name)


@pytest.mark.parametrize(("command", "cls", "complete"), COMMANDS, ids=lambda x: getattr(x, "name", ""))
def test_every_option_of_a_field_is_built_from_it(command: click.Command, cls: type, complete: bool) -> None:
    fields = {f.name for f in dataclasses.fields(cls)}
    for param in command.params:
        if param.name in fields:
            assert isinstance(param, ConfigOption), f"{command.name} --{param.name} is hand-written"
            assert param.default is None  # "not given": the layered configuration decides
    if complete:
        assert fields <= {p.name for p in command.params}, fields - {p.name for p in command.params}


@pytest.mark.parametrize(("command", "cls", "complete"), COMMANDS, ids=lambda x: getattr(x, "name", ""))
def test_choices_are_the_literal_values(command: click.Command, cls: type, complete: bool) -> None:
    for option in (p for p in command.params if isinstance(p, ConfigOption)):
        hint = typing.get_type_hints(option.config_class)[option.config_field]
        literals = [h for h in (hint, *typing.get_args(hint)) if typing.get_origin(h) is typing.Literal]
        if literals:
            assert list(option.type.choices) == list(typing.get_args(literals[0])), option.name
