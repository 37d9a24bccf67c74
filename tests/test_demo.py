"""``dfembed demo``: its arguments, the planning of a run, the pipeline on the embedded data and the shared sample."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import dfembed.demo
from dfembed.cli import main
from dfembed.core.errors import InputError
from dfembed.demo import DemoConfig, DemoResult, plan_demo
from tests.support import shared_path


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path | None, Path]]:
    """``run_demo`` replaced by a recorder of its DATA and OUT (nothing runs)."""
    seen: list[tuple[Path | None, Path]] = []

    def record(data: Path | None, out: Path, config: DemoConfig, force: bool = False) -> DemoResult:
        seen.append((data, out))
        return DemoResult(out, out / "model.h5", out / "svm.pkl")

    monkeypatch.setattr(dfembed.demo, "run_demo", record)
    return seen


def test_one_path_is_out_and_runs_on_the_embedded_data(calls: list, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 0, result.output
    assert calls == [(None, tmp_path / "out")]


def test_two_paths_are_data_and_out(calls: list, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", str(tmp_path / "data"), str(tmp_path / "out"), "-q"])
    assert result.exit_code == 0, result.output
    assert calls == [(tmp_path / "data", tmp_path / "out")]


def test_no_path_or_three_paths_are_usage_errors(calls: list) -> None:
    missing = CliRunner().invoke(main, ["demo"])
    assert missing.exit_code == 2 and "Missing argument '[DATA] OUT'" in missing.output
    three = CliRunner().invoke(main, ["demo", "a", "b", "c"])
    assert three.exit_code == 2 and "expected [DATA] OUT, got 3 paths: a b c" in three.output
    assert calls == []


def test_data_inside_out_is_refused_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "out" / "data" / "real").mkdir(parents=True)
    with pytest.raises(InputError, match="is inside OUT"):
        dfembed.demo.run_demo(tmp_path / "out" / "data", tmp_path / "out", DemoConfig())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["data"]


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


def _short_config(tmp_path: Path) -> Path:
    """Fewer training steps, smaller crops and one frame per video than the default demo: the same stages, sooner."""
    config = tmp_path / "demo.yaml"
    config.write_text("epochs: 1\nsteps_per_epoch: 2\ngallery_size: 8\nimage_size: 32\nframes_per_video: 1\n")
    return config


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


@pytest.mark.slow
def test_demo_without_data_runs_end_to_end_on_the_embedded_portraits(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    config = _short_config(tmp_path)
    result = CliRunner().invoke(main, ["demo", str(out), "--config", str(config), "-q"])
    assert result.exit_code == 0, result.output

    frames = _rows(out / "frames_predictions.csv")
    assert frames[0] == ["path", "y"] and len(frames) == 1 + 56  # 14 views of 2 portraits and of 2 swaps
    videos = _rows(out / "videos_predictions.csv")
    assert videos[0] == ["filename", "label"] and len(videos) == 1 + 4
    assert all(0.0 <= float(value) <= 1.0 for _, value in frames[1:] + videos[1:])
    frames_metrics = json.loads((out / "frames_eval" / "metrics.json").read_text())["metrics"]
    assert (frames_metrics["n"], frames_metrics["n_real"], frames_metrics["n_fake"]) == (56, 28, 28)
    videos_metrics = json.loads((out / "videos_eval" / "metrics.json").read_text())["metrics"]
    assert (videos_metrics["n_real"], videos_metrics["n_fake"]) == (2, 2)
    for name in ("frames_eval/roc.png", "videos_eval/score_hist.png", "gallery.png", "model.h5", "svm.npz"):
        assert (out / name).stat().st_size > 0

    record = json.loads((out / "dfembed-demo.json").read_text())
    assert record["data"] == "embedded" and record["config"]["seed"] == 0
    embedded = record["embedded_data"]
    assert embedded["folder"] == str(out / "data")
    assert embedded["counts"] == {"frames real": 28, "frames fake": 28, "videos real": 2, "videos fake": 2}
    data_record = json.loads((out / "data" / "dfembed-demo-data.json").read_text())
    assert sorted(data_record["portraits"]["sha256"]) == ["collins.jpg", "hopper.jpg"]
    assert str(out / "data") in result.output and str(out / "gallery.png") in result.output


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    data = shared_path("dfdc_sample")
    out = tmp_path / "demo"
    config = _short_config(tmp_path)
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
