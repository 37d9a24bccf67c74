"""Where a command may write and delete, checked once for every stage before any work.

* :func:`contained` / :func:`check_inside` / :func:`remove_inside`: one containment rule
  for writing and deleting. A write (temporary file, then rename) and a deletion (unlink)
  act on a path's last component itself and never follow it, so what matters is where
  the path's *folder* really is once links are resolved: a link to a folder outside the
  output (``DST/real -> /data/real``) puts everything below it outside.
* :func:`check_separate`: two folders of which neither may contain the other (SRC and DST).
* :func:`check_distinct`: a command's outputs are different files from each other and
  from its inputs (links resolved; hard links and other aliases of one file caught by
  device and inode), so ``train.py DATA m.h5 m.h5`` fails before training, not after.
* :func:`check_writable`: an output folder can be created and written to, and its disk
  is not full, before the work starts.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from dfembed.core.errors import ConfigError, InputError, OutputError

log = logging.getLogger(__name__)

#: Free space below which an output folder counts as full (a submission CSV needs less).
MIN_FREE_BYTES = 1 << 20


def contained(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> bool:
    """Whether writing or deleting ``path`` stays inside ``root``.

    Args:
        path: A file to be written (it may not exist yet) or deleted.
        root: The folder the command owns (DST, a run folder).

    Returns:
        True when ``path``'s folder, with every link resolved, lies inside ``root`` (also
        resolved); the last component is not followed, as neither rename nor unlink follows it.
    """
    path = Path(path)
    if path.name in ("", ".", ".."):
        return False
    return (path.parent.resolve() / path.name).is_relative_to(Path(root).resolve())


def check_inside(path: str | os.PathLike[str], root: str | os.PathLike[str], what: str = "output") -> None:
    """Refuse a path that :func:`contained` puts outside ``root``.

    Raises:
        InputError: The path would leave ``root``; the message names both and where it leads.
    """
    if not contained(path, root):
        leads = Path(path).parent.resolve()
        raise InputError(f"{what} {path} would be written outside {root} (its folder leads to {leads})")


def remove_inside(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> bool:
    """Delete the file ``path`` (a link itself, never its target) when it lies inside ``root``.

    Args:
        path: The file to delete; a missing file is not an error.
        root: The folder the command owns.

    Returns:
        True when the file was deleted (or was already gone); False when it lies outside
        ``root`` and was left alone (logged as a warning).
    """
    if not contained(path, root):
        log.warning("not deleting %s: it lies outside %s (through a link)", path, root)
        return False
    Path(path).unlink(missing_ok=True)
    return True


def check_separate(first: Path, first_name: str, second: Path, second_name: str) -> None:
    """Refuse two folders of which one is, or is inside, the other (links resolved).

    Args:
        first: A folder (e.g. SRC).
        first_name: How the message calls it (``"SRC"``).
        second: The other folder (e.g. DST).
        second_name: How the message calls it (``"DST"``).

    Raises:
        InputError: The folders overlap; the message says which contains which.
    """
    a, b = Path(first).resolve(), Path(second).resolve()
    if a == b:
        raise InputError(f"{first_name} {first} and {second_name} {second} are the same folder ({a})")
    if b.is_relative_to(a):
        raise InputError(f"{second_name} {second} is inside {first_name} {first}; choose a folder outside it")
    if a.is_relative_to(b):
        raise InputError(f"{first_name} {first} is inside {second_name} {second}; choose a folder outside it")


def _identity(path: Path) -> tuple[object, ...]:
    """What makes two paths one file: device and inode when it exists, else the resolved path."""
    try:
        info = path.stat()
    except OSError:
        return ("path", str(path.resolve()))
    return ("inode", info.st_dev, info.st_ino)


def check_distinct(
    outputs: Mapping[str, str | os.PathLike[str] | None],
    inputs: Mapping[str, str | os.PathLike[str] | None] | None = None,
) -> None:
    """Refuse outputs that are one file, or that are one of the inputs.

    Args:
        outputs: Name (as the user knows it: ``"OUT_PKL"``) → file the command will write;
            ``None`` entries are ignored.
        inputs: Name → existing file or folder the command reads; ``None`` and missing
            entries are ignored.

    Raises:
        ConfigError: Two outputs resolve to the same file, or an output is an input.
    """
    seen: dict[tuple[object, ...], tuple[str, Path]] = {}
    for name, value in (inputs or {}).items():
        if value is not None and Path(value).exists():
            seen.setdefault(_identity(Path(value)), (name, Path(value)))
    input_keys = set(seen)
    for name, value in outputs.items():
        if value is None:
            continue
        path = Path(value)
        key = _identity(path)
        if key in seen:
            other, other_path = seen[key]
            kind = "the input" if key in input_keys else "the output"
            raise ConfigError(f"{name} {path} is the same file as {kind} {other} ({other_path}); "
                              "give each output its own file, different from the inputs")
        seen[key] = (name, path)


def check_writable(folder: str | os.PathLike[str], what: str = "output folder", keep: bool = True) -> Path:
    """Check that ``folder`` can be created, a file can be written in it and its disk has room.

    Args:
        folder: Where the command will write.
        what: How the message calls it.
        keep: Keep the folders this check created (``False``: remove them again, so that a
            command that fails later leaves no empty folder; its writes create them).

    Returns:
        The folder.

    Raises:
        OutputError: It cannot be created, is not writable, or has less than
            :data:`MIN_FREE_BYTES` free; the message names it and the reason.
    """
    folder = Path(folder)
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create {what} {folder}: {err.strerror or err}") from err
    try:
        _probe(folder, what)
    finally:
        if not keep:
            for path in created:  # deepest first
                path.rmdir()
    return folder


def _probe(folder: Path, what: str) -> None:
    try:
        handle, name = tempfile.mkstemp(prefix=".dfembed-write-test-", dir=folder)
        os.close(handle)
        os.unlink(name)
    except OSError as err:
        raise OutputError(f"cannot write to {what} {folder}: {err.strerror or err}") from err
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES:
        raise OutputError(f"{what} {folder} is on a full disk ({free} bytes free); free some space first")
