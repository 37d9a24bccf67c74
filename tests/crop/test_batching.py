"""Images of one size from different sources share the detector's batches; results are each source's own."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from dfembed.crop.manifest import FAILURE_COLUMNS, MANIFEST_COLUMNS, SOURCE_COLUMNS, read_rows, write_rows
from dfembed.faces.config import CropConfig
from tests.support import shared_path


class _Recorder:
    """A detector that records how many frames each call got; one face per frame, placed by the frame's
    brightness (so each source's crop differs), and failing on any call that holds a frame of value 13."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def detect(self, frames: list[np.ndarray]) -> list[list[object]]:
        from dfembed.faces.detector import DetectorError, Face

        self.calls.append(len(frames))
        if any(int(frame[0, 0, 0]) == 13 for frame in frames):
            raise DetectorError(f"failed on a {frames[0].shape[1]}x{frames[0].shape[0]} frame")
        faces = []
        for frame in frames:
            shift = float(frame[0, 0, 0]) / 10
            faces.append([Face((4 + shift, 4, 28 + shift, 28), 0.99, None)])
        return faces


def _image(path: Path, value: int, size: tuple[int, int] = (40, 48)) -> None:
    cv2.imwrite(str(path), np.full((*size, 3), value, np.uint8))


def _tree(root: Path) -> Path:
    """Nine 48x40 images, two 64x64 ones, an unreadable one and a video, in that order of names."""
    root.mkdir()
    for k in range(9):
        _image(root / f"a{k}.png", 10 * k + 20)
    for k in range(2):
        _image(root / f"b{k}.png", 30 + k, (64, 64))
    (root / "c-broken.png").write_bytes(b"not a png")
    _clip(root / "d-clip.avi", 90)
    return root


def _clip(path: Path, value: int, frames: int = 4) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (48, 40))
    for _ in range(frames):
        writer.write(np.full((40, 48, 3), value, np.uint8))
    writer.release()


def _outputs(dst: Path) -> tuple[list[dict], list[dict], dict[str, bytes]]:
    manifest = read_rows(dst / "manifest.csv", MANIFEST_COLUMNS)
    failures = read_rows(dst / "failures.csv", FAILURE_COLUMNS)
    crops = {p.relative_to(dst).as_posix(): p.read_bytes() for p in dst.rglob("*.jpg")}
    return manifest, failures, crops


def test_images_of_one_size_fill_the_batches_and_give_what_one_by_one_gives(tmp_path: Path) -> None:
    from dfembed.crop.job import run_crop

    src = _tree(tmp_path / "src")
    alone, batched = _Recorder(), _Recorder()
    run_crop(src, tmp_path / "alone", CropConfig(size=32, frames_per_video=2, batch_size=1), detector=alone)
    summary = run_crop(src, tmp_path / "batched", CropConfig(size=32, frames_per_video=2, batch_size=4),
                       detector=batched)
    assert alone.calls == [1] * 13  # 11 images and the video's two frames, one call each
    # 12 image sources in runs of 4: [a0-a3], [a4-a7], [a8, b0, b1, broken]: the 64x64 pair together; the video alone
    assert sorted(batched.calls) == sorted([4, 4, 1, 2, 2])
    assert _outputs(tmp_path / "alone") == _outputs(tmp_path / "batched")
    assert summary.failures == {"not an image": 1} and summary.crops_total == 13  # 11 images, 2 video frames
    journal = read_rows(tmp_path / "batched" / "sources.csv", SOURCE_COLUMNS)
    assert len(journal) == 13 and {r["status"] for r in journal} == {"cropped", "not an image"}


