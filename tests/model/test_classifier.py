"""EmbeddingSVM (scikit-learn conventions, calibrated probabilities) and the OUT_PKL bundle."""

from __future__ import annotations

import logging
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import check_estimator

from dfembed.core.errors import ConfigError, InputError
from dfembed.model.classifier import (
    ClassifierBundle,
    ClassifierDataError,
    ClassifierParamError,
    EmbeddingSVM,
    check_compatible,
    load_bundle,
    save_bundle,
)
from dfembed.model.network import ModelInfo

DIM = 8


def _embeddings(n_real: int, n_fake: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around -e0 (real, label 0) and +e0 (fake, label 1)."""
    rng = np.random.default_rng(seed)
    centre = np.eye(DIM)[0] * 2.0
    x = np.vstack([rng.normal(size=(n_real, DIM)) * 0.3 - centre, rng.normal(size=(n_fake, DIM)) * 0.3 + centre])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, np.array([0] * n_real + [1] * n_fake)


@pytest.fixture(scope="module")
def fitted() -> EmbeddingSVM:
    x, y = _embeddings(20, 20)
    return EmbeddingSVM(random_state=0).fit(x, y)


@pytest.mark.filterwarnings("ignore:Skipping check")  # array-API and pandas checks need optional packages
def test_passes_scikit_learn_estimator_checks() -> None:
    check_estimator(EmbeddingSVM(random_state=0))


def test_init_only_stores_parameters() -> None:
    svm = EmbeddingSVM(kernel="rbf", C=0.5, calibration_cv=4, random_state=7)
    assert svm.get_params() == {"kernel": "rbf", "C": 0.5, "calibration_cv": 4, "random_state": 7}
    assert clone(svm).get_params() == svm.get_params()
    assert not hasattr(svm, "classes_")
    with pytest.raises(NotFittedError):
        svm.predict_proba(np.zeros((1, DIM)))


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_probabilities_are_calibrated_columns_real_then_fake(kernel: str) -> None:
    x, y = _embeddings(15, 15)
    svm = EmbeddingSVM(kernel=kernel, random_state=0).fit(x, y)
    x_test, _ = _embeddings(5, 5, seed=1)
    proba = svm.predict_proba(x_test)
    assert proba.shape == (10, 2)
    assert np.all((proba >= 0.0) & (proba <= 1.0))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    fake_point = np.eye(DIM)[0:1]  # the centre of the fake cluster
    assert svm.predict_proba(fake_point)[0, 1] > svm.predict_proba(fake_point)[0, 0]
    assert svm.predict(fake_point).tolist() == [1]
    np.testing.assert_array_equal(svm.classes_, [0, 1])


def test_fit_is_reproducible_with_a_seed() -> None:
    x, y = _embeddings(12, 12)
    first = EmbeddingSVM(random_state=3).fit(x, y).predict_proba(x)
    np.testing.assert_array_equal(first, EmbeddingSVM(random_state=3).fit(x, y).predict_proba(x))


def test_tiny_data_lowers_the_calibration_folds(caplog: pytest.LogCaptureFixture) -> None:
    x, y = _embeddings(2, 5)
    with caplog.at_level(logging.WARNING, logger="dfembed.model.classifier"):
        svm = EmbeddingSVM(calibration_cv=3, random_state=0).fit(x, y)
    assert svm.calibration_cv_ == 2
    assert "calibrating with 2 folds instead of 3" in caplog.text
    assert svm.predict_proba(x).shape == (7, 2)


@pytest.mark.parametrize(
    ("n_real", "n_fake", "message"),
    [(1, 5, "at least 2 samples of each class.*has 1"), (0, 5, "only one class")],
)
def test_too_few_samples_are_clear_errors(n_real: int, n_fake: int, message: str) -> None:
    x, y = _embeddings(n_real, n_fake)
    with pytest.raises(ClassifierDataError, match=message) as caught:
        EmbeddingSVM().fit(x, y)
    assert isinstance(caught.value, InputError) and isinstance(caught.value, ValueError)


def test_bad_parameters_fail_in_fit() -> None:
    x, y = _embeddings(4, 4)
    with pytest.raises(ClassifierParamError, match="'poly'.*linear, rbf") as caught:
        EmbeddingSVM(kernel="poly").fit(x, y)
    assert isinstance(caught.value, ConfigError)
    with pytest.raises(ClassifierParamError, match="calibration_cv"):
        EmbeddingSVM(calibration_cv=1).fit(x, y)


def _bundle(classifier: EmbeddingSVM, **changes: object) -> ClassifierBundle:
    values = {"classifier": classifier, "embedding_dim": DIM, "backbone": "b0", "image_size": 64}
    return ClassifierBundle(**{**values, **changes}, train_config={"seed": 1}, crop_config=None)


def test_bundle_round_trip(fitted: EmbeddingSVM, tmp_path: Path) -> None:
    path = save_bundle(_bundle(fitted), tmp_path / "svm.pkl", models={})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["svm.npz", "svm.pkl"]
    loaded = load_bundle(path)
    assert (loaded.embedding_dim, loaded.backbone, loaded.image_size) == (DIM, "b0", 64)
    assert loaded.class_mapping == {"real": 0, "fake": 1}
    assert loaded.train_config == {"seed": 1}
    assert loaded.versions["scikit-learn"]
    x, _ = _embeddings(3, 3, seed=5)
    np.testing.assert_array_equal(loaded.classifier.predict_proba(x), fitted.predict_proba(x))


def test_save_rejects_inconsistent_bundles(fitted: EmbeddingSVM, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="fitted on 8 features but the bundle says embedding size 512"):
        save_bundle(_bundle(fitted, embedding_dim=512), tmp_path / "svm.pkl", models={})
    with pytest.raises(InputError, match="not a fitted estimator"):
        save_bundle(_bundle(EmbeddingSVM()), tmp_path / "svm.pkl", models={})
    assert list(tmp_path.iterdir()) == []


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"absent\.pkl does not exist"):
        load_bundle(tmp_path / "absent.pkl")
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"this is not a pickle")
    with pytest.raises(InputError, match=r"junk\.pkl cannot be read"):
        load_bundle(junk)
    other = tmp_path / "other.pkl"
    joblib.dump({"svm": None}, other)
    with pytest.raises(InputError, match=r"other\.pkl is not a dfembed classifier bundle \(it holds a dict\)"):
        load_bundle(other)


def test_check_compatible(fitted: EmbeddingSVM) -> None:
    bundle = _bundle(fitted, backbone="efficientnetb0")
    check_compatible(bundle, ModelInfo(backbone="b0", image_size=64, embedding_dim=DIM))
    expected = r"model/SVM mismatch: embedding size: model 512, SVM 8; backbone: model b4, SVM b0"
    with pytest.raises(InputError, match=expected):
        check_compatible(bundle, ModelInfo(backbone="b4", image_size=64, embedding_dim=512))
    with pytest.raises(InputError, match=r"model/SVM mismatch: image size: model 380, SVM 64"):
        check_compatible(bundle, ModelInfo(backbone="b0", image_size=380, embedding_dim=DIM))
