"""The classifier without pickle: NumPy scores equal scikit-learn's, the safe file is checked, pickles need trust."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest

from dfembed.core.errors import InputError
from dfembed.model.classifier import ClassifierBundle, EmbeddingSVM, save_bundle
from dfembed.model.safe_bundle import (
    load_classifier,
    read_safe_bundle,
    safe_path,
    sha256_file,
    write_safe_bundle,
)
from dfembed.model.svm_params import CalibratedSVMParams

DIM = 16


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two overlapping Gaussian classes (labels 0, 1) in DIM dimensions."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.normal(size=(n, DIM)) + 0.8 * y[:, None] * np.eye(DIM)[0]
    return x, y


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("calibration_cv", [2, 3])
def test_numpy_probabilities_equal_scikit_learns(kernel: str, calibration_cv: int) -> None:
    x, y = _data(80, seed=1)
    svm = EmbeddingSVM(kernel=kernel, calibration_cv=calibration_cv, random_state=0).fit(x, y)
    rng = np.random.default_rng(2)
    # near the data, far from it (the sigmoid saturates), and one row at the origin
    test = np.vstack([rng.normal(size=(200, DIM)), 25 * rng.normal(size=(20, DIM)), np.zeros((1, DIM))])
    params = CalibratedSVMParams.from_estimator(svm)
    expected = svm.predict_proba(test)
    np.testing.assert_allclose(params.predict_proba(test), expected, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(params.predict(test), svm.predict(test))
    assert params.classes_.tolist() == [0, 1] and params.n_features_in_ == DIM
    assert len(params.folds) == calibration_cv


def test_numpy_classifier_checks_its_input() -> None:
    x, y = _data(30, seed=3)
    params = CalibratedSVMParams.from_estimator(EmbeddingSVM(random_state=0).fit(x, y))
    with pytest.raises(InputError, match="width 16, got shape"):
        params.predict_proba(np.zeros((2, 8)))
    with pytest.raises(InputError, match="NaN or infinite"):
        params.predict_proba(np.full((1, DIM), np.nan))


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A bundle saved the way train.py saves it, with a stand-in model file."""
    root = tmp_path_factory.mktemp("bundle")
    model = root / "model.h5"
    model.write_bytes(b"stands in for an HDF5 model")
    x, y = _data(40, seed=4)
    bundle = ClassifierBundle(EmbeddingSVM(kernel="rbf", random_state=0).fit(x, y), DIM, "b0", 64,
                              crop_config={"size": 64}, train_config={"seed": 0},
                              detector={"name": "blazeface", "landmarks": False})
    pkl = save_bundle(bundle, root / "svm.pkl", models={"model": model})
    return {"root": root, "model": model, "pkl": pkl, "npz": safe_path(pkl), "x": x}


def test_train_style_save_writes_the_safe_file_beside_the_pickle(saved: dict[str, Path]) -> None:
    assert saved["npz"] == saved["root"] / "svm.npz" and saved["npz"].is_file()
    loaded = load_classifier(saved["pkl"])  # SVM_PKL as given to inference: the .npz beside it is read
    assert loaded.safe and loaded.path == saved["npz"]
    assert loaded.model_sha256 == {"model.h5": sha256_file(saved["model"])}
    bundle, reference = loaded.bundle, joblib.load(saved["pkl"])
    assert (bundle.embedding_dim, bundle.backbone, bundle.image_size) == (DIM, "b0", 64)
    assert bundle.crop_config == {"size": 64} and bundle.train_config == {"seed": 0}
    assert bundle.detector == {"name": "blazeface", "landmarks": False}  # the trained detector's record
    assert bundle.class_mapping == {"real": 0, "fake": 1} and bundle.versions == reference.versions
    np.testing.assert_allclose(bundle.classifier.predict_proba(saved["x"]),
                               reference.classifier.predict_proba(saved["x"]), rtol=0, atol=1e-9)


