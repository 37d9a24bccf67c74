"""``dfembed evaluate`` end to end through click's CliRunner."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sklearn.metrics import log_loss, roc_auc_score

from dfembed.cli import main
from tests.support import shared_path


def _evaluate(*args: str | Path) -> Result:
    return CliRunner().invoke(main, ["evaluate", *map(str, args)])


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def folder_labels(tmp_path: Path) -> Path:
    """real/r1.png, real/sub/r2.png, fake/f1.png, fake/f2.png (empty files suffice for labels)."""
    root = tmp_path / "labels"
    for rel in ("real/r1.png", "real/sub/r2.png", "fake/f1.png", "fake/f2.png"):
        _write(root / rel, "")
    return root


def test_dfdc_metadata_with_groups_and_unmatched_rows(tmp_path: Path) -> None:
    metadata = shared_path("dfdc_sample", "videos", "metadata.json")
    pred = _write(
        tmp_path / "sub.csv",
        "filename,label\nabofeumbvv.mp4,0.9\nabqwwspghj.mp4,0.3\n"
        "street_real_crowd.mp4,0.5\nabarnvbtwb.mp4,0.2\naagfhgtpmv.mp4,0.6\n",
    )
    result = _evaluate(pred, metadata)
    assert result.exit_code == 0, result.output
    out = tmp_path / "sub_eval"  # default: beside the prediction CSV
    for name in ("metrics.json", "roc.png", "score_hist.png"):
        assert (out / name).stat().st_size > 0
    record = json.loads((out / "metrics.json").read_text())
    y, s = [1, 1, 0, 1], [0.9, 0.3, 0.2, 0.6]  # the four rows with a label, in order
    assert record["metrics"]["roc_auc"] == pytest.approx(roc_auc_score(y, s))
    assert record["metrics"]["log_loss"] == pytest.approx(log_loss(y, s))
    assert record["metrics"]["accuracy"] == pytest.approx(3 / 4)  # 0.3 misses a fake
    assert record["matching"]["rows_without_label"] == 1
    assert record["matching"]["rows_without_label_examples"] == ["street_real_crowd.mp4"]
    assert record["matching"]["labels_without_row_examples"] == ["aapnvogymq.mp4"]
    # groups are the original videos; each holds one item here, so AUC is undefined (null)
    assert record["groups"]["qzimuostzz.mp4"]["accuracy"] == 0.0
    assert record["groups"]["abarnvbtwb.mp4"]["roc_auc"] is None
    assert record["versions"]["scikit-learn"]
    assert "auc" in result.output.lower() and str(out) in result.output


def test_folder_labels_dacon_format_matched_by_relative_path_and_basename(
    tmp_path: Path, folder_labels: Path
) -> None:
    pred = _write(
        tmp_path / "preds" / "dacon.csv",
        "path,y,note\ntest/real/r1.png,0.2,a\nsub/r2.png,0.7,b\nf1.png,0.8,c\nfake/f2.png,0.6,d\n",
    )
    result = _evaluate(pred, folder_labels, "--out", tmp_path / "ev", "--threshold", "0.65")
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    # threshold 0.65: 0.2 real ok, 0.7 real wrong, 0.8 fake ok, 0.6 fake wrong
    assert record["metrics"]["accuracy"] == pytest.approx(0.5)
    assert record["metrics"]["roc_auc"] == pytest.approx(roc_auc_score([0, 0, 1, 1], [0.2, 0.7, 0.8, 0.6]))
    assert record["metrics"]["n"] == 4 and record["groups"] == {}
    assert record["config"]["threshold"] == 0.65


def test_label_csv_groups_and_threshold_from_config_file(tmp_path: Path) -> None:
    labels = _write(tmp_path / "labels.csv", "path,label,group\na.png,REAL,g\nb.png,FAKE,g\nc.png,FAKE,h\n")
    pred = _write(tmp_path / "p.csv", "path,y\na.png,0.4\nb.png,0.45\nc.png,0.9\n")
    config = _write(tmp_path / "eval.yaml", "threshold: 0.42\n")
    result = _evaluate(pred, labels, "--config", config)
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "p_eval" / "metrics.json").read_text())
    assert record["metrics"]["accuracy"] == 1.0  # 0.4 < 0.42 < 0.45
    assert record["groups"]["g"]["roc_auc"] == 1.0
    assert record["groups"]["h"]["n"] == 1


def test_outputs_are_not_overwritten_without_force(tmp_path: Path, folder_labels: Path) -> None:
    pred = _write(tmp_path / "p.csv", "path,y\nr1.png,0.1\nf1.png,0.9\n")
    assert _evaluate(pred, folder_labels).exit_code == 0
    again = _evaluate(pred, folder_labels)
    assert again.exit_code == 1
    assert "exist; use --force" in again.output
    assert _evaluate(pred, folder_labels, "--force").exit_code == 0


@pytest.mark.parametrize(
    ("labels_csv", "pred_csv", "message"),
    [
        ("path,label\na/x.png,0\nb/x.png,1\n", "path,y\nx.png,0.5\n", r"'x.png' matches several files \(a/x.png, b/x.png\)"),
        ("path,label\nx.png,0\n", "path,y\na/x.png,0.5\nb/x.png,0.5\n", "several rows match the label of 'x.png'"),
        ("path,label\nx.png,0\n", "path,y\nother.png,0.5\n", "no row of .* matches a label"),
        ("path,label\nx.png,0\n", "path,y\nx.png,1.5\n", r"score '1.5' of row 'x.png' is not a probability"),
        ("path,label\nx.png,0\n", "path,y\nx.png,\n", r"score '' of row 'x.png'"),
        ("path,label\nx.png,0\n", "name,score\nx.png,0.5\n", "not a known submission format"),
    ],
)
def test_bad_inputs_are_clear_errors(tmp_path: Path, labels_csv: str, pred_csv: str, message: str) -> None:
    labels = _write(tmp_path / "labels.csv", labels_csv)
    pred = _write(tmp_path / "pred.csv", pred_csv)
    result = _evaluate(pred, labels)
    assert result.exit_code == 1
    error = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(error) == 1 and re.search(message, error[0]), result.output
    assert not (tmp_path / "pred_eval" / "metrics.json").exists()
