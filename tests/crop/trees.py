"""Tiny FaceForensics++ and Celeb-DF v2 trees, for discovery, crop, inference and evaluation tests.

Nothing of either data set is used: the files are generated videos (or empty stand-ins where
only names matter), named and placed as the data sets name and place theirs.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

# three test pairs and one train pair of the official FaceForensics++ lists
FFPP_TEST_PAIRS = [("953", "974"), ("012", "026"), ("078", "955")]
FFPP_TRAIN_PAIR = ("071", "054")


def write_video(path: Path, frames: int = 3, size: tuple[int, int] = (64, 48), value: int = 128) -> Path:
    """A short MJPG-in-AVI or mp4v video of flat grey frames (``value`` plus the frame index)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(path), fourcc, 10.0, size)
    assert writer.isOpened(), path
    for index in range(frames):
        writer.write(np.full((size[1], size[0], 3), (value + index) % 256, np.uint8))
    writer.release()
    return path


def _make(path: Path, videos: bool, value: int = 128) -> None:
    if videos:
        write_video(path, value=value)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"stand-in")


def ffpp_tree(root: Path, videos: bool = False, methods: Iterable[str] = ("Deepfakes", "FaceSwap"),
              compression: str = "c23") -> Path:
    """Originals and fakes of :data:`FFPP_TEST_PAIRS` and :data:`FFPP_TRAIN_PAIR` (both directions).

    Generated videos are flat grey: originals at 60, fakes at 200 (plus the frame index).
    """
    pairs = [*FFPP_TEST_PAIRS, FFPP_TRAIN_PAIR]
    for target, source in pairs:
        for video in (target, source):
            _make(root / "original_sequences" / "youtube" / compression / "videos" / f"{video}.mp4", videos, 60)
        for method in methods:
            for a, b in ((target, source), (source, target)):
                _make(root / "manipulated_sequences" / method / compression / "videos" / f"{a}_{b}.mp4", videos, 200)
    return root


def celebdf_tree(root: Path, videos: bool = False) -> Path:
    """Two Celeb-real, one YouTube-real and two Celeb-synthesis videos; the test list names three of them.

    Test list (1 = real, 0 = fake): ``Celeb-real/id0_0000.mp4`` (1), ``YouTube-real/00001.mp4`` (1),
    ``Celeb-synthesis/id0_id1_0000.mp4`` (0). The others are the train split.
    """
    for name in ("Celeb-real/id0_0000.mp4", "Celeb-real/id1_0003.mp4", "YouTube-real/00001.mp4",
                 "Celeb-synthesis/id0_id1_0000.mp4", "Celeb-synthesis/id1_id0_0003.mp4"):
        _make(root / name, videos)
    (root / "List_of_testing_videos.txt").write_text(
        "1 Celeb-real/id0_0000.mp4\n1 YouTube-real/00001.mp4\n0 Celeb-synthesis/id0_id1_0000.mp4\n", encoding="utf-8"
    )
    return root
