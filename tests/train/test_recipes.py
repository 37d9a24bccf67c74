"""Training recipes: the shipped files resolve to valid configurations, and the CPU recipe trains from reals only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dfembed.core.resources import RESOURCES
from dfembed.train.config import resolve_train_config
from tests.support import REPO
from tests.train.test_run_sbi import _real_crops

RECIPES = sorted((RESOURCES / "recipes").glob("*.yaml"))


def test_recipes_are_shipped() -> None:
    assert [p.name for p in RECIPES] == ["sbi-cpu.yaml"]


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_every_recipe_resolves_to_a_valid_configuration(recipe: Path) -> None:
    config = resolve_train_config(recipe, {})
    assert config.pseudo_fakes == "sbi"  # every recipe learns from reals only


def test_the_cpu_recipe_stands_on_the_wheels_imagenet_lite0() -> None:
    config = resolve_train_config(RESOURCES / "recipes" / "sbi-cpu.yaml", {})
    assert (config.backbone, config.weights) == ("lite0", "imagenet")
    assert config.image_size <= 160  # a CPU recipe: a step must stay under a second on two cores


@pytest.mark.slow
def test_train_py_learns_from_reals_only_with_the_wheels_lite0(tmp_path: Path) -> None:
    """The documented command on a fresh clone: nothing downloaded, real crops only, a model and its SVM."""
    data = _real_crops(tmp_path / "reals")
    args = [sys.executable, str(REPO / "train.py"), str(data), str(tmp_path / "m.h5"), str(tmp_path / "m.pkl"),
            "--backbone", "lite0", "--pseudo-fakes", "sbi", "--image-size", "64", "--batch-size", "4", "--epochs", "1",
            "--steps-per-epoch", "2", "--embedding-dim", "8", "--val-fraction", "0", "--workers", "1",
            "--no-tensorboard", "-q"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((tmp_path / "m.dfembed-train.json").read_text())
    assert record["config"]["backbone"] == "lite0" and record["config"]["weights"] == "imagenet"
    assert (tmp_path / "m.npz").is_file()


def test_recipe_names_a_shipped_file_and_flags_still_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from dfembed.commands import train as train_module

    seen = {}

    def fake_run(data, out_h5, out_pkl, config, **_kwargs):  # noqa: ANN001, ANN202 - records the resolved config
        seen["config"] = config
        raise SystemExit(0)

    monkeypatch.setattr("dfembed.train.run.run_train", fake_run)
    result = CliRunner().invoke(train_module.train_command, [str(tmp_path), "m.h5", "m.pkl", "--recipe", "sbi-cpu",
                                                             "--image-size", "96"])
    assert result.exit_code == 0, result.output
    assert (seen["config"].backbone, seen["config"].image_size, seen["config"].pseudo_fakes) == ("lite0", 96, "sbi")


def test_recipe_and_config_together_are_refused(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from dfembed.commands.train import train_command

    config = tmp_path / "c.yaml"
    config.write_text("epochs: 1\n")
    result = CliRunner().invoke(train_command, [str(tmp_path), "m.h5", "m.pkl", "--recipe", "sbi-cpu",
                                                "--config", str(config)])
    assert result.exit_code == 2 and "give --recipe or --config, not both" in result.output
