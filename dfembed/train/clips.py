"""Clips of ``T`` consecutive timeline frames for the end-to-end model (``train.py --temporal T``).

The crop folder is read as videos (:mod:`dfembed.crop.videos`: a timeline of sampled
frames and one face track each). A video needs at least ``T`` faces on its track (the
original ConvLSTM solution dropped videos with fewer than its ten frames); the others
are listed and left out. A clip is a window of ``T`` consecutive timeline entries:
entries with a face carry its crop, a gap carries the *nearest* face crop (so batch
normalisation sees faces only) and is masked out for the sequence model.

:class:`ClipBatches` draws, for batch ``i`` of epoch ``e``, half real and half fake
videos from seeded per-class permutations (a smaller class is cycled) and one window
per video at a seeded position; each clip is augmented with *one* seed for all its
frames, so a flip or a JPEG quality never changes inside a clip (a flicker the model
would learn as a fake's).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from dfembed.core.classes import CLASSES
from dfembed.core.errors import InputError
from dfembed.crop.videos import VideoTrack
from dfembed.faces.media import MediaError, read_image
from dfembed.model.sequence import INPUT_CLIPS, INPUT_MASK, nearest_face, sequence_positions
from dfembed.train.augment import Augmenter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipVideo:
    """A video the clips are drawn from.

    Attributes:
        name: The video.
        label: 0 = real, 1 = fake.
        group: Its split group.
        crops: Each timeline entry's crop file (a gap: the nearest face's).
        mask: ``(N,)`` bool, true where the entry has its own face.
    """

    name: str
    label: int
    group: str
    crops: tuple[Path, ...]
    mask: np.ndarray


def clip_videos(
    root: Path, videos: Sequence[VideoTrack], frames: int, readable: set[Path] | None = None
) -> tuple[list[ClipVideo], list[str]]:
    """The labelled videos with at least ``frames`` faces, and the names of those left out for having fewer.

    Args:
        root: The crop folder the videos' crop paths are relative to.
        videos: Its videos (:func:`~dfembed.crop.videos.read_crop_videos`).
        frames: Clip length ``T``.
        readable: Resolved paths of the crops that decode; any other crop is a gap.

    Returns:
        ``(usable, short)``; unlabelled videos are in neither.
    """
    usable, short = [], []
    for video in videos:
        if video.label is None:
            continue
        paths = [root / c if c is not None else None for c in video.crops]
        if readable is not None:
            paths = [p if p is not None and p.resolve() in readable else None for p in paths]
        mask = np.array([p is not None for p in paths], dtype=bool)
        if int(mask.sum()) < frames:
            short.append(video.video)
            continue
        nearest = nearest_face(mask)
        crops = tuple(paths[k] for k in nearest)
        usable.append(ClipVideo(video.video, video.label, video.group, crops, mask))
    if short:
        log.warning("%d videos have fewer than %d faces on their track and are left out: %s", len(short), frames,
                    short[:10])
    return usable, short


def check_clip_classes(videos: Sequence[ClipVideo], frames: int, where: Path) -> None:
    """Both classes need a video with ``frames`` faces.

    Raises:
        InputError: A class has none; the message suggests a shorter clip.
    """
    counts = {name: sum(v.label == label for v in videos) for name, label in CLASSES.items()}
    if min(counts.values()) == 0:
        raise InputError(f"{where}: end-to-end training needs real and fake videos with at least {frames} faces on "
                         f"their track; there are {counts['real']} real and {counts['fake']} fake (a smaller "
                         "--temporal?)")


def _seed_of(*values: int) -> int:
    return int(np.random.SeedSequence([int(v) for v in values]).generate_state(1)[0])


class ClipBatches(keras.utils.PyDataset):
    """Balanced, augmented batches of clips for ``Model.fit`` (see the module docstring).

    Args:
        videos: Training videos of both classes (each with at least ``frames`` faces).
        frames: Clip length ``T``.
        batch_size: Clips per batch, half real and half fake (even, at least 2).
        augmenter: Resizes and augments one image.
        seed: Seed of video order, windows and augmentation.
        steps_per_epoch: Batches per epoch; ``None``: one pass over the larger class.
        workers: Threads building batches.
        max_queue_size: Batches prepared ahead.

    Raises:
        InputError: A class has no video, or the batch size is odd.
    """

    def __init__(self, videos: Sequence[ClipVideo], frames: int, batch_size: int, augmenter: Augmenter,
                 seed: int = 0, steps_per_epoch: int | None = None, workers: int = 1,
                 max_queue_size: int = 10) -> None:
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=max_queue_size)
        if batch_size < 2 or batch_size % 2:
            raise InputError(f"a batch of clips is half real, half fake: it must be even, got {batch_size}")
        self._videos = {label: [v for v in videos if v.label == label] for label in CLASSES.values()}
        if not all(self._videos.values()):
            raise InputError("clips need at least one real and one fake video")
        self.frames, self.half, self.augmenter, self.seed, self.epoch = frames, batch_size // 2, augmenter, seed, 0
        self.steps = steps_per_epoch or math.ceil(max(len(v) for v in self._videos.values()) / self.half)

    @property
    def num_batches(self) -> int:
        """Batches per epoch."""
        return self.steps

    def __len__(self) -> int:
        return self.steps

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose batches ``__getitem__`` returns (0-based)."""
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Batch ``index`` of the current epoch: ``({"clips": (B, T, S, S, 3), "mask": (B, T)}, labels (B, 1))``."""
        return self.batch(self.epoch, index)

    def batch(self, epoch: int, index: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Batch ``index`` of ``epoch``, independent of any state."""
        if not 0 <= index < self.steps:
            raise IndexError(f"batch index {index} out of range 0..{self.steps - 1}")
        clips, masks, labels = [], [], []
        start = (epoch * self.steps + index) * self.half
        for position in range(start, start + self.half):
            for label in CLASSES.values():  # real, fake, real, fake, ...
                seed = _seed_of(self.seed, label, position)
                clip, mask = self.clip(self._draw(label, position), seed)
                clips.append(clip)
                masks.append(mask)
                labels.append(label)
        return ({INPUT_CLIPS: np.stack(clips).astype(np.float32), INPUT_MASK: np.stack(masks)},
                np.asarray(labels, dtype=np.float32)[:, None])

    def clip(self, video: ClipVideo, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """One seeded window of ``frames`` entries of ``video``: images ``(T, S, S, 3)`` uint8 and mask ``(T,)``."""
        windows = [w for w in sequence_positions(len(video.mask), self.frames, window=1) if video.mask[w].any()]
        positions = windows[np.random.default_rng(seed).integers(len(windows))]
        images = [self.augmenter(_read(video.crops[p]), seed) for p in positions]
        return np.stack(images), video.mask[positions]

    def _draw(self, label: int, position: int) -> ClipVideo:
        videos = self._videos[label]
        cycle, offset = divmod(position, len(videos))
        order = np.random.default_rng(_seed_of(self.seed, label, cycle, 7)).permutation(len(videos))
        return videos[order[offset]]


def _read(path: Path) -> np.ndarray:
    try:
        return read_image(path)
    except MediaError as err:
        raise InputError(f"crop unreadable during training: {err}") from err