def test_short_samplings_of_small_videos_share_batches_and_long_ones_stay_alone(tmp_path: Path) -> None:
    from dfembed.crop.job import run_crop

    src = tmp_path / "src"
    src.mkdir()
    for k in range(5):
        _clip(src / f"clip{k}.avi", 20 + 10 * k)
    alone, batched, long = _Recorder(), _Recorder(), _Recorder()
    run_crop(src, tmp_path / "alone", CropConfig(size=32, frames_per_video=2, batch_size=1), detector=alone)
    run_crop(src, tmp_path / "batched", CropConfig(size=32, frames_per_video=2, batch_size=8), detector=batched)
    run_crop(src, tmp_path / "long", CropConfig(size=32, frames_per_video=4, batch_size=4), detector=long)
    assert alone.calls == [1] * 10 and long.calls == [4] * 5  # 4 samples fill a batch of 4: each clip alone
    assert batched.calls == [8, 2]  # four clips' two samples in one call, the fifth clip's in the next run
    assert _outputs(tmp_path / "alone") == _outputs(tmp_path / "batched")
    rows = read_rows(tmp_path / "batched" / "manifest.csv", MANIFEST_COLUMNS)
    assert sorted((r["source"], r["frame_index"]) for r in rows) == [
        (f"clip{k}.avi", index) for k in range(5) for index in ("0", "3")]


def test_a_resumed_run_detects_its_unfinished_sources_with_the_same_companions(tmp_path: Path) -> None:
    """Runs are cut from all of SRC, so a resumed source shares its detector call with the same sources."""
    from dfembed.crop.job import run_crop

    src = tmp_path / "src"
    src.mkdir()
    for k in range(9):
        _image(src / f"a{k}.png", 10 * k + 20)
    dst = tmp_path / "out"
    config = CropConfig(size=32, batch_size=4)
    run_crop(src, dst, config, detector=_Recorder())
    before = _outputs(dst)
    journal = read_rows(dst / "sources.csv", SOURCE_COLUMNS)
    kept = [r for r in journal if r["source"] not in ("a5.png", "a6.png")]  # as if killed while journalling
    write_rows(dst / "sources.csv", SOURCE_COLUMNS, kept)
    finished = (dst / "unlabeled" / "a4_png_f00000_00.jpg").stat().st_mtime_ns
    detector = _Recorder()
    summary = run_crop(src, dst, config, detector=detector)
    assert detector.calls == [4]  # a4-a7 detected together again; only a5 and a6 written and journalled
    assert (summary.resumed, summary.processed) == (7, 2)
    assert (dst / "unlabeled" / "a4_png_f00000_00.jpg").stat().st_mtime_ns == finished
    assert _outputs(dst) == before


def test_a_batch_the_detector_fails_on_is_redone_image_by_image(tmp_path: Path) -> None:
    from dfembed.crop.job import run_crop

    src = tmp_path / "src"
    src.mkdir()
    for k, value in enumerate((20, 13, 40)):  # the second image makes any call it is in fail
        _image(src / f"a{k}.png", value)
    detector = _Recorder()
    summary = run_crop(src, tmp_path / "out", CropConfig(size=32, batch_size=8), detector=detector)
    assert detector.calls == [3, 1, 1, 1]
    assert summary.failures == {"detector error": 1} and summary.crops_total == 2
    (failure,) = read_rows(tmp_path / "out" / "failures.csv", FAILURE_COLUMNS)
    assert failure["source"] == "a1.png" and "48x40" in failure["detail"]


@pytest.mark.slow
def test_the_worker_processes_batch_as_this_process_does(tmp_path: Path) -> None:
    """Runs of images go to the workers whole: the same companions per call, so the manifest of this process's."""
    pytest.importorskip("mtcnn")
    from dfembed.crop.job import run_crop

    src = tmp_path / "src"
    src.mkdir()
    faces = sorted(shared_path("real_faces", "images").rglob("*.jpg"))
    chosen = [p for p in faces if cv2.imread(str(p)).shape == (250, 250, 3)][:12]  # runs of 8 and 4: both workers
    for path in chosen:
        shutil.copy(path, src / path.name)
    run_crop(src, tmp_path / "here", CropConfig(size=64, batch_size=8))
    run_crop(src, tmp_path / "workers", CropConfig(size=64, batch_size=8, jobs=2))
    here, workers = _outputs(tmp_path / "here"), _outputs(tmp_path / "workers")
    assert len(here[0]) >= 10 and here == workers
