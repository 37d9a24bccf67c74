"""An exclusive lock on a job's output, so that two jobs never write one output at once.

The lock is a small hidden file beside or inside the output, held with ``flock``: the
kernel releases it when the holding process ends, however it ends (``kill -9`` too), so
the lock of a dead process is free and the next job takes it over — with a warning that
names the job that left it. While held, the file records the holder (process id, host,
start time and command) so that a second job fails at once with a message naming it::

    with OutputLock(dst / ".dfembed-crop.lock", f"DST {dst}"):
        ...  # only one job at a time gets here

A job that ends normally deletes the file. On a file system without locks (some network
mounts) the job goes on with a warning that it is not protected.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import logging
import os
import socket
import sys
from pathlib import Path
from types import TracebackType

from dfembed.core.errors import LockedError

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL}


def lock_file_beside(target: Path) -> Path:
    """The lock file of an output file: ``.<name>.dfembed-lock`` in the same folder."""
    return target.with_name(f".{target.name}.dfembed-lock")


class OutputLock:
    """An exclusive, non-blocking lock held through a lock file (a context manager).

    Args:
        path: The lock file (created if needed; its folder must exist).
        what: How messages call the locked output (``"DST /data/crops"``).
    """

    def __init__(self, path: str | os.PathLike[str], what: str) -> None:
        self.path = Path(path)
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> OutputLock:
        """Take the lock, or fail at once.

        Returns:
            ``self``.

        Raises:
            LockedError: Another process holds it; the message names that process.
        """
        if fcntl is None:
            log.warning("no file locks on this platform: %s is not protected against a concurrent job", self.what)
            return self
        fd = self._open_locked()
        if fd is None:
            return self
        previous = _read_record(fd)
        if previous:
            log.warning("%s: taking over the lock left by %s, which ended without releasing it",
                        self.what, _describe(previous))
        self._fd = fd
        try:
            _write_record(fd)
        except OSError as err:  # a full disk: give the lock back, name the file
            self.release()
            raise OSError(err.errno, err.strerror or str(err), str(self.path)) from err
        return self

    def _open_locked(self) -> int | None:
        """Open and lock the file that is at ``path`` now (retrying if it was replaced meanwhile)."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_record(fd)
                os.close(fd)
                raise LockedError(
                    f"{self.what} is in use by another dfembed job ({_describe(holder)}); "
                    f"wait for it to finish or stop it (lock file {self.path})"
                ) from None
            except OSError as err:
                os.close(fd)
                if err.errno not in _NO_LOCKS:
                    raise
                log.warning("cannot lock %s (%s): %s is not protected against a concurrent job",
                            self.path, err.strerror, self.what)
                return None
            if _is_current(fd, self.path):
                return fd
            os.close(fd)  # the holder deleted the file between our open and our lock: try again

    def release(self) -> None:
        """Delete the lock file and release the lock (nothing when not held)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.release()


def _is_current(fd: int, path: Path) -> bool:
    try:
        now = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino)


def _read_record(fd: int) -> dict[str, object]:
    """The holder record in the lock file (``{}`` when empty or unreadable)."""
    try:
        data = os.pread(fd, 65536, 0)
        record = json.loads(data.decode("utf-8")) if data.strip() else {}
    except (OSError, ValueError, RecursionError):
        return {}
    return record if isinstance(record, dict) else {}


def _write_record(fd: int) -> None:
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
    }
    data = json.dumps(record).encode("utf-8") + b"\n"
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.fsync(fd)


def _describe(record: dict[str, object]) -> str:
    if not record:
        return "a process that has not said who it is yet"
    text = f"pid {record.get('pid')} on {record.get('host')}, started {record.get('started')}"
    command = str(record.get("command") or "")
    return f"{text}: {command[:200]}" if command else text
