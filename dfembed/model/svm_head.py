"""The calibrated SVM as Keras operations: P(fake) of embeddings inside an exported graph.

:class:`CalibratedSVMHead` computes what
:meth:`~dfembed.model.svm_params.CalibratedSVMParams.predict_proba` computes (and so what
scikit-learn's ``CalibratedClassifierCV(SVC, method="sigmoid")`` computes), folded into as
few operations as the kernel allows, in float64 so that the fold is exact up to rounding.
With ``K`` calibration folds, fold ``k``'s decision ``f_k`` and sigmoid ``(A_k, B_k)``::

    z_k(x) = -(A_k f_k(x) + B_k)            P(classes_[1] | x) = mean_k sigmoid(z_k(x))

* **linear**: ``f_k(x) = x·w_k + b_k`` with ``w_k = sv_kᵀ alpha_k``, so
  ``z = x @ W + c`` with column ``k`` of ``W`` ``-A_k w_k`` and ``c_k = -A_k b_k - B_k``:
  one matrix product and a logistic function per fold;
* **rbf**: the support vectors of every fold are stacked (``N`` rows) with their own
  ``gamma``; ``K(x) = exp(-gamma * max(|x|² + |sv|² - 2 x·sv, 0))`` (the ``(n, N)`` kernel
  values, ``|x - sv|²`` as libsvm computes it) and ``z = K(x) @ M + c``, where ``M[i, k]``
  is ``-A_k alpha_i`` for a support vector ``i`` of fold ``k`` and 0 otherwise.

When FAKE is ``classes_[0]``, ``M``/``W`` and ``c`` change sign (``1 - sigmoid(z) =
sigmoid(-z)``), so the head always returns P(fake). Its parameters are non-trainable
weights (an exporter freezes them into the graph's constants). Keras layers and
``keras.ops`` only.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from dfembed.core.errors import InputError
from dfembed.model.svm_params import CalibratedSVMParams

#: Kernels whose calibrated SVM the head computes (the kernels dfembed trains).
EXPORTABLE_KERNELS = ("linear", "rbf")


def fold_linear(params: CalibratedSVMParams, fake_label: int) -> tuple[np.ndarray, np.ndarray]:
    """A linear calibrated SVM as ``z = x @ W + c`` (P(fake) = mean over columns of sigmoid(z)).

    Args:
        params: The fitted SVM (``kernel == "linear"``).
        fake_label: The class label of FAKE (one of ``params.classes_``).

    Returns:
        ``W`` ``(d, K)`` and ``c`` ``(K,)``, float64.
    """
    sign = _fake_sign(params, fake_label)
    weights = np.stack([fold.support_vectors.T @ fold.dual_coef for fold in params.folds], axis=1)
    intercepts = np.array([fold.intercept for fold in params.folds])
    a = np.array([fold.a for fold in params.folds])
    b = np.array([fold.b for fold in params.folds])
    return sign * weights * -a[None, :], sign * (-a * intercepts - b)


def stack_rbf(params: CalibratedSVMParams, fake_label: int) -> dict[str, np.ndarray]:
    """An RBF calibrated SVM as stacked support vectors (see the module docstring).

    Args:
        params: The fitted SVM (``kernel == "rbf"``).
        fake_label: The class label of FAKE.

    Returns:
        ``sv_t`` ``(d, N)`` (the support vectors, transposed), ``sv_sq`` ``(N,)`` their
        squared norms, ``gamma`` ``(N,)``, ``m`` ``(N, K)`` and ``c`` ``(K,)``, float64.
    """
    sign = _fake_sign(params, fake_label)
    vectors = np.concatenate([fold.support_vectors for fold in params.folds])
    gamma = np.concatenate([np.full(len(fold.dual_coef), fold.gamma) for fold in params.folds])
    m = np.zeros((len(vectors), len(params.folds)))
    row = 0
    for k, fold in enumerate(params.folds):
        m[row : row + len(fold.dual_coef), k] = -fold.a * fold.dual_coef
        row += len(fold.dual_coef)
    c = np.array([-fold.a * fold.intercept - fold.b for fold in params.folds])
    return {"sv_t": vectors.T.copy(), "sv_sq": (vectors**2).sum(axis=1), "gamma": gamma, "m": sign * m, "c": sign * c}


def _fake_sign(params: CalibratedSVMParams, fake_label: int) -> float:
    """+1 when P(fake) is P(classes_[1]), -1 when it is P(classes_[0])."""
    classes = np.asarray(params.classes_).tolist()
    if fake_label not in classes:
        raise InputError(f"the classifier's classes {classes} do not include the FAKE label {fake_label}")
    return 1.0 if classes.index(fake_label) == 1 else -1.0


def check_exportable(kernel: str, source: str) -> None:
    """Refuse a kernel the head cannot compute.

    Args:
        kernel: The SVM's kernel.
        source: The classifier file, for the message.

    Raises:
        InputError: The kernel is not one of :data:`EXPORTABLE_KERNELS`.
    """
    if kernel not in EXPORTABLE_KERNELS:
        raise InputError(f"classifier {source}: an SVM with the {kernel!r} kernel cannot be exported; "
                         f"dfembed exports calibrated SVMs with the {' or '.join(EXPORTABLE_KERNELS)} kernel")


class CalibratedSVMHead(keras.layers.Layer):
    """Embeddings ``(n, d)`` → P(fake) ``(n,)`` float32, computed in float64.

    Args:
        params: The fitted calibrated SVM.
        fake_label: The class label of FAKE (``class_mapping["fake"]``).
        **kwargs: Keras layer arguments (``name``).

    Raises:
        InputError: The kernel cannot be exported, or FAKE is not one of its classes.
    """

    def __init__(self, params: CalibratedSVMParams, fake_label: int, **kwargs: Any) -> None:
        super().__init__(dtype="float64", trainable=False, **kwargs)
        check_exportable(params.kernel, "in memory")
        self.kernel = params.kernel
        self.embedding_dim = params.n_features_in_
        arrays = _linear_arrays(params, fake_label) if self.kernel == "linear" else stack_rbf(params, fake_label)
        self._arrays = {name: self._constant(name, value) for name, value in arrays.items()}

    def _constant(self, name: str, value: np.ndarray) -> keras.Variable:
        weight = self.add_weight(name=name, shape=value.shape, dtype="float64", initializer="zeros", trainable=False)
        weight.assign(value)
        return weight

    def call(self, embeddings: Any) -> Any:
        """P(fake) of each embedding (float32; the arithmetic is float64)."""
        x = ops.cast(embeddings, "float64")
        arrays = self._arrays
        if self.kernel == "linear":
            z = ops.matmul(x, arrays["w"]) + arrays["c"]
        else:
            squared = ops.sum(ops.square(x), axis=-1, keepdims=True) + arrays["sv_sq"] - 2.0 * ops.matmul(
                x, arrays["sv_t"])
            z = ops.matmul(ops.exp(-arrays["gamma"] * ops.maximum(squared, 0.0)), arrays["m"]) + arrays["c"]
        return ops.cast(ops.mean(ops.sigmoid(z), axis=-1), "float32")

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0],)


def _linear_arrays(params: CalibratedSVMParams, fake_label: int) -> dict[str, np.ndarray]:
    w, c = fold_linear(params, fake_label)
    return {"w": w, "c": c}
