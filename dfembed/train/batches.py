"""Training data: listing crops, a leak-free validation split, and balanced batches.

DATA is the crop stage's output (``real/``, ``fake/`` and ``manifest.csv``) or any tree
with ``real/`` and ``fake/`` folders (images at any depth). Every crop belongs to a
*group*, the unit that must not straddle train and validation: the manifest's ``group``
column when there is one (the crop stage puts a fake with its original video), else the
file stem without its trailing frame and face indices (the source video): crop_face's
``_fNNNNN_NN`` or the older ``-NNN-NN``.

:class:`BalancedBatches` is a ``keras.utils.PyDataset`` (so it feeds ``Model.fit`` under
any Keras backend, without ``tf.data``): every batch holds half real and half fake
crops, interleaved ``real, fake, real, fake, …`` so that a ``MirroredStrategy`` split of
the batch stays balanced on every replica. The batch for a given (seed, epoch, index) is
always the same, whichever worker thread builds it.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import keras
import numpy as np
from tqdm import tqdm

from dfembed.train.augment import Augmenter
from dfembed.core.errors import InputError
from dfembed.faces.media import IMAGE_SUFFIXES, MediaError, read_image
from dfembed.infer.scoring import fit_size
from dfembed.train.config import CLASSES

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.csv"
VALIDATION_DIR = "validation"
# crop_face names crops <stem>_<ext>[_<hash>]_f<frame:05d>_<face:02d> (cropping.crop_file);
# other trees may use <video>-<frame>[-<face>].
_INDEX_SUFFIX = re.compile(r"(_f\d{5}_\d{2}|(-\d+){1,2})$")
_CACHED_PERMUTATIONS = 16


@dataclass(frozen=True)
class Crop:
    """One face crop.

    Attributes:
        path: The image file.
        label: 0 = real, 1 = fake.
        group: The split unit (source video, or the original a fake was made from).
    """

    path: Path
    label: int
    group: str


@dataclass(frozen=True)
class CropSet:
    """The usable crops of a tree and the files that could not be used.

    Attributes:
        root: The tree.
        crops: Readable crops, sorted by path.
        unreadable: ``(path, reason)`` of every skipped file.
    """

    root: Path
    crops: tuple[Crop, ...]
    unreadable: tuple[tuple[Path, str], ...] = field(default=())

    def count(self, label: int) -> int:
        """Number of crops with ``label``."""
        return sum(1 for crop in self.crops if crop.label == label)


def group_from_stem(stem: str) -> str:
    """Group key of a crop file: its name without the frame and face indices.

    Two namings are understood: crop_face's ``<name>_<ext>[_<hash>]_f<frame:05d>_<face:02d>``
    (the group keeps the hash, which tells apart sources whose names collided) and
    ``<video>-<frame>[-<face>]``.

    Args:
        stem: File name without suffix, e.g. ``"abarnvbtwb_mp4_f00003_01"`` or ``"abarnvbtwb-003-01"``.

    Returns:
        ``"abarnvbtwb_mp4"`` or ``"abarnvbtwb"``; a stem without such indices is returned unchanged.
    """
    return _INDEX_SUFFIX.sub("", stem) or stem


def list_crops(root: Path, workers: int = 1, verify: bool = True) -> CropSet:
    """List the crops of a ``real/``/``fake/`` tree, skipping (and counting) unreadable files.

    Args:
        root: DATA or a validation tree.
        workers: Threads used to check that every image decodes.
        verify: Decode every image once and skip those that fail.

    Returns:
        The :class:`CropSet`.

    Raises:
        InputError: ``root`` is missing, or ``real/`` or ``fake/`` is missing or holds no image.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"data folder {root} does not exist")
    for name in CLASSES:
        if not (root / name).is_dir():
            raise InputError(f"data folder {root} has no {name}/ folder (expected {root}/real and {root}/fake)")
    groups = read_manifest_groups(root)
    crops = [crop for name, label in CLASSES.items() for crop in _class_crops(root, name, label, groups)]
    unreadable: list[tuple[Path, str]] = []
    if verify:
        crops, unreadable = _verify(crops, workers)
    for name, label in CLASSES.items():
        if not any(crop.label == label for crop in crops):
            raise InputError(f"{root / name}: no readable image ({len(unreadable)} unreadable files skipped)")
    return CropSet(root, tuple(sorted(crops, key=lambda c: str(c.path))), tuple(unreadable))


