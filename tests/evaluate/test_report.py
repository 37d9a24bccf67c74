"""``dfembed evaluate report``: evaluations gathered as rows = model, columns = data set, cells = frame/video AUC."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dfembed.cli import main
from dfembed.core.errors import InputError
from dfembed.evaluate.report import run_report


def _evaluation(folder: Path, model: str, dataset: str, frame: float | None, video_mean: float | None,
                video: float) -> Path:
    """A metrics.json as dfembed evaluate writes it (only what the report reads)."""
    levels = {"video": {"roc_auc": video}}
    if video_mean is not None:
        levels |= {"frame": {"roc_auc": frame}, "video_mean": {"roc_auc": video_mean}}
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"model": model, "dataset": dataset, "levels": levels}))
    return folder


@pytest.fixture
def evaluations(tmp_path: Path) -> list[Path]:
    return [
        _evaluation(tmp_path / "a", "sbi", "FF++ c23 test", 0.9, 0.95, 0.93),
        _evaluation(tmp_path / "b", "sbi", "Celeb-DF v2 test", 0.7, 0.75, 0.74),
        _evaluation(tmp_path / "c", "baseline", "FF++ c23 test", 0.8, 0.85, 0.84),
        _evaluation(tmp_path / "d", "baseline", "DFDC", None, None, 0.5),  # no inference record
    ]


def test_report_table_rows_models_columns_datasets(evaluations: list[Path], tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["evaluate", "report", *map(str, evaluations), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "r" / "report.md").read_text()
    assert "| model | FF++ c23 test | Celeb-DF v2 test | DFDC | mean |" in text
    # video = mean of frames where the record gave it; means over the data sets each model has
    assert "| sbi | 0.900 / 0.950 | 0.700 / 0.750 | – | 0.800 / 0.850 |" in text
    assert "| baseline | 0.800 / 0.850 | – | – / 0.500 | 0.800 / 0.675 |" in text
    assert (tmp_path / "r" / "report.png").stat().st_size > 0
    record = json.loads((tmp_path / "r" / "report.json").read_text())
    assert len(record["cells"]) == 4 and record["cells"][3]["video_level"] == "video"


def test_report_refuses_existing_output_and_a_duplicate_cell(evaluations: list[Path], tmp_path: Path) -> None:
    run_report(evaluations[:1], tmp_path / "r")
    with pytest.raises(Exception, match="--force"):
        run_report(evaluations[:1], tmp_path / "r")
    with pytest.raises(InputError, match="two evaluations of model 'sbi' on 'FF\\+\\+ c23 test'"):
        run_report([evaluations[0], evaluations[0]], tmp_path / "r2")


def test_report_names_a_folder_that_is_no_evaluation(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    with pytest.raises(InputError, match="no readable metrics.json"):
        run_report([tmp_path / "x"], tmp_path / "r")
