"""Ctrl-C: a crop run with worker processes ends promptly, says so in one line, and the next run resumes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dfembed.cli import INTERRUPTED_STATUS
from tests.support import REPO, shared_path, wait_for_lines


def _crop(src: Path, dst: Path, *flags: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "crop_face.py", str(src), str(dst), "-q", *flags], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_ctrl_c_ends_a_crop_run_promptly_and_the_next_run_completes_it(tmp_path: Path) -> None:
    src = shared_path("dfdc_sample", "frames")
    dst = tmp_path / "out"
    # Runs of one image: after the first finished source, dozens are still to do when Ctrl-C comes.
    process = _crop(src, dst, "--jobs", "2", "--batch-size", "1")
    try:
        wait_for_lines(dst / "sources.csv", 2, process)
    except AssertionError:
        process.kill()
        raise
    process.send_signal(signal.SIGINT)
    start = time.monotonic()
    try:
        _, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError("crop_face.py was still running 30 s after Ctrl-C") from None
    assert time.monotonic() - start < 15
    assert process.returncode == INTERRUPTED_STATUS, stderr
    assert "Traceback" not in stderr and stderr.strip().splitlines()[-1].startswith("Interrupted: finished work")
    assert json.loads((dst / "dfembed-crop.json").read_text())["status"] == "running"
    again = _crop(src, dst)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    record = json.loads((dst / "dfembed-crop.json").read_text())
    assert record["status"] == "complete"  # equal to an uninterrupted run: see test_job's killed-run test
    assert record["counts"]["crops_total"] > 0
