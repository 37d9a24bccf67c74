"""Discovering what to crop in SRC: its layout, each medium's label and group key.

Layouts, tried in this order (or forced with ``layout``):

0. **FaceForensics++** and **Celeb-DF v2**, recognised by their top folders; their
   labels, groups, methods and official splits are read by :mod:`dfembed.crop.datasets`.
1. **Labelled tree**: some folder below SRC is named ``real`` or ``fake`` (any letter case).
   A medium's label is the topmost such folder on its relative path; media outside them
   are reported (``outside real/ and fake/``) and skipped.
2. **DFDC**: no ``real``/``fake`` folder but one or more ``metadata.json`` files. A
   medium is labelled by the ``metadata.json`` in its own folder (``REAL``/``FAKE``).
   Listed files that are missing and media that are not listed are counted and reported.
3. **Unlabelled** (a test set): every medium gets the label ``unlabeled``.

Group key (used later so that a split keeps a fake with its original):

* a video listed in a ``metadata.json``: the ``original`` of a fake, else its own name;
* an image named ``<video>-<NNN>.<ext>`` in or below a folder whose ``metadata.json``
  lists ``<video>.mp4``: that video's group key, as above;
* otherwise, when ``group_regex`` is set and matches the relative path: its first
  group (or the whole match);
* otherwise the relative path itself.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from dfembed.core.classes import FAKE, LABEL_FOLDERS, UNLABELED, label_of
from dfembed.core.errors import InputError
from dfembed.faces.media import is_media

if TYPE_CHECKING:
    from dfembed.crop.datasets import Selection

log = logging.getLogger(__name__)

METADATA_NAME = "metadata.json"
_FRAME_NAME = re.compile(r"^(?P<video>.+)-\d+$")


@dataclasses.dataclass(frozen=True)
class Source:
    """One medium to crop.

    Attributes:
        path: The file.
        relative: Its path relative to SRC, with ``/`` separators.
        label: ``"real"``, ``"fake"`` or ``"unlabeled"``.
        group: The group key (see the module docstring).
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
    """What :func:`discover_sources` found.

    Attributes:
        layout: ``"labelled"``, ``"dfdc"``, ``"unlabelled"``, ``"ffpp"`` or ``"celebdf"``.
        sources: The media to crop, sorted by relative path.
        skipped: Files that are not media, unlisted or unlabelled media, and listed files
            that are missing.
    """

    layout: str
    sources: list[Source]
    skipped: list[Skipped]


def discover_sources(src: Path, group_regex: str | None = None, selection: Selection | None = None) -> Discovery:
    """Find the media below ``src`` and label and group them by the folder's layout.

    Args:
        src: The input folder.
        group_regex: Optional pattern for image group keys (see the module docstring).
        selection: The layout (``auto``: recognised) and, for FaceForensics++ and Celeb-DF,
            the split, compression and methods; ``None`` for the defaults.

    Returns:
        A :class:`Discovery`.

    Raises:
        InputError: ``src`` is missing, not a folder, or a ``metadata.json`` or data-set list is invalid.
        ConfigError: A selection the data set cannot give.
    """
    from dfembed.crop.datasets import Selection, discover_dataset, recognise

    src = Path(src)
    if not src.is_dir():
        raise InputError(f"SRC {src} does not exist or is not a folder")
    selection = selection if selection is not None else Selection()
    layout = selection.layout if selection.layout != "auto" else recognise(src)
    if layout in ("ffpp", "celebdf"):
        return discover_dataset(src, layout, selection)
    files = sorted((p for p in src.rglob("*") if p.is_file()), key=lambda p: p.relative_to(src).as_posix())
    metadata = _load_all_metadata(src, files)
    if layout is None:
        labelled = any(_tree_label(p.relative_to(src)) for p in files)
        layout = "labelled" if labelled else ("dfdc" if metadata else "unlabelled")
    grouper = _Grouper(src, metadata, group_regex)
    sources: list[Source] = []
    skipped: list[Skipped] = []
    for path in files:
        _classify(path, src, layout, metadata, grouper, sources, skipped)
    if layout == "dfdc":
        skipped.extend(_missing_entries(src, metadata, files))
    log.info("SRC %s: %s layout, %d media, %d skipped", src, layout, len(sources), len(skipped))
    return Discovery(layout, sources, skipped)


