"""Listing the files below an input folder (SRC, TEST, DATA): one policy for every stage.

* **Links** to files and to folders are followed, so a tree assembled from links is
  read whole. Each real folder is walked once, through its shortest path (a real folder
  before a link beside it, then in alphabetical order): a link back to a folder above it
  (a loop) or to a folder already walked through another path is skipped and reported.
* **Skipped entries are reported**, never dropped in silence: a link whose target is
  missing (``broken link``), a loop (``link loop``), a second path to a folder already
  listed (``folder already listed``), a folder that cannot be read (``unreadable
  folder``), a FIFO, socket or device (``not a regular file``), and anything whose name
  starts with a dot (``hidden``: a hidden folder is one entry, its content is not read).
* **Names that are not valid UTF-8** are kept: :attr:`Entry.path` is the real path, and
  :attr:`Entry.relative` is printable text with each undecodable byte written as ``\\xNN``
  (what reports and CSV files show; see :func:`printable`).

Entries are sorted by their relative path, so the order does not depend on the file system.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

BROKEN_LINK = "broken link"
LINK_LOOP = "link loop"
ALREADY_LISTED = "folder already listed"
UNREADABLE_FOLDER = "unreadable folder"
NOT_REGULAR = "not a regular file"
HIDDEN = "hidden"


@dataclass(frozen=True)
class Entry:
    """A regular file below the walked folder.

    Attributes:
        path: The file, through the links it was reached by (``root/real/linked/x.jpg``).
        relative: Its path relative to the folder, ``/``-separated, printable (:func:`printable`).
    """

    path: Path
    relative: str


@dataclass(frozen=True)
class SkippedEntry:
    """An entry that gives no file, and why.

    Attributes:
        relative: Its path relative to the walked folder (printable).
        reason: One of the reasons in the module docstring.
        detail: Where a link leads, or the operating system's message.
    """

    relative: str
    reason: str
    detail: str = ""


@dataclass
class Walk:
    """What :func:`walk_files` found: the files, and every entry it skipped."""

    files: list[Entry] = field(default_factory=list)
    skipped: list[SkippedEntry] = field(default_factory=list)


def printable(text: str) -> str:
    """``text`` with the undecodable bytes of a file name (surrogate escapes) written as ``\\xNN``.

    File names on Linux are bytes; Python decodes the ones that are not UTF-8 with
    surrogate escapes, which cannot be written to a UTF-8 file or given to OpenCV. Other
    lone surrogates (a JSON file can hold them) are written as ``\\udNNN``.
    """
    try:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def is_printable(text: str) -> bool:
    """Whether ``text`` is valid UTF-8 as it is (no surrogate escapes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def walk_files(root: str | os.PathLike[str]) -> Walk:
    """List the regular files below ``root`` by the policy of the module docstring.

    Args:
        root: The folder (itself possibly a link).

    Returns:
        The files and the skipped entries, each sorted by relative path.
    """
    root = Path(root)
    walk = Walk()
    walked = {_real(root): ""}
    queue: deque[tuple[Path, tuple[str, ...], frozenset[str]]] = deque([(root, (), frozenset({_real(root)}))])
    while queue:  # breadth first: a folder is walked through its shortest path
        folder, parts, ancestors = queue.popleft()
        for entry in _entries(folder, parts, walk):
            _visit(folder, entry, parts, ancestors, walked, queue, walk)
    walk.files.sort(key=lambda e: e.relative)
    walk.skipped.sort(key=lambda s: s.relative)
    return walk


def _real(path: Path) -> str:
    return os.path.realpath(path)


def _entries(folder: Path, parts: tuple[str, ...], walk: Walk) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return sorted(entries, key=lambda e: (e.is_symlink(), e.name))  # real folders first
    except OSError as err:
        if not parts:
            raise
        walk.skipped.append(SkippedEntry(_relative(parts), UNREADABLE_FOLDER, err.strerror or str(err)))
        return []


def _visit(
    folder: Path,
    entry: os.DirEntry[str],
    parts: tuple[str, ...],
    ancestors: frozenset[str],
    walked: dict[str, str],
    queue: deque[tuple[Path, tuple[str, ...], frozenset[str]]],
    walk: Walk,
) -> None:
    """Classify one directory entry: a file, a folder to walk, or a skipped entry."""
    child_parts = (*parts, entry.name)
    relative = _relative(child_parts)
    path = folder / entry.name
    if entry.name.startswith("."):
        walk.skipped.append(SkippedEntry(relative, HIDDEN, "its name starts with '.'"))
        return
    kind, detail = _kind(path)
    link = f"links to {printable(os.readlink(path))}" if entry.is_symlink() else ""
    if kind is None:
        walk.skipped.append(SkippedEntry(relative, BROKEN_LINK, ", ".join(filter(None, (link, detail)))))
    elif kind == "dir":
        real = _real(path)
        if real in ancestors:
            walk.skipped.append(SkippedEntry(relative, LINK_LOOP, f"{link}, a folder above it"))
        elif real in walked:
            walk.skipped.append(SkippedEntry(relative, ALREADY_LISTED, f"{link}, listed as {walked[real] or '.'}"))
        else:
            walked[real] = relative
            queue.append((path, child_parts, ancestors | {real}))
    elif kind == "file":
        walk.files.append(Entry(path, relative))
    else:
        walk.skipped.append(SkippedEntry(relative, NOT_REGULAR, f"a {kind}" + (f" ({detail})" if detail else "")))


def _kind(path: Path) -> tuple[str | None, str]:
    """``("dir" | "file" | another kind's name, detail)``, or ``(None, detail)`` for a missing target."""
    try:
        mode = os.stat(path).st_mode  # follows links
    except FileNotFoundError:
        return None, "its target does not exist"
    except OSError as err:
        if err.errno == errno.ELOOP:
            return None, "the link chain loops"
        return "file that cannot be examined", err.strerror or str(err)
    if stat.S_ISDIR(mode):
        return "dir", ""
    if stat.S_ISREG(mode):
        return "file", ""
    names = {stat.S_ISFIFO: "FIFO", stat.S_ISSOCK: "socket", stat.S_ISCHR: "device", stat.S_ISBLK: "device"}
    return next((name for test, name in names.items() if test(mode)), "special file"), ""


def _relative(parts: tuple[str, ...]) -> str:
    return printable("/".join(parts))
