"""The crop job end to end: the sample frame tree and videos, bad inputs, resume after a kill, --force, --jobs."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner, Result

from dfembed.commands.crop import crop_command
from dfembed.core.atomic import TEMP_MARKER
from dfembed.crop.manifest import FAILURE_COLUMNS, MANIFEST_COLUMNS, SOURCE_COLUMNS, read_rows
from dfembed.faces.config import CropConfig
from tests.support import REPO, shared_path, wait_for_lines

pytestmark = pytest.mark.slow


def crop(*args: object) -> Result:
    """Run ``crop_face.py`` in this process."""
    return CliRunner().invoke(crop_command, [str(a) for a in args], catch_exceptions=False)


def crop_files(dst: Path) -> set[str]:
    """Relative paths of every file below ``dst`` except the reports."""
    return {p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file() and p.suffix in (".jpg", ".png")}


@pytest.fixture(scope="module")
def frames_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted run over the 55 sample frames (real/ and fake/ plus metadata.json)."""
    dst = tmp_path_factory.mktemp("frames") / "out"
    result = crop(shared_path("dfdc_sample", "frames"), dst, "-q")
    assert result.exit_code == 0, result.output
    return dst


def test_frame_tree_gives_crops_matching_the_manifest(frames_run: Path) -> None:
    rows = read_rows(frames_run / "manifest.csv", MANIFEST_COLUMNS)
    assert {r["crop"] for r in rows} == crop_files(frames_run)
    assert {r["label"] for r in rows} == {"real", "fake"}
    assert all(r["crop"].startswith(r["label"] + "/") for r in rows)
    assert len(rows) >= 45  # 47 of the 55 frames with the defaults; the rest are reported
    sources = read_rows(frames_run / "sources.csv", ("source", "label", "group", "status", "crops", "detail"))
    assert len(sources) == 55
    failures = read_rows(frames_run / "failures.csv", FAILURE_COLUMNS)
    assert len({r["source"] for r in rows}) + len(failures) == 55
    assert {r["reason"] for r in failures} <= {"no face"}
    image = cv2.imread(str(frames_run / rows[0]["crop"]))
    assert image.shape == (380, 380, 3)
    fake = next(r for r in rows if r["source"] == "fake/aagfhgtpmv-000.png")
    assert fake["group"] == "vudstovrck.mp4"
    record = json.loads((frames_run / "dfembed-crop.json").read_text())
    assert record["config"]["size"] == 380 and record["status"] == "complete"
    assert record["counts"]["crops_total"] == len(rows) and "mtcnn" in record["versions"]


def test_rerun_resumes_without_work(frames_run: Path) -> None:
    before = (frames_run / "manifest.csv").read_text()
    result = crop(shared_path("dfdc_sample", "frames"), frames_run)
    assert result.exit_code == 0
    assert "(0 new)" in result.output
    assert (frames_run / "manifest.csv").read_text() == before


