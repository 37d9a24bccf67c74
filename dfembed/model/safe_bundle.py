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

The format itself (writing, parsing, the digests) is :mod:`dfembed.model.safe_file`, which
:func:`~dfembed.model.classifier.save_bundle` writes with; this module turns a file into a
:class:`~dfembed.model.classifier.ClassifierBundle` and chooses which file to load.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dfembed.core.errors import InputError
from dfembed.model.classifier import ClassifierBundle, load_bundle
from dfembed.model.safe_file import SAFE_SUFFIX, read_safe_file, safe_path, sha256_file, write_safe_bundle

__all__ = [
    "SAFE_SUFFIX",
    "TRUST_PICKLE_HINT",
    "LoadedClassifier",
    "load_classifier",
    "read_safe_bundle",
    "safe_path",
    "sha256_file",
    "write_safe_bundle",
]

log = logging.getLogger(__name__)

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

    bundle: ClassifierBundle
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
    path = Path(path)
    meta, params = read_safe_file(path)
    bundle = ClassifierBundle(
        classifier=params, embedding_dim=meta["embedding_dim"], backbone=meta["backbone"],
        image_size=meta["image_size"], class_mapping=meta["class_mapping"], crop_config=meta["crop_config"],
        train_config=meta["train_config"], versions=meta["versions"], detector=meta.get("detector"),
    )
    _check_bundle_fits(path, bundle)
    return LoadedClassifier(bundle, path, safe=True, model_sha256=dict(meta["model_sha256"]))


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
