"""One face per frame across a video: the face track that a temporal model follows.

A video's sampled frames may hold several faces (``--faces all`` at crop time, or a
crowd). A sequence model must see one person, so each frame contributes at most one
face, chosen by a track policy:

* ``"iou"`` (default): the largest face of the first frame that has one starts the
  track; in every later frame the face whose box overlaps the track's last box most
  (intersection over union) continues it, if that overlap reaches ``min_iou``. A
  frame with no such face is a *gap* (the track's last box stays the reference), so
  another person's face never enters the sequence.
* ``"largest"``: the largest face of every frame, whoever it is.

Boxes are ``x1, y1, x2, y2`` in source pixels. Pure functions on arrays: the crop
folder reader, the end-to-end training clips and inference all call
:func:`follow_track`, so they choose the same faces.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dfembed.faces.geometry import box_area, iou

#: The track policies, default first.
TRACK_POLICIES = ("iou", "largest")
#: The default overlap a face needs with the track's last box to continue the track.
DEFAULT_MIN_IOU = 0.2


def follow_track(
    frames: Sequence[np.ndarray | Sequence[Sequence[float]]], policy: str = "iou", min_iou: float = DEFAULT_MIN_IOU
) -> list[int | None]:
    """Choose at most one face per frame, in time order.

    Args:
        frames: For each frame in time order, the boxes of its faces, ``(n_faces, 4)``
            ``x1, y1, x2, y2`` (``n_faces`` may be 0).
        policy: ``"iou"`` or ``"largest"`` (see the module docstring).
        min_iou: Overlap a face needs with the track's last box (``"iou"`` only).

    Returns:
        For each frame, the position of the chosen face among its boxes, or ``None``
        for a gap. Ties (equal area or overlap) go to the earlier box.

    Raises:
        ValueError: An unknown policy, or ``min_iou`` outside ``[0, 1]``.
    """
    if policy not in TRACK_POLICIES:
        raise ValueError(f"unknown track policy {policy!r}; choose one of {', '.join(TRACK_POLICIES)}")
    if not 0.0 <= min_iou <= 1.0:
        raise ValueError(f"min_iou must be in [0, 1], got {min_iou!r}")
    chosen: list[int | None] = []
    last: np.ndarray | None = None
    for boxes in frames:
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        pick = _largest(boxes) if policy == "largest" or last is None else _overlapping(boxes, last, min_iou)
        chosen.append(pick)
        if pick is not None:
            last = boxes[pick]
    return chosen


def _largest(boxes: np.ndarray) -> int | None:
    """The largest box (the first of equal ones), ``None`` without boxes."""
    return int(np.argmax(box_area(boxes))) if len(boxes) else None


def _overlapping(boxes: np.ndarray, last: np.ndarray, min_iou: float) -> int | None:
    """The box overlapping ``last`` most, if it overlaps at least ``min_iou`` (and at all)."""
    if not len(boxes):
        return None
    overlaps = iou(boxes, last)[:, 0]
    best = int(np.argmax(overlaps))
    return best if overlaps[best] >= min_iou and overlaps[best] > 0.0 else None
