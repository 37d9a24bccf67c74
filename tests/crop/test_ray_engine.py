"""The crop job on Ray: the same reports and crops as the local engine, dying workers, DST checks, a killed driver."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from dfembed.commands.crop import crop_command
from dfembed.core.errors import InputError
from dfembed.crop.job import run_crop
from dfembed.crop.manifest import FAILURE_COLUMNS, MANIFEST_COLUMNS, SOURCE_COLUMNS, read_rows
from dfembed.faces.config import CropConfig
from tests.fakes import BrightSquareDetector, frame, video
from tests.support import REPO, shared_path

pytestmark = pytest.mark.slow

CONFIG = CropConfig(size=32, image_format="png", frames_per_video=4)


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A labelled tree: squares of several sizes, a frame without one, an empty file, a video, a text file."""
    root = tmp_path_factory.mktemp("ray_src") / "src"
    for label in ("real", "fake"):
        (root / label).mkdir(parents=True)
    for k in range(6):
        label = ("real", "fake")[k % 2]
        cv2.imwrite(str(root / label / f"i{k}.png"), frame(80 + 2 * k, 60, 5 + k, 8, 24 + k, k))
    cv2.imwrite(str(root / "real" / "noface.png"), frame(70, 50, 0, 0, 0, 9))
    (root / "fake" / "empty.jpg").write_bytes(b"")
    (root / "fake" / "notes.txt").write_text("not a medium\n")
    video(root / "fake" / "clip.avi", 12, 20)
    return root


