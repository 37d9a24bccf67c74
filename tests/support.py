"""Helpers shared by the tests: the repository root and the location of ``../shared/data``."""

from __future__ import annotations

import os
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
