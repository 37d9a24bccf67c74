"""Helpers shared by the tests: the repository root and the location of ``../shared/data``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DFEMBED_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """Return a path below ``../shared/data``, skipping the test when it is absent.

    Args:
        *parts: Path components below the data folder.

    Returns:
        The existing path.
    """
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the shared test data beside the repository); not present here")
    return path


def wait_for_lines(path: Path, lines: int, process: subprocess.Popen, timeout: float = 120.0) -> None:
    """Wait until ``path`` holds ``lines`` lines, while ``process`` runs (a job to interrupt mid-way).

    Raises:
        AssertionError: The process ended, or ``timeout`` seconds passed, first.
    """
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if path.exists() and path.read_text().count("\n") >= lines:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} did not reach {lines} lines (exit status {process.poll()})")
