"""Ctrl-C: a crop run with worker processes ends promptly, says so in one line, and the next run resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dfembed.cli import INTERRUPTED_STATUS
from tests.support import REPO, shared_path, wait_for_lines


def _default_ctrl_c() -> None:
    """In the child before it runs: Ctrl-C as in a terminal, whatever the test process's state.

    A process inherits an ignored SIGINT (as a shell's background job does, or a test process
    while a library's thread is in ``system()``), and Python then leaves it ignored.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _crop(src: Path, dst: Path, *flags: str) -> subprocess.Popen:
    # its own process group, so that Ctrl-C can reach the main process and its workers, as a terminal sends it
    return subprocess.Popen([sys.executable, "crop_face.py", str(src), str(dst), "-q", *flags], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_default_ctrl_c)


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
    journalled = (dst / "sources.csv").read_text().count("\n") - 1
    assert process.poll() is None, f"the crop ended before Ctrl-C came ({journalled} sources journalled then)"
    os.killpg(process.pid, signal.SIGINT)  # the main process and both workers, as Ctrl-C in a terminal
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