def _class_crops(root: Path, name: str, label: int, groups: dict[Path, str]) -> list[Crop]:
    folder = root / name
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise InputError(f"{folder} holds no image ({suffixes})")
    return [Crop(p, label, groups.get(p.resolve()) or group_from_stem(p.stem)) for p in paths]


def read_manifest_groups(root: Path) -> dict[Path, str]:
    """Map each crop listed in ``root/manifest.csv`` to its group (empty without a manifest).

    Args:
        root: The crop stage's output folder.

    Returns:
        Resolved crop path → group key.

    Raises:
        InputError: The manifest exists but lacks the ``crop`` or ``group`` column.
    """
    manifest = root / MANIFEST_NAME
    if not manifest.is_file():
        return {}
    with open(manifest, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"crop", "group"} - set(reader.fieldnames or ())
        if missing:
            raise InputError(f"{manifest}: missing column(s) {', '.join(sorted(missing))}")
        groups = {(root / row["crop"]).resolve(): row["group"] for row in reader if row["crop"] and row["group"]}
    log.info("read %d group keys from %s", len(groups), manifest)
    return groups


def _verify(crops: list[Crop], workers: int) -> tuple[list[Crop], list[tuple[Path, str]]]:
    """Decode every crop once (in threads); return the readable ones and the failures."""

    def check(crop: Crop) -> str | None:
        try:
            read_image(crop.path)
        except MediaError as err:
            return str(err)
        return None

    with ThreadPoolExecutor(max(1, workers)) as pool:
        progress = tqdm(pool.map(check, crops), total=len(crops), desc="checking crops", unit="img",
                        leave=False, disable=not log.isEnabledFor(logging.INFO))
        results = list(progress)
    good = [crop for crop, error in zip(crops, results) if error is None]
    bad = [(crop.path, error) for crop, error in zip(crops, results) if error is not None]
    for path, error in bad:
        log.warning("skipping unreadable crop %s", error)
    if bad:
        log.warning("skipped %d unreadable crop(s) of %d", len(bad), len(crops))
    return good, bad


def check_disjoint(train: Iterable[Crop], val: Iterable[Crop]) -> None:
    """Check that no group has crops on both sides of a split.

    Raises:
        InputError: Some groups appear in both; the message names a few.
    """
    shared = {c.group for c in train} & {c.group for c in val}
    if shared:
        names = ", ".join(sorted(shared)[:5])
        raise InputError(
            f"train and validation share {len(shared)} group(s) (e.g. {names}): frames of one video "
            "(or a fake and its original) must not be on both sides"
        )


def split_by_group(
    crops: Sequence[Crop], val_fraction: float, seed: int
) -> tuple[list[Crop], list[Crop]]:
    """Hold out whole groups for validation, with both classes on both sides when possible.

    Groups are shuffled with ``seed``; validation first takes one group with real and one
    with fake crops, then further groups until it holds about ``val_fraction`` of the
    crops, never taking a class's last training group.

    Args:
        crops: All training crops.
        val_fraction: Target share of crops in validation; 0 gives no validation.
        seed: Seed of the shuffle.

    Returns:
        ``(train, val)``; ``val`` is empty (with a warning) when the groups cannot give
        both classes to both sides.
    """
    if val_fraction <= 0.0:
        return list(crops), []
    by_group: dict[str, list[Crop]] = {}
    for crop in crops:
        by_group.setdefault(crop.group, []).append(crop)
    order = sorted(by_group)
    np.random.default_rng(seed).shuffle(order)
    chosen = _choose_val_groups(order, by_group, round(val_fraction * len(crops)))
    if chosen is None:
        log.warning(
            "cannot split %d group(s) into train and validation with real and fake crops on both "
            "sides; training without validation (give --val DIR for a validation tree)",
            len(order),
        )
        return list(crops), []
    train = [c for c in crops if c.group not in chosen]
    val = [c for c in crops if c.group in chosen]
    check_disjoint(train, val)
    return train, val


