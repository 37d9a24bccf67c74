"""What a run of the frame model trains and validates on: the crops (or tiles), split by group.

:func:`load_data` lists DATA's crops (skipping unreadable ones), splits off validation
by group (or reads a validation tree), adds the fixed self-blends of ``pseudo_fakes: sbi``
and checks that the training crops make balanced batches. The crop stage's record
beside them (``DATA/dfembed-crop.json``) gives the crop settings and the detector that
go into the classifier bundle (:func:`read_crop_config`, :func:`read_crop_detector`).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from dfembed.core.classes import FAKE, REAL
from dfembed.crop.manifest import PROVENANCE_NAME as CROP_RECORD_NAME
from dfembed.crop.manifest import read_crop_record
from dfembed.train.batches import check_balanced_batch, resolve_workers
from dfembed.train.config import TrainConfig
from dfembed.train.crops import VALIDATION_DIR, Crop, CropSet, list_crops, self_blend_crops
from dfembed.train.pseudo import PseudoFakes, build_pseudo_fakes
from dfembed.train.split import check_disjoint, split_by_group

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrainData:
    """The crops a run trains and validates on.

    Attributes:
        train: Training crops (with pseudo-fakes: also one fixed self-blend of each real crop,
            for the SVM; the batches make fresh ones).
        val: Validation crops (empty: no validation).
        unreadable: Number of files skipped because they did not decode.
        pseudo: Maker of the self-blended pseudo-fakes, ``None`` without them.
        pseudo_fraction: Share of each batch's fake half that is self-blended.
    """

    train: tuple[Crop, ...]
    val: tuple[Crop, ...]
    unreadable: int
    pseudo: PseudoFakes | None = None
    pseudo_fraction: float = 0.0


def load_data(data: Path, val: Path | None, config: TrainConfig) -> TrainData:
    """List training and validation crops and check that they can make balanced batches.

    With ``pseudo_fakes: sbi`` DATA needs no ``fake/``: every real crop also gives one fixed
    self-blend (label fake, the real's group) before the split, so validation has fakes and
    the split by group stays leak-free; a validation tree without fakes gets the
    self-blends of its reals.

    Args:
        data: The crop tree.
        val: A validation tree, or ``None`` for ``DATA/validation`` or a group split.
        config: Gives the batch size, split fraction, seed, workers and pseudo-fake options.

    Returns:
        The :class:`TrainData`.

    Raises:
        InputError: Missing folders, no images (no real crop, with pseudo-fakes), too few
            for a batch, or train and validation sharing a group.
    """
    workers = resolve_workers(config.workers)
    sbi = config.pseudo_fakes == "sbi"
    crops = list_crops(data, workers=workers, fakes_optional=sbi)
    sets = [crops]
    val_dir = val if val is not None else data / VALIDATION_DIR
    if val is not None or (val_dir / "real").is_dir() or (val_dir / "fake").is_dir():
        val_set = list_crops(val_dir, workers=workers, fakes_optional=sbi)
        sets.append(val_set)
        train = list(crops.crops) + (self_blend_crops(crops.crops, config.seed) if sbi else [])
        held_out = list(val_set.crops)
        if sbi and not val_set.count(FAKE):
            held_out += self_blend_crops(held_out, config.seed, stream=5)
        check_disjoint(train, held_out)
    else:
        pool = list(crops.crops) + (self_blend_crops(crops.crops, config.seed) if sbi else [])
        train, held_out = split_by_group(pool, config.val_fraction, config.seed)
    fraction = pseudo_fraction(config, crops) if sbi else 0.0
    check_balanced_batch(train, config.batch_size, fraction)
    pseudo = build_pseudo_fakes([(s.root, [c.path for c in s.crops if c.label == REAL]) for s in sets],
                                config.image_size) if sbi else None
    unreadable = sum(len(s.unreadable) for s in sets)
    return TrainData(tuple(train), tuple(held_out), unreadable, pseudo, fraction)


def pseudo_fraction(config: TrainConfig, crops: CropSet) -> float:
    """The share of a batch's fakes that are self-blended: the option, else 1 without fake crops, else 0.5."""
    if config.pseudo_fake_fraction is not None:
        return config.pseudo_fake_fraction
    return 0.5 if crops.count(FAKE) else 1.0


def read_crop_config(data: Path) -> dict[str, Any] | None:
    """The crop stage's configuration from ``DATA/dfembed-crop.json`` (its ``config`` key).

    Args:
        data: The crop tree.

    Returns:
        The configuration mapping, or ``None`` when the record is absent or has none.

    Raises:
        InputError: The record exists but is not valid JSON.
    """
    record = read_crop_record(data)
    if record is None:
        return None
    if not isinstance(record.get("config"), dict):
        log.warning("%s holds no crop configuration; inference will use its own crop options", data / CROP_RECORD_NAME)
        return None
    if record.get("status", "complete") != "complete":
        log.warning("%s says the crop job is %r, not complete: some sources may be missing",
                    data / CROP_RECORD_NAME, record["status"])
    return record["config"]


def read_crop_detector(data: Path) -> dict[str, Any] | None:
    """The crop stage's record of its face detector (``DATA/dfembed-crop.json``, key ``detector``).

    Args:
        data: The crop tree.

    Returns:
        The record (name, versions, options, confidence floor), or ``None`` when absent.

    Raises:
        InputError: The record exists but is not valid JSON.
    """
    record = read_crop_record(data)
    detector = record.get("detector") if record is not None else None
    return detector if isinstance(detector, dict) else None
