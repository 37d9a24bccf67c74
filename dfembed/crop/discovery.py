"""What discovering SRC gives: the media to crop, the entries skipped, and the selection of a data set.

These types are shared by the generic layouts (:mod:`dfembed.crop.sources`) and the
public data sets' own layouts (:mod:`dfembed.crop.datasets`); both import them from
here, so neither imports the other back.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from dfembed.core.datasets import FFPP_DEFAULT_METHODS


@dataclasses.dataclass(frozen=True)
class Source:
    """One medium to crop.

    Attributes:
        path: The file.
        relative: Its path relative to SRC, with ``/`` separators.
        label: ``"real"``, ``"fake"`` or ``"unlabeled"``.
        group: The group key (see :mod:`dfembed.crop.sources`).
        method: The manipulation that made a fake, when the data set names it
            (FaceForensics++: ``Deepfakes``…; Celeb-DF: ``Celeb-synthesis``), else ``""``.
    """

    path: Path
    relative: str
    label: str
    group: str
    method: str = ""


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A file or metadata entry that gives no source, with the reason (for ``failures.csv``)."""

    relative: str
    label: str
    reason: str
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class Discovery:
    """What :func:`~dfembed.crop.sources.discover_sources` found.

    Attributes:
        layout: ``"labelled"``, ``"dfdc"``, ``"unlabelled"``, ``"ffpp"`` or ``"celebdf"``.
        sources: The media to crop, sorted by relative path.
        skipped: Files that are not media, unlisted or unlabelled media, and listed files
            that are missing.
    """

    layout: str
    sources: list[Source]
    skipped: list[Skipped]


@dataclasses.dataclass(frozen=True)
class Selection:
    """Which part of a data set to take.

    Attributes:
        layout: ``auto`` or a forced layout (see :data:`dfembed.core.datasets.LAYOUTS`).
        split: ``all``, ``train``, ``val`` or ``test``.
        compression: FaceForensics++ quality folder (``raw``, ``c23``, ``c40``).
        methods: FaceForensics++ manipulations.
    """

    layout: str = "auto"
    split: str = "all"
    compression: str = "c23"
    methods: tuple[str, ...] = FFPP_DEFAULT_METHODS

    @classmethod
    def of(cls, config: Any) -> Selection:
        """The selection named by a stage configuration's ``layout``, ``split``, ``compression`` and ``methods``."""
        defaults = cls()
        return cls(**{f.name: getattr(config, f.name, getattr(defaults, f.name)) for f in dataclasses.fields(cls)})
