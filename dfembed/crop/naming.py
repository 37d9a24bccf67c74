"""Crop file names: made here and parsed here, nowhere else.

A source's crops are named ``<label>/<folders>/<name>_<ext>[_<hash>]_f<frame:05d>_<face:02d>.<format>``
relative to DST (see :func:`crop_stems`); :func:`is_crop_name` recognises such a file
and :func:`group_from_stem` gives back the source part of a crop's stem, the group of
crops of one source when no manifest says otherwise. A video's audio tiles use the same
stem, relative to ``DST/audio``: ``<stem>_t<tile:06d>.png`` (:func:`tile_file`). A crop's
FaceMesh points are ``landmarks/<crop path>`` with the suffix ``.npy`` (:func:`mesh_file`).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import PurePosixPath

from dfembed.core.classes import LABEL_FOLDERS
from dfembed.crop.discovery import Source

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_CROP_NAME = re.compile(r"_f\d{5}_\d{2}\.(jpg|png)$")
_TILE_NAME = re.compile(r"_t\d{6}\.png$")
_MESH_NAME = re.compile(r"_f\d{5}_\d{2}\.npy$")
#: The folder of DST that holds the crops' FaceMesh points, mirroring the crop folders.
MESH_DIR = "landmarks"
# crop_face's _f<frame:05d>_<face:02d> or audio tiles' _t<tile:06d>, or the <video>-<frame>[-<face>] of other trees
_INDEX_SUFFIX = re.compile(r"(_f\d{5}_\d{2}|_t\d{6}|(-\d+){1,2})$")
_MAX_PART = 120


def crop_stems(sources: list[Source]) -> dict[str, PurePosixPath]:
    """Map each source to the stem of its crop files, relative to DST.

    The stem is ``<label>/<folders>/<name>_<ext>``: the source's relative path with the
    label folder of a labelled tree left out (when it is the first folder), every part
    reduced to ``[A-Za-z0-9._-]`` without leading dots, so no name can leave DST. When
    that changed a name, or two sources would share a stem (also ignoring letter case),
    an 8-digit hash of the relative path is appended. Crop files add
    ``_f<frame:05d>_<face:02d>.<format>`` (:func:`crop_file`).

    Args:
        sources: All sources of the run.

    Returns:
        ``{source.relative: stem}``.
    """
    stems = {s.relative: _plain_stem(s) for s in sources}
    seen = Counter(str(stem).lower() for stem in stems.values())
    for source in sources:
        stem = stems[source.relative]
        renamed = any(_safe_part(p) != p for p in PurePosixPath(source.relative).parts)
        if renamed or seen[str(stem).lower()] > 1:
            digest = hashlib.sha1(source.relative.encode("utf-8")).hexdigest()[:8]
            stems[source.relative] = stem.with_name(f"{stem.name}_{digest}")
    return stems


def crop_file(stem: PurePosixPath, frame_index: int, face_index: int, image_format: str) -> PurePosixPath:
    """Relative path of one crop: ``<stem>_f<frame:05d>_<face:02d>.<format>``."""
    return stem.with_name(f"{stem.name}_f{frame_index:05d}_{face_index:02d}.{image_format}")


def is_crop_name(name: str) -> bool:
    """Whether a file name is one :func:`crop_file` makes (so a clean-up may delete it)."""
    return bool(_CROP_NAME.search(name))


def mesh_file(crop: PurePosixPath | str) -> PurePosixPath:
    """Relative path (to DST) of a crop's FaceMesh points: ``landmarks/<crop path>`` ending ``.npy``."""
    return PurePosixPath(MESH_DIR, *PurePosixPath(crop).with_suffix(".npy").parts)


def is_mesh_name(name: str) -> bool:
    """Whether a file name is one :func:`mesh_file` makes (so a clean-up may delete it)."""
    return bool(_MESH_NAME.search(name))


def tile_file(stem: PurePosixPath, index: int) -> PurePosixPath:
    """Relative path (to ``DST/audio``) of a video's audio tile number ``index``: ``<stem>_t<index:06d>.png``."""
    return stem.with_name(f"{stem.name}_t{index:06d}.png")


def is_tile_name(name: str) -> bool:
    """Whether a file name is one :func:`tile_file` makes (so a clean-up may delete it)."""
    return bool(_TILE_NAME.search(name))


def group_from_stem(stem: str) -> str:
    """Group key of a crop file: its name without the frame and face indices.

    Three namings are understood: crop_face's ``<name>_<ext>[_<hash>]_f<frame:05d>_<face:02d>``
    (the group keeps the hash, which tells apart sources whose names collided), its audio
    tiles' ``<name>_<ext>[_<hash>]_t<tile:06d>`` and ``<video>-<frame>[-<face>]``.

    Args:
        stem: File name without suffix, e.g. ``"abarnvbtwb_mp4_f00003_01"`` or ``"abarnvbtwb-003-01"``.

    Returns:
        ``"abarnvbtwb_mp4"`` or ``"abarnvbtwb"``; a stem without such indices is returned unchanged.
    """
    return _INDEX_SUFFIX.sub("", stem) or stem


def _plain_stem(source: Source) -> PurePosixPath:
    parts = list(PurePosixPath(source.relative).parts)
    if source.label in LABEL_FOLDERS and parts[0].lower() == source.label:
        parts = parts[1:]
    name = PurePosixPath(parts[-1])
    folders = [_safe_part(p) for p in parts[:-1]]
    file_stem = f"{_safe_part(name.stem)}_{_safe_part(name.suffix.lstrip('.').lower())}"
    return PurePosixPath(source.label, *folders, file_stem)


def _safe_part(part: str) -> str:
    return (_UNSAFE.sub("_", part).lstrip(".") or "_")[:_MAX_PART]