def test_changed_options_need_force(frames_run: Path) -> None:
    result = CliRunner().invoke(crop_command, [str(shared_path("dfdc_sample", "frames")), str(frames_run),
                                               "--size", "224"])
    assert result.exit_code == 1
    assert "size: 380 -> 224" in result.output and "--force" in result.output


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_manifest(frames_run: Path, tmp_path: Path) -> None:
    src, dst = shared_path("dfdc_sample", "frames"), tmp_path / "out"
    process = subprocess.Popen([sys.executable, "crop_face.py", str(src), str(dst), "-q"], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_lines(dst / "sources.csv", 12, process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert json.loads((dst / "dfembed-crop.json").read_text())["status"] == "running"
    result = crop(src, dst, "-q")
    assert result.exit_code == 0, result.output
    assert (dst / "manifest.csv").read_text() == (frames_run / "manifest.csv").read_text()
    assert (dst / "failures.csv").read_text() == (frames_run / "failures.csv").read_text()
    assert crop_files(dst) == crop_files(frames_run)
    assert not [p for p in dst.rglob("*") if TEMP_MARKER in p.name]


@pytest.fixture
def small_tree(tmp_path: Path) -> Path:
    """Three real and three fake sample frames copied into a temporary labelled tree."""
    frames = shared_path("dfdc_sample", "frames")
    for label, names in (("real", ["abarnvbtwb-000", "abarnvbtwb-005", "abarnvbtwb-010"]),
                         ("fake", ["aagfhgtpmv-000", "abqwwspghj-000", "aapnvogymq-000"])):
        (tmp_path / "src" / label).mkdir(parents=True)
        for name in names:
            shutil.copy(frames / label / f"{name}.png", tmp_path / "src" / label)
    return tmp_path / "src"


def test_jobs_give_the_same_manifest_and_force_redoes(small_tree: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    assert crop(small_tree, one, "--image-format", "png", "-q").exit_code == 0
    assert crop(small_tree, two, "--image-format", "png", "--jobs", "2", "-q").exit_code == 0
    assert (one / "manifest.csv").read_text() == (two / "manifest.csv").read_text()
    assert all(p.endswith(".png") for p in crop_files(one))
    orphan = one / "real" / "left_by_a_killed_run_png_f00003_00.jpg"
    orphan.write_bytes(b"old")
    result = crop(small_tree, one, "--image-format", "png", "--force")
    total = len(read_rows(one / "manifest.csv", MANIFEST_COLUMNS))
    assert result.exit_code == 0 and f"{total} crops in {one} ({total} new)" in result.output
    assert not orphan.exists()
    assert crop_files(one) == crop_files(two)


def test_other_src_into_the_same_dst_needs_force(small_tree: Path, tmp_path: Path) -> None:
    dst, other = tmp_path / "out", tmp_path / "other"
    shutil.copytree(small_tree, other)
    assert crop(small_tree, dst, "-q").exit_code == 0
    result = CliRunner().invoke(crop_command, [str(other), str(dst)])
    assert result.exit_code == 1
    assert str(small_tree.resolve()) in result.output and str(other.resolve()) in result.output
    assert "--force" in result.output
    assert crop(other, dst, "-q", "--force").exit_code == 0
    record = json.loads((dst / "dfembed-crop.json").read_text())
    assert record["src"] == str(other.resolve())


def test_resume_drops_sources_removed_from_src(small_tree: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out"
    assert crop(small_tree, dst, "-q").exit_code == 0
    gone = "real/abarnvbtwb-005.png"
    gone_crops = {r["crop"] for r in read_rows(dst / "manifest.csv", MANIFEST_COLUMNS) if r["source"] == gone}
    assert gone_crops == {"real/abarnvbtwb-005_png_f00000_00.jpg"}
    (small_tree / gone).unlink()
    assert crop(small_tree, dst, "-q").exit_code == 0
    rows = read_rows(dst / "manifest.csv", MANIFEST_COLUMNS)
    assert gone not in {r["source"] for r in rows}
    assert gone not in {r["source"] for r in read_rows(dst / "sources.csv", SOURCE_COLUMNS)}
    assert not (dst / "real" / "abarnvbtwb-005_png_f00000_00.jpg").exists()
    assert {r["crop"] for r in rows} == crop_files(dst)


def test_dfdc_videos_missing_files_reported(tmp_path: Path) -> None:
    dst = tmp_path / "out"
    result = crop(shared_path("dfdc_sample", "videos"), dst, "--frames-per-video", "2", "-q")
    assert result.exit_code == 0, result.output
    failures = {r["source"]: r["reason"] for r in read_rows(dst / "failures.csv", FAILURE_COLUMNS)}
    assert failures == {"aagfhgtpmv.mp4": "missing file", "aapnvogymq.mp4": "missing file",
                        "abarnvbtwb.mp4": "missing file", "street_real_crowd.mp4": "not listed in metadata.json"}
    rows = read_rows(dst / "manifest.csv", MANIFEST_COLUMNS)
    assert {r["source"] for r in rows} >= {"abqwwspghj.mp4"}
    assert all(r["label"] == "fake" and r["crop"].startswith("fake/") for r in rows)
    # boxes are in 1920x1080 source pixels, not in the 634x356 detection image
    assert max(float(r["x2"]) for r in rows) > 700


def test_bad_files_are_reported_not_fatal(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "zero.jpg").write_bytes(b"")
    (src / "text.jpg").write_text("not an image\n")
    video = shared_path("dfdc_sample", "videos", "abofeumbvv.mp4").read_bytes()
    (src / "cut.mp4").write_bytes(video[: len(video) // 3])
    (src / "readme.txt").write_text("hello")
    shutil.copy(shared_path("faces", "astronaut.png"), src / "astronaut.png")
    dst = tmp_path / "out"
    result = crop(src, dst, "-q")
    assert result.exit_code == 0, result.output
    failures = {r["source"]: r["reason"] for r in read_rows(dst / "failures.csv", FAILURE_COLUMNS)}
    assert failures == {"zero.jpg": "empty file", "text.jpg": "not an image", "cut.mp4": "cannot open video",
                        "readme.txt": "not a media file"}
    assert crop_files(dst) == {"unlabeled/astronaut_png_f00000_00.jpg"}


def test_only_bad_files_exit_non_zero(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "zero.jpg").write_bytes(b"")
    result = CliRunner().invoke(crop_command, [str(tmp_path / "src"), str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "no face crop was made" in result.output and "failures.csv" in result.output


@pytest.mark.parametrize(("make", "message"), [(False, "does not exist"), (True, "no usable image or video")])
def test_missing_or_empty_src(tmp_path: Path, make: bool, message: str) -> None:
    src = tmp_path / "src"
    if make:
        src.mkdir()
    result = CliRunner().invoke(crop_command, [str(src), str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "Error:" in result.output and message in result.output


class _BrokenDetector:
    """A detector that fails with a ValueError, as a geometry or library bug would."""

    def detect(self, frames):  # noqa: ANN001, ANN201 - the Detector protocol
        raise ValueError("box array([1.5, 1.5, 2.5, 2.5]) has no area")


def test_a_value_error_while_cropping_is_a_counted_failure(tmp_path: Path) -> None:
    from dfembed.crop.job import run_crop

    src = tmp_path / "src"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), np.zeros((40, 40, 3), np.uint8))
    summary = run_crop(src, tmp_path / "out", CropConfig(), detector=_BrokenDetector())
    assert (summary.crops_total, summary.failures) == (0, {"crop error": 1})
    (failure,) = read_rows(tmp_path / "out" / "failures.csv", FAILURE_COLUMNS)
    assert failure["source"] == "a.png" and "no area" in failure["detail"]


def test_an_injected_detector_needs_one_job(tmp_path: Path) -> None:
    from dfembed.core.errors import ConfigError
    from dfembed.crop.job import run_crop

    with pytest.raises(ConfigError, match="only with jobs=1"):
        run_crop(tmp_path, tmp_path / "out", CropConfig(jobs=2), detector=_BrokenDetector())


class _FailingDetector:
    """A detector whose network fails on every frame, as DetectorError reports it after the retry."""

    def detect(self, frames):  # noqa: ANN001, ANN201 - the Detector protocol
        from dfembed.faces.detector import DetectorError

        raise DetectorError("BlazeFace failed on a 40x40 frame: tensor allocation")


def test_a_detector_error_is_recorded_and_the_job_goes_on(tmp_path: Path) -> None:
    from dfembed.crop.job import run_crop

    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(src / name), np.zeros((40, 40, 3), np.uint8))
    summary = run_crop(src, tmp_path / "out", CropConfig(detector="blazeface"), detector=_FailingDetector())
    assert (summary.processed, summary.failures) == (2, {"detector error": 2})
    record = json.loads((tmp_path / "out" / "dfembed-crop.json").read_text())
    assert record["detector"]["name"] == "blazeface" and record["config"]["detector"] == "blazeface"


def test_blazeface_crops_resume_across_other_detectors_options_and_old_records(small_tree: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out"
    assert crop(small_tree, dst, "--detector", "blazeface", "--size", "64", "-q").exit_code == 0
    rows = read_rows(dst / "manifest.csv", MANIFEST_COLUMNS)
    assert len(rows) == 6 and all(r["nose_x"] == "" for r in rows)  # BlazeFace gives no five landmarks
    # MTCNN's own options change nothing BlazeFace writes: the run resumes
    assert "(0 new)" in crop(small_tree, dst, "--detector", "blazeface", "--size", "64", "--scale-factor", "0.6").output
    # a record written before detectors had names and floors (min_confidence 0.8, no detector keys) ran MTCNN
    record_path = dst / "dfembed-crop.json"
    record = json.loads(record_path.read_text())
    for key in ("detector", "blazeface_model", "blazeface_nms"):
        record["config"].pop(key)
    record["config"].update(min_confidence=0.8, scale_factor=0.709)  # (the resumed run above recorded 0.6)
    record_path.write_text(json.dumps(record))
    assert "(0 new)" in crop(small_tree, dst, "--size", "64").output
    changed = crop(small_tree, dst, "--detector", "blazeface", "--size", "64")
    assert changed.exit_code == 1 and "detector: 'mtcnn' -> 'blazeface'" in changed.output
    assert "min_confidence: 0.8 -> 0.5" in changed.output
# --- data-set layouts with generated videos and a stand-in detector -------------------------------


class _CentreFace:
    """One face per frame, at the frame's centre, with landmarks: the five-point template scaled to 1/4."""

    def detect(self, frames: list[np.ndarray]) -> list[list[object]]:
        from dfembed.faces.alignment import FIVE_POINT_TEMPLATE
        from dfembed.faces.detector import Face

        height, width = frames[0].shape[:2]
        landmarks = FIVE_POINT_TEMPLATE / 4 + [width / 2 - 14, height / 2 - 14]
        box = (width / 2 - 12, height / 2 - 12, width / 2 + 12, height / 2 + 16)
        return [[Face(box, 0.99, landmarks)] for _ in frames]


@pytest.fixture(scope="module")
def ffpp_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dfembed.crop.job import run_crop
    from dfembed.crop.presets import resolve_crop_options
    from tests.crop.trees import ffpp_tree

    src = ffpp_tree(tmp_path_factory.mktemp("ffpp") / "ffpp", videos=True, methods=("Deepfakes",))
    dst = tmp_path_factory.mktemp("ffpp_out") / "crops"
    config = resolve_crop_options(None, {"preset": "deepfakebench", "size": 32, "frames_per_video": 2, "split": "test",
                                         "methods": ("Deepfakes",)})
    run_crop(src, dst, config, detector=_CentreFace())
    return dst


def test_ffpp_crops_record_method_group_preset_and_crop_landmarks(ffpp_run: Path) -> None:
    from dfembed.crop.manifest import CROP_LANDMARK_COLUMNS
    from dfembed.faces.alignment import template_points

    rows = read_rows(ffpp_run / "manifest.csv", MANIFEST_COLUMNS)
    assert len(rows) == (6 + 6) * 2  # 6 test originals, 6 Deepfakes fakes, 2 frames each
    fake = next(r for r in rows if r["source"].endswith("Deepfakes/c23/videos/953_974.mp4"))
    assert (fake["label"], fake["method"], fake["group"]) == ("fake", "Deepfakes", "youtube/953+974")
    assert fake["crop"].startswith("fake/manipulated_sequences/Deepfakes/")
    # aligned (deepfakebench preset): the crop landmarks are the template at 32 px, scale 1.3
    crop_points = np.array([float(fake[c]) for c in CROP_LANDMARK_COLUMNS]).reshape(5, 2)
    np.testing.assert_allclose(crop_points, template_points(32, 1.3), atol=0.01)
    record = json.loads((ffpp_run / "dfembed-crop.json").read_text())
    assert (record["config"]["preset"], record["config"]["align"], record["config"]["split"]) == \
        ("deepfakebench", "similarity", "test")
    assert cv2.imread(str(ffpp_run / fake["crop"])).shape == (32, 32, 3)


def test_celebdf_crops_by_the_box_keep_landmarks_in_crop_pixels(tmp_path: Path) -> None:
    from dfembed.crop.job import run_crop
    from dfembed.crop.manifest import CROP_BOX_COLUMNS, CROP_LANDMARK_COLUMNS, LANDMARK_COLUMNS
    from tests.crop.trees import celebdf_tree

    src = celebdf_tree(tmp_path / "celeb", videos=True)
    config = CropConfig(size=48, margin=0.25, frames_per_video=1, split="test")
    run_crop(src, tmp_path / "out", config, detector=_CentreFace())
    rows = read_rows(tmp_path / "out" / "manifest.csv", MANIFEST_COLUMNS)
    assert {r["source"]: r["label"] for r in rows} == {
        "Celeb-real/id0_0000.mp4": "real", "YouTube-real/00001.mp4": "real", "Celeb-synthesis/id0_id1_0000.mp4": "fake"}
    row = rows[0]
    # frame 64 x 48, box (20, 12, 44, 40): 24 x 28, margin 0.25 → 36 x 42, square 42 around (32, 26): x 11..53, y 5..47
    s = 48 / 42
    box = [float(row[c]) for c in CROP_BOX_COLUMNS]
    np.testing.assert_allclose(box, [(20 - 11 + 0.5) * s - 0.5, (12 - 5 + 0.5) * s - 0.5, (44 - 11 + 0.5) * s - 0.5,
                                     (40 - 5 + 0.5) * s - 0.5], atol=0.01)
    source_points = np.array([float(row[c]) for c in LANDMARK_COLUMNS]).reshape(5, 2)
    crop_points = np.array([float(row[c]) for c in CROP_LANDMARK_COLUMNS]).reshape(5, 2)
    np.testing.assert_allclose(crop_points, (source_points - [11, 5] + 0.5) * s - 0.5, atol=0.06)  # source cells: 1 decimal
