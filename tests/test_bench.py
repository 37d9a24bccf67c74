"""The benchmark scripts import only names the package has (they import lazily, inside main)."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

from tests.support import REPO

SCRIPTS = sorted((REPO / "bench").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_dfembed_name_a_benchmark_imports_exists(script: Path) -> None:
    tree = ast.parse(script.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dfembed"):
            module = importlib.import_module(node.module)
            missing = [a.name for a in node.names if not hasattr(module, a.name)]
            assert not missing, f"{script.name}: {node.module} has no {missing}"


@pytest.fixture(scope="module")
def gpu_bench():
    """bench/gpu_bench.py as a module (importing it imports neither Keras nor JAX)."""
    spec = importlib.util.spec_from_file_location("gpu_bench", REPO / "bench" / "gpu_bench.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_gpu_bench_largest_batch_is_the_memory_left_over_one_images_need(gpu_bench) -> None:
    mib, gib = 2**20, 2**30
    before = {"bytes_in_use": gib}
    after = {"peak_bytes_in_use": gib + 28 * 100 * mib, "bytes_limit": 100 * gib}
    # 100 MiB an image; room 0.9 * 100 GiB - 1 GiB = 91,136 MiB → 911 images → 904 (a multiple of 8)
    assert gpu_bench.largest_batch(before, after, 28, None) == 904
    assert gpu_bench.largest_batch(before, after, 28, 256) == 256  # --max-batch caps it
    assert gpu_bench.largest_batch(None, None, 28, 64) == 64  # a CPU: no statistics, the cap or nothing
    assert gpu_bench.largest_batch(None, None, 28, None) is None


def test_gpu_bench_report_and_verdicts_against_the_targets(gpu_bench) -> None:
    record = gpu_bench.Record(None, {}, {})
    record.add(kind="pipeline", threads=1, batch=28, img_per_s=100.0, status="measured")
    record.add(kind="pipeline", threads=16, batch=28, img_per_s=1000.0, status="measured")
    record.add(kind="train", precision="mixed_bfloat16", batch=28, img_per_s=800.0, status="measured")
    record.add(kind="train", precision="float32", batch=28, img_per_s=320.0, status="measured")
    record.add(kind="inference", precision="mixed_bfloat16", batch=128, img_per_s=2000.0, status="measured")
    record.add(kind="largest", precision="float32", status="not measured: time budget")
    table = "\n".join(gpu_bench.report(record))
    assert "2.50×" in table  # 800 / 320, bfloat16 over float32 at batch 28
    assert "1.14×" in table  # 800 / 700, the training target
    assert "not measured: time budget" in table
    train, inference, pipeline, fix = gpu_bench.verdicts(record)
    assert train.endswith(": met") and inference.endswith(": NOT met")
    assert "1.2 ×" in pipeline and "16 thread(s)" in pipeline and pipeline.endswith("NOT met")  # 1000 / 800 = 1.25 < 1.5
    assert "about 12 threads" in fix  # 1.5 × 800 / 100 img/s a thread