def _choose_val_groups(order: list[str], by_group: dict[str, list[Crop]], target: int) -> set[str] | None:
    """Pick validation groups (see :func:`split_by_group`); ``None`` when a class cannot be on both sides."""
    left = {label: sum(c.label == label for g in order for c in by_group[g]) for label in CLASSES.values()}
    chosen: set[str] = set()

    def labels(group: str) -> set[int]:
        return {c.label for c in by_group[group]}

    def can_take(group: str) -> bool:
        counts = {lab: sum(c.label == lab for c in by_group[group]) for lab in CLASSES.values()}
        return group not in chosen and all(left[lab] - counts[lab] > 0 for lab in CLASSES.values())

    def take(group: str) -> None:
        chosen.add(group)
        for crop in by_group[group]:
            left[crop.label] -= 1

    for label in CLASSES.values():
        if any(label in labels(g) for g in chosen):
            continue
        group = next((g for g in order if label in labels(g) and can_take(g)), None)
        if group is None:
            return None
        take(group)
    for group in order:
        if sum(len(by_group[g]) for g in chosen) >= target:
            break
        if can_take(group):
            take(group)
    return chosen


def _seed_of(*values: int) -> int:
    """A 32-bit seed derived from integers (stable across runs and platforms)."""
    return int(np.random.SeedSequence([int(v) for v in values]).generate_state(1)[0])


