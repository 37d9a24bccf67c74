"""Inference with an exported model that is faulty: one error naming the model, and no submission written.

The model files are tiny ONNX graphs (``tests/model/hostile_onnx.py``); faces come from the
bright-square stand-in detector, so no detector model is built.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from dfembed.core.errors import InputError
from dfembed.infer.config import InferConfig
from dfembed.infer.models import load_inference_model
from dfembed.infer.run import run_inference
from tests.fakes import BrightSquareDetector, frame
from tests.model.hostile_onnx import SIDE, hostile_onnx

pytest.importorskip("onnxruntime", reason="the ONNX extra (pip install -e '.[onnx]') is not installed")


@pytest.mark.parametrize(("options", "fragment"), [
    ({"score_add": float("nan")}, "gave P(fake) = nan for a face crop"),
    ({"score_add": 8.0}, "gave P(fake) = 8"),  # on a crop whose mean is m / 255, P(fake) = m / 255 + 8
    ({"embedding_add": float("-inf")}, "gave an embedding holding -inf"),
])
def test_the_scorer_of_a_faulty_exported_model_raises(tmp_path: Path, options: dict, fragment: str) -> None:
    path = hostile_onnx(tmp_path / "model.onnx", **options)
    scorer = load_inference_model(path, None, InferConfig()).make_scorer(InferConfig(tta="flip"))
    with pytest.raises(InputError, match=r"the model is faulty$") as error:
        scorer(np.full((3, SIDE, SIDE, 3), 40, np.uint8))
    assert str(error.value).startswith(f"model {path} {fragment}")


def test_inference_with_a_model_giving_nan_writes_no_submission(tmp_path: Path) -> None:
    (tmp_path / "test").mkdir()
    cv2.imwrite(str(tmp_path / "test" / "face.png"), frame(96, 64, 30, 10, 30, seed=1))  # one white square: a face
    model = hostile_onnx(tmp_path / "model.onnx", score_add=float("nan"))
    with pytest.raises(InputError, match=rf"^model {model} gave P\(fake\) = nan for a face crop"):
        run_inference(tmp_path / "test", tmp_path / "sub.csv", model, None, InferConfig(),
                      detector=BrightSquareDetector())
    assert not (tmp_path / "sub.csv").exists()
    healthy = hostile_onnx(tmp_path / "healthy.onnx", score_add=0.0)  # the same graph without the NaN scores
    run_inference(tmp_path / "test", tmp_path / "sub.csv", healthy, None, InferConfig(),
                  detector=BrightSquareDetector())
    rows = (tmp_path / "sub.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith("face.png,") and 0.0 <= float(rows[1].split(",")[1]) <= 1.0
