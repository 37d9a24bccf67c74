"""A leak-free validation split: whole groups (source videos) held out, both classes on both sides."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np

from dfembed.core.classes import CLASSES
from dfembed.core.errors import InputError
from dfembed.train.crops import Crop

log = logging.getLogger(__name__)


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