def _classify(
    path: Path,
    src: Path,
    layout: str,
    metadata: dict[Path, dict[str, Any]],
    grouper: _Grouper,
    sources: list[Source],
    skipped: list[Skipped],
) -> None:
    """Append ``path`` to ``sources`` or ``skipped``."""
    rel = path.relative_to(src)
    relative = rel.as_posix()
    if path.name == METADATA_NAME and path.parent in metadata:
        return
    if path.name.startswith("."):
        return  # hidden files, including temporary files of an interrupted copy
    if not is_media(path):
        skipped.append(Skipped(relative, "", "not a media file", f"suffix {path.suffix!r} is not supported"))
        return
    label, problem = _label(path, rel, layout, metadata)
    if label is None:
        skipped.append(Skipped(relative, "", problem))
        return
    sources.append(Source(path, relative, label, grouper.group(path, relative)))


def _label(path: Path, rel: Path, layout: str, metadata: dict[Path, dict[str, Any]]) -> tuple[str | None, str]:
    if layout == "labelled":
        label = _tree_label(rel)
        return (label, "") if label else (None, "outside real/ and fake/")
    if layout == "dfdc":
        entry = metadata.get(path.parent, {}).get(path.name)
        if entry is None:
            return None, f"not listed in {METADATA_NAME}"
        return str(entry["label"]).lower(), ""
    return UNLABELED, ""


def _tree_label(rel: Path) -> str | None:
    """The topmost folder of ``rel`` named real or fake (any case), lower-cased."""
    for part in rel.parts[:-1]:
        if part.lower() in LABEL_FOLDERS:
            return part.lower()
    return None


def _load_all_metadata(src: Path, files: list[Path]) -> dict[Path, dict[str, Any]]:
    return {p.parent: load_metadata(p) for p in files if p.name == METADATA_NAME}


def load_metadata(path: Path) -> dict[str, dict[str, Any]]:
    """Read and check a DFDC ``metadata.json``.

    Args:
        path: The file: ``{"name.mp4": {"label": "REAL"|"FAKE", "original": ...}, ...}``.

    Returns:
        The mapping of file name to entry.

    Raises:
        InputError: The file is not valid JSON or an entry has no REAL/FAKE label.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: not a valid metadata.json ({err})") from err
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object of file names to entries")
    for name, entry in data.items():
        if not isinstance(entry, dict) or label_of(entry.get("label", "")) is None:
            raise InputError(f"{path}: entry {name!r} has no label REAL or FAKE")
    return data


def _missing_entries(src: Path, metadata: dict[Path, dict[str, Any]], files: list[Path]) -> list[Skipped]:
    present = set(files)
    missing = []
    for folder, entries in metadata.items():
        for name, entry in sorted(entries.items()):
            label = str(entry["label"]).lower()
            if _unsafe_name(name):
                prefix = folder.relative_to(src).as_posix()
                relative = name if prefix == "." or PurePosixPath(name).is_absolute() else f"{prefix}/{name}"
                missing.append(Skipped(relative, label, "unsafe name",
                                       f"{METADATA_NAME} lists a name outside its folder"))
            elif folder / name not in present:
                relative = (folder / name).relative_to(src).as_posix()
                missing.append(Skipped(relative, label, "missing file", f"listed in {METADATA_NAME}"))
    return missing


def _unsafe_name(name: str) -> bool:
    """Whether a ``metadata.json`` file name is absolute or climbs out of its folder."""
    posix = PurePosixPath(name.replace("\\", "/"))
    return posix.is_absolute() or ".." in posix.parts


class _Grouper:
    """Computes group keys; holds the metadata and the optional regular expression."""

    def __init__(self, src: Path, metadata: dict[Path, dict[str, Any]], group_regex: str | None) -> None:
        self._src = src
        self._metadata = metadata
        self._regex = re.compile(group_regex) if group_regex else None

    def group(self, path: Path, relative: str) -> str:
        entries = self._nearest_metadata(path)
        name = path.name if path.name in entries else self._video_of_frame(path, entries)
        if name is not None:
            original = entries[name].get("original")
            return str(original) if label_of(entries[name]["label"]) == FAKE and original else name
        if self._regex is not None:
            match = self._regex.search(relative)
            if match:
                return match.group(1) if match.groups() else match.group(0)
        return relative

    def _nearest_metadata(self, path: Path) -> dict[str, Any]:
        for folder in path.parents:
            if folder in self._metadata:
                return self._metadata[folder]
            if folder == self._src:
                break
        return {}

    @staticmethod
    def _video_of_frame(path: Path, entries: dict[str, Any]) -> str | None:
        match = _FRAME_NAME.match(path.stem)
        if match is None:
            return None
        video = f"{match.group('video')}.mp4"
        return video if video in entries else None
