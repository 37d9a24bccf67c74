"""Training sequences from an embeddings folder: labelled videos, long enough, cut into masked sequences.

Every labelled video of ``index.csv`` with at least ``min_faces`` faces on its timeline
gives the sequences of :func:`dfembed.model.sequence.gather_sequences`, all with the
video's label; the others are listed, never dropped silently (unlabelled, too few
faces, no sequence holding a face). The split keeps whole groups on one side (the
training stage's :func:`~dfembed.train.split.split_by_group`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dfembed.core.errors import InputError
from dfembed.model.sequence import SequenceSpec, gather_sequences
from dfembed.temporal.store import IndexEntry, read_index, read_timeline
from dfembed.train.crops import Crop
from dfembed.train.split import check_disjoint, split_by_group

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SequenceSet:
    """Sequences of some videos, each row tied to its video.

    Attributes:
        embeddings: ``(n, T, D)`` float32.
        mask: ``(n, T)`` bool.
        labels: ``(n,)`` float32, the video's label of each sequence.
        owner: ``(n,)`` int64, the position in ``videos`` of each sequence's video.
        videos: The videos' names.
        video_labels: ``(len(videos),)`` int64.
    """

    embeddings: np.ndarray
    mask: np.ndarray
    labels: np.ndarray
    owner: np.ndarray
    videos: tuple[str, ...]
    video_labels: np.ndarray

    def video_scores(self, scores: np.ndarray) -> np.ndarray:
        """The mean score of each video's sequences, ``(len(videos),)``."""
        totals = np.bincount(self.owner, weights=scores, minlength=len(self.videos))
        return totals / np.maximum(np.bincount(self.owner, minlength=len(self.videos)), 1)


@dataclass(frozen=True)
class TemporalData:
    """What ``temporal train`` trains and validates on, and what it left out.

    Attributes:
        train: Training sequences.
        val: Validation sequences (no videos: no validation).
        embedding_dim: Width ``D``.
        unlabelled: Videos without a label.
        short: Videos with fewer than ``min_faces`` faces.
        empty: Videos none of whose sequences holds a face.
    """

    train: SequenceSet
    val: SequenceSet
    embedding_dim: int
    unlabelled: tuple[str, ...] = field(default=())
    short: tuple[str, ...] = field(default=())
    empty: tuple[str, ...] = field(default=())


def load_sequences(root: Path, spec: SequenceSpec, val_fraction: float, seed: int) -> TemporalData:
    """Read an embeddings folder into training and validation sequences.

    Args:
        root: The folder ``dfembed temporal embed`` wrote.
        spec: Sequence length, sampling and the face floor.
        val_fraction: Share of videos held out by group (0: none).
        seed: Seed of the split.

    Returns:
        The :class:`TemporalData`.

    Raises:
        InputError: A bad folder, embeddings of mixed widths, or no usable video of a class.
    """
    entries = read_index(root)
    unlabelled = tuple(e.video for e in entries if e.label is None)
    short = tuple(e.video for e in entries if e.label is not None and e.faces < spec.min_faces)
    usable = [e for e in entries if e.label is not None and e.faces >= spec.min_faces]
    cut = {e.video: _cut(root, e, spec) for e in usable}
    empty = tuple(v for v, (seqs, _) in cut.items() if len(seqs) == 0)
    usable = [e for e in usable if len(cut[e.video][0])]
    _report(root, unlabelled, short, empty, spec)
    _check_classes(root, usable, spec)
    widths = {cut[e.video][0].shape[-1] for e in usable}
    if len(widths) != 1:
        raise InputError(f"{root}: videos have embeddings of different widths {sorted(widths)}")
    train, val = _split(usable, val_fraction, seed)
    return TemporalData(_stack(train, cut, spec), _stack(val, cut, spec), widths.pop(), unlabelled, short, empty)


def _cut(root: Path, entry: IndexEntry, spec: SequenceSpec) -> tuple[np.ndarray, np.ndarray]:
    timeline = read_timeline(root / entry.file)
    return gather_sequences(timeline.embeddings, timeline.mask, spec)


def _split(usable: list[IndexEntry], val_fraction: float, seed: int) -> tuple[list[IndexEntry], list[IndexEntry]]:
    """Hold out whole groups, as training does with crops (a video stands for a crop here)."""
    stand_ins = [Crop(Path(e.file), int(e.label), e.group) for e in usable]  # label is set: unlabelled are out
    train, val = split_by_group(stand_ins, val_fraction, seed)
    check_disjoint(train, val)
    by_file = {e.file: e for e in usable}
    return [by_file[str(c.path)] for c in train], [by_file[str(c.path)] for c in val]


def _stack(entries: list[IndexEntry], cut: dict[str, tuple[np.ndarray, np.ndarray]], spec: SequenceSpec) -> SequenceSet:
    parts = [cut[e.video] for e in entries]
    counts = [len(seqs) for seqs, _ in parts]
    width = parts[0][0].shape[-1] if parts else 0
    embeddings = np.concatenate([s for s, _ in parts]) if parts else np.zeros((0, spec.frames, width), np.float32)
    mask = np.concatenate([m for _, m in parts]) if parts else np.zeros((0, spec.frames), bool)
    video_labels = np.array([e.label for e in entries], dtype=np.int64)
    owner = np.repeat(np.arange(len(entries)), counts).astype(np.int64)
    return SequenceSet(embeddings.astype(np.float32), mask, video_labels[owner].astype(np.float32), owner,
                       tuple(e.video for e in entries), video_labels)


def _check_classes(root: Path, usable: list[IndexEntry], spec: SequenceSpec) -> None:
    counts = {label: sum(e.label == label for e in usable) for label in (0, 1)}
    if min(counts.values()) == 0:
        raise InputError(f"{root}: training needs real and fake videos with at least {spec.min_faces} faces; "
                         f"there are {counts[0]} real and {counts[1]} fake (lower --min-faces?)")


def _report(root: Path, unlabelled: tuple[str, ...], short: tuple[str, ...], empty: tuple[str, ...],
            spec: SequenceSpec) -> None:
    if unlabelled:
        log.warning("%d unlabelled videos in %s are not used, e.g. %s", len(unlabelled), root, list(unlabelled[:3]))
    if short:
        log.warning("%d videos have fewer than %d faces (--min-faces) and are left out: %s", len(short),
                    spec.min_faces, list(short[:10]))
    if empty:
        log.warning("%d videos give no sequence holding a face and are left out: %s", len(empty), list(empty[:10]))
