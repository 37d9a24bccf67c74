"""The crop stage's published output: its file names, CSV schemas and their readers.

``DST/manifest.csv`` has one row per crop, ``DST/failures.csv`` one row per source (or
metadata entry) that gave no crop, ``DST/sources.csv`` one row per finished source
(the resume journal: a source is complete once its row is there) and
``DST/dfembed-crop.json`` the run's configuration, versions and counts. Only the main
process writes them, so worker processes never interleave rows. Paths in the files are
relative, with ``/``: ``source`` to SRC, ``crop`` to DST.

With ``landmarks: facemesh`` each crop whose face FaceMesh found also has its 468 points
in crop pixels in ``DST/landmarks/<crop path>.npy`` (:func:`dfembed.crop.naming.mesh_file`):
one uncompressed NumPy file per crop, ``float32`` ``(468, 2)``, read with
``allow_pickle=False`` (:func:`read_mesh`). One file per crop rather than one archive for
the run, because that is what survives a kill and a resume as the crops do: each file is
written atomically with its crop, before the source's manifest rows, so every listed crop
has its points; a source redone after a kill rewrites its own files, and nothing written
for a finished source is ever rewritten (one growing archive would be rewritten whole for
every source, or be lost with the process). About 3.9 KB per crop, ``np.load`` reads one in
microseconds. A crop without such a file (FaceMesh saw no face, or ``landmarks: five``) is
placed by its five landmarks as before.

Later stages read a crop folder through :func:`read_manifest_groups`,
:func:`read_manifest_crops`, :func:`read_manifest_faces`, :func:`read_mesh` and
:func:`read_crop_record` only.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from dfembed.core.atomic import atomic_write_text
from dfembed.core.errors import InputError
from dfembed.core.jsonfile import read_json
from dfembed.crop.naming import mesh_file
from dfembed.faces.detector import LANDMARK_NAMES
from dfembed.faces.facemesh import MESH_POINTS

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.csv"
FAILURES_NAME = "failures.csv"
SOURCES_NAME = "sources.csv"
PROVENANCE_NAME = "dfembed-crop.json"
#: Every report file of a crop run (the crops themselves are named by :mod:`dfembed.crop.naming`).
REPORT_NAMES = (MANIFEST_NAME, FAILURES_NAME, SOURCES_NAME, PROVENANCE_NAME)

# Landmark columns in the order of :data:`dfembed.faces.detector.LANDMARK_NAMES`, x before y.
LANDMARK_COLUMNS: tuple[str, ...] = tuple(f"{name}_{axis}" for name in LANDMARK_NAMES for axis in ("x", "y"))
# The face in the crop's own pixels: its box (bounds of the mapped box) and its five landmarks.
CROP_BOX_COLUMNS: tuple[str, ...] = ("crop_x1", "crop_y1", "crop_x2", "crop_y2")
CROP_LANDMARK_COLUMNS: tuple[str, ...] = tuple(f"crop_{column}" for column in LANDMARK_COLUMNS)
MANIFEST_COLUMNS: tuple[str, ...] = (
    "source",
    "label",
    "group",
    "method",
    "frame_index",
    "face_index",
    "x1",
    "y1",
    "x2",
    "y2",
    "confidence",
    *LANDMARK_COLUMNS,
    *CROP_BOX_COLUMNS,
    *CROP_LANDMARK_COLUMNS,
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
        # backslashreplace: a detail quoting a name that is not UTF-8 must not stop the job
        self._handle = open(self.path, "a", newline="", encoding="utf-8", errors="backslashreplace")
        if new:
            self.append([dict(zip(self.columns, self.columns))])

    def append(self, rows: Iterable[Row]) -> None:
        """Write ``rows`` (dicts keyed by column name) and sync them to disk."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n")
        writer.writerows(rows)
        try:
            self._handle.write(buffer.getvalue())
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as err:  # a full disk: name the file (the journal stays resumable)
            raise OSError(err.errno, err.strerror or str(err), str(self.path)) from err

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
        InputError: The file is not UTF-8 CSV text, or its header is not ``columns`` (the
            file is not ours or from another version).
    """
    path = Path(path)
    if not path.exists():
        return []
    text = read_csv_text(path)
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            return []
        if tuple(header) != tuple(columns):
            raise InputError(f"{path}: unexpected columns {header}; expected {list(columns)}")
        return [dict(zip(columns, values)) for values in reader if len(values) == len(columns)]
    except csv.Error as err:
        raise InputError(f"{path}, line {reader.line_num}: not a valid CSV file ({err})") from err


def read_csv_text(path: Path) -> str:
    """The text of a CSV file, line endings inside quoted fields kept.

    Raises:
        InputError: The file cannot be read or is not UTF-8; the message names it.
    """
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.read()
    except UnicodeDecodeError as err:
        raise InputError(f"{path} is not UTF-8 text (byte 0x{err.object[err.start]:02x} at position {err.start}); "
                         "it is not a file dfembed wrote, or it was damaged") from err
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from err


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


def read_manifest_groups(root: Path) -> dict[Path, str]:
    """Map each crop listed in ``root/manifest.csv`` to its group (empty without a manifest).

    Only the ``crop`` and ``group`` columns are needed, so hand-made manifests work too.

    Args:
        root: A crop folder.

    Returns:
        Resolved crop path → group key.

    Raises:
        InputError: The manifest exists but lacks the ``crop`` or ``group`` column.
    """
    manifest = Path(root) / MANIFEST_NAME
    if not manifest.is_file():
        return {}
    reader = csv.DictReader(io.StringIO(read_csv_text(manifest), newline=""))
    try:
        missing = {"crop", "group"} - set(reader.fieldnames or ())
        if missing:
            raise InputError(f"{manifest}: missing column(s) {', '.join(sorted(missing))}")
        groups = {(root / row["crop"]).resolve(): row["group"] for row in reader
                  if row["crop"] and row["group"] and "\x00" not in row["crop"]}
    except csv.Error as err:
        raise InputError(f"{manifest}, line {reader.line_num}: not a valid CSV file ({err})") from err
    log.info("read %d group keys from %s", len(groups), manifest)
    return groups


def read_manifest_crops(root: Path) -> dict[str, list[tuple[int, Path]]]:
    """The crops of each source listed in ``root/manifest.csv``, with their frame index (empty without one).

    Only the ``source``, ``frame_index`` and ``crop`` columns are read.

    Args:
        root: A crop folder.

    Returns:
        Source (relative to SRC) → ``(frame_index, resolved crop path)`` in manifest order.

    Raises:
        InputError: The manifest lacks one of those columns or is not UTF-8 CSV.
    """
    manifest = Path(root) / MANIFEST_NAME
    if not manifest.is_file():
        return {}
    reader = csv.DictReader(io.StringIO(read_csv_text(manifest), newline=""))
    crops: dict[str, list[tuple[int, Path]]] = {}
    try:
        missing = {"source", "frame_index", "crop"} - set(reader.fieldnames or ())
        if missing:
            raise InputError(f"{manifest}: missing column(s) {', '.join(sorted(missing))}")
        for row in reader:
            if row["crop"] and "\x00" not in row["crop"] and row["frame_index"].isdigit():
                crops.setdefault(row["source"], []).append((int(row["frame_index"]), (root / row["crop"]).resolve()))
    except csv.Error as err:
        raise InputError(f"{manifest}, line {reader.line_num}: not a valid CSV file ({err})") from err
    return crops


def read_crop_record(root: Path) -> dict | None:
    """The crop run's record ``root/dfembed-crop.json`` (configuration, status, SRC, counts).

    Args:
        root: A crop folder.

    Returns:
        The record, or ``None`` when the folder has none.

    Raises:
        InputError: The record is not a JSON object.
    """
    path = Path(root) / PROVENANCE_NAME
    if not path.is_file():
        return None
    record = read_json(path, "a crop record")
    if not isinstance(record, dict):
        raise InputError(f"{path}: expected a JSON object, the record of a crop run")
    return record


@dataclasses.dataclass(frozen=True, eq=False)  # arrays make == ambiguous
class CropFace:
    """Where the face lies in one crop file, in the crop's pixels (pixel centres on integers).

    Attributes:
        box: ``x1, y1, x2, y2``, or ``None`` when the manifest has no crop geometry.
        landmarks: ``(5, 2)``: left eye, right eye, nose, mouth left, mouth right, or
            ``None`` (a detector without landmarks, or a manifest without them).
        mesh_path: The crop's FaceMesh file (read it with :func:`read_mesh`), or ``None``.
    """

    box: tuple[float, float, float, float] | None
    landmarks: np.ndarray | None
    mesh_path: Path | None = None


def read_manifest_faces(root: Path) -> dict[Path, CropFace]:
    """Map each crop listed in ``root/manifest.csv`` to its face geometry in crop pixels.

    Manifests written before the crop geometry columns existed give ``None`` box and
    landmarks for every crop; a crop without landmarks keeps its box.

    Args:
        root: A crop folder.

    Returns:
        Resolved crop path → :class:`CropFace` (empty without a manifest).

    Raises:
        InputError: The manifest lacks the ``crop`` column.
    """
    manifest = Path(root) / MANIFEST_NAME
    if not manifest.is_file():
        return {}
    with open(manifest, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if "crop" not in (reader.fieldnames or ()):
            raise InputError(f"{manifest}: missing column crop")
        faces = {(root / row["crop"]).resolve(): _crop_face(row, root) for row in reader if row.get("crop")}
    return faces


def _crop_face(row: Row, root: Path) -> CropFace:
    box = _floats(row, CROP_BOX_COLUMNS)
    points = _floats(row, CROP_LANDMARK_COLUMNS)
    landmarks = np.asarray(points, dtype=np.float64).reshape(5, 2) if points is not None else None
    mesh = Path(root) / mesh_file(row["crop"])
    return CropFace(box if box is None else (box[0], box[1], box[2], box[3]), landmarks,
                    mesh if mesh.is_file() else None)


def mesh_bytes(points: np.ndarray) -> bytes:
    """One crop's FaceMesh file: the points ``(468, 2)`` as an uncompressed ``float32`` ``.npy``.

    Raises:
        ValueError: The points are not ``(468, 2)`` finite numbers.
    """
    points = np.asarray(points, dtype=np.float32)
    if points.shape != (MESH_POINTS, 2) or not np.isfinite(points).all():
        raise ValueError(f"expected finite FaceMesh points ({MESH_POINTS}, 2), got {points.shape}")
    buffer = io.BytesIO()
    np.save(buffer, points, allow_pickle=False)
    return buffer.getvalue()


def read_mesh(path: Path) -> np.ndarray:
    """Read one crop's FaceMesh points (:func:`mesh_bytes`).

    Args:
        path: A ``landmarks/….npy`` file of a crop folder.

    Returns:
        ``float64`` ``(468, 2)`` points in the crop's pixels.

    Raises:
        InputError: The file cannot be read, is not a NumPy array file, or holds no finite ``(468, 2)`` points.
    """
    try:
        points = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise InputError(f"{path}: not a FaceMesh points file ({err})") from err
    if not isinstance(points, np.ndarray) or points.shape != (MESH_POINTS, 2) or points.dtype.kind != "f" \
            or not np.isfinite(points).all():
        raise InputError(f"{path}: expected finite float points ({MESH_POINTS}, 2), "
                         f"got {getattr(points, 'dtype', '?')} {getattr(points, 'shape', '?')}")
    return points.astype(np.float64)


def _floats(row: Row, columns: Sequence[str]) -> list[float] | None:
    """The row's values of ``columns`` as finite floats, ``None`` if any is absent or not a number."""
    try:
        values = [float(row.get(c) or "nan") for c in columns]
    except ValueError:
        return None
    return values if all(math.isfinite(v) for v in values) else None
