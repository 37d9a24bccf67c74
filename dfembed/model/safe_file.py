"""The safe classifier file's format: its name, writing it, and reading and checking it without pickle.

The file (``svm.npz`` beside ``svm.pkl``, see :mod:`dfembed.model.safe_bundle` for why and
what it holds) is written by :func:`~dfembed.model.classifier.save_bundle` and read by
:func:`~dfembed.model.safe_bundle.read_safe_bundle`; both use this module, which knows the
bundle only by its attributes and so imports neither of them.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dfembed.core.atomic import atomic_path
from dfembed.core.errors import ConfigError, InputError
from dfembed.core.provenance import library_versions
from dfembed.model.names import backbone_key
from dfembed.model.svm_params import CalibratedSVMParams

log = logging.getLogger(__name__)

SAFE_SUFFIX = ".npz"
FORMAT = "dfembed-classifier"
FORMAT_VERSION = 1
#: Larger files are refused before reading (support vectors of a very large training set fit).
MAX_BYTES = 8 << 30
_CHUNK = 1 << 20
_PARSE_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, TypeError, KeyError,
                 IndexError, struct.error, NotImplementedError, RuntimeError, OverflowError, MemoryError)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's content, as hex.

    Raises:
        InputError: The file cannot be read.
    """
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from err
    return digest.hexdigest()


def safe_path(classifier: str | os.PathLike[str]) -> Path:
    """The safe classifier file of ``OUT_PKL``: the same name ending in ``.npz``."""
    path = Path(classifier)
    return path if path.suffix == SAFE_SUFFIX else path.with_suffix(SAFE_SUFFIX)


