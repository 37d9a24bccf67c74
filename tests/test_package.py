"""The package's public surface: every exported name resolves, importing stays cheap."""

from __future__ import annotations

import pytest

import subprocess
import sys

import dfembed


def test_every_exported_name_resolves() -> None:
    for name in dfembed.__all__:
        assert getattr(dfembed, name) is not None, name


@pytest.mark.slow
def test_import_does_not_load_tensorflow_or_keras() -> None:
    code = "import sys, dfembed, dfembed.cli; print(sorted(m for m in ('tensorflow', 'keras', 'mtcnn') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_resources_exist_for_every_stage() -> None:
    from pathlib import Path

    resources = Path(__file__).resolve().parents[1] / "dfembed" / "resources"
    assert {"crop.yaml", "train.yaml", "inference.yaml"} <= {p.name for p in resources.iterdir()}


def test_the_wheel_carries_every_resource_file() -> None:
    import fnmatch
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["dfembed"]
    files = [p.relative_to(root / "dfembed").as_posix() for p in (root / "dfembed" / "resources").rglob("*")
             if p.is_file() and "__pycache__" not in p.parts]
    assert len(files) >= 17  # 7 stage defaults, 4 presets, 4 split files, 2 templates
    # setuptools' "*" does not cross a "/": a file is carried when one pattern matches it segment by segment
    missing = [f for f in files if not any(fnmatch.fnmatch(f, p) and f.count("/") == p.count("/") for p in patterns)]
    assert missing == []
