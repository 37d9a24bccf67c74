"""Shared fixtures: the location of ``../shared/data`` and quiet TensorFlow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import shared_path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def shared_data() -> Path:
    """The ``../shared/data`` folder (skips when absent)."""
    return shared_path()
