"""Worker processes that end with their parent, however the parent ends.

A pool's workers (``crop_face.py --jobs``; any later pool of worker processes) call
:func:`die_with_parent` first thing, so a ``kill -9`` of the main process does not leave
them running, each holding a detector or a model, with nobody to collect their work.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent: int, interval: float = 1.0) -> None:
    """Make this (worker) process end when the process ``parent`` ends, however it ends.

    On Linux the kernel sends SIGKILL at the parent's death (``PR_SET_PDEATHSIG``); on
    every system a daemon thread checks each ``interval`` seconds that the parent is still
    this process's parent, and exits otherwise. Without this, a ``kill -9`` of the main
    process left its workers running, each holding a detector, with nobody to collect
    their work.

    Args:
        parent: The process id of the parent (the caller's ``os.getppid()`` must match it).
        interval: Seconds between checks of the watchdog thread.
    """
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            log.debug("prctl(PR_SET_PDEATHSIG) is unavailable; the watchdog thread alone ends this worker")
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="dfembed-parent-watchdog", daemon=True).start()
