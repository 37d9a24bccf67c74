"""Logging set-up for the command-line tools, and TensorFlow's start-up noise."""

from __future__ import annotations

import logging
import os
import warnings

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Configure the root logger for a command-line run.

    Args:
        verbose: 0 for INFO, 1 or more for DEBUG.
        quiet: Only warnings and errors (wins over ``verbose``).
    """
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    logging.basicConfig(level=level, format=_FORMAT, datefmt="%H:%M:%S", force=True)
    logging.getLogger("dfembed").setLevel(level)
    silence_tensorflow()


def silence_tensorflow() -> None:
    """Hide TensorFlow's informational start-up chatter, keeping its warnings and errors.

    Called by the command-line tools before TensorFlow is imported; library code never
    calls it, so an importing program keeps control of its own environment.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # 1 hides INFO only, not WARNING/ERROR
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    for name in ("tensorflow", "absl", "h5py"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*np\.find_common_type.*")
