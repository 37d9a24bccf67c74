"""The classifier file that cannot run code: ``svm.npz`` beside ``svm.pkl``.

``OUT_PKL`` stays a joblib pickle (what the original solution wrote), but loading a pickle
runs code stored in it, and a damaged pickle may even load and give other scores. So
``train.py`` also writes :func:`safe_path` (``svm.pkl`` → ``svm.npz``), and inference and
the gallery load that file and never unpickle: a pickle is loaded only with an explicit
``--trust-pickle`` (:func:`load_classifier`).

The safe file is an uncompressed NumPy ``.npz`` (a zip of ``.npy`` arrays), read with
``allow_pickle=False`` and size limits, so reading it runs no code whatever it holds:

* ``meta``: UTF-8 JSON (as ``uint8``): ``format``, ``format_version``, the bundle's fields
  (``embedding_dim``, ``backbone``, ``image_size``, ``class_mapping``, ``crop_config``,
  ``detector``, ``train_config``, ``versions``), ``kernel``, ``model_sha256`` (model file name → SHA-256
  of the model file(s) the classifier was fitted for), ``pickle_sha256`` (of ``svm.pkl``)
  and ``payload_sha256``;
* ``classes``, ``fold<k>_support_vectors``, ``fold<k>_dual_coef``, ``fold<k>_scalars``:
  the fitted parameters (:mod:`dfembed.model.svm_params`).

``payload_sha256`` is the SHA-256 of everything else (the JSON without it, canonical, and
each array's name, type, shape and bytes) and is checked at load, so a damaged file is an
error, never other scores. At load the model file given with it must have one of the
recorded SHA-256 digests. (The digests detect damage and mix-ups; they cannot prove who
wrote a file — anyone can write a consistent file, but it cannot run code.)
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
from dataclasses import dataclass, field
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
TRUST_PICKLE_HINT = (
    "loading a pickle runs the code stored in it, so dfembed loads one only with --trust-pickle, "
    "for a file you made or trust"
)


@dataclass(frozen=True)
class LoadedClassifier:
    """A classifier file as loaded for scoring.

    Attributes:
        bundle: The :class:`~dfembed.model.classifier.ClassifierBundle` (from the safe file,
            its classifier is a :class:`~dfembed.model.svm_params.CalibratedSVMParams`).
        path: The file that was read.
        safe: Whether it was the safe file (``False``: a pickle, loaded with ``--trust-pickle``).
        model_sha256: Model file name → SHA-256 of the models it was fitted for (empty when unknown).
    """

    bundle: Any
    path: Path
    safe: bool
    model_sha256: dict[str, str] = field(default_factory=dict)

    def check_model(self, model_file: str | os.PathLike[str]) -> None:
        """Refuse a model file that is not one the classifier was fitted for.

        Raises:
            InputError: Its SHA-256 is none of the recorded ones; the message names both files.
        """
        if not self.model_sha256:
            log.warning("%s records no model checksum: cannot check that %s is its model", self.path, model_file)
            return
        digest = sha256_file(model_file)
        if digest not in self.model_sha256.values():
            known = ", ".join(f"{name} {value[:12]}…" for name, value in sorted(self.model_sha256.items()))
            raise InputError(
                f"model file {model_file} (SHA-256 {digest[:12]}…) is not the model that classifier {self.path} "
                f"was fitted for ({known}); give the model trained with it, or restore it if it was damaged"
            )


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


# --- writing ---------------------------------------------------------------------------


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
    meta["payload_sha256"] = _payload_digest(meta, arrays)
    members = {"meta": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8), **arrays}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **members)
            handle.flush()
            os.fsync(handle.fileno())
    log.info("saved the safe classifier file %s", path)
    return Path(path)


def _payload_digest(meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    content = {k: v for k, v in meta.items() if k != "payload_sha256"}
    digest.update(json.dumps(content, sort_keys=True, separators=(",", ":")).encode("utf-8"))
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"\n{name}:{array.dtype.str}:{array.shape}\n".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


# --- reading ---------------------------------------------------------------------------


def read_safe_bundle(path: str | os.PathLike[str]) -> LoadedClassifier:
    """Read a safe classifier file, checking its format, its digest and every value.

    Args:
        path: The ``.npz`` file.

    Returns:
        The loaded classifier.

    Raises:
        InputError: The file is missing, too large, not a dfembed classifier file, damaged
            (its digest differs) or holds values of the wrong kind; the message names it.
    """
    from dfembed.model.classifier import ClassifierBundle

    path = Path(path)
    members = _read_members(path)
    meta = _read_meta(path, members.pop("meta", None))
    if meta.pop("payload_sha256") != _payload_digest(meta, members):
        raise InputError(f"classifier file {path} is damaged: its content does not match its recorded SHA-256; "
                         "restore it or train again")
    try:
        params = CalibratedSVMParams.from_arrays(meta["kernel"], members)
    except InputError as err:
        raise InputError(f"classifier file {path}: {err}") from err
    bundle = ClassifierBundle(
        classifier=params, embedding_dim=meta["embedding_dim"], backbone=meta["backbone"],
        image_size=meta["image_size"], class_mapping=meta["class_mapping"], crop_config=meta["crop_config"],
        train_config=meta["train_config"], versions=meta["versions"], detector=meta.get("detector"),
    )
    _check_bundle_fits(path, bundle)
    return LoadedClassifier(bundle, path, safe=True, model_sha256=dict(meta["model_sha256"]))


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


def _check_bundle_fits(path: Path, bundle: Any) -> None:
    params = bundle.classifier
    if params.n_features_in_ != bundle.embedding_dim:
        raise InputError(f"classifier file {path}: the SVM has width {params.n_features_in_} "
                         f"but the file says embedding size {bundle.embedding_dim}")
    if sorted(params.classes_.tolist()) != sorted(bundle.class_mapping.values()):
        raise InputError(f"classifier file {path}: classes {params.classes_.tolist()} do not match "
                         f"the class mapping {bundle.class_mapping}")


# --- choosing the file -----------------------------------------------------------------


def load_classifier(path: str | os.PathLike[str], trust_pickle: bool = False) -> LoadedClassifier:
    """Load the classifier for scoring, preferring the safe file; a pickle only when trusted.

    Args:
        path: ``svm.npz``, or ``svm.pkl`` (then ``svm.npz`` beside it is used when it exists).
        trust_pickle: Allow unpickling ``path`` when no safe file exists. **Loading a
            pickle runs code**: only for files you made or trust.

    Returns:
        The loaded classifier.

    Raises:
        InputError: The file is missing or unreadable, or only a pickle exists and
            ``trust_pickle`` is false (the message says why).
    """
    from dfembed.model.classifier import load_bundle

    path = Path(path)
    safe = safe_path(path)
    if safe.is_file():
        if safe != path:
            log.info("classifier: reading %s (the safe file beside %s; no pickle is loaded)", safe, path)
        return read_safe_bundle(safe)
    if path.suffix == SAFE_SUFFIX or not path.is_file():
        raise InputError(f"classifier file {path} does not exist" + (f" (nor {safe})" if safe != path else ""))
    if not trust_pickle:
        raise InputError(f"{path} is a pickle and there is no safe classifier file {safe} beside it: "
                         f"{TRUST_PICKLE_HINT} (train.py writes {safe.name} beside {path.name})")
    log.warning("loading the pickle %s (--trust-pickle): this runs the code stored in it", path)
    return LoadedClassifier(load_bundle(path), path, safe=False)
