"""The calibrated SVM as Keras operations: hand-derived values, and scikit-learn's own probabilities."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dfembed.core.errors import InputError
from dfembed.model.svm_head import CalibratedSVMHead, check_exportable, fold_linear
from dfembed.model.svm_params import CalibratedSVMParams, SVMFold


def _head(params: CalibratedSVMParams, x: np.ndarray, fake: int = 1) -> np.ndarray:
    return np.asarray(CalibratedSVMHead(params, fake)(x.astype(np.float32)))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def test_linear_fold_by_hand() -> None:
    """One fold: sv = I₂, alpha = (0.5, -0.25), b = 0.1, sigmoid A = -2, B = 0.3.

    w = svᵀ alpha = (0.5, -0.25); for x = (1, 1): f = x·w + b = 0.35, and scikit-learn's
    calibrated P(fake) = 1 / (1 + exp(A f + B)) = sigmoid(-(A f + B)) = sigmoid(0.4).
    """
    fold = SVMFold(np.eye(2), np.array([0.5, -0.25]), 0.1, 0.0, -2.0, 0.3)
    params = CalibratedSVMParams("linear", np.array([0, 1]), (fold,))
    w, c = fold_linear(params, fake_label=1)
    np.testing.assert_allclose(w[:, 0], [1.0, -0.5])  # -A w
    np.testing.assert_allclose(c, [-(-2.0 * 0.1) - 0.3])  # -A b - B = -0.1
    assert _head(params, np.array([[1.0, 1.0]]))[0] == pytest.approx(_sigmoid(0.4), abs=1e-7)
    # FAKE as the first class: P(fake) is 1 - P(classes_[1])
    assert _head(params, np.array([[1.0, 1.0]]), fake=0)[0] == pytest.approx(1 - _sigmoid(0.4), abs=1e-7)


def test_rbf_two_folds_by_hand() -> None:
    """Fold 1: sv (0, 0), alpha 1, gamma 0.5, b 0, A -1, B 0; fold 2: sv (1, 1), alpha -2, gamma 1, b 0.5, A -0.5, B 0.2.

    For x = (1, 1): fold 1 has |x - sv|² = 2, K = e⁻¹, f₁ = e⁻¹, p₁ = sigmoid(e⁻¹); fold 2 has
    |x - sv|² = 0, K = 1, f₂ = -2 + 0.5 = -1.5, p₂ = sigmoid(-(-0.5 · -1.5 + 0.2)) = sigmoid(-0.95);
    P(fake) is their mean.
    """
    folds = (SVMFold(np.zeros((1, 2)), np.array([1.0]), 0.0, 0.5, -1.0, 0.0),
             SVMFold(np.ones((1, 2)), np.array([-2.0]), 0.5, 1.0, -0.5, 0.2))
    params = CalibratedSVMParams("rbf", np.array([0, 1]), folds)
    expected = (_sigmoid(math.exp(-1.0)) + _sigmoid(-0.95)) / 2
    assert _head(params, np.array([[1.0, 1.0]]))[0] == pytest.approx(expected, abs=1e-7)


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_equals_scikit_learns_probabilities(kernel: str) -> None:
    from dfembed.model.classifier import EmbeddingSVM

    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 8))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = (x[:, 0] + 0.3 * rng.normal(size=60) > 0).astype(int)
    svm = EmbeddingSVM(kernel=kernel, random_state=0).fit(x, y)
    test = rng.normal(size=(20, 8)).astype(np.float32)
    head = _head(CalibratedSVMParams.from_estimator(svm), test)
    np.testing.assert_allclose(head, svm.predict_proba(test.astype(np.float64))[:, 1], rtol=0, atol=1e-6)


def test_only_the_trained_kernels_export() -> None:
    check_exportable("rbf", "svm.npz")
    with pytest.raises(InputError, match="svm.pkl: an SVM with the 'poly' kernel cannot be exported.*linear or rbf"):
        check_exportable("poly", "svm.pkl")
