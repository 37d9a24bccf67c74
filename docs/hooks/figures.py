"""MkDocs hook: draw the generated figures (docs/gen_figures.py) before every build.

The figures go to ``docs/assets/generated/`` (ignored by git). They are redrawn only when
``docs/gen_figures.py`` or the installed dfembed changed since the last drawing (a stamp file
records both), so ``mkdocs serve`` does not redraw them, and trigger a rebuild, on every
change of a page.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

log = logging.getLogger("mkdocs.hooks.figures")

DOCS = Path(__file__).resolve().parents[1]
SCRIPT = DOCS / "gen_figures.py"
OUT = DOCS / "assets" / "generated"
STAMP = OUT / ".stamp"


def _fingerprint() -> str:
    """SHA-256 of the figure script and of every dfembed source file it may draw with."""
    digest = hashlib.sha256(SCRIPT.read_bytes())
    for path in sorted((DOCS.parent / "dfembed").rglob("*.py")):
        digest.update(path.as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def on_pre_build(config: Any, **kwargs: Any) -> None:
    """Run ``docs/gen_figures.py`` in a fresh interpreter unless the figures are current."""
    fingerprint = _fingerprint()
    if STAMP.is_file() and STAMP.read_text(encoding="utf-8") == fingerprint:
        log.debug("figures are current")
        return
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg"}
    # a separate process: TensorFlow and the detectors stay out of the MkDocs process
    result = subprocess.run([sys.executable, str(SCRIPT), str(OUT)], env=env, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise PluginError(f"docs/gen_figures.py failed (exit {result.returncode}):\n{result.stderr[-4000:]}")
    log.info(result.stdout.strip())
    STAMP.write_text(fingerprint, encoding="utf-8")
