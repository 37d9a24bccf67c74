"""One loaded service for the serve tests: the hand-set region model, MTCNN in one worker process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="needs the serve extra: pip install -e '.[serve]'")


@pytest.fixture(scope="session")
def region_pair(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.region_model import build_region_pair

    return build_region_pair(tmp_path_factory.mktemp("serve_model"))


@pytest.fixture(scope="session")
def service(region_pair: dict[str, Path]) -> Iterator[object]:
    """The service with its real worker (started once: a spawned process that builds MTCNN)."""
    from dfembed.serve.config import ServeConfig
    from dfembed.serve.service import load_service

    loaded = load_service(region_pair["model"], region_pair["svm"], ServeConfig(workers=1, queue=2, timeout=60))
    loaded.pool.warm_up()
    yield loaded
    loaded.close()
