"""Ground-truth labels for evaluation: DFDC ``metadata.json``, a real/fake folder tree, or a CSV.

Convention: 1 is FAKE, 0 is REAL. Every reader returns a :class:`LabelSet` that maps a
key (a file name or relative POSIX path) to its label and, when the source says so,
to a group: the DFDC source video, so that a fake and the original it was made from
are evaluated together.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dfembed.errors import InputError

log = logging.getLogger(__name__)

#: Files counted in a real/fake folder tree (lower-case suffixes).
MEDIA_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff",
     ".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg"}
)  # fmt: skip

#: Accepted key and label column names of a label CSV, in order of preference.
KEY_COLUMNS = ("path", "filename", "file")
LABEL_COLUMNS = ("label", "y")
GROUP_COLUMN = "group"

_WORDS = {"real": 0, "fake": 1}


@dataclass(frozen=True)
class LabelSet:
    """Ground truth read from one source.

    Attributes:
        source: The file or folder it was read from.
        kind: ``"dfdc-metadata"``, ``"folders"`` or ``"csv"``.
        labels: Key (file name or relative POSIX path) → 1 for FAKE, 0 for REAL.
        groups: Key → group name; empty when the source has no groups.
    """

    source: Path
    kind: str
    labels: Mapping[str, int]
    groups: Mapping[str, str] = field(default_factory=dict)


def read_labels(path: str | Path) -> LabelSet:
    """Read labels from whichever supported source ``path`` is.

    A folder with a ``real/`` or ``fake/`` sub-folder is a folder tree (even when it also
    holds a ``metadata.json``: the tree labels each file, the metadata only videos); any
    other folder must contain a DFDC ``metadata.json``. A file ending in ``.json`` is DFDC
    metadata and one ending in ``.csv`` a label CSV.

    Args:
        path: A ``metadata.json``, a CSV file, or a folder.

    Returns:
        The labels.

    Raises:
        InputError: The path is missing, of an unknown kind, or its content is invalid.
    """
    path = Path(path)
    if path.is_dir():
        if _label_folders(path):
            return read_label_folders(path)
        if (path / "metadata.json").is_file():
            return read_dfdc_metadata(path / "metadata.json")
        raise InputError(
            f"labels folder {path} has neither real/ and fake/ sub-folders nor a metadata.json"
        )
    if not path.is_file():
        raise InputError(f"labels {path} do not exist")
    if path.suffix.lower() == ".json":
        return read_dfdc_metadata(path)
    if path.suffix.lower() == ".csv":
        return read_label_csv(path)
    raise InputError(
        f"labels {path}: expected a DFDC metadata .json, a .csv, or a folder with real/ and fake/"
    )


def read_dfdc_metadata(path: str | Path) -> LabelSet:
    """Read a DFDC ``metadata.json``: ``{"x.mp4": {"label": "FAKE", "original": "y.mp4"}}``.

    The group of a fake is its ``original``; the group of a real video (``original`` is
    null) is its own name, so a source video and its fakes share one group.

    Args:
        path: The JSON file.

    Returns:
        Labels keyed by file name, with groups.

    Raises:
        InputError: Unreadable JSON, not a mapping, or an entry without a REAL/FAKE label.
    """
    path = Path(path)
    data = _load_json(path)
    labels: dict[str, int] = {}
    groups: dict[str, str] = {}
    for name, entry in data.items():
        if not isinstance(entry, dict) or "label" not in entry:
            raise InputError(f"{path}: entry {name!r} has no 'label' (expected REAL or FAKE)")
        labels[name] = parse_label(entry["label"], f"{path}: entry {name!r}")
        groups[name] = str(entry.get("original") or name)
    log.info("read %d labels from DFDC metadata %s", len(labels), path)
    return LabelSet(path, "dfdc-metadata", labels, groups)


def read_label_folders(root: str | Path) -> LabelSet:
    """Read a ``real/`` + ``fake/`` folder tree of media files (folder names in any case).

    Args:
        root: The folder holding ``real/`` and/or ``fake/``.

    Returns:
        Labels keyed by each file's POSIX path relative to its label folder
        (``real/a/b.png`` → ``a/b.png``); no groups.

    Raises:
        InputError: No label folders, no media files, or one key under both labels.
    """
    root = Path(root)
    folders = _label_folders(root)
    if not folders:
        raise InputError(f"labels folder {root} has no real/ or fake/ sub-folder")
    labels: dict[str, int] = {}
    for folder, label in folders:
        for key in _media_keys(folder):
            if key in labels:
                raise InputError(
                    f"labels folder {root}: {key!r} is under both real/ and fake/; "
                    "a file must have one label"
                )
            labels[key] = label
    if not labels:
        raise InputError(f"labels folder {root}: no media files under real/ or fake/")
    log.info("read %d labels from folder tree %s", len(labels), root)
    return LabelSet(root, "folders", labels)


def read_label_csv(path: str | Path) -> LabelSet:
    """Read a label CSV: a key column (``path``, ``filename`` or ``file``), a label column
    (``label`` or ``y``; values 0/1 or REAL/FAKE) and an optional ``group`` column.

    Args:
        path: The CSV file (UTF-8, header on the first line).

    Returns:
        Labels keyed by the key column, with groups when the column exists.

    Raises:
        InputError: Unreadable file, missing columns, an empty key, a duplicate key or a
            label that is neither 0/1 nor REAL/FAKE; the message names the line.
    """
    path = Path(path)
    reader = csv.DictReader(io.StringIO(_read_text(path), newline=""))
    key_col, label_col = _csv_columns(path, reader.fieldnames)
    has_groups = GROUP_COLUMN in (reader.fieldnames or [])
    labels: dict[str, int] = {}
    groups: dict[str, str] = {}
    for row in reader:
        where = f"{path}, line {reader.line_num}"
        key = (row.get(key_col) or "").strip()
        if not key:
            raise InputError(f"{where}: the {key_col!r} column is empty")
        if key in labels:
            raise InputError(f"{where}: {key!r} appears more than once")
        labels[key] = parse_label(row.get(label_col), where)
        if has_groups and (row.get(GROUP_COLUMN) or "").strip():
            groups[key] = row[GROUP_COLUMN].strip()
    if not labels:
        raise InputError(f"label CSV {path} has a header but no rows")
    log.info("read %d labels from CSV %s", len(labels), path)
    return LabelSet(path, "csv", labels, groups)


def parse_label(value: Any, where: str) -> int:
    """Turn ``0``/``1``, ``"0"``/``"1"`` (``"1.0"`` too) or ``REAL``/``FAKE`` (any case) into 0 or 1.

    Args:
        value: The raw label.
        where: Location for the error message (file and line or entry).

    Returns:
        1 for FAKE, 0 for REAL.

    Raises:
        InputError: Any other value.
    """
    text = str(value).strip().lower() if value is not None else ""
    if text in _WORDS:
        return _WORDS[text]
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if number in (0.0, 1.0):
        return int(number)
    raise InputError(f"{where}: label {value!r} is not 0/1 or REAL/FAKE")


def _csv_columns(path: Path, fieldnames: list[str] | None) -> tuple[str, str]:
    if not fieldnames:
        raise InputError(f"label CSV {path} is empty: expected a header such as 'path,label'")
    key = next((c for c in KEY_COLUMNS if c in fieldnames), None)
    label = next((c for c in LABEL_COLUMNS if c in fieldnames), None)
    if key is None or label is None:
        raise InputError(
            f"label CSV {path}: header {fieldnames} needs a key column ({', '.join(KEY_COLUMNS)}) "
            f"and a label column ({', '.join(LABEL_COLUMNS)})"
        )
    return key, label


def _label_folders(root: Path) -> list[tuple[Path, int]]:
    found = []
    for child in sorted(root.iterdir()):
        if child.is_dir() and child.name.lower() in _WORDS:
            found.append((child, _WORDS[child.name.lower()]))
    return found


def _media_keys(folder: Path) -> list[str]:
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES
    )


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{path} is not UTF-8 text: {err}") from err
    except OSError as err:
        raise InputError(f"cannot read {path}: {err}") from err


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as err:
        raise InputError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(data, dict) or not data:
        raise InputError(
            f"{path}: expected a DFDC metadata mapping of file names to "
            '{"label": "REAL"|"FAKE", ...}'
        )
    return data
