"""Inference on awkward TEST folders and templates, with a tiny real model and injected detector and scorer."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from dfembed.core.errors import InputError, LockedError
from dfembed.core.lock import OutputLock, lock_file_beside
from dfembed.faces.detector import Face
from dfembed.infer.config import InferConfig
from dfembed.infer.run import run_inference

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """B0 at 32 px (random weights) and a classifier fitted for it."""
    from dfembed.model.classifier import ClassifierBundle, EmbeddingSVM, save_bundle
    from dfembed.model.network import build_embedding_model, save_model

    root = tmp_path_factory.mktemp("model")
    model = save_model(build_embedding_model("b0", image_size=32, weights="none", embedding_dim=8), root / "m.h5")
    x = np.random.default_rng(0).normal(size=(12, 8))
    svm = EmbeddingSVM(calibration_cv=2, random_state=0).fit(x, [0, 1] * 6)
    return {"model": model, "svm": save_bundle(ClassifierBundle(svm, 8, "b0", 32), root / "s.pkl",
                                               models={"model": model})}


class _Whole:
    """One face covering the frame."""

    def detect(self, frames):  # noqa: ANN001, ANN201 - the Detector protocol
        return [[Face((0.0, 0.0, float(f.shape[1]), float(f.shape[0])), 0.99, np.zeros((5, 2)))] for f in frames]


def _grey(images: np.ndarray) -> np.ndarray:
    """P(fake) = mean grey level / 255: each file's score says which file it is."""
    return images.reshape(len(images), -1).mean(axis=1) / 255.0


def _image(path: Path, value: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".png", np.full((40, 40, 3), value, np.uint8))
    path.write_bytes(data.tobytes())
    return path


def _run(test: Path, sub: Path, trained: dict[str, Path], **kwargs: object):  # noqa: ANN202
    config = InferConfig(margin=0.0, crop_options=("min_face_size=4",))  # the crop is the whole frame
    return run_inference(test, sub, trained["model"], trained["svm"], config, detector=_Whole(), scorer=_grey, **kwargs)


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_links_odd_names_and_hidden_folders(trained: dict[str, Path], tmp_path: Path) -> None:
    test = tmp_path / "test"
    _image(test / "a.png", 51)
    _image(test / os.fsdecode(b"caf\xe9.png"), 102)
    _image(test / ".ipynb_checkpoints" / "a-checkpoint.png", 0)
    _image(tmp_path / "more" / "b.png", 153)
    (test / "linked").symlink_to(tmp_path / "more")
    (test / "loop").symlink_to(test)
    (test / "gone.png").symlink_to(tmp_path / "nothing.png")
    (test / "notes.txt").write_text("x")
    out = tmp_path / "sub.csv"
    summary = _run(test, out, trained)
    assert _rows(out) == [["path", "y"], ["a.png", "0.200000"], ["caf\\xe9.png", "0.400000"],
                          ["linked/b.png", "0.600000"]]
    assert summary.skipped == {
        ".ipynb_checkpoints": "hidden: its name starts with '.'",
        "gone.png": f"broken link: links to {tmp_path / 'nothing.png'}, its target does not exist",
        "loop": f"link loop: links to {test}, a folder above it",
        "notes.txt": "not a media file: suffix '.txt'",
    }
    record = json.loads(summary.provenance.read_text())
    assert record["summary"]["skipped"] == summary.skipped and record["summary"]["scored"] == 3


def test_a_quoted_line_break_in_an_extra_column_survives(trained: dict[str, Path], tmp_path: Path) -> None:
    _image(tmp_path / "test" / "a.png", 51)
    template = tmp_path / "sub.csv"
    template.write_bytes(b'path,note,y\r\na.png,"two\r\nlines",0\r\n')
    _run(tmp_path / "test", template, trained)
    assert (tmp_path / "sub_out.csv").read_bytes() == b'path,note,y\na.png,"two\r\nlines",0.200000\n'


def test_a_second_job_on_the_same_output_fails_at_once(trained: dict[str, Path], tmp_path: Path) -> None:
    _image(tmp_path / "test" / "a.png", 51)
    out = tmp_path / "sub.csv"
    with OutputLock(lock_file_beside(out), "held by this test"):
        with pytest.raises(LockedError, match=rf"output {out} is in use by another dfembed job \(pid {os.getpid()}"):
            _run(tmp_path / "test", out, trained)
    assert not out.exists()


def test_a_pickle_is_scored_only_when_trusted_and_gives_the_same_scores(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    import shutil

    _image(tmp_path / "test" / "a.png", 51)
    pickle_only = tmp_path / "s.pkl"
    shutil.copy(trained["svm"], pickle_only)
    config = InferConfig(crop_options=("min_face_size=4",))
    with pytest.raises(InputError, match="--trust-pickle"):
        run_inference(tmp_path / "test", tmp_path / "a.csv", trained["model"], pickle_only, config, detector=_Whole())
    run_inference(tmp_path / "test", tmp_path / "a.csv", trained["model"], pickle_only, config, detector=_Whole(),
                  trust_pickle=True)
    run_inference(tmp_path / "test", tmp_path / "b.csv", trained["model"], trained["svm"], config, detector=_Whole())
    pickled, safe = _rows(tmp_path / "a.csv")[1][1], _rows(tmp_path / "b.csv")[1][1]
    assert pickled == safe and 0.0 < float(safe) < 1.0


class _BadBoxDetector:
    """Fails with a ValueError, as a geometry or library bug does (the crop stage counts it as a crop error)."""

    def detect(self, frames):  # noqa: ANN001, ANN201
        raise ValueError("box array([1.5, 1.5, 2.5, 2.5]) has no area")


def test_a_box_that_cannot_be_cropped_is_that_files_error_not_the_jobs() -> None:
    from dfembed.faces.config import CropConfig
    from dfembed.infer.pipeline import FaceExtractor, MediaFrames

    frame = np.zeros((40, 40, 3), dtype=np.uint8)
    items = [MediaFrames(0, [(0, frame)], image=True), MediaFrames(1, [(0, frame)], image=True)]
    extractor = FaceExtractor(_BadBoxDetector(), CropConfig(size=32), 32)
    out = list(extractor.detect(items))
    assert [(o.index, len(o.frames)) for o in out] == [(0, 0), (1, 0)]
    assert [o.error for o in out] == ["crop error: box array([1.5, 1.5, 2.5, 2.5]) has no area"] * 2
