"""Reading the JSON files that dfembed writes (records, states), with one-line errors.

A record may be damaged (a disk filled up, an editor saved half of it) or hostile (nested
a million levels deep): every such file is an :class:`~dfembed.core.errors.InputError`
naming the file and the problem, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dfembed.core.errors import InputError


def read_json(path: Path, what: str, hint: str = "") -> Any:
    """The parsed content of the JSON file ``path``.

    Args:
        path: The file (it must exist: callers decide what a missing file means).
        what: What the file should be, for messages (``"a crop record"``).
        hint: Advice appended to the messages about the content (``"use --force to start over"``).

    Returns:
        The parsed value (any JSON type: callers check its shape).

    Raises:
        InputError: The file cannot be read, is not UTF-8 JSON, or is nested too deeply to parse.
    """
    advice = f"; {hint}" if hint else ""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path} is not valid JSON: {err}{advice}") from err
    except RecursionError as err:
        raise InputError(f"{path} is not {what}: nested too deeply to read{advice}") from err
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from err
