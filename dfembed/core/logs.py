"""Logging set-up for the command-line tools, and TensorFlow's start-up noise."""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading
import warnings

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Lines that TensorFlow's native code writes to stderr while it loads, before Python
# logging could filter them: informational lines ("I0000 ..."), absl's banner about
# logging before initialisation, the CPU-feature note, and warnings of ops that failed
# inside a graph whose error Python code caught and handled.
_NOISE = re.compile(
    rb"^(I\d{4} .*"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called.*"
    rb"|To enable the following instructions: .*"
    rb"|W\d{4} .*local_rendezvous\.cc.*"
    rb"|E\d{4} .*util\.cc.*oneDNN supports DT_\w+ only on platforms with AVX-512.*"
    rb")$"
)
# cuInit failing is an error on a GPU machine but noise where no NVIDIA device exists.
_NO_GPU_NOISE = re.compile(rb"^E\d{4} .*failed call to cuInit.*$")
_PREFIXES = (b"I0", b"I1", b"W0", b"W1", b"E0", b"E1", b"WARNING: All", b"To enable")
_installed = False


def setup_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Configure the root logger for a command-line run.

    Args:
        verbose: 0 for INFO, 1 or more for DEBUG (which also keeps TensorFlow's native
            start-up lines).
        quiet: Only warnings and errors (wins over ``verbose``).
    """
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    logging.basicConfig(level=level, format=_FORMAT, datefmt="%H:%M:%S", force=True)
    logging.getLogger("dfembed").setLevel(level)
    silence_tensorflow(native=not verbose)


def silence_tensorflow(native: bool = True) -> None:
    """Hide TensorFlow's informational start-up chatter, keeping its warnings and errors.

    Called by the command-line tools before TensorFlow is imported; library code never
    calls it, so an importing program keeps control of its own environment.

    Args:
        native: Also filter the lines that TensorFlow's C++ code writes to stderr at
            load time (see :func:`filter_native_stderr`).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # 1 hides INFO only, not WARNING/ERROR
    for name in ("tensorflow", "absl", "h5py"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*np\.find_common_type.*")
    if native:
        filter_native_stderr()


def filter_native_stderr() -> bool:
    """Route file descriptor 2 through a filter that drops TensorFlow's load-time noise.

    TensorFlow 2.21 writes its informational lines from C++ before absl logging is
    initialised, so ``TF_CPP_MIN_LOG_LEVEL`` no longer hides them. Every other line
    (warnings, errors, tracebacks, progress bars) passes through unchanged, partial
    lines immediately. Installed at most once per process, and only when ``sys.stderr``
    is the process's real stderr (not under a test runner's capture) and
    ``DFEMBED_RAW_STDERR`` is unset.

    Returns:
        True when the filter was installed by this call.
    """
    global _installed
    if _installed or os.environ.get("DFEMBED_RAW_STDERR") or sys.stderr is not sys.__stderr__:
        return False
    try:
        sys.stderr.flush()
        original = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
    except OSError:
        return False
    no_gpu = not os.path.exists("/dev/nvidia0")
    thread = threading.Thread(
        target=filter_lines, args=(read_end, original, no_gpu), name="stderr-filter", daemon=True
    )
    thread.start()
    atexit.register(_restore, original, thread)
    _installed = True
    return True


def _is_noise(line: bytes, no_gpu: bool) -> bool:
    body = line.rstrip(b"\r\n")
    return bool(_NOISE.match(body)) or (no_gpu and bool(_NO_GPU_NOISE.match(body)))


def filter_lines(read_end: int, out: int, no_gpu: bool) -> None:
    """Copy file descriptor ``read_end`` to ``out`` until end of file, dropping noise lines.

    What :func:`filter_native_stderr` runs on its thread. Partial lines pass at once
    unless they may still turn out to be noise; everything else passes byte for byte.

    Args:
        read_end: Descriptor to read (the pipe that fd 2 now writes into).
        out: Descriptor to write (the original stderr).
        no_gpu: Also drop the CUDA initialisation error (no NVIDIA device here).
    """
    pending = b""  # start of a line that might still turn out to be noise
    passing = False  # the current line was already judged and partly written
    while chunk := os.read(read_end, 65536):
        data = pending + chunk
        pending = b""
        lines = data.splitlines(keepends=True)
        for line in lines:
            complete = line.endswith(b"\n")
            if passing:
                os.write(out, line)
            elif complete:
                if not _is_noise(line, no_gpu):
                    os.write(out, line)
            elif line.startswith(_PREFIXES) or any(p.startswith(line) for p in _PREFIXES):
                pending = line
            else:
                os.write(out, line)
                passing = True
            if complete:
                passing = False
    if pending:
        os.write(out, pending)


def _restore(original: int, thread: threading.Thread) -> None:
    """At exit: flush, give fd 2 back, let the filter drain what is left."""
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os.dup2(original, 2)
    thread.join(timeout=2.0)
