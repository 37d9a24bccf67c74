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


@pytest.fixture(scope="session")
def tiny_pair(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny embedding model with a linear and an RBF classifier (``tests/tiny_models.py``), made once."""
    from tests.tiny_models import build_pair

    return build_pair(tmp_path_factory.mktemp("tiny_pair"))


@pytest.fixture(scope="session")
def tiny_onnx(tiny_pair: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``dfembed export`` of the tiny model with its linear classifier, as ONNX: the export folder."""
    from tests.tiny_models import export

    return export(tiny_pair["model"], tiny_pair["linear"], tmp_path_factory.mktemp("exports") / "linear_onnx")
