"""The crop job never loses its input or writes outside DST; links, odd names, full disks, two jobs, kill -9."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from dfembed.commands.crop import crop_command
from dfembed.core.lock import OutputLock
from dfembed.crop.job import LOCK_NAME, run_crop
from dfembed.crop.manifest import FAILURE_COLUMNS, MANIFEST_COLUMNS, read_rows
from dfembed.faces.config import CropConfig
from dfembed.faces.detector import Face
from tests.support import REPO

CONFIG = CropConfig(size=32, image_format="png", min_face_size=8)


class _CentreDetector:
    """One confident face in the middle of every frame (the crop job's logic, without MTCNN)."""

    def detect(self, frames):  # noqa: ANN001, ANN201 - the Detector protocol
        faces = []
        for frame in frames:
            h, w = frame.shape[:2]
            faces.append([Face((w * 0.25, h * 0.25, w * 0.75, h * 0.75), 0.99, np.zeros((5, 2)))])
        return faces


def _image(path: Path, value: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".png", np.full((48, 48, 3), value, np.uint8))
    assert ok
    path.write_bytes(data.tobytes())
    return path


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (links not followed) and its content."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


def _crop(*args: object):  # noqa: ANN202 - click's Result
    return CliRunner().invoke(crop_command, [str(a) for a in args])


def test_src_inside_dst_is_refused_and_force_deletes_nothing(tmp_path: Path) -> None:
    dst = tmp_path / "dst"
    _image(dst / "real" / "clip_mp4_f00000_00.png")  # input images named like crops
    _image(dst / "real" / "clip_mp4_f00001_00.png", 50)
    before = _snapshot(tmp_path)
    result = _crop(dst / "real", dst, "--force")
    assert result.exit_code == 1
    assert f"Error: SRC {(dst / 'real').resolve()} is inside DST {dst}" in result.output
    assert "Traceback" not in result.output
    assert _snapshot(tmp_path) == before


def test_dst_inside_src_is_refused_also_through_a_link(tmp_path: Path) -> None:
    _image(tmp_path / "src" / "real" / "a.png")
    (tmp_path / "alias").symlink_to(tmp_path / "src")
    result = _crop(tmp_path / "src", tmp_path / "alias" / "out")
    assert result.exit_code == 1 and "is inside SRC" in result.output
    assert not (tmp_path / "src" / "out").exists()


def test_force_never_deletes_through_a_crop_folder_linked_outside_dst(tmp_path: Path) -> None:
    _image(tmp_path / "src" / "real" / "a.png")
    precious = _image(tmp_path / "elsewhere" / "keep_png_f00000_00.png")
    (tmp_path / "dst").mkdir()
    (tmp_path / "dst" / "real").symlink_to(tmp_path / "elsewhere")
    result = _crop(tmp_path / "src", tmp_path / "dst", "--force")
    assert result.exit_code == 1
    assert f"Error: {tmp_path / 'dst' / 'real'} leads outside DST" in result.output
    assert precious.exists()


def test_force_deletes_nothing_in_a_folder_that_never_was_a_crop_dst(tmp_path: Path) -> None:
    _image(tmp_path / "src" / "real" / "a.png")
    holiday = _image(tmp_path / "photos" / "real" / "holiday_png_f00000_00.png")  # named like a crop
    with pytest.raises(Exception, match=r"no dfembed-crop\.json: it is not a crop folder dfembed wrote"):
        run_crop(tmp_path / "src", tmp_path / "photos", CONFIG, force=True, detector=_CentreDetector())
    assert holiday.exists()
    run_crop(tmp_path / "src", tmp_path / "dst", CONFIG, detector=_CentreDetector())
    again = run_crop(tmp_path / "src", tmp_path / "dst", CONFIG, force=True, detector=_CentreDetector())
    assert again.crops_written == again.crops_total == 1  # a folder the crop stage wrote: redone


def test_a_src_of_broken_links_names_them_and_leaves_no_empty_dst(tmp_path: Path) -> None:
    (tmp_path / "src" / "real").mkdir(parents=True)
    (tmp_path / "src" / "real" / "gone.png").symlink_to(tmp_path / "deleted.png")
    result = _crop(tmp_path / "src", tmp_path / "dst")
    assert result.exit_code == 1
    assert "no usable image or video found (1 entries skipped: real/gone.png: broken link)" in result.output
    assert not (tmp_path / "dst").exists()


def test_links_are_followed_and_every_skipped_entry_is_reported(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _image(src / "real" / "r1.png")
    _image(src / "real" / os.fsdecode(b"caf\xe9.png"), 30)  # a name that is not UTF-8
    _image(src / "real" / ".ipynb_checkpoints" / "r1-checkpoint.png")
    _image(tmp_path / "shared_fakes" / "f1.png", 200)
    (src / "fake").mkdir()
    (src / "fake" / "linked").symlink_to(tmp_path / "shared_fakes")  # a folder through a link
    (src / "fake" / "loop").symlink_to(src)
    (src / "fake" / "gone.png").symlink_to(tmp_path / "deleted.png")
    dst = tmp_path / "dst"
    summary = run_crop(src, dst, CONFIG, detector=_CentreDetector())
    rows = read_rows(dst / "manifest.csv", MANIFEST_COLUMNS)
    assert [(r["source"], r["label"]) for r in rows] == [
        ("fake/linked/f1.png", "fake"), ("real/caf\\xe9.png", "real"), ("real/r1.png", "real"),
    ]
    odd = next(r["crop"] for r in rows if r["source"] == "real/caf\\xe9.png")
    assert odd.isascii() and (dst / odd).is_file()  # a safe crop name, with the hash of the source name
    failures = {r["source"]: (r["label"], r["reason"]) for r in read_rows(dst / "failures.csv", FAILURE_COLUMNS)}
    assert failures == {"fake/gone.png": ("fake", "broken link"), "fake/loop": ("fake", "link loop"),
                        "real/.ipynb_checkpoints": ("real", "hidden")}
    assert summary.failures == {"broken link": 1, "hidden": 1, "link loop": 1}
    assert _snapshot(dst).keys() >= {odd, "manifest.csv", "failures.csv"}
    again = run_crop(src, dst, CONFIG, detector=_CentreDetector())  # a rerun finds every source complete
    assert (again.resumed, again.processed) == (3, 0)


def test_a_second_job_on_the_same_dst_fails_at_once_naming_the_first(tmp_path: Path) -> None:
    _image(tmp_path / "src" / "real" / "a.png")
    (tmp_path / "dst").mkdir()
    with OutputLock(tmp_path / "dst" / LOCK_NAME, "held by this test"):
        result = _crop(tmp_path / "src", tmp_path / "dst")
    assert result.exit_code == 1
    assert f"DST {tmp_path / 'dst'} is in use by another dfembed job (pid {os.getpid()} on" in result.output
    assert sorted(p.name for p in (tmp_path / "dst").iterdir()) == []  # the lock file went with its holder


def test_a_full_disk_stops_the_job_and_the_rerun_completes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    for i in range(6):
        _image(src / "real" / f"r{i}.png", 20 * i)
    whole = tmp_path / "whole"
    run_crop(src, whole, CONFIG, detector=_CentreDetector())
    real_fsync, calls = os.fsync, []

    def fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) > 12:  # the provenance, the CSV headers and a few sources got through
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    dst = tmp_path / "dst"
    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError, match="No space left on device") as caught:
        run_crop(src, dst, CONFIG, detector=_CentreDetector())
    assert caught.value.errno == errno.ENOSPC and caught.value.filename and str(dst) in caught.value.filename
    monkeypatch.setattr(os, "fsync", real_fsync)
    summary = run_crop(src, dst, CONFIG, detector=_CentreDetector())
    assert 0 < summary.resumed < 6
    assert (dst / "manifest.csv").read_text() == (whole / "manifest.csv").read_text()
    assert sorted(p.name for p in dst.rglob("*.png")) == sorted(p.name for p in whole.rglob("*.png"))


def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` and that are multiprocessing workers (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b"spawn_main" in cmdline:
            found.append(int(stat.parent.name))
    return found


def _threads(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has ended; only its entry waits to be reaped


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_end_when_the_main_process_is_killed(tmp_path: Path) -> None:
    for i in range(16):  # two runs of 8 same-size images: one for each worker
        _image(tmp_path / "src" / f"i{i}.png", 10 * i)
    process = subprocess.Popen([sys.executable, "crop_face.py", str(tmp_path / "src"), str(tmp_path / "dst"),
                                "--jobs", "2", "-q"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        workers: list[int] = []
        while time.monotonic() < deadline and process.poll() is None:
            workers = _children(process.pid)
            if len(workers) == 2 and all(_threads(w) >= 2 for w in workers):  # their watchdogs run
                break
            time.sleep(0.1)
        assert len(workers) == 2, f"two workers did not start (exit status {process.poll()})"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + 15
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    survivors = [w for w in workers if _alive(w)]
    for pid in survivors:  # do not leave them behind when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not survivors, "workers outlived their killed parent"
