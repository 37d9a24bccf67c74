"""Balanced, augmented training batches and plain embedding batches, as Keras ``PyDataset``s.

:class:`BalancedBatches` feeds ``Model.fit`` under any Keras backend, without
``tf.data``: every batch holds half real and half fake crops, interleaved ``real, fake,
real, fake, …`` so that a ``MirroredStrategy`` split of the batch stays balanced on
every replica. The batch for a given (seed, epoch, index) is always the same, whichever
worker thread builds it. :class:`CropImages` gives crops in order, resized, for embedding.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import keras
import numpy as np

from dfembed.core.classes import CLASSES, FAKE, REAL
from dfembed.core.errors import InputError
from dfembed.faces.geometry import fit_size
from dfembed.faces.media import MediaError, read_image
from dfembed.train.augment import Augmenter
from dfembed.train.crops import Crop
from dfembed.train.pseudo import PseudoFakes

log = logging.getLogger(__name__)

_CACHED_PERMUTATIONS = 16


def _seed_of(*values: int) -> int:
    """A 32-bit seed derived from integers (stable across runs and platforms)."""
    return int(np.random.SeedSequence([int(v) for v in values]).generate_state(1)[0])


class BalancedBatches(keras.utils.PyDataset):
    """Augmented, class-balanced training batches for ``Model.fit``.

    Each class is drawn from its own endless stream of seeded permutations; batch
    ``index`` of epoch ``epoch`` takes the next ``batch_size / 2`` crops of each stream,
    so successive epochs continue through the data and a class smaller than the other
    is cycled. Images are augmented with a seed derived from (seed, class, position).

    With ``pseudo`` (self-blended pseudo-fakes), ``round(pseudo_fraction × batch_size / 2)``
    fake slots of every batch — which ones is seeded by (seed, batch number) — hold a
    self-blend of the real crop in the same pair of the batch (real ``i``, fake ``i``),
    made with a seed derived from (seed, position): the pair differs only by the blend, as
    in SBI's batches, and the pseudo-fake keeps its real's group. The other fake slots
    draw labelled fakes as without ``pseudo``; crops with a ``blend_seed`` (fixed
    pseudo-fakes) are not drawn, fresh ones are made.

    Args:
        crops: Training crops of both classes.
        batch_size: Even, at least 4; each class needs at least ``batch_size / 2`` crops.
        augmenter: Applies resize and augmentation to one image.
        seed: Seed of sampling and augmentation.
        steps_per_epoch: Batches per epoch; ``None`` is one pass over the larger class.
        workers: Threads that build batches in parallel (Keras's ``workers``).
        max_queue_size: Batches prepared ahead (prefetch).
        pseudo: Maker of self-blended pseudo-fakes, or ``None``.
        pseudo_fraction: Share of a batch's fake half that is self-blended (with ``pseudo``).

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
        pseudo: PseudoFakes | None = None,
        pseudo_fraction: float = 0.0,
    ) -> None:
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=max_queue_size)
        fraction = pseudo_fraction if pseudo is not None else 0.0
        self.half = check_balanced_batch(crops, batch_size, fraction)
        self.batch_size = batch_size
        self.augmenter = augmenter
        self.seed = seed
        self.threads = workers
        self.epoch = 0
        self.pseudo = pseudo
        self.n_pseudo = round(fraction * self.half)
        self._paths = {lab: [c.path for c in crops if c.label == lab and c.blend_seed is None]
                       for lab in CLASSES.values()}
        self._permutations: dict[tuple[int, int], np.ndarray] = {}
        largest = max(len(p) for lab, p in self._paths.items() if lab == REAL or self.n_pseudo < self.half)
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
        return self._rows(epoch, index, 0, self.half)

    def replica_batch(self, epoch: int, index: int, replica: int, replicas: int) -> tuple[np.ndarray, np.ndarray]:
        """Replica ``replica``'s share of batch ``index`` of ``epoch``: rows ``replica × B/R`` to ``(replica + 1) × B/R``.

        Only those rows are read and augmented, exactly as :meth:`batch` makes them, so the
        shares of all replicas together are the batch; each share alternates real and fake.

        Raises:
            ValueError: The batch does not split into balanced shares (``B`` a multiple of ``2R``).
        """
        if self.batch_size % (2 * replicas) or not 0 <= replica < replicas:
            raise ValueError(f"batch of {self.batch_size} has no balanced share {replica} of {replicas}")
        pairs = self.half // replicas
        return self._rows(epoch, index, replica * pairs, pairs)

    def _rows(self, epoch: int, index: int, first: int, pairs: int) -> tuple[np.ndarray, np.ndarray]:
        """``pairs`` real-fake pairs of batch ``(epoch, index)``, from its pair ``first`` on."""
        if not 0 <= index < self.steps:
            raise IndexError(f"batch index {index} out of range 0..{self.steps - 1}")
        number = epoch * self.steps + index
        start = number * self.half + first
        blended = self._pseudo_slots(number)  # slots of the whole batch: a share keeps its own
        images, labels = [], []
        for slot, position in enumerate(range(start, start + pairs), start=first):
            real_path = self._draw(REAL, position)
            real = _read_training_crop(real_path)
            if slot in blended:
                assert self.pseudo is not None
                fake = self.pseudo.make(real, real_path, _seed_of(self.seed, 2, position)).image
            else:
                fake = _read_training_crop(self._draw(FAKE, position))
            for label, image in ((REAL, real), (FAKE, fake)):  # real, fake, real, fake, ...
                images.append(self.augmenter(image, _seed_of(self.seed, label, position)))
                labels.append(label)
        return np.stack(images).astype(np.float32), np.asarray(labels, dtype=np.float32)

    def _pseudo_slots(self, number: int) -> set[int]:
        """The pairs of batch ``number`` whose fake is self-blended (seeded by the run's seed and the number)."""
        if self.n_pseudo == 0:
            return set()
        if self.n_pseudo == self.half:
            return set(range(self.half))
        rng = np.random.default_rng(_seed_of(self.seed, 3, number))
        return {int(i) for i in rng.choice(self.half, size=self.n_pseudo, replace=False)}

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


