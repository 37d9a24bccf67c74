"""The class vocabulary, defined once: label 0 is REAL, label 1 is FAKE.

Crop folders are named ``real``/``fake`` (``unlabeled`` for a test set), DFDC metadata
says ``REAL``/``FAKE``, and every score in dfembed is P(fake), the probability of
label :data:`FAKE`.
"""

from __future__ import annotations

REAL = 0
FAKE = 1
#: Folder name (and lower-case label word) → label.
CLASSES: dict[str, int] = {"real": REAL, "fake": FAKE}
#: The labelled folder names, in label order.
LABEL_FOLDERS: tuple[str, ...] = tuple(CLASSES)
#: The folder of media without a label (a test set).
UNLABELED = "unlabeled"
#: Every folder the crop stage writes crops into.
CROP_FOLDERS: tuple[str, ...] = (*LABEL_FOLDERS, UNLABELED)


def label_of(word: str) -> int | None:
    """The label of a class word in any letter case (``"FAKE"`` → 1), ``None`` if it is none."""
    return CLASSES.get(str(word).strip().lower())


def class_name(label: int | None) -> str:
    """The upper-case word of a label (``1`` → ``"FAKE"``), ``"?"`` when unknown."""
    names = {value: key.upper() for key, value in CLASSES.items()}
    return names.get(label, "?") if label is not None else "?"
