"""What a temporal model reads: a video's timeline of frames, sampled into masked sequences.

A video's *timeline* is every frame the crop stage (or inference) sampled from it, in
frame order: a frame whose face track has a face carries that face (its embedding or
its crop), a frame without one is a **gap**. Gaps are kept, masked (``mask`` false),
never dropped, so the timeline keeps its time axis.

A temporal model reads sequences of ``frames`` timeline entries (:class:`SequenceSpec`):

* ``window=None``: one sequence of ``frames`` entries spread evenly from the first to
  the last entry of the timeline (all of them when it is shorter);
* ``window=S``: consecutive windows of ``frames`` entries starting every ``S`` entries
  (0, S, 2S, … while the window fits; one shorter window when the timeline is shorter).

A sequence shorter than ``frames`` is padded at the end with masked entries. Sequences
without any face are left out. Pure NumPy; no Keras.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dfembed.core.config import check

#: Input names of the temporal models (see :mod:`dfembed.model.temporal`).
INPUT_EMBEDDINGS = "embeddings"
INPUT_CLIPS = "clips"
INPUT_MASK = "mask"


@dataclass(frozen=True)
class SequenceSpec:
    """How a timeline becomes the sequences a temporal model reads.

    Attributes:
        frames: Entries per sequence (``T``).
        window: Stride of consecutive windows; ``None`` samples one sequence evenly.
        min_faces: A video needs at least this many faces on its timeline; shorter ones
            are left out of training (and reported) and scored by the frame rule at inference.
    """

    frames: int = 16
    window: int | None = None
    min_faces: int = 8

    def __post_init__(self) -> None:
        check(self.frames >= 1, "frames", self.frames, "at least 1")
        check(self.window is None or self.window >= 1, "window", self.window, "at least 1 (or unset: evenly)")
        check(self.min_faces >= 1, "min_faces", self.min_faces, "at least 1")


def sequence_positions(length: int, frames: int, window: int | None = None) -> list[np.ndarray]:
    """Timeline positions of each sequence (see the module docstring).

    Args:
        length: Entries on the timeline (≥ 1).
        frames: Entries per sequence.
        window: Stride of consecutive windows, or ``None`` for one evenly spread sequence.

    Returns:
        One increasing ``int64`` array per sequence, each of at most ``frames`` positions.

    Raises:
        ValueError: ``length`` or ``frames`` below 1.
    """
    if length < 1 or frames < 1:
        raise ValueError(f"a timeline of {length} entries cannot give sequences of {frames}")
    if length <= frames:
        return [np.arange(length, dtype=np.int64)]
    if window is None:  # distinct: the spacing (length - 1) / (frames - 1) exceeds 1
        return [np.round(np.linspace(0, length - 1, frames)).astype(np.int64)]
    return [np.arange(start, start + frames, dtype=np.int64) for start in range(0, length - frames + 1, window)]


def gather_sequences(
    values: np.ndarray, mask: np.ndarray, spec: SequenceSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a timeline into padded, masked sequences.

    Args:
        values: Per-entry values ``(N, ...)`` (embeddings ``(N, D)``, or crop indices ``(N,)``).
        mask: ``(N,)`` bool, true where the entry has a face.
        spec: Sequence length and sampling.

    Returns:
        ``(sequences, masks)``: ``(k, frames, ...)`` values (padding: zeros) and
        ``(k, frames)`` bool masks, for the ``k`` sequences that hold at least one face
        (``k`` may be 0).

    Raises:
        ValueError: ``values`` and ``mask`` differ in length, or the timeline is empty.
    """
    values, mask = np.asarray(values), np.asarray(mask, dtype=bool)
    if len(values) != len(mask) or mask.ndim != 1:
        raise ValueError(f"{len(values)} timeline values for a mask of shape {mask.shape}")
    chosen = [p for p in sequence_positions(len(mask), spec.frames, spec.window) if mask[p].any()]
    out = np.zeros((len(chosen), spec.frames, *values.shape[1:]), dtype=values.dtype)
    masks = np.zeros((len(chosen), spec.frames), dtype=bool)
    for row, positions in enumerate(chosen):
        out[row, : len(positions)] = values[positions]
        masks[row, : len(positions)] = mask[positions]
    return out, masks


def nearest_face(mask: np.ndarray) -> np.ndarray:
    """For each timeline entry, the nearest entry with a face (itself if it has one).

    End-to-end clips fill a gap with the nearest face crop, so batch normalisation sees
    faces only; the mask still hides the gap from the sequence model. Ties go to the
    earlier entry.

    Args:
        mask: ``(N,)`` bool with at least one true entry.

    Returns:
        ``(N,)`` ``int64`` positions of entries with a face.

    Raises:
        ValueError: No entry has a face.
    """
    mask = np.asarray(mask, dtype=bool)
    faces = np.flatnonzero(mask)
    if faces.size == 0:
        raise ValueError("the timeline holds no face")
    distance = np.abs(np.arange(mask.size)[:, None] - faces[None, :])
    return faces[np.argmin(distance, axis=1)]
