"""Every stage's options: types, choices and the defaults their help shows come from the dataclass."""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from dfembed.audio.config import AudioConfig
from dfembed.cli import ConfigOption, main, stage_command
from dfembed.commands.crop import crop_command
from dfembed.commands.demo import demo_command
from dfembed.commands.detectors import compare_command
from dfembed.commands.embed import embed_command
from dfembed.commands.evaluate import evaluate_command
from dfembed.commands.export import export_command
from dfembed.commands.infer import infer_command
from dfembed.commands.temporal import temporal_train_command
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
    (temporal_train_command, TemporalConfig, True),
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


def _leaf_commands() -> dict[str, click.Command]:
    """Every command of ``dfembed`` that runs (not a group), by its path."""
    found, todo = {}, [((), main)]
    while todo:
        path, command = todo.pop()
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            todo += [((*path, name), command.get_command(ctx, name)) for name in command.list_commands(ctx)]
        else:
            found[" ".join(path)] = command
    return found


@pytest.mark.parametrize("path", sorted(_leaf_commands()))
def test_every_help_shows_its_options_in_titled_sections(path: str) -> None:
    result = CliRunner().invoke(main, [*path.split(), "--help"], terminal_width=120)
    assert result.exit_code == 0, result.output
    headers = re.findall(r"^(\S.*):$", result.output, flags=re.M)
    assert "Options" not in headers, "an untitled list of options"
    sections = [h for h in headers if h.endswith(" options")]
    assert sections and sections[-1] == "General options", headers
    visible = [p for p in _leaf_commands()[path].params if isinstance(p, click.Option) and not p.hidden]
    for option in visible:
        assert re.search(rf"^\s+(\S+, )?{re.escape(option.opts[-1])}\b", result.output, flags=re.M), option.name


def test_a_command_whose_option_has_no_section_fails_when_it_is_defined() -> None:
    def define(**sections: tuple[str, ...]) -> None:
        @stage_command("probe", **sections)
        @click.option("--alpha")
        @click.option("--beta")
        def probe(alpha: str, beta: str) -> None:
            """A probe."""

    define(Input=("alpha",), Output=("beta",))
    with pytest.raises(TypeError, match="beta in no section"):
        define(Input=("alpha",))
    with pytest.raises(TypeError, match="gamma is no option"):
        define(Input=("alpha", "beta", "gamma"))
    with pytest.raises(TypeError, match="alpha in two sections"):
        define(Input=("alpha", "beta"), Output=("alpha",))


def test_evaluate_without_a_sub_command_name_scores_a_csv(tmp_path: Path) -> None:
    pred = tmp_path / "pred.csv"
    pred.write_text("filename,label\na.mp4,0.9\nb.mp4,0.1\n", encoding="utf-8")
    labels = tmp_path / "metadata.json"
    labels.write_text('{"a.mp4": {"label": "FAKE"}, "b.mp4": {"label": "REAL"}}', encoding="utf-8")
    short = CliRunner().invoke(main, ["evaluate", str(pred), str(labels), "--out", str(tmp_path / "e1")])
    long = CliRunner().invoke(main, ["evaluate", "score", str(pred), str(labels), "--out", str(tmp_path / "e2")])
    assert short.exit_code == 0 and long.exit_code == 0, short.output + long.output
    first, second = (json.loads((tmp_path / e / "metrics.json").read_text(encoding="utf-8")) for e in ("e1", "e2"))
    assert first["metrics"]["roc_auc"] == second["metrics"]["roc_auc"] == 1.0
    listing = CliRunner().invoke(main, ["evaluate", "--help"])
    assert all(name in listing.output for name in ("score", "report", "gallery"))


@pytest.mark.parametrize(("old", "new"), [("embed", "temporal embed"), ("train-temporal", "temporal train"),
                                          ("gallery", "evaluate gallery"), ("report", "evaluate report")])
def test_an_old_command_name_still_runs_the_renamed_command_and_says_so(
        old: str, new: str, tmp_path: Path) -> None:
    def args(missing: str) -> list[str]:
        return {"embed": [missing, __file__, f"{missing}-out"], "train-temporal": [missing, f"{missing}-out"],
                "gallery": ["--sbi", missing, f"{missing}.png"], "report": [missing]}[old]

    before = CliRunner().invoke(main, [old, *args(str(tmp_path / "gone"))])
    after = CliRunner().invoke(main, [*new.split(), *args(str(tmp_path / "gone"))])
    assert before.exit_code == after.exit_code != 0
    assert before.output.splitlines()[-1] == after.output.splitlines()[-1].replace(f"dfembed {new}", f"dfembed {old}")
    assert f"dfembed {old} is now dfembed {new}" in before.output
    assert old not in CliRunner().invoke(main, ["--help"]).output.split("Commands:")[1].split()


def test_ctrl_c_is_one_line_and_status_130() -> None:
    from dfembed.cli import INTERRUPTED_STATUS, stage_options

    @click.command()
    @stage_options
    def busy(config_file: Path | None) -> None:
        raise KeyboardInterrupt

    result = CliRunner().invoke(busy, [])
    assert result.exit_code == INTERRUPTED_STATUS == 130
    assert result.output.strip().splitlines() == [
        "Interrupted: finished work is kept; run the same command again to go on from there"]


@pytest.mark.parametrize("order", [["sub.csv", "svm.pkl", "model.h5"], ["svm.pkl", "model.h5"],
                                   ["sub.csv", "svm.npz", "model.keras"]])
def test_a_classifier_before_its_model_is_named_as_such(tmp_path: Path, order: list[str]) -> None:
    for name in order:
        (tmp_path / name).write_bytes(b"x")
    image = tmp_path / "face.png"
    image.write_bytes(b"x")
    result = CliRunner().invoke(main, ["infer", str(image), *(str(tmp_path / n) for n in order)])
    assert result.exit_code == 1
    line = result.output.strip().splitlines()[-1]
    assert "(a classifier) comes before" in line and "exported model" not in line