def write_safe_bundle(
    bundle: Any, path: str | os.PathLike[str], models: Mapping[str, str | os.PathLike[str]],
    pickle_file: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the safe classifier file of a bundle, atomically.

    Args:
        bundle: A :class:`~dfembed.model.classifier.ClassifierBundle` with a fitted classifier.
        path: Target ``.npz`` file.
        models: Name → model file the classifier belongs to (their SHA-256 is recorded; an
            empty mapping records none, and loading then warns).
        pickle_file: The bundle's pickle, whose SHA-256 is recorded too.

    Returns:
        The written path.
    """
    params = bundle.classifier if isinstance(bundle.classifier, CalibratedSVMParams) else \
        CalibratedSVMParams.from_estimator(bundle.classifier)
    arrays = params.to_arrays()
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "kernel": params.kernel,
        "embedding_dim": int(bundle.embedding_dim), "backbone": str(bundle.backbone),
        "image_size": int(bundle.image_size), "class_mapping": {k: int(v) for k, v in bundle.class_mapping.items()},
        "crop_config": bundle.crop_config, "detector": getattr(bundle, "detector", None),
        "train_config": bundle.train_config, "versions": dict(bundle.versions or library_versions()),
        "model_sha256": {Path(p).name: sha256_file(p) for p in models.values()},
        "pickle_sha256": sha256_file(pickle_file) if pickle_file is not None else None,
    }
    meta["payload_sha256"] = payload_digest(meta, arrays)
    members = {"meta": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8), **arrays}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **members)
            handle.flush()
            os.fsync(handle.fileno())
    log.info("saved the safe classifier file %s", path)
    return Path(path)


def payload_digest(meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> str:
    """The SHA-256 of a safe file's content: its meta data without ``payload_sha256``, canonical, and each array."""
    digest = hashlib.sha256()
    content = {k: v for k, v in meta.items() if k != "payload_sha256"}
    digest.update(json.dumps(content, sort_keys=True, separators=(",", ":")).encode("utf-8"))
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"\n{name}:{array.dtype.str}:{array.shape}\n".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


# --- reading ---------------------------------------------------------------------------


def read_safe_file(path: Path) -> tuple[dict[str, Any], CalibratedSVMParams]:
    """Read a safe classifier file's meta data and fitted parameters, checking its format, digest and values.

    Args:
        path: The ``.npz`` file.

    Returns:
        ``(meta, params)``: the meta data (without ``payload_sha256``) and the SVM's parameters.

    Raises:
        InputError: The file is missing, too large, not a dfembed classifier file, damaged
            (its digest differs) or holds values of the wrong kind; the message names it.
    """
    members = _read_members(path)
    meta = _read_meta(path, members.pop("meta", None))
    if meta.pop("payload_sha256") != payload_digest(meta, members):
        raise InputError(f"classifier file {path} is damaged: its content does not match its recorded SHA-256; "
                         "restore it or train again")
    try:
        params = CalibratedSVMParams.from_arrays(meta["kernel"], members)
    except InputError as err:
        raise InputError(f"classifier file {path}: {err}") from err
    return meta, params


def _read_members(path: Path) -> dict[str, np.ndarray]:
    """Every ``.npy`` member of the zip, parsed without pickle, after size checks."""
    try:
        size = path.stat().st_size
    except OSError as err:
        raise InputError(f"classifier file {path} cannot be read: {err.strerror or err}") from err
    if size > MAX_BYTES:
        raise InputError(f"classifier file {path} is {size} bytes, more than a classifier file can be")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = _checked_infos(path, archive)
            return {info.filename.removesuffix(".npy"): _read_npy(archive, info) for info in infos}
    except InputError:
        raise
    except _PARSE_ERRORS as err:
        raise InputError(f"classifier file {path} is not a readable .npz classifier file (damaged?): "
                         f"{type(err).__name__}: {str(err)[:200]}") from err


def _checked_infos(path: Path, archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    infos = archive.infolist()
    names = [info.filename for info in infos]
    if len(set(names)) != len(names) or not all(name.endswith(".npy") for name in names):
        raise InputError(f"classifier file {path}: unexpected members {names[:10]}")
    if any(info.compress_type != zipfile.ZIP_STORED for info in infos):
        raise InputError(f"classifier file {path}: compressed members; dfembed writes them uncompressed")
    if sum(info.file_size for info in infos) > MAX_BYTES:
        raise InputError(f"classifier file {path}: its members are larger than a classifier file can be")
    return infos


def _read_npy(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    data = archive.read(info)  # checks the member's CRC-32
    array = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
    if array.dtype.hasobject:
        raise ValueError(f"member {info.filename} holds Python objects")
    return array


def _read_meta(path: Path, raw: np.ndarray | None) -> dict[str, Any]:
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise InputError(f"classifier file {path} is not a dfembed classifier file (no meta member)")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise InputError(f"classifier file {path}: its meta data is not valid JSON ({str(err)[:200]})") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(f"classifier file {path} is not a dfembed classifier file")
    if not isinstance(meta.get("format_version"), int) or meta["format_version"] > FORMAT_VERSION:
        raise InputError(f"classifier file {path} has format {meta.get('format_version')!r}; "
                         f"this dfembed reads up to {FORMAT_VERSION}")
    _check_meta_types(path, meta)
    return meta


def _check_meta_types(path: Path, meta: dict[str, Any]) -> None:
    checks = {
        "payload_sha256": isinstance(meta.get("payload_sha256"), str),
        "kernel": isinstance(meta.get("kernel"), str),
        "embedding_dim": _is_int(meta.get("embedding_dim")) and meta["embedding_dim"] >= 1,
        "image_size": _is_int(meta.get("image_size")) and meta["image_size"] >= 1,
        "backbone": isinstance(meta.get("backbone"), str) and backbone_key_or_none(meta["backbone"]) is not None,
        "class_mapping": isinstance(meta.get("class_mapping"), dict) and set(meta["class_mapping"]) == {"real", "fake"}
        and all(_is_int(v) for v in meta["class_mapping"].values()),
        "crop_config": meta.get("crop_config") is None or isinstance(meta.get("crop_config"), dict),
        "detector": meta.get("detector") is None or isinstance(meta.get("detector"), dict),
        "train_config": isinstance(meta.get("train_config"), dict),
        "versions": isinstance(meta.get("versions"), dict),
        "model_sha256": isinstance(meta.get("model_sha256"), dict)
        and all(isinstance(v, str) for v in meta["model_sha256"].values()),
    }
    wrong = [name for name, ok in checks.items() if not ok]
    if wrong:
        raise InputError(f"classifier file {path}: missing or invalid {', '.join(wrong)}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def backbone_key_or_none(name: str) -> str | None:
    """The backbone key of ``name`` (``"b0"``…), ``None`` when it names no known backbone."""
    try:
        return backbone_key(name)
    except ConfigError:
        return None
