"""The run folder's state: ``state.json`` (epoch, checkpoint name, history, best AUC and
configuration) and the best weights, written so that a run killed at any moment leaves
a complete record to resume from.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from dfembed.core.atomic import atomic_write_text
from dfembed.core.errors import InputError

STATE_NAME = "state.json"
BEST_WEIGHTS_GLOB = "best-epoch-*.weights.h5"


def best_weights_name(epoch: int) -> str:
    """File name of the best weights saved after 1-based ``epoch``.

    One name per epoch, so that ``state.json`` (written after the file) always names
    weights that match its ``best_epoch``, even if the run is killed in between.
    """
    return f"best-epoch-{epoch:03d}.weights.h5"


def read_state(run_dir: Path) -> dict[str, Any] | None:
    """The run folder's ``state.json``, or ``None`` when there is none."""
    path = run_dir / STATE_NAME
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(f"{path} is not valid JSON: {err}") from err


def write_state(run_dir: Path, state: dict[str, Any]) -> None:
    """Write ``state.json`` atomically (NaN is written as ``null``)."""
    atomic_write_text(run_dir / STATE_NAME, json.dumps(no_nan(state), indent=2) + "\n")


def no_nan(value: Any) -> Any:
    """``value`` with every float NaN, in nested dicts and lists, replaced by ``None`` (JSON ``null``)."""
    if isinstance(value, dict):
        return {k: no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [no_nan(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
