"""Which existing files a command may replace: only those it can prove it wrote.

The one ownership rule of every output:

1. **Before any work, outputs are checked against inputs** (:func:`check_apart`): an
   output may not be an input file, an existing file inside an input folder (that file is
   part of the input), or a folder that holds an input — so ``--output TEST/img.png`` or a
   gallery written over one of its crops is refused whatever the flags. A new file inside
   an input folder is allowed.
2. **A file in the way is replaced only with ``--force`` and only when dfembed wrote it**
   (:func:`check_replaceable`): the record a command writes beside its outputs names each
   output with its SHA-256, and the file on disk must still have that hash. A file that no
   record names, or whose content changed since, is a user's file: it is refused with one
   line, ``--force`` or not.

Records name their outputs as ``{"files": {path: {"sha256": ..., ...}}}`` (see
:func:`owned_files`); a relative path is relative to the record's folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from dfembed.core.errors import ConfigError, OutputExistsError
from dfembed.core.provenance import file_sha256

#: How many paths a refusal names before "and N more".
_SHOWN = 3


def owned_files(record: str | os.PathLike[str], key: str = "files") -> dict[Path, str]:
    """The files a record says its command wrote, with their SHA-256.

    Args:
        record: A JSON record with a ``key`` mapping of relative path → ``{"sha256": hex}``
            (or → hex). A missing, unreadable or malformed record owns nothing.
        key: The record's key of that mapping.

    Returns:
        Absolute path (the record's folder joined with the relative path) → SHA-256.
    """
    record = Path(record)
    try:
        files = json.loads(record.read_text(encoding="utf-8")).get(key, {})
    except (OSError, UnicodeDecodeError, ValueError, AttributeError, RecursionError):
        return {}
    owned = {}
    for name, entry in files.items() if isinstance(files, dict) else ():
        digest = entry.get("sha256") if isinstance(entry, dict) else entry
        if isinstance(name, str) and isinstance(digest, str):
            # a claim costs nothing to forge, but proves nothing either: a file is owned only while its
            # content has this SHA-256, and only a command's own output paths are ever checked against it
            owned[Path(os.path.normpath((record.parent / name).absolute()))] = digest
    return owned


def owned_with_record(record: str | os.PathLike[str], key: str = "files") -> dict[Path, str]:
    """:func:`owned_files`, plus the record itself when it names any file: a command that writes its record
    next to its outputs (not inside the mapping) may replace that record along with them."""
    record = Path(record)
    owned = owned_files(record, key)
    if owned and record.is_file() and not record.is_symlink():
        owned[Path(os.path.normpath(record.absolute()))] = file_sha256(record)
    return owned


def record_beside(output: str | os.PathLike[str], stage: str) -> Path:
    """The record of a one-file output: ``<stem>.dfembed-<stage>.json`` beside it."""
    output = Path(output)
    return output.with_name(f"{output.stem}.dfembed-{stage}.json")


def file_entry(path: str | os.PathLike[str]) -> dict[str, object]:
    """What a record says of one output it wrote: its SHA-256 and size."""
    return {"sha256": file_sha256(path), "bytes": Path(path).stat().st_size}


def foreign_files(paths: Iterable[str | os.PathLike[str]], owned: Mapping[Path, str]) -> list[Path]:
    """The existing ``paths`` that ``owned`` does not name with their current content."""
    foreign = []
    for path in map(Path, paths):
        if not (path.exists() or path.is_symlink()):
            continue
        digest = owned.get(Path(os.path.normpath(path.absolute())))
        if path.is_symlink() or not path.is_file() or digest is None or file_sha256(path) != digest:
            foreign.append(path)
    return foreign


def check_replaceable(paths: Iterable[str | os.PathLike[str]], owned: Mapping[Path, str], force: bool,
                      hint: str = "") -> None:
    """Refuse to replace existing outputs, unless ``force`` and a record proves dfembed wrote them.

    Args:
        paths: The files a command is about to write (or delete).
        owned: What the command's records say it wrote (:func:`owned_files`).
        force: ``--force`` was given.
        hint: Another way out, appended to the message (``"or --output to choose another file"``).

    Raises:
        OutputExistsError: An existing path without ``force``; or, with it, a path that no
            record names with its current content (a user's file).
    """
    paths = [Path(p) for p in paths]
    existing = [p for p in paths if p.exists() or p.is_symlink()]
    if not existing:
        return
    if not force:
        verb, pronoun = ("exists", "it") if len(existing) == 1 else ("exist", "them")
        raise OutputExistsError(f"{_names(existing)} {verb}; use --force to replace {pronoun}"
                                + (f" {hint}" if hint else ""))
    foreign = foreign_files(existing, owned)
    if foreign:
        raise OutputExistsError(
            f"{_names(foreign)}: not written by dfembed (no record beside it names this content), so it is not "
            f"replaced, --force or not; move it away or choose another output")


def check_apart(outputs: Mapping[str, str | os.PathLike[str] | None],
                inputs: Mapping[str, str | os.PathLike[str] | None]) -> None:
    """Refuse an output that is an input, an existing file of an input folder, or a folder holding an input.

    Args:
        outputs: Name as the user knows it (``"--output"``) → file or folder the command writes.
        inputs: Name → file or folder it reads; ``None`` entries are ignored.

    Raises:
        ConfigError: The first overlap, naming both paths.
    """
    for out_name, out_value in outputs.items():
        if out_value is None or str(out_value) == "-":
            continue
        out = Path(out_value).resolve()
        for in_name, in_value in inputs.items():
            if in_value is None:
                continue
            given = Path(in_value)
            inp = given.resolve()
            member = given.is_dir() and out.is_relative_to(inp) and Path(out_value).exists()
            if out == inp or member or inp.is_relative_to(out):
                raise ConfigError(f"{out_name} {out_value} overlaps {in_name} {in_value}: an output must not be an "
                                  "input, a file of an input folder or a folder holding an input; choose another "
                                  "output")


def _names(paths: list[Path]) -> str:
    shown = ", ".join(str(p) for p in paths[:_SHOWN])
    return shown + (f" and {len(paths) - _SHOWN} more" if len(paths) > _SHOWN else "")
