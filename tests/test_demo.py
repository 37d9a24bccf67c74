"""``dfembed demo``: the planning of a run, and the whole pipeline on the shared sample."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dfembed.cli import main
from dfembed.core.errors import InputError
from dfembed.demo import plan_demo
from tests.support import shared_path


def test_plan_uses_frames_and_videos_when_present(tmp_path: Path) -> None:
    (tmp_path / "frames").mkdir()
    (tmp_path / "videos").mkdir()
    plan = plan_demo(tmp_path)
    assert plan.train == tmp_path / "frames"
    assert plan.test_sets == (("frames", tmp_path / "frames"), ("videos", tmp_path / "videos"))


def test_plan_falls_back_to_data_itself(tmp_path: Path) -> None:
    data = tmp_path / "mine"
    (data / "real").mkdir(parents=True)
    plan = plan_demo(data)
    assert plan.train == data and plan.test_sets == (("mine", data),)
    with pytest.raises(InputError, match="is not a folder"):
        plan_demo(tmp_path / "absent")


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    data = shared_path("dfdc_sample")
    out = tmp_path / "demo"
    # fewer training steps than the default demo keep the test short; the stages are the same
    config = tmp_path / "demo.yaml"
    config.write_text("epochs: 1\nsteps_per_epoch: 2\ngallery_size: 8\n")
    result = CliRunner().invoke(main, ["demo", str(data), str(out), "--config", str(config), "-q"])
    assert result.exit_code == 0, result.output

    frames = _rows(out / "frames_predictions.csv")
    assert frames[0] == ["path", "y"] and len(frames) == 1 + 55  # every frame has a row
    videos = _rows(out / "videos_predictions.csv")
    assert videos[0] == ["filename", "label"] and len(videos) == 1 + 3  # one row per video
    assert all(0.0 <= float(value) <= 1.0 for _, value in frames[1:] + videos[1:])

    frames_record = json.loads((out / "frames_eval" / "metrics.json").read_text())
    assert frames_record["metrics"]["n"] == 55 and frames_record["metrics"]["n_real"] == 11
    videos_record = json.loads((out / "videos_eval" / "metrics.json").read_text())
    assert videos_record["matching"]["rows_without_label_examples"] == ["street_real_crowd.mp4"]
    for name in ("frames_eval/roc.png", "videos_eval/score_hist.png", "gallery.png", "model.h5", "svm.pkl"):
        assert (out / name).stat().st_size > 0
    assert str(out / "frames_eval" / "metrics.json") in result.output
    assert str(out / "gallery.png") in result.output

    again = CliRunner().invoke(main, ["demo", str(data), str(out), "-q"])
    assert again.exit_code == 1 and "use --force" in again.output


def test_demo_config_checks_training_settings_before_any_work() -> None:
    from dfembed.demo import DemoConfig

    with pytest.raises(ValueError, match="batch_size must be even and at least 4"):
        DemoConfig(batch_size=7)
    assert DemoConfig().train_config().batch_size == 8
