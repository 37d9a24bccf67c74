"""Atomic file output: write to a temporary name beside the target, then rename.

A job killed at any moment therefore leaves either the old file or the complete new
one, never a half-written file. Temporary files carry the ``.dfembed-tmp`` marker so
that a rerun can remove leftovers of a killed run (:func:`remove_stale_temps`). An
``OSError`` while writing (a full disk, a read-only folder) always names the target.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from dfembed.core.errors import OutputExistsError
from dfembed.core.paths import remove_inside

TEMP_MARKER = ".dfembed-tmp"


@functools.cache
def _umask() -> int:
    """Return the process umask, read once: reading it means setting it, which must not
    race with threads creating files, so it happens on the first atomic write only."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    The temporary file keeps the target's suffix (so libraries that pick a format by
    extension, such as OpenCV or Keras, still work) and is removed if the block raises.

    Args:
        target: Final path of the file.
        suffix: Ending the temporary name must keep, when the library checks more than
            the last suffix (Keras wants ``.weights.h5``); default ``target.suffix``.

    Yields:
        The temporary path to write to.

    Raises:
        OSError: Creating, writing or renaming failed; ``filename`` is ``target`` when the
            failing call did not name a file itself (a full disk while writing).
    """
    target = Path(target)
    suffix = target.suffix if suffix is None else suffix
    if not target.name.endswith(suffix):
        raise ValueError(f"{target} does not end with {suffix!r}")
    with _naming(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name.removesuffix(suffix)}.", suffix=f"{TEMP_MARKER}{suffix}", dir=target.parent
        )
        os.close(fd)
    tmp = Path(tmp_name)
    try:
        with _naming(target):
            yield tmp
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes owner-only files; match open()
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def _naming(target: Path) -> Iterator[None]:
    """Give an ``OSError`` of the block that names no file the name ``target``."""
    try:
        yield
    except OSError as err:
        if err.filename is None:
            raise OSError(err.errno, err.strerror or str(err), str(target)) from err
        raise


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically, flushed to disk.

    Args:
        target: Final path of the file.
        data: The whole content.

    Returns:
        ``target`` as a :class:`~pathlib.Path`.
    """
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    return Path(target)


def atomic_write_text(target: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically; see :func:`atomic_write_bytes`."""
    return atomic_write_bytes(target, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a new temporary folder beside ``target``; on success it becomes ``target``.

    An existing ``target`` is first renamed aside, then deleted once the new folder is in
    place, so a reader sees the old folder or the complete new one; a job killed between
    the two renames leaves the old folder under a hidden ``.dfembed-tmp`` name, not lost.
    Whether an existing ``target`` may be replaced is the caller's decision.

    Args:
        target: Final path of the folder.

    Yields:
        The temporary folder to fill (removed with its content if the block raises).

    Raises:
        OSError: Creating or renaming failed; ``filename`` names ``target`` when the
            failing call named no file itself.
    """
    target = Path(target)
    with _naming(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=TEMP_MARKER, dir=target.parent))
    try:
        with _naming(target):
            yield tmp
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes owner-only folders; match mkdir()
            _swap_in(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _swap_in(new: Path, target: Path) -> None:
    """Rename ``new`` to ``target``, moving an existing ``target`` aside first and deleting it after."""
    if not (target.exists() or target.is_symlink()):
        os.replace(new, target)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", suffix=TEMP_MARKER, dir=target.parent))
    os.replace(target, aside / target.name)
    try:
        os.replace(new, target)
    except OSError:
        os.replace(aside / target.name, target)  # put the old folder back
        aside.rmdir()
        raise
    shutil.rmtree(aside, ignore_errors=True)


def remove_stale_temps(folder: str | os.PathLike[str]) -> int:
    """Delete temporary files left below ``folder`` by a killed run.

    Args:
        folder: Output folder to clean.

    Returns:
        The number of files removed.
    """
    removed = 0
    for path in Path(folder).rglob(f"*{TEMP_MARKER}*"):
        if path.is_file() and remove_inside(path, folder):
            removed += 1
    return removed


def refuse_existing(paths: Iterable[str | os.PathLike[str]], force: bool, hint: str = "") -> None:
    """Refuse to replace existing outputs unless ``force``: the one "exists" check of every stage.

    Args:
        paths: The outputs a command is about to write.
        force: Replacing them was asked for (``--force``).
        hint: A further way out, appended to the message (``"or --output to choose another file"``).

    Raises:
        OutputExistsError: Some of ``paths`` exist and ``force`` is false; the message names them.
    """
    existing = [Path(p) for p in paths if Path(p).exists() or Path(p).is_symlink()]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        verb = "exists" if len(existing) == 1 else "exist"
        pronoun = "it" if len(existing) == 1 else "them"
        raise OutputExistsError(f"{names} {verb}; use --force to replace {pronoun}" + (f" {hint}" if hint else ""))
