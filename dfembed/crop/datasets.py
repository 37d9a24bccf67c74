"""The public data sets' own layouts: FaceForensics++ and Celeb-DF v2, with their official splits.

**FaceForensics++** (SRC is the folder holding ``original_sequences/`` and ``manipulated_sequences/``)::

    original_sequences/youtube/<compression>/videos/<NNN>.mp4              real
    original_sequences/actors/<compression>/videos/<actor>__<scene>.mp4    real (DeepFakeDetection's originals)
    manipulated_sequences/<Method>/<compression>/videos/<target>_<source>.mp4            fake
    manipulated_sequences/DeepFakeDetection/<compression>/videos/<t>_<s>__<scene>__<id>.mp4  fake

Only ``selection.compression`` and the ``selection.methods`` folders are read (the YouTube
originals always, the actors' originals with DeepFakeDetection). The official splits
(``resources/ffpp_splits/{train,val,test}.json``: pairs ``[target, source]`` of YouTube video
numbers) choose the videos of ``train``, ``val`` or ``test``: an original whose number is in a
pair of the split, a fake whose two numbers are a pair of the split. DeepFakeDetection is in
no split list, so it is taken with ``split: all`` only. **Group**: the pair, e.g.
``youtube/054+071`` for ``071.mp4``, ``054.mp4``, ``071_054.mp4`` and ``054_071.mp4``, so that
neither a fake's scene (its target) nor its swapped-in face (its source) straddles a
training/validation split; a DeepFakeDetection fake joins its target actor's scene,
``actors/<t>__<scene>``. The method is each fake's ``method``.

**Celeb-DF v2** (SRC holds ``Celeb-real/``, ``YouTube-real/``, ``Celeb-synthesis/``)::

    Celeb-real/id<N>_<scene>.mp4         real
    YouTube-real/<NNNNN>.mp4              real
    Celeb-synthesis/id<t>_id<s>_<scene>.mp4   fake, made on Celeb-real/id<t>_<scene>.mp4
    List_of_testing_videos.txt            lines "<1|0> <folder>/<file>.mp4": 1 is REAL, 0 is FAKE

``split: test`` takes the listed videos, ``train`` the others, ``all`` every video. The
list's first column is **1 for real and 0 for fake**, the reverse of dfembed's labels; a
line that contradicts its video's folder is an error. **Group**: a fake joins the real
video it was made on (``Celeb-real/id<t>_<scene>``); the method of a fake is ``Celeb-synthesis``.

Listed videos that are absent are reported as ``missing file`` (a whole absent method or
compression folder as one ``missing folder``), never fatal.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path

from dfembed.core.classes import FAKE, REAL
from dfembed.core.datasets import FFPP_METHODS, SPLITS, check_methods
from dfembed.core.errors import ConfigError, InputError
from dfembed.core.resources import resource_path
from dfembed.core.walk import walk_files
from dfembed.crop.discovery import Discovery, Selection, Skipped, Source
from dfembed.faces.media import is_media

log = logging.getLogger(__name__)

FFPP_ORIGINALS = "original_sequences"
FFPP_MANIPULATED = "manipulated_sequences"
DFD = "DeepFakeDetection"
CELEBDF_FOLDERS = {"Celeb-real": "real", "YouTube-real": "real", "Celeb-synthesis": "fake"}
CELEBDF_FAKES = "Celeb-synthesis"
CELEBDF_TEST_LIST = "List_of_testing_videos.txt"
SPLIT_FILES = ("train", "val", "test")

_YOUTUBE = re.compile(r"^\d{3}$")
_PAIR = re.compile(r"^(?P<target>\d{3})_(?P<source>\d{3})$")
_DFD_FAKE = re.compile(r"^(?P<target>\d+)_(?P<source>\d+)__(?P<scene>.+)__[^_]+$")
_ACTOR = re.compile(r"^(?P<actor>\d+)__(?P<scene>.+)$")
_CELEB_FAKE = re.compile(r"^(?P<target>id\d+)_(?P<source>id\d+)_(?P<scene>\d+)$")


def recognise(src: Path) -> str | None:
    """``"ffpp"`` or ``"celebdf"`` when SRC's top folders are that data set's, else ``None``."""
    if (src / FFPP_ORIGINALS).is_dir() or (src / FFPP_MANIPULATED).is_dir():
        return "ffpp"
    if any((src / folder).is_dir() for folder in CELEBDF_FOLDERS):
        return "celebdf"
    return None


def discover_dataset(src: Path, layout: str, selection: Selection) -> Discovery:
    """The media of a FaceForensics++ or Celeb-DF tree that ``selection`` takes.

    Args:
        src: The data set's root folder.
        layout: ``"ffpp"`` or ``"celebdf"``.
        selection: Split, compression and methods.

    Returns:
        A :class:`~dfembed.crop.discovery.Discovery` with that layout.

    Raises:
        ConfigError: A selection the data set cannot give (e.g. Celeb-DF has no ``val``).
        InputError: A Celeb-DF test list that is missing (for a split) or invalid.
    """
    if selection.split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {selection.split!r}")
    finder = _ffpp if layout == "ffpp" else _celebdf
    sources, skipped = finder(src, selection)
    sources.sort(key=lambda s: s.relative)
    log.info("SRC %s: %s layout, split %s: %d media, %d skipped", src, layout, selection.split, len(sources),
             len(skipped))
    return Discovery(layout, sources, skipped)


# --- FaceForensics++ ---------------------------------------------------------------------


def ffpp_pairs(split: str) -> list[tuple[str, str]]:
    """The official ``[target, source]`` pairs of a FaceForensics++ split (``all``: the three lists).

    Raises:
        ConfigError: An unknown split or a damaged split file.
    """
    names = SPLIT_FILES if split == "all" else (split,)
    if not set(names) <= set(SPLIT_FILES):
        raise ConfigError(f"FaceForensics++ split must be one of all, {', '.join(SPLIT_FILES)}; got {split!r}")
    pairs: list[tuple[str, str]] = []
    for name in names:
        path = resource_path("ffpp_splits", f"{name}.json")
        data = json.loads(path.read_text(encoding="utf-8"))
        if not all(isinstance(p, list) and len(p) == 2 and all(isinstance(v, str) for v in p) for p in data):
            raise ConfigError(f"{path}: expected a list of [target, source] pairs of video numbers")
        pairs += [(p[0], p[1]) for p in data]
    return pairs


@dataclasses.dataclass(frozen=True)
class _FfppSplit:
    """The ids and pairs of one split, and every listed id's pair group."""

    ids: frozenset[str]
    pairs: frozenset[frozenset[str]]
    groups: dict[str, str]

    @classmethod
    def load(cls, split: str) -> _FfppSplit:
        every = ffpp_pairs("all")
        groups = {i: f"youtube/{min(t, s)}+{max(t, s)}" for t, s in every for i in (t, s)}
        chosen = ffpp_pairs(split)
        return cls(frozenset(i for p in chosen for i in p), frozenset(frozenset(p) for p in chosen), groups)

    def group(self, video: str) -> str:
        return self.groups.get(video, f"youtube/{video}")