class BalancedBatches(keras.utils.PyDataset):
    """Augmented, class-balanced training batches for ``Model.fit``.

    Each class is drawn from its own endless stream of seeded permutations; batch
    ``index`` of epoch ``epoch`` takes the next ``batch_size / 2`` crops of each stream,
    so successive epochs continue through the data and a class smaller than the other
    is cycled. Images are augmented with a seed derived from (seed, class, position).

    Args:
        crops: Training crops of both classes.
        batch_size: Even, at least 4; each class needs at least ``batch_size / 2`` crops.
        augmenter: Applies resize and augmentation to one image.
        seed: Seed of sampling and augmentation.
        steps_per_epoch: Batches per epoch; ``None`` is one pass over the larger class.
        workers: Threads that build batches in parallel (Keras's ``workers``).
        max_queue_size: Batches prepared ahead (prefetch).

    Raises:
        InputError: The batch size is invalid, or a class has too few crops for it.
    """

    def __init__(
        self,
        crops: Sequence[Crop],
        batch_size: int,
        augmenter: Augmenter,
        seed: int = 0,
        steps_per_epoch: int | None = None,
        workers: int = 1,
        max_queue_size: int = 10,
    ) -> None:
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=max_queue_size)
        self.half = check_balanced_batch(crops, batch_size)
        self.batch_size = batch_size
        self.augmenter = augmenter
        self.seed = seed
        self.epoch = 0
        self._paths = {lab: [c.path for c in crops if c.label == lab] for lab in CLASSES.values()}
        self._permutations: dict[tuple[int, int], np.ndarray] = {}
        largest = max(len(p) for p in self._paths.values())
        self.steps = steps_per_epoch or math.ceil(largest / self.half)

    @property
    def num_batches(self) -> int:
        """Batches per epoch."""
        return self.steps

    def __len__(self) -> int:
        return self.steps

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose batches ``__getitem__`` returns (0-based)."""
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch ``index`` of the current epoch.

        Returns:
            ``(images, labels)``: float32 ``(B, S, S, 3)`` in 0..255 and float32 ``(B,)``
            alternating 0 (real) and 1 (fake).
        """
        return self.batch(self.epoch, index)

    def batch(self, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch ``index`` of ``epoch``, independent of any state (see ``__getitem__``)."""
        if not 0 <= index < self.steps:
            raise IndexError(f"batch index {index} out of range 0..{self.steps - 1}")
        start = (epoch * self.steps + index) * self.half
        images, labels = [], []
        for position in range(start, start + self.half):
            for label in CLASSES.values():  # real, fake, real, fake, ...
                path = self._draw(label, position)
                seed = _seed_of(self.seed, label, position)
                images.append(self.augmenter(_read_training_crop(path), seed))
                labels.append(label)
        return np.stack(images).astype(np.float32), np.asarray(labels, dtype=np.float32)

    def _draw(self, label: int, position: int) -> Path:
        """The crop at ``position`` of the class's stream of permutations."""
        paths = self._paths[label]
        cycle, offset = divmod(position, len(paths))
        return paths[self._permutation(label, cycle)[offset]]

    def _permutation(self, label: int, cycle: int) -> np.ndarray:
        """The class's seeded permutation number ``cycle``, cached (worker threads may race
        to compute one; both get the same array, so the race is harmless)."""
        key = (label, cycle)
        permutation = self._permutations.get(key)
        if permutation is None:
            rng = np.random.default_rng(_seed_of(self.seed, label, cycle))
            permutation = rng.permutation(len(self._paths[label]))
            if len(self._permutations) >= _CACHED_PERMUTATIONS:
                self._permutations.clear()
            self._permutations[key] = permutation
        return permutation


def check_balanced_batch(crops: Sequence[Crop], batch_size: int) -> int:
    """Check that balanced batches of ``batch_size`` can be drawn from ``crops``.

    Args:
        crops: Training crops.
        batch_size: Requested batch size.

    Returns:
        Crops per class in a batch (``batch_size / 2``).

    Raises:
        InputError: ``batch_size`` is odd or below 4, or a class has fewer than half a
            batch of crops (the message suggests a batch size that fits).
    """
    if batch_size < 4 or batch_size % 2:
        raise InputError(f"batch size must be even and at least 4 (two real and two fake), got {batch_size}")
    half = batch_size // 2
    counts = {name: sum(c.label == lab for c in crops) for name, lab in CLASSES.items()}
    smallest = min(counts.values())
    if smallest < half:
        hint = f"use --batch-size {2 * smallest} or less" if smallest >= 2 else "add images"
        raise InputError(
            f"too few training images for a balanced batch of {batch_size}: it needs {half} real and "
            f"{half} fake, there are {counts['real']} real and {counts['fake']} fake; {hint}"
        )
    return half


def _read_training_crop(path: Path) -> np.ndarray:
    try:
        return read_image(path)
    except MediaError as err:  # it decoded when listed: the file changed during training
        raise InputError(f"crop became unreadable during training: {err}") from err


class CropImages(keras.utils.PyDataset):
    """Crops resized to the model's input, in order, without augmentation (for embedding).

    The last batch is padded to ``batch_size`` by repeating its last image, so the
    model sees a single input shape (one compiled predict function instead of one per
    remainder); drop the outputs past ``len(paths)``.

    Args:
        paths: Image files.
        image_size: Side of the model's input.
        batch_size: Images per batch.
        workers: Threads that build batches in parallel.
    """

    def __init__(self, paths: Sequence[Path], image_size: int, batch_size: int, workers: int = 1) -> None:
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=max(2, workers * 2))
        if not paths:
            raise InputError("no images to embed")
        self.paths = list(paths)
        self.image_size = image_size
        self.batch_size = batch_size

    @property
    def num_batches(self) -> int:
        """Number of batches."""
        return math.ceil(len(self.paths) / self.batch_size)

    def __len__(self) -> int:
        return self.num_batches

    def __getitem__(self, index: int) -> np.ndarray:
        """Float32 images ``(batch_size, S, S, 3)`` in 0..255 of batch ``index`` (padded at the end)."""
        chunk = self.paths[index * self.batch_size : (index + 1) * self.batch_size]
        images = [fit_size(_read_training_crop(p), self.image_size) for p in chunk]
        images += [images[-1]] * (self.batch_size - len(images))
        return np.stack(images).astype(np.float32)


@contextlib.contextmanager
def opencv_threads(count: int) -> Iterator[None]:
    """Run the block with OpenCV using ``count`` threads, then restore its setting.

    The batch pipeline runs one worker thread per core; OpenCV's own thread pool inside
    each resize or blur would then oversubscribe the cores, so training sets it to 1.
    """
    previous = cv2.getNumThreads()
    cv2.setNumThreads(count)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


def resolve_workers(workers: int) -> int:
    """Threads to use: ``workers``, or the CPU count (at most 16) when it is 0."""
    return workers if workers > 0 else min(16, os.cpu_count() or 1)
