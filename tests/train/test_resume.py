"""A resumed run trains exactly what an uninterrupted run trains; a bad run folder fails before any work."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

from dfembed.core.errors import InputError, LockedError
from dfembed.core.lock import OutputLock, lock_file_beside
from dfembed.model.safe_bundle import read_safe_bundle
from dfembed.train.config import TrainConfig
from dfembed.train.run import run_train
from tests.train.trees import write_tree

pytestmark = pytest.mark.slow

TINY = TrainConfig(
    backbone="tiny", image_size=32, weights="none", embedding_dim=8, batch_size=4, epochs=2, steps_per_epoch=2,
    val_fraction=0.0, workers=1, embed_batch_size=8, tensorboard=False, keep="last", dropout=0.4,
)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three real and three fake 'videos' of three frames each: a group split gives both classes both sides."""
    counts = {"real": {f"r{i}vid": 3 for i in range(3)}, "fake": {f"f{i}vid": 3 for i in range(3)}}
    return write_tree(tmp_path_factory.mktemp("data"), counts)


@pytest.fixture(scope="module")
def uninterrupted(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("whole")
    run_train(data, out / "model.h5", out / "svm.pkl", TINY)
    return out


def _weights(path: Path) -> list[np.ndarray]:
    return keras.models.load_model(path, compile=False).get_weights()


def _history(out: Path) -> list[dict]:
    return json.loads((out / "model.run" / "state.json").read_text())["history"]


def test_a_run_stopped_after_epoch_one_and_resumed_equals_the_uninterrupted_run(
    data: Path, uninterrupted: Path, tmp_path: Path
) -> None:
    model, classifier = tmp_path / "model.h5", tmp_path / "svm.pkl"
    run_train(data, model, classifier, dataclasses.replace(TINY, epochs=1))  # stops (as a kill would) after epoch 1
    keras.utils.set_random_seed(12345)  # whatever ran in between must not matter
    np.random.default_rng().normal(size=100)
    run_train(data, model, classifier, TINY, resume=True, force=True)
    for ours, theirs in zip(_weights(model), _weights(uninterrupted / "model.h5"), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert _history(tmp_path) == _history(uninterrupted)
    assert [sorted(h) for h in _history(tmp_path)] == [["epoch", "loss"]] * 2
    x = np.random.default_rng(0).normal(size=(4, 8))
    np.testing.assert_array_equal(read_safe_bundle(tmp_path / "svm.npz").bundle.classifier.predict_proba(x),
                                  read_safe_bundle(uninterrupted / "svm.npz").bundle.classifier.predict_proba(x))


def _copy_run(uninterrupted: Path, tmp_path: Path) -> Path:
    shutil.copytree(uninterrupted / "model.run", tmp_path / "model.run")
    return tmp_path / "model.run"


@pytest.mark.parametrize(("state", "fragment"), [
    ({}, "names no checkpoint"),
    ([], "expected a JSON object"),
    ({"epoch": "2", "checkpoint": "epoch-002.keras"}, r"bad epoch, checkpoint"),
    ({"epoch": 1, "checkpoint": "../../outside.keras"}, "bad checkpoint"),
    ({"epoch": 1, "checkpoint": "epoch-001.keras", "history": [{"loss": "x"}]}, "bad history"),
    ({"epoch": 1, "checkpoint": "epoch-001.keras", "config": {"epochs": "ten", "schedule": "cosine"}}, "bad config"),
])
def test_a_malformed_state_is_refused_before_the_data_is_read(
    uninterrupted: Path, tmp_path: Path, state: object, fragment: str
) -> None:
    run_dir = _copy_run(uninterrupted, tmp_path)
    (run_dir / "state.json").write_text(json.dumps(state))
    empty = tmp_path / "empty"  # no real/ nor fake/: reading it would be another error
    empty.mkdir()
    with pytest.raises(InputError, match=fragment):
        run_train(empty, tmp_path / "model.h5", tmp_path / "svm.pkl", dataclasses.replace(TINY, epochs=3), resume=True)


@pytest.mark.parametrize("damage", ["truncated", "planted", "linked outside"])
def test_a_damaged_or_planted_checkpoint_is_a_clear_error(
    data: Path, uninterrupted: Path, tmp_path: Path, damage: str
) -> None:
    run_dir = _copy_run(uninterrupted, tmp_path)
    checkpoint = run_dir / "epoch-002.keras"
    if damage == "truncated":
        checkpoint.write_bytes(checkpoint.read_bytes()[:5000])
        fragment = "cannot be loaded"
    elif damage == "planted":
        checkpoint.write_bytes(b"#!/bin/sh\necho not a checkpoint\n")
        fragment = "cannot be loaded"
    else:
        outside = tmp_path / "outside.keras"
        checkpoint.rename(outside)
        checkpoint.symlink_to(outside)
        fragment = "outside the run folder"
    with pytest.raises(InputError, match=fragment):
        run_train(data, tmp_path / "model.h5", tmp_path / "svm.pkl", dataclasses.replace(TINY, epochs=3), resume=True)


def test_a_second_job_on_the_same_run_folder_fails_at_once(data: Path, tmp_path: Path) -> None:
    with OutputLock(lock_file_beside(tmp_path / "model.run"), "held by this test"):
        with pytest.raises(LockedError, match=r"run folder .*model.run is in use by another dfembed job \(pid "):
            run_train(data, tmp_path / "model.h5", tmp_path / "svm.pkl", TINY)
    assert not (tmp_path / "model.run").exists()