def test_scoring_never_unpickles(saved: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a pickle was loaded")

    for module, name in ((joblib, "load"), (pickle, "load"), (pickle, "loads")):
        monkeypatch.setattr(module, name, refuse)
    assert load_classifier(saved["pkl"]).safe
    assert load_classifier(saved["npz"]).safe


class _Payload:
    """Unpickling this writes a marker file: what a hostile pickle would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.write_text, (self.marker, "code ran"))


def test_a_pickle_alone_needs_trust_pickle_and_says_why(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    hostile = tmp_path / "svm.pkl"
    hostile.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(InputError, match=r"svm.pkl is a pickle and there is no safe classifier file .*svm.npz.*"
                                         r"loading a pickle runs the code stored in it.*--trust-pickle"):
        load_classifier(hostile)
    assert not marker.exists()
    with pytest.raises(InputError, match="not a dfembed classifier bundle"):
        load_classifier(hostile, trust_pickle=True)  # trusted: it runs (that is what trust means)
    assert marker.read_text() == "code ran"


def test_a_safe_file_wins_over_a_hostile_pickle_beside_it(saved: dict[str, Path], tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    (tmp_path / "svm.npz").write_bytes(saved["npz"].read_bytes())
    (tmp_path / "svm.pkl").write_bytes(pickle.dumps(_Payload(marker)))
    assert load_classifier(tmp_path / "svm.pkl", trust_pickle=True).safe
    assert not marker.exists()


def test_a_damaged_pickle_is_an_error_even_when_trusted(saved: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(saved["pkl"].read_bytes())
    data[len(data) // 2 :] = bytes(len(data) - len(data) // 2)
    (tmp_path / "svm.pkl").write_bytes(bytes(data))
    with pytest.raises(InputError, match="svm.pkl cannot be read"):
        load_classifier(tmp_path / "svm.pkl", trust_pickle=True)


def test_the_model_must_be_the_one_the_classifier_was_fitted_for(saved: dict[str, Path], tmp_path: Path) -> None:
    loaded = load_classifier(saved["npz"])
    loaded.check_model(saved["model"])
    other = tmp_path / "other.h5"
    other.write_bytes(b"another model")
    with pytest.raises(InputError, match=r"model file .*other.h5 .* is not the model that classifier .*svm.npz "
                                         r"was fitted for \(model.h5 "):
        loaded.check_model(other)


def test_random_damage_is_an_error_or_changes_nothing(saved: dict[str, Path], tmp_path: Path) -> None:
    """400 single-byte changes: each gives a one-line InputError or exactly the same scores, never other scores."""
    original = saved["npz"].read_bytes()
    expected = read_safe_bundle(saved["npz"]).bundle.classifier.predict_proba(saved["x"])
    rng = np.random.default_rng(7)
    damaged = tmp_path / "svm.npz"
    outcomes = {"error": 0, "same": 0}
    for _ in range(400):
        data = bytearray(original)
        position = int(rng.integers(len(data)))
        data[position] ^= int(rng.integers(1, 256))
        damaged.write_bytes(bytes(data))
        try:
            scores = read_safe_bundle(damaged).bundle.classifier.predict_proba(saved["x"])
        except InputError as err:
            assert "\n" not in str(err) and str(damaged) in str(err)
            outcomes["error"] += 1
            continue
        np.testing.assert_array_equal(scores, expected, err_msg=f"byte {position} changed the scores")
        outcomes["same"] += 1
    assert outcomes["error"] > 300  # most bytes are content: a change is caught, not ignored


def test_hostile_npz_files_are_refused(saved: dict[str, Path], tmp_path: Path) -> None:
    objects = tmp_path / "objects.npz"
    np.savez(objects, meta=np.array([{"format": "x"}], dtype=object))
    deflated = tmp_path / "deflated.npz"
    np.savez_compressed(deflated, meta=np.frombuffer(b"{}", dtype=np.uint8))
    renamed = tmp_path / "renamed.npz"
    renamed.write_bytes(saved["pkl"].read_bytes())
    extra = tmp_path / "extra.npz"
    with zipfile.ZipFile(saved["npz"]) as source, zipfile.ZipFile(extra, "w") as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        target.writestr("script.py", b"print('hello')")
    for path, fragment in ((objects, "not a readable .npz"), (deflated, "compressed members"),
                           (renamed, "not a readable .npz"), (extra, "unexpected members")):
        with pytest.raises(InputError, match=fragment):
            read_safe_bundle(path)


def test_a_consistent_file_with_wrong_values_is_refused(saved: dict[str, Path], tmp_path: Path) -> None:
    bundle = read_safe_bundle(saved["npz"]).bundle
    bundle.embedding_dim = 8  # the SVM has width 16
    path = write_safe_bundle(bundle, tmp_path / "svm.npz", models={})
    with pytest.raises(InputError, match="the SVM has width 16 but the file says embedding size 8"):
        read_safe_bundle(path)


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"absent.pkl does not exist \(nor .*absent.npz\)"):
        load_classifier(tmp_path / "absent.pkl")
    assert not os.path.exists(tmp_path / "absent.npz")