def check_balanced_batch(crops: Sequence[Crop], batch_size: int, pseudo_fraction: float = 0.0) -> int:
    """Check that balanced batches of ``batch_size`` can be drawn from ``crops``.

    Args:
        crops: Training crops (fixed pseudo-fakes, with a ``blend_seed``, are not counted).
        batch_size: Requested batch size.
        pseudo_fraction: Share of a batch's fakes that are self-blended from its reals:
            only the rest must be labelled fake crops.

    Returns:
        Crops per class in a batch (``batch_size / 2``).

    Raises:
        InputError: ``batch_size`` is odd or below 4, or a class has fewer than the crops a
            batch needs (the message suggests a batch size that fits).
    """
    if batch_size < 4 or batch_size % 2:
        raise InputError(f"batch size must be even and at least 4 (two real and two fake), got {batch_size}")
    half = batch_size // 2
    counts = {name: sum(c.label == lab and c.blend_seed is None for c in crops) for name, lab in CLASSES.items()}
    labelled_fakes = half - round(pseudo_fraction * half)
    if counts["real"] < half or counts["fake"] < labelled_fakes:
        smallest = min(counts["real"], counts["fake"] if labelled_fakes else counts["real"])
        hint = f"use --batch-size {2 * smallest} or less" if smallest >= 2 else "add images"
        raise InputError(
            f"too few training images for a balanced batch of {batch_size}: it needs {half} real and "
            f"{labelled_fakes} fake, there are {counts['real']} real and {counts['fake']} fake; {hint}"
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
        blend_seeds: Per path, the seed of the self-blend to give instead of the image
            itself (``None``: the image); needs ``pseudo``.
        pseudo: Maker of the self-blends.
    """

    def __init__(
        self, paths: Sequence[Path], image_size: int, batch_size: int, workers: int = 1,
        blend_seeds: Sequence[int | None] | None = None, pseudo: PseudoFakes | None = None,
    ) -> None:  # fmt: skip
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=max(2, workers * 2))
        if not paths:
            raise InputError("no images to embed")
        self.paths = list(paths)
        self.image_size = image_size
        self.batch_size = batch_size
        self.blend_seeds = list(blend_seeds) if blend_seeds is not None else [None] * len(self.paths)
        if len(self.blend_seeds) != len(self.paths) or (pseudo is None and any(s is not None for s in self.blend_seeds)):
            raise ValueError("blend_seeds needs one entry per path, and pseudo when any is set")
        self.pseudo = pseudo

    @property
    def num_batches(self) -> int:
        """Number of batches."""
        return math.ceil(len(self.paths) / self.batch_size)

    def __len__(self) -> int:
        return self.num_batches

    def __getitem__(self, index: int) -> np.ndarray:
        """Float32 images ``(batch_size, S, S, 3)`` in 0..255 of batch ``index`` (padded at the end)."""
        window = slice(index * self.batch_size, (index + 1) * self.batch_size)
        images = [self._image(p, s) for p, s in zip(self.paths[window], self.blend_seeds[window])]
        images += [images[-1]] * (self.batch_size - len(images))
        return np.stack(images).astype(np.float32)

    def _image(self, path: Path, blend_seed: int | None) -> np.ndarray:
        image = _read_training_crop(path)
        if blend_seed is not None and self.pseudo is not None:
            return self.pseudo.make(image, path, blend_seed).image
        return fit_size(image, self.image_size)


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
