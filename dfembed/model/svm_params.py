"""The calibrated SVM as plain arrays: scoring without scikit-learn and without unpickling.

:class:`CalibratedSVMParams` holds what a fitted :class:`~dfembed.model.classifier.EmbeddingSVM`
(``CalibratedClassifierCV(SVC, method="sigmoid")``) needs to score: for each calibration
fold ``k``, the SVC's support vectors ``sv_k``, dual coefficients ``alpha_k``, intercept
``b_k`` and kernel width ``gamma_k``, and the fold's Platt sigmoid ``(A_k, B_k)``. Its
:meth:`~CalibratedSVMParams.predict_proba` computes what scikit-learn computes::

    f_k(x) = sum_i alpha_k[i] K(sv_k[i], x) + b_k          SVC.decision_function
    p_k(x) = 1 / (1 + exp(A_k f_k(x) + B_k))               _SigmoidCalibration.predict
    P(classes_[1] | x) = mean_k p_k(x),  P(classes_[0] | x) = mean_k (1 - p_k(x))

with ``K(u, v) = u·v`` (linear) or ``exp(-gamma_k ||u - v||²)`` (rbf). The same arrays
are what an exported graph (ONNX) needs. A test checks the result against scikit-learn's
to 1e-9 on random data, for both kernels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from dfembed.core.errors import InputError

KERNELS = ("linear", "rbf")
_FOLD_MEMBER = re.compile(r"fold(\d+)_scalars")


@dataclass(frozen=True, eq=False)  # arrays make == ambiguous
class SVMFold:
    """One calibration fold: an SVC and its sigmoid.

    Attributes:
        support_vectors: ``(n_sv, d)`` float64.
        dual_coef: ``(n_sv,)`` float64, signed so that ``f = K @ dual_coef + intercept``
            (scikit-learn's ``dual_coef_[0]``).
        intercept: scikit-learn's ``intercept_[0]``.
        gamma: RBF width (unused by the linear kernel).
        a: The sigmoid's slope ``A``.
        b: The sigmoid's offset ``B``.
    """

    support_vectors: np.ndarray
    dual_coef: np.ndarray
    intercept: float
    gamma: float
    a: float
    b: float


@dataclass(frozen=True, eq=False)
class CalibratedSVMParams:
    """A fitted calibrated SVM as arrays, with scikit-learn's ``classes_``/``predict_proba``.

    Attributes:
        kernel: ``"linear"`` or ``"rbf"``.
        classes_: The two class labels in column order of :meth:`predict_proba`.
        folds: One :class:`SVMFold` per calibration fold.
    """

    kernel: str
    classes_: np.ndarray
    folds: tuple[SVMFold, ...]

    def __post_init__(self) -> None:
        _check_params(self)

    @property
    def n_features_in_(self) -> int:
        """Embedding width the SVM was fitted on."""
        return int(self.folds[0].support_vectors.shape[1])

    @classmethod
    def from_estimator(cls, svm: Any) -> CalibratedSVMParams:
        """Read the parameters of a fitted :class:`~dfembed.model.classifier.EmbeddingSVM`.

        Args:
            svm: The fitted estimator (its ``calibrated_`` is a sigmoid ``CalibratedClassifierCV``).

        Returns:
            The parameters.

        Raises:
            InputError: The estimator is not fitted or not a sigmoid-calibrated linear or RBF SVC.
        """
        calibrated = getattr(svm, "calibrated_", None)
        if calibrated is None or getattr(calibrated, "method", None) != "sigmoid":
            raise InputError("expected a fitted EmbeddingSVM (sigmoid-calibrated SVC)")
        classes = np.asarray(svm.classes_)
        return cls(str(svm.kernel), classes, tuple(_fold(pair, classes) for pair in calibrated.calibrated_classifiers_))

    def decision_functions(self, x: np.ndarray) -> np.ndarray:
        """Each fold's SVC decision values, ``(n_folds, n)``."""
        x = self._check_input(x)
        return np.stack([_decision(fold, x, self.kernel) for fold in self.folds])

    def predict_proba(self, x: Any) -> np.ndarray:
        """Calibrated probabilities, columns in the order of ``classes_`` (``[P(real), P(fake)]``).

        Args:
            x: Embeddings ``(n, n_features_in_)``.

        Returns:
            ``(n, 2)`` float64; each row sums to 1.

        Raises:
            InputError: The width is wrong or a value is not finite.
        """
        decisions = self.decision_functions(x)
        proba = np.zeros((decisions.shape[1], 2))
        for fold, f in zip(self.folds, decisions):
            positive = _expit(-(fold.a * f + fold.b))
            proba[:, 1] += positive
            proba[:, 0] += 1.0 - positive
        proba /= len(self.folds)
        proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0  # as scikit-learn does
        return proba

    def predict(self, x: Any) -> np.ndarray:
        """The most probable class label of each embedding."""
        return self.classes_[np.argmax(self.predict_proba(x), axis=1)]

    def _check_input(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features_in_:
            raise InputError(f"the SVM expects embeddings of width {self.n_features_in_}, got shape {x.shape}")
        if not np.isfinite(x).all():
            raise InputError("embeddings hold NaN or infinite values: the model file may be damaged")
        return x

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The parameters as named arrays (the members of the safe classifier file)."""
        arrays = {"classes": np.asarray(self.classes_, dtype=np.int64)}
        for k, fold in enumerate(self.folds):
            arrays[f"fold{k}_support_vectors"] = fold.support_vectors
            arrays[f"fold{k}_dual_coef"] = fold.dual_coef
            arrays[f"fold{k}_scalars"] = np.array([fold.intercept, fold.gamma, fold.a, fold.b], dtype=np.float64)
        return arrays

    @classmethod
    def from_arrays(cls, kernel: str, arrays: dict[str, np.ndarray]) -> CalibratedSVMParams:
        """Rebuild the parameters from :meth:`to_arrays`'s arrays, checking every shape and value.

        Raises:
            InputError: A member is missing, or has the wrong type, shape or a non-finite value.
        """
        folds = sorted(int(m.group(1)) for name in arrays if (m := _FOLD_MEMBER.fullmatch(name)))
        if not folds or folds != list(range(len(folds))):
            raise InputError(f"expected the arrays classes and fold0_… of a calibrated SVM, got {sorted(arrays)}")
        return cls(kernel, _array(arrays, "classes", np.int64, 1), tuple(_fold_from(arrays, k) for k in folds))


def _fold(pair: Any, classes: np.ndarray) -> SVMFold:
    """One fold from scikit-learn's ``_CalibratedClassifier`` (its ``estimator`` and ``calibrators``)."""
    svc, calibrators = pair.estimator, pair.calibrators
    if len(calibrators) != 1 or not np.array_equal(np.asarray(svc.classes_), classes):
        raise InputError("expected a binary calibrated SVC with one sigmoid per fold")
    # scikit-learn keeps the width it used in the private ``_gamma`` ("scale" is resolved on
    # the fold's data at fit time, which is not kept); a test pins its meaning to 1e-9.
    gamma = float(getattr(svc, "_gamma", 0.0) or 0.0)
    return SVMFold(
        support_vectors=np.asarray(svc.support_vectors_, dtype=np.float64),
        dual_coef=np.asarray(svc.dual_coef_, dtype=np.float64)[0],
        intercept=float(np.asarray(svc.intercept_)[0]),
        gamma=gamma,
        a=float(calibrators[0].a_),
        b=float(calibrators[0].b_),
    )


def _fold_from(arrays: dict[str, np.ndarray], k: int) -> SVMFold:
    vectors = _array(arrays, f"fold{k}_support_vectors", np.float64, 2)
    dual = _array(arrays, f"fold{k}_dual_coef", np.float64, 1)
    scalars = _array(arrays, f"fold{k}_scalars", np.float64, 1)
    if scalars.shape != (4,):
        raise InputError(f"fold{k}_scalars: expected 4 values (intercept, gamma, a, b), got {scalars.shape}")
    intercept, gamma, a, b = (float(v) for v in scalars)
    return SVMFold(vectors, dual, intercept, gamma, a, b)


def _array(arrays: dict[str, np.ndarray], name: str, dtype: type, ndim: int) -> np.ndarray:
    if name not in arrays:
        raise InputError(f"the array {name} is missing")
    array = arrays[name]
    if array.dtype != dtype or array.ndim != ndim:
        raise InputError(f"{name}: expected {np.dtype(dtype).name} with {ndim} dimension(s), "
                         f"got {array.dtype} {array.shape}")
    return array


def _check_params(params: CalibratedSVMParams) -> None:
    if params.kernel not in KERNELS:
        raise InputError(f"unknown SVM kernel {params.kernel!r}; expected one of {', '.join(KERNELS)}")
    if params.classes_.shape != (2,) or params.classes_[0] == params.classes_[1]:
        raise InputError(f"expected two class labels, got {params.classes_.tolist()}")
    if not params.folds:
        raise InputError("a calibrated SVM needs at least one fold")
    width = params.folds[0].support_vectors.shape[1]
    for k, fold in enumerate(params.folds):
        n_sv = fold.support_vectors.shape[0]
        if fold.support_vectors.shape[1] != width or width < 1 or n_sv < 1 or fold.dual_coef.shape != (n_sv,):
            raise InputError(f"fold {k}: {n_sv} support vectors of width {fold.support_vectors.shape[1]} "
                             f"and {fold.dual_coef.shape} dual coefficients do not fit together (width {width})")
        values = [fold.support_vectors, fold.dual_coef, np.array([fold.intercept, fold.gamma, fold.a, fold.b])]
        if not all(np.isfinite(v).all() for v in values):
            raise InputError(f"fold {k} holds NaN or infinite parameters")
        if params.kernel == "rbf" and not fold.gamma > 0:
            raise InputError(f"fold {k}: an RBF kernel needs gamma > 0, got {fold.gamma}")


def _decision(fold: SVMFold, x: np.ndarray, kernel: str) -> np.ndarray:
    if kernel == "linear":
        kernel_values = x @ fold.support_vectors.T
    else:  # ||x - v||² as libsvm computes it: x·x + v·v - 2 x·v
        squared = (x * x).sum(axis=1)[:, None] + (fold.support_vectors**2).sum(axis=1)[None, :]
        squared -= 2.0 * (x @ fold.support_vectors.T)
        kernel_values = np.exp(-fold.gamma * np.maximum(squared, 0.0))
    return kernel_values @ fold.dual_coef + fold.intercept


def _expit(z: np.ndarray) -> np.ndarray:
    """The logistic function ``1 / (1 + exp(-z))``, without overflow for large ``|z|``."""
    out = np.empty_like(z)
    positive = z >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-z[positive]))
    exp_z = np.exp(z[~positive])
    out[~positive] = exp_z / (1.0 + exp_z)
    return out