def _ffpp(src: Path, selection: Selection) -> tuple[list[Source], list[Skipped]]:
    _check_ffpp_selection(selection)
    split = _FfppSplit.load(selection.split)
    sources: list[Source] = []
    skipped: list[Skipped] = []
    for kind, method, folder in _ffpp_folders(src, selection):
        label = "real" if kind == "original" else "fake"
        if not folder.is_dir():
            skipped.append(Skipped(folder.relative_to(src).as_posix(), label, "missing folder",
                                   f"FaceForensics++ {method or 'originals'} at {selection.compression}"))
            continue
        found = _ffpp_folder(src, folder, kind, method, selection, split)
        sources += found[0]
        skipped += found[1]
    skipped += _ffpp_missing(src, selection, split, skipped)
    return sources, skipped


def _check_ffpp_selection(selection: Selection) -> None:
    if not check_methods(selection.methods):
        raise ConfigError(f"methods must be one or more of {', '.join(FFPP_METHODS)}, got {selection.methods!r}")
    if DFD in selection.methods and selection.split != "all":
        raise ConfigError(f"{DFD} is in none of FaceForensics++'s split lists: take it with --split all, "
                          f"or leave it out of --methods for --split {selection.split}")


def _ffpp_folders(src: Path, selection: Selection) -> list[tuple[str, str, Path]]:
    """``(kind, method, videos folder)`` of every folder the selection reads."""
    c = selection.compression
    folders = [("original", "", src / FFPP_ORIGINALS / "youtube" / c / "videos")]
    if DFD in selection.methods:
        folders.append(("actors", "", src / FFPP_ORIGINALS / "actors" / c / "videos"))
    folders += [("fake", m, src / FFPP_MANIPULATED / m / c / "videos") for m in selection.methods]
    return folders


