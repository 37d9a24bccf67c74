"""The classifier on embeddings (a calibrated SVM) and the bundle saved as ``OUT_PKL``.

:class:`EmbeddingSVM` follows scikit-learn's estimator conventions. Its probabilities
come from :class:`~sklearn.calibration.CalibratedClassifierCV` around an
:class:`~sklearn.svm.SVC` (scikit-learn 1.9 deprecates ``SVC(probability=True)``).
Labels are 0 = real and 1 = fake, so ``predict_proba`` columns are [P(real), P(fake)].

:class:`ClassifierBundle` holds the fitted classifier and what inference must check
against the embedding model (embedding size, backbone, image size, class mapping) plus
the configurations and library versions that made it. :func:`save_bundle` writes it with
joblib (``OUT_PKL``) and, beside it, as the safe classifier file that scoring reads
without unpickling (:mod:`dfembed.model.safe_bundle`, in the format of
:mod:`dfembed.model.safe_file`). **Loading a joblib/pickle file runs code: load only
bundles you made or trust.**
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from dfembed.core.atomic import atomic_path
from dfembed.core.classes import CLASSES
from dfembed.core.errors import ConfigError, InputError
from dfembed.core.provenance import library_versions
from dfembed.model.names import backbone_key
from dfembed.model.safe_file import safe_path, write_safe_bundle
from dfembed.model.svm_params import KERNELS, CalibratedSVMParams

if TYPE_CHECKING:  # importing dfembed.model.network would import Keras; only its attributes are used
    from dfembed.model.network import ModelInfo

log = logging.getLogger(__name__)

BUNDLE_FORMAT = 1


class ClassifierParamError(ConfigError, ValueError):
    """An :class:`EmbeddingSVM` parameter is invalid (a ``ValueError``, as scikit-learn expects)."""


class ClassifierDataError(InputError, ValueError):
    """Training data the classifier cannot use (a ``ValueError``, as scikit-learn expects)."""


class EmbeddingSVM(ClassifierMixin, BaseEstimator):
    """Binary SVM on embeddings with cross-validated sigmoid (Platt) calibration.

    Args:
        kernel: ``"linear"`` (default) or ``"rbf"``.
        C: SVM regularisation parameter (> 0).
        calibration_cv: Folds of the calibration cross-validation (≥ 2). Lowered to the
            smaller class count when the data are too few, with a warning in the log.
        random_state: Seed of the fold shuffling (``None``: not reproducible).

    Attributes:
        classes_: The two class labels, sorted (``[0, 1]`` = real, fake).
        n_features_in_: Embedding width seen in ``fit``.
        calibrated_: The fitted ``CalibratedClassifierCV``.
        calibration_cv_: The number of folds actually used.
    """

    def __init__(
        self,
        kernel: str = "linear",
        C: float = 1.0,  # noqa: N803 - scikit-learn's name
        calibration_cv: int = 3,
        random_state: int | None = None,
    ) -> None:
        self.kernel = kernel
        self.C = C
        self.calibration_cv = calibration_cv
        self.random_state = random_state

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def fit(self, X: Any, y: Any) -> EmbeddingSVM:  # noqa: N803 - scikit-learn's name
        """Fit the SVM and its calibration on embeddings ``X`` and labels ``y``.

        Args:
            X: Embeddings, shape ``(n_samples, embedding_dim)``.
            y: Labels of two classes (0 = real, 1 = fake).

        Returns:
            ``self``.

        Raises:
            ClassifierParamError: A parameter is invalid.
            ClassifierDataError: Not exactly two classes, or a class with fewer than 2 samples.
        """
        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        if type_of_target(y, input_name="y") != "binary":
            raise ClassifierDataError(
                f"Only binary classification is supported. The classifier needs two labels "
                f"(real = 0, fake = 1); y holds {len(np.unique(y))} different values"
            )
        self.classes_, counts = np.unique(y, return_counts=True)
        self.calibration_cv_ = self._folds(counts)
        folds = StratifiedKFold(self.calibration_cv_, shuffle=True, random_state=self.random_state)
        svc = SVC(kernel=self.kernel, C=self.C, random_state=self.random_state)
        self.calibrated_ = CalibratedClassifierCV(svc, method="sigmoid", cv=folds).fit(X, y)
        return self

    def _check_params(self) -> None:
        if self.kernel not in KERNELS:
            raise ClassifierParamError(f"unknown SVM kernel {self.kernel!r}; choose one of {', '.join(KERNELS)}")
        if not isinstance(self.C, (int, float)) or not self.C > 0:
            raise ClassifierParamError(f"SVM C must be a positive number, got {self.C!r}")
        if not isinstance(self.calibration_cv, int) or self.calibration_cv < 2:
            raise ClassifierParamError(f"calibration_cv must be an integer ≥ 2, got {self.calibration_cv!r}")

    def _folds(self, counts: np.ndarray) -> int:
        """Calibration folds: ``calibration_cv``, lowered to the smaller class count if needed."""
        if len(counts) != 2:
            raise ClassifierDataError(
                "the classifier needs two classes (real = 0, fake = 1); y holds only one class"
            )
        smallest = int(counts.min())
        if smallest < 2:
            raise ClassifierDataError(
                f"the classifier needs at least 2 samples of each class to calibrate; the smaller class has {smallest}"
            )
        if smallest < self.calibration_cv:
            log.warning(
                "only %d samples in the smaller class: calibrating with %d folds instead of %d",
                smallest, smallest, self.calibration_cv,
            )
        return min(self.calibration_cv, smallest)

    def predict_proba(self, X: Any) -> np.ndarray:  # noqa: N803 - scikit-learn's name
        """Calibrated class probabilities.

        Args:
            X: Embeddings, shape ``(n_samples, n_features_in_)``.

        Returns:
            Shape ``(n_samples, 2)``, columns in the order of ``classes_``
            ([P(real), P(fake)] for labels 0/1); each row sums to 1.

        Raises:
            sklearn.exceptions.NotFittedError: ``fit`` has not been called.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.calibrated_.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:  # noqa: N803 - scikit-learn's name
        """Most probable class label of each embedding (see :meth:`predict_proba`)."""
        probabilities = self.predict_proba(X)  # checks that the estimator is fitted
        return self.classes_[np.argmax(probabilities, axis=1)]


