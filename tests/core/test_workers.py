"""A worker ends with its parent: by the kernel's parent-death signal, or by its watchdog thread alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import REPO

# The parent starts a child, waits until the child has bound itself to it, prints the child's pid, then waits.
PARENT = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], str(os.getpid())], stdout=subprocess.PIPE)
assert child.stdout.readline().strip() == b"bound"
print(child.pid, flush=True)
time.sleep(120)
"""
CHILD = """
import sys, time
if {watchdog_only}:
    sys.platform = "other"  # no prctl: only the watchdog thread can end this process
from dfembed.core.workers import die_with_parent
die_with_parent(int(sys.argv[1]), interval=0.1)
print("bound", flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("watchdog_only", [False, True], ids=["prctl", "watchdog"])
def test_the_child_ends_when_its_parent_is_killed(watchdog_only: bool) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    parent = subprocess.Popen([sys.executable, "-c", PARENT, CHILD.format(watchdog_only=watchdog_only)],
                              stdout=subprocess.PIPE, env=env)
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 15
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(child):
        os.kill(child, signal.SIGKILL)
        pytest.fail("the child outlived its killed parent")
