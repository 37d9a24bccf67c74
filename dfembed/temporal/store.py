"""The embeddings folder that ``dfembed temporal embed`` writes and ``dfembed temporal train`` reads.

::

    OUT/index.csv            video,label,group,frames,faces,file   (one row per video, sorted)
    OUT/videos/<name>.npz    embeddings (N, D) float32 · mask (N,) bool · frame_index (N,) int64
    OUT/dfembed-embed.json   configuration, versions, the embedding model, the crop folder, counts

A video's arrays are its timeline (:mod:`dfembed.crop.videos`): row ``k`` is frame
``frame_index[k]``; where ``mask[k]`` is false the frame has no face of the track and its
embedding row is zeros. ``label`` is ``real``, ``fake`` or empty (unlabelled). The arrays
are plain ``.npz`` read with ``allow_pickle=False``: nothing in the folder runs code.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dfembed.core.atomic import atomic_path
from dfembed.core.classes import class_name, label_of
from dfembed.core.errors import InputError
from dfembed.core.jsonfile import read_json

INDEX_NAME = "index.csv"
VIDEOS_DIR = "videos"
RECORD_NAME = "dfembed-embed.json"
INDEX_COLUMNS = ("video", "label", "group", "frames", "faces", "file")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Timeline:
    """One video's stored timeline.

    Attributes:
        embeddings: ``(N, D)`` float32, zeros at gaps.
        mask: ``(N,)`` bool, true where the track has a face.
        frame_index: ``(N,)`` int64 frame numbers, increasing.
    """

    embeddings: np.ndarray
    mask: np.ndarray
    frame_index: np.ndarray


@dataclass(frozen=True)
class IndexEntry:
    """One row of ``index.csv``.

    Attributes:
        video: The video's name (source path, or ``<folder>/<name>`` of image frames).
        label: 0 = real, 1 = fake, ``None`` unlabelled.
        group: Its split group.
        frames: Timeline length.
        faces: Frames with a face.
        file: Its ``.npz``, relative to the folder.
    """

    video: str
    label: int | None
    group: str
    frames: int
    faces: int
    file: str

    def row(self) -> dict[str, str]:
        """The CSV row."""
        label = class_name(self.label).lower() if self.label is not None else ""
        return {"video": self.video, "label": label, "group": self.group, "frames": str(self.frames),
                "faces": str(self.faces), "file": self.file}


def timeline_file(video: str) -> str:
    """The ``.npz`` of a video, relative to the folder: a readable, safe stem plus a hash of the name."""
    digest = hashlib.sha1(video.encode("utf-8")).hexdigest()[:10]
    stem = _UNSAFE.sub("_", video).strip("._")[:80] or "video"
    return f"{VIDEOS_DIR}/{stem}_{digest}.npz"


def write_timeline(path: Path, timeline: Timeline) -> None:
    """Write a timeline's arrays as an uncompressed ``.npz``, atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, embeddings=timeline.embeddings.astype(np.float32), mask=timeline.mask.astype(bool),
                     frame_index=timeline.frame_index.astype(np.int64))


def read_timeline(path: Path) -> Timeline:
    """Read a timeline written by :func:`write_timeline` (``allow_pickle=False``).

    Raises:
        InputError: The file is missing, not an ``.npz``, or its arrays do not fit together.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            timeline = Timeline(np.asarray(data["embeddings"], np.float32), np.asarray(data["mask"], bool),
                                np.asarray(data["frame_index"], np.int64))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise InputError(f"embeddings file {path} cannot be read: {err}") from err
    n = len(timeline.mask)
    if timeline.embeddings.ndim != 2 or len(timeline.embeddings) != n or timeline.frame_index.shape != (n,):
        raise InputError(f"embeddings file {path}: arrays of shapes {timeline.embeddings.shape}, "
                         f"{timeline.mask.shape}, {timeline.frame_index.shape} do not fit together")
    return timeline


def index_text(entries: list[IndexEntry]) -> str:
    """``index.csv``'s content for ``entries``, sorted by video."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=INDEX_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(e.row() for e in sorted(entries, key=lambda e: e.video))
    return buffer.getvalue()


def parse_index_row(row: dict[str, str], where: str) -> IndexEntry:
    """An :class:`IndexEntry` from a CSV row.

    Raises:
        InputError: A bad label or count; the message names ``where`` (file and line).
    """
    label = label_of(row["label"]) if row["label"] else None
    if row["label"] and label is None:
        raise InputError(f"{where}: label {row['label']!r} is not real, fake or empty")
    try:
        frames, faces = int(row["frames"]), int(row["faces"])
    except ValueError as err:
        raise InputError(f"{where}: frames and faces must be integers ({err})") from err
    return IndexEntry(row["video"], label, row["group"], frames, faces, row["file"])


def read_index(root: Path) -> list[IndexEntry]:
    """Every row of ``root/index.csv``.

    Raises:
        InputError: The file is missing, has other columns, or a bad row.
    """
    path = Path(root) / INDEX_NAME
    if not path.is_file():
        raise InputError(f"{root} holds no {INDEX_NAME}: give a folder written by dfembed temporal embed")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != INDEX_COLUMNS:
            raise InputError(f"{path}: columns {reader.fieldnames}, expected {list(INDEX_COLUMNS)}")
        return [parse_index_row(row, f"{path} line {n}") for n, row in enumerate(reader, start=2)]


def read_record(root: Path) -> dict[str, Any]:
    """The folder's ``dfembed-embed.json``.

    Raises:
        InputError: It is missing, not JSON, or says the embedding job did not finish.
    """
    path = Path(root) / RECORD_NAME
    if not path.is_file():
        raise InputError(f"{root} holds no {RECORD_NAME}: give a folder written by dfembed temporal embed")
    record = read_json(path, "an embedding record")
    if not isinstance(record, dict) or record.get("status") != "complete":
        raise InputError(f"{path}: the embedding job did not finish; run dfembed temporal embed again to complete it")
    return record
