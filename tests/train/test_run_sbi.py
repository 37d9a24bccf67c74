"""Training with self-blended pseudo-fakes and no fake crop at all: CLI run, record, bundle, errors.

One short run (B0, random weights, 32 px, batches of 4, one epoch of two steps) on generated
real crops whose manifest gives the face's landmarks in crop pixels. Contracts only.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from dfembed.commands.train import train_command
from dfembed.crop.manifest import CROP_BOX_COLUMNS, CROP_LANDMARK_COLUMNS
from dfembed.faces.alignment import FIVE_POINT_TEMPLATE
from dfembed.model.classifier import load_bundle

pytestmark = pytest.mark.slow

FLAGS = ["--backbone", "tiny", "--image-size", "32", "--weights", "none", "--batch-size", "4", "--epochs", "1",
         "--steps-per-epoch", "2", "--val-fraction", "0.3", "--workers", "1", "--embed-batch-size", "8",
         "--embedding-dim", "16", "--no-tensorboard", "--pseudo-fakes", "sbi", "-q"]


def _real_crops(root: Path, people: int = 6, frames: int = 2) -> Path:
    """Textured 64-px 'faces' of ``people`` groups with a manifest naming box and landmarks in crop pixels."""
    rows = [",".join(["source", "label", "group", "crop", *CROP_BOX_COLUMNS, *CROP_LANDMARK_COLUMNS])]
    landmarks = FIVE_POINT_TEMPLATE * (40 / 112) + 12  # the template shrunk into the middle of the crop
    (root / "real").mkdir(parents=True)
    for person in range(people):
        for frame in range(frames):
            noise = np.random.default_rng(person * 10 + frame).uniform(0, 255, (64, 64, 3)).astype(np.float32)
            image = np.clip(cv2.GaussianBlur(noise, (0, 0), 2) * 3 - 255, 0, 255).astype(np.uint8)
            name = f"real/p{person}_f{frame}.png"
            cv2.imwrite(str(root / name), image)
            cells = ["16", "10", "48", "56", *(f"{v:.2f}" for v in landmarks.ravel())]
            rows.append(",".join([f"p{person}.jpg", "real", f"p{person}", name, *cells]))
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def sbi_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = _real_crops(tmp_path_factory.mktemp("data") / "reals")
    out = tmp_path_factory.mktemp("out")
    result = CliRunner().invoke(train_command, [str(data), str(out / "m.h5"), str(out / "m.pkl"), *FLAGS])
    assert result.exit_code == 0, result.output
    return out


def test_a_run_without_fakes_trains_validates_and_fits_both_classes(sbi_run: Path) -> None:
    record = json.loads((sbi_run / "m.dfembed-train.json").read_text())
    assert record["config"]["pseudo_fakes"] == "sbi" and record["config"]["pseudo_fake_fraction"] == 1.0
    summary = record["summary"]
    # 12 real crops, each with one fixed self-blend; validation took whole groups (both classes)
    assert summary["n_train"] + summary["n_val"] == 12 and summary["n_pseudo"] == 12 and summary["n_val"] > 0
    assert "val_auc" in summary["history"][0]
    bundle = load_bundle(sbi_run / "m.pkl")
    assert list(bundle.classifier.classes_) == [0, 1]
    assert bundle.train_config["pseudo_fakes"] == "sbi"


def test_pseudo_fakes_need_real_crops(tmp_path: Path) -> None:
    (tmp_path / "data" / "fake").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "data" / "fake" / "a.png"), np.zeros((8, 8, 3), np.uint8))
    result = CliRunner().invoke(train_command, [str(tmp_path / "data"), str(tmp_path / "m.h5"), str(tmp_path / "m.pkl"),
                                                *FLAGS])
    assert result.exit_code == 1
    assert "has no real/ folder" in result.output and "--pseudo-fakes sbi makes its fakes from real crops" in result.output


def test_without_pseudo_fakes_a_tree_without_fakes_suggests_them(tmp_path: Path) -> None:
    data = _real_crops(tmp_path / "reals", people=2, frames=1)
    flags = [f for f in FLAGS if f not in ("--pseudo-fakes", "sbi")]
    result = CliRunner().invoke(train_command, [str(data), str(tmp_path / "m.h5"), str(tmp_path / "m.pkl"), *flags])
    assert result.exit_code == 1 and "has no fake/ folder" in result.output and "--pseudo-fakes sbi" in result.output


def test_a_fraction_without_pseudo_fakes_is_a_config_error(tmp_path: Path) -> None:
    flags = [f for f in FLAGS if f not in ("--pseudo-fakes", "sbi")]
    result = CliRunner().invoke(train_command, [str(tmp_path), str(tmp_path / "m.h5"), str(tmp_path / "m.pkl"), *flags,
                                                "--pseudo-fake-fraction", "0.5"])
    assert result.exit_code == 1 and "pseudo_fake_fraction must be unset or 0 without --pseudo-fakes sbi" in result.output