def _ffpp_folder(
    src: Path, folder: Path, kind: str, method: str, selection: Selection, split: _FfppSplit
) -> tuple[list[Source], list[Skipped]]:
    sources, skipped = [], []
    label = "real" if kind in ("original", "actors") else "fake"
    for path, relative in _listed(src, folder, label, skipped):
        if not is_media(path):
            skipped.append(Skipped(relative, label, "not a media file", f"suffix {path.suffix!r} is not supported"))
            continue
        group, taken = _ffpp_entry(path.stem, kind, method, selection, split)
        if group is None:
            skipped.append(Skipped(relative, label, "unexpected name", f"not a FaceForensics++ {kind} video name"))
        elif taken:
            sources.append(Source(path, relative, label, group, method if label == "fake" else ""))
    return sources, skipped


def _ffpp_entry(stem: str, kind: str, method: str, selection: Selection, split: _FfppSplit) -> tuple[str | None, bool]:
    """``(group, in the split)`` of one video name; group ``None`` for a name that does not fit."""
    if kind == "original":
        if not _YOUTUBE.match(stem):
            return None, False
        return split.group(stem), selection.split == "all" or stem in split.ids
    if kind == "actors":
        match = _ACTOR.match(stem)
        return (f"actors/{match['actor']}__{match['scene']}", True) if match else (None, False)
    if method == DFD:
        match = _DFD_FAKE.match(stem)
        return (f"actors/{match['target']}__{match['scene']}", True) if match else (None, False)
    match = _PAIR.match(stem)
    if match is None:
        return None, False
    pair = frozenset((match["target"], match["source"]))
    return split.group(match["target"]), selection.split == "all" or pair in split.pairs


def _ffpp_missing(src: Path, selection: Selection, split: _FfppSplit, skipped: list[Skipped]) -> list[Skipped]:
    """Listed videos of the split that are absent (folders already reported missing are left out)."""
    absent = {s.relative for s in skipped if s.reason == "missing folder"}
    c = selection.compression
    expected = [(f"{FFPP_ORIGINALS}/youtube/{c}/videos", "real", sorted(split.ids), "")]
    ordered = sorted(tuple(sorted(pair)) for pair in split.pairs)
    stems = sorted(f"{a}_{b}" for first, second in ordered for a, b in ((first, second), (second, first)))
    expected += [(f"{FFPP_MANIPULATED}/{m}/{c}/videos", "fake", stems, m) for m in selection.methods if m != DFD]
    present = _present_stems(src, expected)
    missing = []
    for folder, label, stems, method in expected:
        if folder in absent:
            continue
        for stem in stems:
            if f"{folder}/{stem}" not in present:
                what = method or "original"
                missing.append(Skipped(f"{folder}/{stem}.mp4", label, "missing file",
                                       f"listed in the FaceForensics++ {selection.split} split ({what})"))
    return missing


def _present_stems(src: Path, expected: Iterable[tuple[str, str, list[str], str]]) -> set[str]:
    """``folder/stem`` of every file in the expected folders (whatever its suffix), so a listed
    video stored as ``.avi`` is not reported missing."""
    present = set()
    for folder, *_ in expected:
        if (src / folder).is_dir():
            present |= {f"{folder}/{p.stem}" for p in (src / folder).iterdir() if p.is_file()}
    return present


