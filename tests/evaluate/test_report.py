"""``dfembed evaluate report``: evaluations gathered as rows = model, columns = data set, cells = frame/video AUC."""

from __future__ import annotations

import html
import json
import re
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


def test_force_replaces_only_a_report_that_dfembed_wrote(evaluations: list[Path], tmp_path: Path) -> None:
    from dfembed.core.errors import ConfigError, OutputExistsError

    run_report(evaluations[:1], tmp_path / "r")
    run_report(evaluations[:2], tmp_path / "r", force=True)  # its own earlier report
    notes = tmp_path / "r" / "report.md"
    notes.write_text("my own notes\n")
    with pytest.raises(OutputExistsError, match="report.md: not written by dfembed"):
        run_report(evaluations[:1], tmp_path / "r", force=True)
    assert notes.read_text() == "my own notes\n"
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.json").write_text("{}")
    with pytest.raises(OutputExistsError, match="not written by dfembed"):
        run_report(evaluations[:1], mine, force=True)
    with pytest.raises(ConfigError, match="overlaps EVAL_DIR"):
        run_report(evaluations[:1], evaluations[0], force=True)


def test_report_names_a_folder_that_is_no_evaluation(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    with pytest.raises(InputError, match="no readable metrics.json"):
        run_report([tmp_path / "x"], tmp_path / "r")


def _metrics_file(folder: Path, levels: object, **names: object) -> Path:
    """A metrics.json with hand-written ``levels`` (and ``model``/``dataset`` when given), as any file could hold."""
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"model": "m", "dataset": "d", **names, "levels": levels}))
    return folder


@pytest.mark.parametrize(("levels", "key", "problem"), [
    ({"video": {"roc_auc": 5.0}}, "levels.video.roc_auc is 5.0", "not a number in [0, 1]"),
    ({"video": {"roc_auc": float("nan")}}, "levels.video.roc_auc is nan", "not a number in [0, 1]"),
    ({"video": {"roc_auc": "high"}}, "levels.video.roc_auc is 'high'", "not a number in [0, 1]"),
    ({"video": {"roc_auc": True}}, "levels.video.roc_auc is True", "not a number in [0, 1]"),
    ({"video": {"roc_auc": 0.5, "accuracy": -0.1}}, "levels.video.accuracy is -0.1", "not a number in [0, 1]"),
    ({"video": {"roc_auc": 0.5, "average_precision": 1.5}}, "levels.video.average_precision is 1.5", "[0, 1]"),
    ({"video": {"roc_auc": 0.5, "log_loss": -1}}, "levels.video.log_loss is -1", "of at least 0"),
    ({"video": {"roc_auc": 0.5, "log_loss": float("inf")}}, "levels.video.log_loss is inf", "a finite number"),
    ({"video": {"roc_auc": 0.5, "n": -3}}, "levels.video.n is -3", "not a count"),
    ({"video": {"roc_auc": 0.5, "n_fake": 2.5}}, "levels.video.n_fake is 2.5", "not a count"),
    ({"video": {"roc_auc": 0.5}, "frame": {"roc_auc": 1e308 * 10}, "video_mean": {"roc_auc": 0.5}},
     "levels.frame.roc_auc is inf", "not a number in [0, 1]"),
    ({"video": {"roc_auc": 0.5}, "frame": [0.9]}, "levels.frame must be an object of metrics", "got [0.9]"),
])
def test_each_metric_read_is_checked_naming_the_file_and_the_key(tmp_path: Path, levels: dict, key: str,
                                                                 problem: str) -> None:
    folder = _metrics_file(tmp_path / "e", levels)
    with pytest.raises(InputError) as error:
        run_report([folder], tmp_path / "r")
    message = str(error.value)
    assert message.startswith(f"{folder / 'metrics.json'}: {key}") and problem in message
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_an_undefined_metric_is_null_and_reads_as_a_dash(tmp_path: Path) -> None:
    folder = _metrics_file(tmp_path / "e", {"video": {"roc_auc": None, "n": 4, "n_real": 4, "n_fake": 0,
                                                      "log_loss": 0.1, "accuracy": 1.0}})
    run_report([folder], tmp_path / "r")
    assert "| m | – / – | – / – |" in (tmp_path / "r" / "report.md").read_text()


def test_names_cannot_add_markdown_to_the_report(tmp_path: Path) -> None:
    """Rendered by Python-Markdown (MkDocs's renderer), each name is one cell reading as written, and no markup."""
    markdown = pytest.importorskip("markdown")
    model = "evil | 1.000 / 1.000 |\n# *big* `code` [link](http://x) <img src=x onerror=alert(1)> _u_ ~s~ $x$ &lt; \\"
    folders = [_metrics_file(tmp_path / "a", {"video": {"roc_auc": 0.5}}, model=model, dataset="FF++ [c23]"),
               _metrics_file(tmp_path / "b", {"video": {"roc_auc": 0.75}}, model="$\\undefinedcommand$",
                             dataset="_hidden")]
    run_report(folders, tmp_path / "r")
    page = markdown.markdown((tmp_path / "r" / "report.md").read_text(), extensions=["tables"])
    rows = [re.findall(r"<t[hd]>(.*?)</t[hd]>", row, re.S) for row in re.findall(r"<tr>(.*?)</tr>", page, re.S)]
    shown = [[html.unescape(cell) for cell in row] for row in rows]
    assert shown == [["model", "FF++ [c23]", "_hidden", "mean"],
                     [" ".join(model.split()), "– / 0.500", "–", "– / 0.500"],  # the line break reads as a space
                     ["$\\undefinedcommand$", "–", "– / 0.750", "– / 0.750"]]
    assert not re.search(r"<(img|em|strong|code|a|del|h2|script)\b", page) and page.count("<h1>") == 1  # the title
    assert (tmp_path / "r" / "report.png").stat().st_size > 0  # "$\undefinedcommand$" is no mathtext for the plot
    assert json.loads((tmp_path / "r" / "report.json").read_text())["cells"][0]["model"] == model


def test_names_that_differ_only_in_white_space_or_are_not_text(tmp_path: Path) -> None:
    one = _metrics_file(tmp_path / "a", {"video": {"roc_auc": 0.5}}, model="a b")
    two = _metrics_file(tmp_path / "b", {"video": {"roc_auc": 0.5}}, model="a\nb", dataset="other")
    with pytest.raises(InputError, match=r"model names 'a b' and 'a\\nb' differ only in white space"):
        run_report([one, two], tmp_path / "r")
    three = _metrics_file(tmp_path / "c", {"video": {"roc_auc": 0.5}}, model={"x": 1})
    with pytest.raises(InputError, match=r"metrics.json: 'model' must be a name \(text\), got \{'x': 1\}"):
        run_report([three], tmp_path / "r3")