@dataclass
class ClassifierBundle:
    """Everything ``OUT_PKL`` holds: the fitted classifier and what inference must check.

    Attributes:
        classifier: The fitted :class:`EmbeddingSVM` (or, read from the safe file, its
            :class:`~dfembed.model.svm_params.CalibratedSVMParams`).
        embedding_dim: Embedding width of the model it was fitted on.
        backbone: Backbone key of that model (``"b4"``, ``"lite0"``).
        image_size: Input image side of that model.
        class_mapping: Class name → label (fake = 1).
        crop_config: The crop stage's resolved configuration, when known, so that
            inference can crop the same way (its ``detector`` names the face detector).
        train_config: The training stage's resolved configuration.
        versions: Library versions that made the bundle.
        format_version: Layout version of this dataclass.
        detector: The crop stage's record of its face detector (name, package versions,
            options, confidence floor), when known; bundles saved before it existed lack
            the attribute (read it with ``getattr(bundle, "detector", None)``).
    """

    classifier: EmbeddingSVM | CalibratedSVMParams
    embedding_dim: int
    backbone: str
    image_size: int
    class_mapping: dict[str, int] = field(default_factory=lambda: dict(CLASSES))
    crop_config: dict[str, Any] | None = None
    train_config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=library_versions)
    format_version: int = BUNDLE_FORMAT
    detector: dict[str, Any] | None = None