@pytest.fixture(scope="module")
def local_run(src: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("local") / "dst"
    run_crop(src, dst, CONFIG, detector=BrightSquareDetector())
    return dst


def _crops(dst: Path) -> dict[str, bytes]:
    return {p.relative_to(dst).as_posix(): p.read_bytes() for p in dst.rglob("*") if p.suffix in (".png", ".jpg")}


def _same_outputs(one: Path, two: Path) -> None:
    assert (one / "manifest.csv").read_text() == (two / "manifest.csv").read_text()
    assert (one / "failures.csv").read_text() == (two / "failures.csv").read_text()
    assert _crops(one) == _crops(two)
    journal = sorted((r["source"], r["status"], r["crops"]) for r in read_rows(two / "sources.csv", SOURCE_COLUMNS))
    assert journal == sorted((r["source"], r["status"], r["crops"])
                             for r in read_rows(one / "sources.csv", SOURCE_COLUMNS))


def test_a_ray_run_gives_the_local_runs_manifest_crops_and_failures(
    ray_session: object, src: Path, local_run: Path, tmp_path: Path
) -> None:
    dst = tmp_path / "dst"
    summary = run_crop(src, dst, dataclasses.replace(CONFIG, engine="ray", ray_workers=2),
                       detector=BrightSquareDetector())
    _same_outputs(local_run, dst)
    assert summary.crops_total == 6 + 4  # six squares and the video's four sampled frames
    reasons = {r["source"]: r["reason"] for r in read_rows(dst / "failures.csv", FAILURE_COLUMNS)}
    assert reasons == {"real/noface.png": "no face", "fake/empty.jpg": "empty file",
                       "fake/notes.txt": "not a media file"}
    record = json.loads((dst / "dfembed-crop.json").read_text())
    assert record["config"]["engine"] == "ray" and record["status"] == "complete"
    assert not list(dst.glob(".dfembed-shared-check-*"))  # the token is gone with the job


def test_workers_that_build_the_registered_detector_match_the_local_run(ray_session: object, tmp_path: Path) -> None:
    frames = shared_path("dfdc_sample", "frames")
    tree = tmp_path / "src"
    for label, names in (("real", ["abarnvbtwb-000", "abarnvbtwb-010"]), ("fake", ["aagfhgtpmv-000", "abqwwspghj-000"])):
        (tree / label).mkdir(parents=True)
        for name in names:
            shutil.copy(frames / label / f"{name}.png", tree / label)
    args = [str(tree), "--detector", "blazeface", "--size", "64", "-q"]
    assert CliRunner().invoke(crop_command, [args[0], str(tmp_path / "one"), *args[1:]]).exit_code == 0
    result = CliRunner().invoke(crop_command, [args[0], str(tmp_path / "two"), *args[1:], "--engine", "ray"])
    assert result.exit_code == 0, result.output
    _same_outputs(tmp_path / "one", tmp_path / "two")
    assert len(read_rows(tmp_path / "two" / "manifest.csv", MANIFEST_COLUMNS)) == 4


def test_dead_workers_have_their_sources_retried_or_recorded_and_a_rerun_retries(
    ray_session: object, src: Path, tmp_path: Path
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    detector = BrightSquareDetector(die_on={82: "once", 84: "always"}, markers=markers)  # i1.png, i2.png
    dst = tmp_path / "dst"
    config = dataclasses.replace(CONFIG, engine="ray", ray_workers=2)
    summary = run_crop(src, dst, config, detector=detector)
    assert (markers / "died-82").exists()
    sources = {r["source"] for r in read_rows(dst / "manifest.csv", MANIFEST_COLUMNS)}
    assert "fake/i1.png" in sources and "real/i2.png" not in sources  # retried once; died each time
    died = [r for r in read_rows(dst / "failures.csv", FAILURE_COLUMNS) if r["reason"] == "worker died"]
    assert [r["source"] for r in died] == ["real/i2.png"] and "3 attempts" in died[0]["detail"]
    assert summary.failures["worker died"] == 1
    rerun = run_crop(src, dst, config, detector=BrightSquareDetector())  # the crash is fixed, say
    assert (rerun.resumed, rerun.processed) == (summary.sources - 1, 1)  # only the died source again
    assert "real/i2.png" in {r["source"] for r in read_rows(dst / "manifest.csv", MANIFEST_COLUMNS)}
    assert not [r for r in read_rows(dst / "failures.csv", FAILURE_COLUMNS) if r["reason"] == "worker died"]


def test_a_worker_that_does_not_see_dst_fails_the_job_naming_it(ray_session: object, tmp_path: Path) -> None:
    from dfembed.crop.ray_engine import start_workers

    with pytest.raises(InputError, match=r"DST .* is not reachable from the Ray worker on node .* every node"):
        start_workers(ray_session, 1, tmp_path, "a-token-this-folder-does-not-hold", CONFIG, BrightSquareDetector())


def test_a_worker_that_does_not_see_src_fails_the_job_naming_it(ray_session: object, tmp_path: Path) -> None:
    from dfembed.core.cluster import SharedFolderToken
    from dfembed.crop.ray_engine import start_workers

    elsewhere = [(str(tmp_path / "src" / "fake" / "v.mp4"), 1234)]  # a source the driver saw, absent here
    with SharedFolderToken(tmp_path) as token, \
            pytest.raises(InputError, match=r"SRC is not reachable from the Ray worker on node .*v\.mp4: missing"):
        start_workers(ray_session, 1, tmp_path, token.token, CONFIG, BrightSquareDetector(), elsewhere)


def test_engine_ray_without_ray_is_one_line_saying_how_to_install(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails as if it were not installed
    result = CliRunner().invoke(crop_command, [str(src), str(tmp_path / "dst"), "--engine", "ray"])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and 'pip install -e ".[ray]"' in result.output
    assert not (tmp_path / "dst").exists()  # refused before any work


DRIVER = """
import dataclasses, sys
from pathlib import Path
from dfembed.crop.job import run_crop
from tests.crop.test_ray_engine import CONFIG
from tests.fakes import BrightSquareDetector
run_crop(Path(sys.argv[1]), Path(sys.argv[2]), dataclasses.replace(CONFIG, engine="ray", ray_workers=2),
         detector=BrightSquareDetector(delay=0.4, pids=Path(sys.argv[3])))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_driver_takes_its_workers_and_the_rerun_resumes(
    ray_session: object, src: Path, local_run: Path, tmp_path: Path
) -> None:
    dst, pids = tmp_path / "dst", tmp_path / "pids"
    pids.mkdir()
    process = subprocess.Popen([sys.executable, "-c", DRIVER, str(src), str(dst), str(pids)], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: (dst / "sources.csv").exists() and (dst / "sources.csv").read_text().count("\n") >= 4,
                  process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    workers = [int(p.name) for p in pids.iterdir()]
    assert workers, "no worker ran before the kill"
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    survivors = [pid for pid in workers if _alive(pid)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert not survivors, "Ray workers outlived their killed driver"
    run_crop(src, dst, dataclasses.replace(CONFIG, engine="ray"), detector=BrightSquareDetector())
    _same_outputs(local_run, dst)


def _wait_for(ready: object, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if ready():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"the driver did not get that far (exit status {process.poll()})")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")
