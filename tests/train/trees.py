"""Small crop trees and crop lists for the training tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from dfembed.train.crops import Crop


def write_tree(root: Path, counts: dict[str, dict[str, int]]) -> Path:
    """Write small PNGs: ``counts[class][video]`` frames named ``<video>-<frame>-00.png``.

    Each image is filled with a value unique to it, so a batch's images can be traced.
    """
    value = 0
    for name, videos in counts.items():
        for video, frames in videos.items():
            folder = root / name / video[:2]  # a sub-folder: images may be at any depth
            folder.mkdir(parents=True, exist_ok=True)
            for frame in range(frames):
                value += 1
                cv2.imwrite(str(folder / f"{video}-{frame:03d}-00.png"), np.full((40, 30, 3), value, np.uint8))
    return root


def crop_list(counts: dict[int, int]) -> list[Crop]:
    """``counts[label]`` crops of that label, each its own group."""
    return [Crop(Path(f"{label}-{i}.png"), label, f"g{label}{i}") for label, n in counts.items() for i in range(n)]
