"""The package's public surface: every exported name resolves, importing stays cheap."""

from __future__ import annotations

import subprocess
import sys

import dfembed


def test_every_exported_name_resolves() -> None:
    for name in dfembed.__all__:
        assert getattr(dfembed, name) is not None, name


def test_import_does_not_load_tensorflow_or_keras() -> None:
    code = "import sys, dfembed, dfembed.cli; print(sorted(m for m in ('tensorflow', 'keras', 'mtcnn') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_resources_exist_for_every_stage() -> None:
    from pathlib import Path

    resources = Path(__file__).resolve().parents[1] / "resources"
    assert {"crop.yaml", "train.yaml", "inference.yaml"} <= {p.name for p in resources.iterdir()}
