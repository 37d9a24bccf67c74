"""Training crops: listing a ``real/``/``fake/`` tree, with each crop's label and group.

DATA is the crop stage's output (``real/``, ``fake/`` and ``manifest.csv``; or its audio
tiles, ``DST/audio`` with ``audio_manifest.csv``) or any tree with ``real/`` and ``fake/``
folders (images at any depth). Every crop belongs to a *group*, the unit that must not
straddle train and validation: the manifest's ``group`` column when there is one (the
crop stage puts a fake with its original video), else the
file stem without its trailing frame and face indices
(:func:`dfembed.crop.naming.group_from_stem`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from dfembed.core.classes import CLASSES, FAKE, REAL
from dfembed.core.errors import InputError
from dfembed.core.walk import walk_files
from dfembed.crop.audio_manifest import read_tile_column
from dfembed.crop.manifest import read_manifest_groups
from dfembed.crop.naming import group_from_stem
from dfembed.faces.media import IMAGE_SUFFIXES, MediaError, read_image

log = logging.getLogger(__name__)

#: The sub-folder of DATA used as the validation tree when it exists.
VALIDATION_DIR = "validation"


@dataclass(frozen=True)
class Crop:
    """One face crop.

    Attributes:
        path: The image file.
        label: 0 = real, 1 = fake.
        group: The split unit (source video, or the original a fake was made from).
        blend_seed: For a self-blended pseudo-fake (label 1): the seed it is made with from
            the real crop at ``path``, whose group it keeps; ``None`` for a crop file as it is.
    """

    path: Path
    label: int
    group: str
    blend_seed: int | None = None


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


def list_crops(root: Path, workers: int = 1, verify: bool = True, fakes_optional: bool = False) -> CropSet:
    """List the crops of a ``real/``/``fake/`` tree, skipping (and counting) unreadable files.

    Args:
        root: DATA or a validation tree.
        workers: Threads used to check that every image decodes.
        verify: Decode every image once and skip those that fail.
        fakes_optional: ``fake/`` may be absent or empty (training with self-blended pseudo-fakes).

    Returns:
        The :class:`CropSet`.

    Raises:
        InputError: ``root`` is missing, or ``real/`` (or, unless ``fakes_optional``, ``fake/``)
            is missing or holds no readable image.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"data folder {root} does not exist")
    needed = {name: label for name, label in CLASSES.items() if not (fakes_optional and label == FAKE)}
    hint = "; --pseudo-fakes sbi makes its fakes from real crops" if fakes_optional else \
        " (or train without fakes: --pseudo-fakes sbi)"
    for name in needed:
        if not (root / name).is_dir():
            raise InputError(f"data folder {root} has no {name}/ folder (expected {root}/real and {root}/fake){hint}")
    groups = read_manifest_groups(root) or read_tile_column(root, "group")  # face crops, else audio tiles
    crops = [crop for name, label in CLASSES.items() if name in needed or (root / name).is_dir()
             for crop in _class_crops(root, name, label, groups, required=name in needed)]
    unreadable: list[tuple[Path, str]] = []
    if verify:
        crops, unreadable = _verify(crops, workers)
    for name, label in needed.items():
        if not any(crop.label == label for crop in crops):
            extra = hint if fakes_optional else ""
            raise InputError(f"{root / name}: no readable image ({len(unreadable)} unreadable files skipped){extra}")
    return CropSet(root, tuple(sorted(crops, key=lambda c: str(c.path))), tuple(unreadable))


def self_blend_crops(crops: Iterable[Crop], seed: int, stream: int = 4) -> list[Crop]:
    """One self-blended pseudo-fake per real crop: label FAKE, the real's path and group, its own seed.

    They stand for fixed pseudo-fakes in the validation set and in the SVM's training
    set; the training batches make fresh ones for every draw.

    Args:
        crops: Crops of any label; the real ones give pseudo-fakes.
        seed: The run's seed.
        stream: Tells apart the seeds of two sets made with one run seed (training, validation).

    Returns:
        The pseudo-fake crops, in the order of the real crops.
    """
    reals = [c for c in crops if c.label == REAL and c.blend_seed is None]
    seeds = np.random.SeedSequence([int(seed), int(stream)]).generate_state(max(1, len(reals)))
    return [Crop(c.path, FAKE, c.group, int(s)) for c, s in zip(reals, seeds)]


def _class_crops(root: Path, name: str, label: int, groups: dict[Path, str], required: bool = True) -> list[Crop]:
    """The images of ``root/name``, listed by the policy of every stage (links followed once, hidden skipped)."""
    folder = root / name
    if not folder.is_dir() and not required:
        return []
    walk = walk_files(folder)
    for skipped in walk.skipped:
        if skipped.reason != "hidden":
            log.warning("%s/%s: skipped (%s: %s)", folder, skipped.relative, skipped.reason, skipped.detail)
    paths = sorted(e.path for e in walk.files if e.path.suffix.lower() in IMAGE_SUFFIXES)
    if not paths and required:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise InputError(f"{folder} holds no image ({suffixes})")
    return [Crop(p, label, groups.get(p.resolve()) or group_from_stem(p.stem)) for p in paths]



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
