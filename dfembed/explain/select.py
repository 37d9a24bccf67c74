"""Which faces to explain (the most suspicious of each frame, then of the file), and when a frame is."""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import numpy as np


def most_suspicious(frames: Sequence[int], scores: Sequence[float], per_frame: int, limit: int) -> list[int]:
    """Indices of the faces to explain: the ``per_frame`` highest P(fake) of each frame, at most ``limit``.

    Args:
        frames: Frame index of each face.
        scores: P(fake) of each face.
        per_frame: Faces kept per frame (the highest scores; ties keep the earlier face).
        limit: Faces kept in all (the highest scores first).

    Returns:
        Face indices by decreasing score (ties: the earlier face first).
    """
    order = sorted(range(len(scores)), key=lambda k: (-float(scores[k]), k))
    taken: dict[int, int] = {}
    chosen = []
    for k in order:
        if taken.get(int(frames[k]), 0) < per_frame and len(chosen) < limit:
            taken[int(frames[k])] = taken.get(int(frames[k]), 0) + 1
            chosen.append(k)
    return chosen


def as_array(crops: Sequence[np.ndarray], size: int) -> np.ndarray:
    """Crops as one ``(n, size, size, 3)`` uint8 array (an empty one for no crops)."""
    if not crops:
        return np.zeros((0, size, size, 3), np.uint8)
    return np.stack(crops).astype(np.uint8)


def video_fps(path: str | os.PathLike[str]) -> float | None:
    """Frames per second of a video as its container says, ``None`` when it says none (or for an image)."""
    capture = cv2.VideoCapture(str(path))
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS)) if capture.isOpened() else 0.0
    finally:
        capture.release()
    return fps if fps > 0 and np.isfinite(fps) else None


def frame_time(frame: int, fps: float | None) -> float | None:
    """Seconds into the video of frame ``frame`` (``None`` without a frame rate)."""
    return None if fps is None else round(frame / fps, 3)
