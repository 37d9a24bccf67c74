"""Shared fixtures: the location of ``../shared/data``, quiet TensorFlow, one local Ray cluster."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import REPO, shared_path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# One cache of converted backbone weights for the whole run (and its subprocesses), never the user's own.
os.environ["DFEMBED_CACHE"] = tempfile.mkdtemp(prefix="dfembed-test-cache-")
# The tests' own backbone (tests/tiny_backbone.py) in this process and, through the plugin
# mechanism, in every process a test starts: the training-mechanics tests run on it.
os.environ["DFEMBED_PLUGINS"] = "tests.tiny_backbone"


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


@pytest.fixture(scope="session")
def ray_session() -> Iterator[object]:
    """One local Ray cluster for the whole test session: 2 CPUs, no dashboard, a small object store.

    Its workers import this checkout (the repository root on their ``PYTHONPATH``), so classes
    defined in the tests (fake detectors) can be sent to them. Skips when Ray is not installed.
    """
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        yield ray
        return
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), saved) if p)
    try:  # the cluster's processes take the environment now
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=128 * 1024 * 1024,
                 configure_logging=False, log_to_driver=False)
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = saved
    yield ray
    ray.shutdown()
