"""The crop stage's CSV files: schemas, flushed appends, tolerant reading, atomic rewrites.

``DST/manifest.csv`` has one row per crop, ``DST/failures.csv`` one row per source (or
metadata entry) that gave no crop, and ``DST/sources.csv`` one row per finished source
(the resume journal: a source is complete once its row is there). Only the main
process writes them, so worker processes never interleave rows. Paths in the files are
relative, with ``/``: ``source`` to SRC, ``crop`` to DST.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from dfembed.core.atomic import atomic_write_text
from dfembed.faces.detector import LANDMARK_NAMES
from dfembed.core.errors import InputError

MANIFEST_NAME = "manifest.csv"
FAILURES_NAME = "failures.csv"
SOURCES_NAME = "sources.csv"

# Landmark columns in the order of :data:`dfembed.faces.detector.LANDMARK_NAMES`, x before y.
LANDMARK_COLUMNS: tuple[str, ...] = tuple(f"{name}_{axis}" for name in LANDMARK_NAMES for axis in ("x", "y"))
MANIFEST_COLUMNS: tuple[str, ...] = (
    "source",
    "label",
    "group",
    "frame_index",
    "face_index",
    "x1",
    "y1",
    "x2",
    "y2",
    "confidence",
    *LANDMARK_COLUMNS,
    "crop",
)
FAILURE_COLUMNS: tuple[str, ...] = ("source", "label", "reason", "detail")
SOURCE_COLUMNS: tuple[str, ...] = ("source", "label", "group", "status", "crops", "detail")

Row = dict[str, str]


class CsvAppender:
    """Appends rows to a CSV file, writing the header first when the file is new or empty.

    Every :meth:`append` is flushed and synced to disk before it returns, so a row that
    is in the file stays there if the process is killed right after.

    Args:
        path: The CSV file.
        columns: Its column names, in order.
    """

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = Path(path)
        self.columns = tuple(columns)
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._handle = open(self.path, "a", newline="", encoding="utf-8")
        if new:
            self.append([dict(zip(self.columns, self.columns))])

    def append(self, rows: Iterable[Row]) -> None:
        """Write ``rows`` (dicts keyed by column name) and sync them to disk."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n")
        writer.writerows(rows)
        self._handle.write(buffer.getvalue())
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Close the file."""
        self._handle.close()

    def __enter__(self) -> CsvAppender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def read_rows(path: Path, columns: Sequence[str]) -> list[Row]:
    """Read a CSV written by :class:`CsvAppender`, dropping a torn last line.

    A process killed in the middle of a write can leave an incomplete last line; it is
    left out (its source is not in the journal, so it will be redone).

    Args:
        path: The CSV file (a missing file reads as no rows).
        columns: The expected header.

    Returns:
        The complete rows.

    Raises:
        InputError: The header is not ``columns`` (the file is not ours or from another version).
    """
    path = Path(path)
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        return []
    if tuple(header) != tuple(columns):
        raise InputError(f"{path}: unexpected columns {header}; expected {list(columns)}")
    return [dict(zip(columns, values)) for values in reader if len(values) == len(columns)]


def write_rows(path: Path, columns: Sequence[str], rows: Iterable[Row]) -> None:
    """Replace ``path`` atomically with a CSV of ``columns`` and ``rows``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def sort_key(row: Row) -> tuple[str, int, int]:
    """Order of the final manifest: source, then frame index, then face index."""
    return row["source"], int(row.get("frame_index") or 0), int(row.get("face_index") or 0)
