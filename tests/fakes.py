"""Fakes shared by the tests of the Ray engines: a detector and a scorer that Ray can send to its workers,
and generated media for them."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from dfembed.faces.detector import Face


class BrightSquareDetector:
    """Finds the one bright square a generated frame holds (its box is the face), or nothing.

    ``die_on`` maps a frame width to what happens in the worker that sees it: ``"always"``
    ends the process each time, ``"once"`` the first time (a marker file in ``markers``
    remembers it across processes). ``pids`` collects the process ids of the detectors.
    """

    def __init__(self, die_on: dict[int, str] | None = None, markers: Path | None = None,
                 delay: float = 0.0, pids: Path | None = None) -> None:
        self.die_on = die_on or {}
        self.markers = markers
        self.delay = delay
        self.pids = pids

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        if self.pids is not None:
            (self.pids / str(os.getpid())).touch()
        time.sleep(self.delay)
        return [self._one(frame) for frame in frames]

    def _one(self, frame: np.ndarray) -> list[Face]:
        self._maybe_die(frame.shape[1])
        ys, xs = np.nonzero(frame.mean(axis=2) > 200)
        if not len(xs):
            return []
        return [Face(box=(float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)), confidence=0.99)]

    def _maybe_die(self, width: int) -> None:
        how = self.die_on.get(width)
        if how == "always":
            os._exit(3)
        if how == "once" and self.markers is not None:
            marker = self.markers / f"died-{width}"
            if not marker.exists():
                marker.touch()
                os._exit(3)


class MeanScorer:
    """P(fake) of a face crop: its mean pixel / 255 (a stand-in for the model and the SVM).

    With ``embeddings`` it returns ``(scores, embeddings)``, the embedding being the mean of
    each colour / 255. ``die_once`` ends the process the first time it is called (a marker
    file in ``markers`` remembers it across processes).
    """

    def __init__(self, embeddings: bool = False, die_once: bool = False, markers: Path | None = None) -> None:
        self.embeddings = embeddings
        self.die_once = die_once
        self.markers = markers

    def __call__(self, images: np.ndarray) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        if self.die_once and self.markers is not None and not (self.markers / "scorer-died").exists():
            (self.markers / "scorer-died").touch()
            os._exit(3)
        scores = images.reshape(len(images), -1).mean(axis=1) / 255.0
        if not self.embeddings:
            return scores
        return scores, (images.mean(axis=(1, 2)) / 255.0).astype(np.float32)


def frame(width: int, height: int, x: int, y: int, side: int, seed: int) -> np.ndarray:
    """Dark noise with a white square of ``side`` at ``(x, y)`` (none when ``side`` is 0)."""
    image = np.random.default_rng(seed).integers(0, 120, (height, width, 3), dtype=np.uint8)
    if side:
        image[y:y + side, x:x + side] = 255
    return image


def video(path: Path, frames: int, seed: int) -> None:
    """A 96x64 MJPG video of ``frames`` frames whose square moves right."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 64))
    for k in range(frames):
        writer.write(frame(96, 64, 4 + 3 * k, 10, 30, seed + k))
    writer.release()
