"""Frame-level and video-level predictions from inference's record, for metrics side by side.

A prediction CSV holds one score per file, already aggregated. The frame scores behind it
are in the JSON record that ``inference.py`` writes beside the CSV
(``<CSV stem>.dfembed-infer.json``): for every file its face scores and their frame
indices. From them:

* **frame** level: one item per scored frame — the maximum over its faces, as inference
  reduces faces (:func:`dfembed.infer.aggregate.reduce_frames`) — labelled with its file's
  label; files without a face give no frame item (they are counted);
* **video (mean)**: the mean of a file's frame scores, the video score of DeepfakeBench's
  tables; a file without a face gets the run's ``no_face_score``;
* **video** (the chosen aggregation) is the CSV itself, as submitted.

The record's files are matched to the labels by the rule the CSV rows are matched with
(:func:`dfembed.infer.submission.match_rows`: most trailing path components).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dfembed.core.errors import InputError
from dfembed.evaluate.labels import LabelSet
from dfembed.infer.aggregate import reduce_frames
from dfembed.infer.submission import match_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LevelItems:
    """The items of one level: a key, a label and a score each.

    Attributes:
        keys: The label key each item belongs to (a file's key repeats once per frame).
        y_true: 1 FAKE, 0 REAL.
        y_score: P(fake).
    """

    keys: list[str]
    y_true: np.ndarray
    y_score: np.ndarray


@dataclass(frozen=True)
class RecordLevels:
    """What the inference record gives: frame and mean-of-frames video items.

    Attributes:
        record: The record file.
        frame: One item per scored frame.
        video_mean: One item per matched file.
        aggregation: The frame → video strategy the CSV was made with (``confident``…).
        files: Files of the record matched to a label.
        files_without_frames: Of those, files with no scored face.
        model: The record's ``model_h5``, when it names one.
    """

    record: Path
    frame: LevelItems
    video_mean: LevelItems
    aggregation: str
    files: int
    files_without_frames: int
    model: str | None


def read_infer_record(path: Path) -> dict[str, Any]:
    """Read an inference record and check that it lists per-file face scores.

    Raises:
        InputError: Not JSON, or no ``files`` mapping with ``frames`` and ``face_scores``.
    """
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"inference record {path} cannot be read: {err}") from err
    files = record.get("files") if isinstance(record, dict) else None
    if not isinstance(files, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("frames"), list) and isinstance(v.get("face_scores"), list)
        and len(v["frames"]) == len(v["face_scores"]) for v in files.values()
    ):
        raise InputError(f"inference record {path}: expected 'files' mapping each file to its 'frames' and "
                         "'face_scores' (written by inference.py)")
    return record


def record_levels(path: Path, label_set: LabelSet) -> RecordLevels:
    """Frame and mean-of-frames items of the record's files that have a label.

    Args:
        path: The inference record.
        label_set: The ground truth.

    Returns:
        The :class:`RecordLevels`.

    Raises:
        InputError: An invalid record, an ambiguous match, or no file matching a label.
    """
    record = read_infer_record(path)
    files: dict[str, dict[str, Any]] = record["files"]
    matching = match_rows(list(files), list(label_set.labels))
    pairs = [(key, label) for key, label in zip(files, matching.row_files) if label is not None]
    if not pairs:
        raise InputError(f"no file of inference record {path} matches a label in {label_set.source}")
    config = record.get("config") if isinstance(record.get("config"), dict) else {}
    no_face = float(config.get("no_face_score", 0.5))
    frame_keys, frame_true, frame_score, video_score = [], [], [], []
    for file_key, label_key in pairs:
        entry = files[file_key]
        frames = _frame_scores(entry)
        frame_keys += [label_key] * len(frames)
        frame_true += [label_set.labels[label_key]] * len(frames)
        frame_score += frames.tolist()
        video_score.append(float(frames.mean()) if frames.size else no_face)
    labels = [label_key for _, label_key in pairs]
    without = sum(not files[k]["face_scores"] for k, _ in pairs)
    model = (record.get("inputs") or {}).get("model_h5") if isinstance(record.get("inputs"), dict) else None
    return RecordLevels(
        record=Path(path),
        frame=LevelItems(frame_keys, np.asarray(frame_true, dtype=int), np.asarray(frame_score, dtype=float)),
        video_mean=LevelItems(labels, np.asarray([label_set.labels[k] for k in labels], dtype=int),
                              np.asarray(video_score, dtype=float)),
        aggregation=str(config.get("aggregate", "as submitted")),
        files=len(pairs),
        files_without_frames=without,
        model=model,
    )


def _frame_scores(entry: dict[str, Any]) -> np.ndarray:
    """A file's frame scores: the maximum over the faces of each frame (none without faces)."""
    if not entry["face_scores"]:
        return np.zeros(0)
    return reduce_frames(np.asarray(entry["frames"]), np.asarray(entry["face_scores"], dtype=float))


def subset(items: LevelItems, keep: set[str]) -> LevelItems:
    """The items whose key is in ``keep``."""
    mask = np.asarray([k in keep for k in items.keys], dtype=bool)
    return LevelItems([k for k, m in zip(items.keys, mask) if m], items.y_true[mask], items.y_score[mask])