def save_bundle(
    bundle: ClassifierBundle, path: str | os.PathLike[str], *, models: Mapping[str, str | os.PathLike[str]]
) -> Path:
    """Write a bundle with joblib and, beside it, as the safe classifier file; both atomically.

    Args:
        bundle: A bundle whose classifier is fitted on ``embedding_dim`` features with
            the labels of ``class_mapping``.
        path: Target file (``.pkl`` by convention); the safe file is
            :func:`~dfembed.model.safe_file.safe_path` of it (``svm.pkl`` → ``svm.npz``).
        models: Name → model file(s) the classifier belongs to, whose SHA-256 the safe file
            records (inference checks the model it is given against them).

    Returns:
        The written pickle's path.

    Raises:
        InputError: The bundle is inconsistent (unfitted classifier, wrong width or labels).
    """
    _check_bundle(bundle)
    path = Path(path)
    with atomic_path(path) as tmp:
        joblib.dump(bundle, tmp)
    write_safe_bundle(bundle, safe_path(path), models, pickle_file=path)
    log.info("saved classifier bundle to %s", path)
    return path


def _check_bundle(bundle: ClassifierBundle) -> None:
    if not isinstance(bundle, ClassifierBundle):
        raise InputError(f"expected a ClassifierBundle, got {type(bundle).__name__}")
    try:
        check_is_fitted(bundle.classifier)
    except (NotFittedError, TypeError) as err:
        raise InputError(f"the bundle's classifier is not a fitted estimator: {err}") from err
    if bundle.classifier.n_features_in_ != bundle.embedding_dim:
        raise InputError(
            f"the classifier was fitted on {bundle.classifier.n_features_in_} features "
            f"but the bundle says embedding size {bundle.embedding_dim}"
        )
    if sorted(bundle.classifier.classes_.tolist()) != sorted(bundle.class_mapping.values()):
        raise InputError(
            f"the classifier's classes {bundle.classifier.classes_.tolist()} "
            f"do not match the class mapping {bundle.class_mapping}"
        )


def load_bundle(path: str | os.PathLike[str]) -> ClassifierBundle:
    """Load a bundle written by :func:`save_bundle`.

    **Security:** this unpickles the file, and unpickling runs code from it. Load only
    files you made or trust.

    Args:
        path: The joblib file.

    Returns:
        The bundle.

    Raises:
        InputError: The file is missing, unreadable, or not a dfembed classifier bundle.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"classifier file {path} does not exist")
    try:
        bundle = joblib.load(path)
    except Exception as err:  # noqa: BLE001 - damaged pickle data can raise any type (struct.error, MemoryError…)
        reason = f"{type(err).__name__}: {str(err)[:200]}"
        raise InputError(f"classifier file {path} cannot be read (corrupt or not a joblib file): {reason}") from err
    if not isinstance(bundle, ClassifierBundle):
        kind = type(bundle).__name__
        raise InputError(f"classifier file {path} is not a dfembed classifier bundle (it holds a {kind})")
    if bundle.format_version > BUNDLE_FORMAT:
        raise InputError(
            f"classifier file {path} has format {bundle.format_version}; this dfembed reads up to {BUNDLE_FORMAT}"
        )
    _warn_on_version_change(bundle, path)
    return bundle


def _warn_on_version_change(bundle: ClassifierBundle, path: Path) -> None:
    saved = bundle.versions.get("scikit-learn")
    current = library_versions().get("scikit-learn")
    if saved and current and saved != current:
        log.warning("classifier file %s was made with scikit-learn %s; this is %s", path, saved, current)


def check_compatible(bundle: ClassifierBundle, info: ModelInfo) -> None:
    """Check that a classifier bundle fits an embedding model.

    Args:
        bundle: The loaded classifier bundle.
        info: The embedding model's :class:`~dfembed.model.network.ModelInfo`.

    Raises:
        InputError: "model/SVM mismatch", naming each differing value on both sides.
    """
    pairs = {
        "embedding size": (info.embedding_dim, bundle.embedding_dim),
        "image size": (info.image_size, bundle.image_size),
        "backbone": (backbone_key(info.backbone), backbone_key(bundle.backbone)),
    }
    wrong = [f"{what}: model {ours}, SVM {theirs}" for what, (ours, theirs) in pairs.items() if ours != theirs]
    if wrong:
        raise InputError("model/SVM mismatch: " + "; ".join(wrong))
