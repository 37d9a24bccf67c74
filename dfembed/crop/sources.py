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

SRC is listed by :func:`dfembed.core.walk.walk_files`, the one policy of every stage:
links to files and folders are followed (each real folder once), hidden entries are
skipped, and every entry that gives no medium — broken or looping links, hidden files
and folders, FIFOs, unreadable folders, files that are not media — is reported in
:attr:`~dfembed.crop.discovery.Discovery.skipped` (and so in ``failures.csv``). A name that is not valid UTF-8
is kept; its ``relative`` path shows the undecodable bytes as ``\\xNN``.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path, PurePosixPath
from typing import Any

from dfembed.core.classes import FAKE, LABEL_FOLDERS, UNLABELED, label_of
from dfembed.core.errors import InputError
from dfembed.core.walk import Entry, printable, walk_files
from dfembed.crop.datasets import discover_dataset, recognise
from dfembed.crop.discovery import Discovery, Selection, Skipped, Source
from dfembed.faces.media import is_media

log = logging.getLogger(__name__)

METADATA_NAME = "metadata.json"
_FRAME_NAME = re.compile(r"^(?P<video>.+)-\d+$")


def discover_sources(src: Path, group_regex: str | None = None, selection: Selection | None = None) -> Discovery:
    """Find the media below ``src`` and label and group them by the folder's layout.

    Args:
        src: The input folder.
        group_regex: Optional pattern for image group keys (see the module docstring).
        selection: The layout (``auto``: recognised) and, for FaceForensics++ and Celeb-DF,
            the split, compression and methods; ``None`` for the defaults.

    Returns:
        A :class:`~dfembed.crop.discovery.Discovery`.

    Raises:
        InputError: ``src`` is missing, not a folder, or a ``metadata.json`` or data-set list is invalid.
        ConfigError: A selection the data set cannot give.
    """
    src = Path(src)
    if not src.is_dir():
        raise InputError(f"SRC {src} does not exist or is not a folder")
    selection = selection if selection is not None else Selection()
    layout = selection.layout if selection.layout != "auto" else recognise(src)
    if layout in ("ffpp", "celebdf"):
        return discover_dataset(src, layout, selection)
    walk = walk_files(src)
    files = walk.files
    metadata = _load_all_metadata(files)
    if layout is None:
        labelled = any(_tree_label(PurePosixPath(e.relative)) for e in files)
        layout = "labelled" if labelled else ("dfdc" if metadata else "unlabelled")
    grouper = _Grouper(src, metadata, group_regex)
    sources: list[Source] = []
    skipped = [Skipped(s.relative, _tree_label(PurePosixPath(s.relative)) or "", s.reason, s.detail)
               for s in walk.skipped]
    for entry in files:
        _classify(entry, layout, metadata, grouper, sources, skipped)
    if layout == "dfdc":
        skipped.extend(_missing_entries(src, metadata, files))
    skipped.sort(key=lambda s: s.relative)
    log.info("SRC %s: %s layout, %d media, %d skipped", src, layout, len(sources), len(skipped))
    return Discovery(layout, sources, skipped)


def _classify(
    entry: Entry,
    layout: str,
    metadata: dict[Path, dict[str, Any]],
    grouper: _Grouper,
    sources: list[Source],
    skipped: list[Skipped],
) -> None:
    """Append the file ``entry`` to ``sources`` or ``skipped``."""
    path, relative = entry.path, entry.relative
    if path.name == METADATA_NAME and path.parent in metadata:
        return
    if not is_media(path):
        skipped.append(Skipped(relative, "", "not a media file", f"suffix {path.suffix!r} is not supported"))
        return
    label, problem = _label(path, PurePosixPath(relative), layout, metadata)
    if label is None:
        skipped.append(Skipped(relative, "", problem))
        return
    sources.append(Source(path, relative, label, grouper.group(path, relative)))


def _label(path: Path, rel: PurePosixPath, layout: str, metadata: dict[Path, dict[str, Any]]) -> tuple[str | None, str]:
    if layout == "labelled":
        label = _tree_label(rel)
        return (label, "") if label else (None, "outside real/ and fake/")
    if layout == "dfdc":
        entry = metadata.get(path.parent, {}).get(path.name)
        if entry is None:
            return None, f"not listed in {METADATA_NAME}"
        return _metadata_label(entry), ""
    return UNLABELED, ""


def _metadata_label(entry: dict[str, Any]) -> str:
    """``"fake"`` or ``"real"`` for a checked metadata entry (its label in any case, spaces around)."""
    return "fake" if label_of(entry["label"]) == FAKE else "real"


def _tree_label(rel: PurePosixPath) -> str | None:
    """The topmost folder of ``rel`` named real or fake (any case), lower-cased."""
    for part in rel.parts[:-1]:
        if part.lower() in LABEL_FOLDERS:
            return part.lower()
    return None


def _load_all_metadata(files: list[Entry]) -> dict[Path, dict[str, Any]]:
    return {e.path.parent: load_metadata(e.path) for e in files if e.path.name == METADATA_NAME}


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
        raise InputError(f"{path}: not a valid metadata.json ({getattr(err, 'strerror', None) or err})") from err
    except RecursionError as err:
        raise InputError(f"{path}: not a valid metadata.json (nested too deeply to read)") from err
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object of file names to entries")
    for name, entry in data.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("label"), str) or label_of(entry["label"]) is None:
            raise InputError(f"{path}: entry {name!r} has no label REAL or FAKE")
        original = entry.get("original")
        if original is not None and not (isinstance(original, str) and original.strip()):
            raise InputError(f"{path}: entry {name!r} has an 'original' that is not a file name: {original!r}"[:400])
    return data


def _missing_entries(src: Path, metadata: dict[Path, dict[str, Any]], files: list[Entry]) -> list[Skipped]:
    present = {e.path for e in files}
    missing = []
    for folder, entries in metadata.items():
        for name, entry in sorted(entries.items()):
            label = _metadata_label(entry)
            if _unsafe_name(name):
                prefix = printable(folder.relative_to(src).as_posix())
                shown = printable(name)
                relative = shown if prefix == "." or PurePosixPath(name).is_absolute() else f"{prefix}/{shown}"
                missing.append(Skipped(relative, label, "unsafe name",
                                       f"{METADATA_NAME} lists a name outside its folder"))
            elif folder / name not in present:
                relative = printable((folder / name).relative_to(src).as_posix())
                missing.append(Skipped(relative, label, "missing file", f"listed in {METADATA_NAME}"))
    return missing


def _unsafe_name(name: str) -> bool:
    """Whether a ``metadata.json`` file name is absolute, climbs out of its folder or holds a NUL."""
    posix = PurePosixPath(name.replace("\\", "/"))
    return posix.is_absolute() or ".." in posix.parts or "\x00" in name


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
            return printable(original if label_of(entries[name]["label"]) == FAKE and original else name)
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