# --- Celeb-DF v2 -------------------------------------------------------------------------


def read_celebdf_list(path: Path) -> dict[str, int]:
    """Read Celeb-DF's ``List_of_testing_videos.txt``: lines ``<1|0> <folder>/<file>``, **1 = REAL, 0 = FAKE**.

    Args:
        path: The list.

    Returns:
        ``"<folder>/<file>"`` → dfembed's label (0 REAL, 1 FAKE): the first column reversed.

    Raises:
        InputError: An unreadable file, or a line that is not ``1 path`` or ``0 path``; the message names the line.
    """
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read {path}: {err}") from err
    listed: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in ("0", "1"):
            raise InputError(f"{path}, line {number}: expected '1 <folder>/<file>' (real) or '0 ...' (fake), "
                             f"got {line.strip()!r}")
        listed[parts[1].replace("\\", "/")] = REAL if parts[0] == "1" else FAKE
    if not listed:
        raise InputError(f"{path} lists no video")
    return listed


def _listed(src: Path, folder: Path, label: str, skipped: list[Skipped]) -> list[tuple[Path, str]]:
    """The files below one of a data set's folders by the listing policy (:mod:`dfembed.core.walk`).

    Returns ``(path, path relative to SRC)`` pairs; what the listing skips (broken or looping
    links, hidden entries, …) is appended to ``skipped``.
    """
    if not folder.is_dir():
        return []
    prefix = folder.relative_to(src).as_posix()
    walk = walk_files(folder)
    skipped += [Skipped(f"{prefix}/{e.relative}", label, e.reason, e.detail) for e in walk.skipped]
    return [(e.path, f"{prefix}/{e.relative}") for e in walk.files]


def _celebdf(src: Path, selection: Selection) -> tuple[list[Source], list[Skipped]]:
    if selection.split == "val":
        raise ConfigError("Celeb-DF v2 has no validation list: use --split test, train or all")
    listed = _celebdf_list(src, selection.split)
    sources: list[Source] = []
    skipped: list[Skipped] = []
    for folder, label in CELEBDF_FOLDERS.items():
        for path, relative in _listed(src, src / folder, label, skipped):
            if not is_media(path):
                skipped.append(Skipped(relative, label, "not a media file", f"suffix {path.suffix!r} is not supported"))
                continue
            key = f"{folder}/{path.name}"
            _check_listed_label(src, key, label, listed)
            if selection.split == "all" or (key in listed) == (selection.split == "test"):
                sources.append(Source(path, relative, label, celebdf_group(folder, path.stem),
                                      CELEBDF_FAKES if label == "fake" else ""))
    keys = {f"{Path(s.relative).parts[0]}/{s.path.name}" for s in sources}
    if selection.split in ("test", "all"):
        skipped += [Skipped(key, "real" if lab == REAL else "fake", "missing file", f"listed in {CELEBDF_TEST_LIST}")
                    for key, lab in sorted(listed.items()) if key not in keys]
    return sources, skipped


def _celebdf_list(src: Path, split: str) -> dict[str, int]:
    path = src / CELEBDF_TEST_LIST
    if path.is_file():
        return read_celebdf_list(path)
    if split in ("test", "train"):
        raise InputError(f"{path} is missing: Celeb-DF's {split} split is defined by it (use --split all without it)")
    return {}


def _check_listed_label(src: Path, key: str, label: str, listed: dict[str, int]) -> None:
    if key in listed and listed[key] != (REAL if label == "real" else FAKE):
        said = "1 (real)" if listed[key] == REAL else "0 (fake)"
        raise InputError(f"{src / CELEBDF_TEST_LIST} lists {key} as {said}, but its folder holds {label} videos")


def celebdf_group(folder: str, stem: str) -> str:
    """The group of a Celeb-DF video: a fake's target video (``Celeb-real/id<t>_<scene>``), else itself."""
    match = _CELEB_FAKE.match(stem) if folder == CELEBDF_FAKES else None
    if match:
        return f"Celeb-real/{match['target']}_{match['scene']}"
    return f"{folder}/{stem}"
