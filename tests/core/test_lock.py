"""The output lock: exclusive, names its holder, free again when the holder dies (even by kill -9)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dfembed.core.errors import LockedError
from dfembed.core.lock import OutputLock, lock_file_beside
from tests.support import REPO


def test_a_second_holder_fails_at_once_naming_the_first(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    with OutputLock(path, "DST out"):
        record = json.loads(path.read_text())
        assert record["pid"] == os.getpid() and record["host"] and record["started"]
        with pytest.raises(LockedError, match=rf"DST out is in use by another dfembed job \(pid {os.getpid()} on "):
            OutputLock(path, "DST out").acquire()
    assert not path.exists()  # released: the file is gone
    with OutputLock(path, "DST out"):  # and the lock can be taken again
        pass


@pytest.mark.slow
def test_the_lock_of_a_killed_process_is_taken_over(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / ".lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from dfembed.core.lock import OutputLock; "
         "OutputLock(sys.argv[1], 'x').acquire(); print('held', flush=True); time.sleep(60)", str(path)],
        cwd=REPO, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout.readline().strip() == b"held"
        with pytest.raises(LockedError, match=f"pid {holder.pid} on"):
            OutputLock(path, "run folder r").acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert path.exists()  # kill -9 left the file behind...
    with caplog.at_level(logging.WARNING, logger="dfembed.core.lock"):
        lock = OutputLock(path, "run folder r").acquire()  # ...but not the lock
    try:
        assert f"taking over the lock left by pid {holder.pid}" in caplog.text
        assert json.loads(path.read_text())["pid"] == os.getpid()
    finally:
        lock.release()


def test_a_lock_file_replaced_between_open_and_lock_is_not_trusted(tmp_path: Path) -> None:
    """The holder deletes the file when it releases: a job that opened the old file must not hold a lock on it."""
    path = tmp_path / ".lock"
    first = OutputLock(path, "x").acquire()
    stale = os.open(path, os.O_RDWR)  # what a second job holds just before first releases
    first.release()
    second = OutputLock(path, "x").acquire()  # a new file: the stale descriptor's inode is gone
    try:
        assert os.fstat(stale).st_ino != path.stat().st_ino
    finally:
        os.close(stale)
        second.release()


def test_lock_file_beside_an_output() -> None:
    assert lock_file_beside(Path("/out/sub.csv")) == Path("/out/.sub.csv.dfembed-lock")

