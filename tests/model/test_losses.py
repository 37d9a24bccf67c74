"""Semi-hard triplet loss: tensorflow-addons' own values, a brute-force reference, edge cases."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from dfembed.core.errors import ConfigError
from dfembed.model.losses import TripletSemiHardLoss, triplet_semihard_loss
from tests.support import shared_path


def _golden_cases() -> list[tuple[dict, str, str, float]]:
    path = shared_path("..", "reference", "triplet_semihard_golden.json")
    cases = json.loads(path.read_text())["cases"]
    out = []
    for case in cases:
        for key in sorted(k for k in case if k.startswith("loss_")):
            distance, margin = key.removeprefix("loss_").split("_margin")
            out.append((case, distance, margin, case[key]))
    return out


def test_matches_tensorflow_addons_golden_values() -> None:
    """All 24 values computed by tfa 0.23 itself (6 batches × 2 distances × 2 margins)."""
    cases = _golden_cases()
    assert len(cases) == 24
    for case, distance, margin, expected in cases:
        labels = np.asarray(case["labels"])
        embeddings = np.asarray(case["embeddings"], dtype=np.float32)
        got = float(triplet_semihard_loss(labels, embeddings, margin=float(margin), distance=distance))
        assert got == pytest.approx(expected, rel=1e-5, abs=1e-5), (case["seed"], distance, margin)


@pytest.mark.parametrize(
    ("distance", "margin", "expected"),
    [("squared-L2", 1.0, 2.0), ("squared-L2", 10.0, 5.75), ("L2", 1.0, 0.5)],
)
def test_hand_built_batch(distance: str, margin: float, expected: float) -> None:
    """1-D embeddings x = [0, 2, 3, 7], labels [0, 0, 1, 1]; four anchor–positive pairs.

    Squared distances: d01=4, d02=9, d03=49, d12=1, d13=25, d23=16.
    - (0,1): d_ap=4, negatives of 0 at 9, 49 → semi-hard 9.
    - (1,0): d_ap=4, negatives of 1 at 1, 25 → semi-hard 25 (the harder 1 is not semi-hard).
    - (2,3): d_ap=16, negatives of 2 at 9, 1 → none farther → hardest, 9.
    - (3,2): d_ap=16, negatives of 3 at 49, 25 → semi-hard 25.
    Margin 1: hinges 0, 0, 16-9+1=8, 0 → 8/4 = 2.
    Margin 10: 4-9+10=5, 0, 17, 16-25+10=1 → 23/4 = 5.75.
    L2 (d01=2, d02=3, d03=7, d12=1, d13=5, d23=4), margin 1: negatives 3, 5, 3 (fallback), 5 →
    hinges 0, 0, 4-3+1=2, 0 → 2/4 = 0.5.
    """
    embeddings = np.array([[0.0], [2.0], [3.0], [7.0]], dtype=np.float32)
    labels = np.array([0, 0, 1, 1])
    got = float(triplet_semihard_loss(labels, embeddings, margin=margin, distance=distance))
    assert got == pytest.approx(expected, abs=1e-6)


def _brute_force(labels: np.ndarray, embeddings: np.ndarray, margin: float, squared: bool) -> float:
    """FaceNet semi-hard triplet loss by explicit loops over (anchor, positive, negative), float64."""
    x = embeddings.astype(np.float64)
    hinges = []
    for a in range(len(x)):
        dist = np.array([np.sum((x[a] - x[j]) ** 2) for j in range(len(x))])
        if not squared:
            dist = np.sqrt(dist)
        negatives = [dist[n] for n in range(len(x)) if labels[n] != labels[a]]
        assert negatives, "test batches hold two classes"
        for p in range(len(x)):
            if p == a or labels[p] != labels[a]:
                continue
            farther = [d for d in negatives if d > dist[p]]
            d_an = min(farther) if farther else max(negatives)
            hinges.append(max(dist[p] - d_an + margin, 0.0))
    return float(np.mean(hinges))


@pytest.mark.parametrize("seed", range(8))
def test_matches_brute_force_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size, dim = int(rng.integers(4, 33)), int(rng.integers(2, 65))
    labels = rng.integers(0, int(rng.integers(2, 5)), size)
    labels[:2] = [0, 1]  # at least two classes
    embeddings = rng.normal(size=(size, dim)).astype(np.float32)
    if seed % 2 == 0:
        embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    for distance, squared in (("squared-L2", True), ("L2", False)):
        for margin in (1.0, 0.2):
            got = float(triplet_semihard_loss(labels, embeddings, margin=margin, distance=distance))
            expected = _brute_force(labels, embeddings, margin, squared)
            assert got == pytest.approx(expected, rel=1e-5, abs=1e-5), (distance, margin)


@pytest.mark.parametrize("distance", ["squared-L2", "L2"])
def test_gradients_are_finite_with_duplicate_embeddings(distance: str) -> None:
    """Rows 0 and 1 are identical: distance 0 off the diagonal, where sqrt has no derivative."""
    rng = np.random.default_rng(1)
    values = rng.normal(size=(8, 5)).astype(np.float32)
    values[1] = values[0]
    embeddings = tf.Variable(values)
    labels = tf.constant([0, 0, 1, 1, 0, 1, 0, 1])
    with tf.GradientTape() as tape:
        loss = triplet_semihard_loss(labels, embeddings, distance=distance)
    grad = tape.gradient(loss, embeddings).numpy()
    assert np.all(np.isfinite(grad))
    assert np.any(grad != 0.0)


def test_float16_input_is_computed_in_float32() -> None:
    rng = np.random.default_rng(2)
    labels = np.array([0, 1, 0, 1, 1, 0])
    half = rng.normal(size=(6, 16)).astype(np.float16)
    loss = triplet_semihard_loss(labels, half)
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    expected = _brute_force(labels, half.astype(np.float32), 1.0, squared=True)
    assert float(loss) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("distance", ["squared-L2", "L2"])
def test_batch_without_positive_pair_gives_zero(distance: str) -> None:
    embeddings = tf.Variable(np.eye(4, 3, dtype=np.float32))
    with tf.GradientTape() as tape:
        loss = triplet_semihard_loss(tf.constant([0, 1, 2, 3]), embeddings, distance=distance)
    assert float(loss) == 0.0
    assert np.all(np.isfinite(tape.gradient(loss, embeddings).numpy()))


def test_unknown_distance_names_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"'cosine'.*'squared-L2', 'L2'"):
        triplet_semihard_loss([0, 0, 1, 1], np.zeros((4, 2), np.float32), distance="cosine")
    with pytest.raises(ConfigError, match="cosine"):
        TripletSemiHardLoss(distance="cosine")


def test_loss_class_serialises_and_matches_the_function() -> None:
    loss = TripletSemiHardLoss(margin=0.2, distance="L2")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(restored, TripletSemiHardLoss)
    assert (restored.margin, restored.distance) == (0.2, "L2")
    assert restored.get_config() == loss.get_config()
    rng = np.random.default_rng(3)
    labels = np.array([0, 1, 1, 0, 1, 0, 0, 1])
    embeddings = rng.normal(size=(8, 4)).astype(np.float32)
    expected = float(triplet_semihard_loss(labels, embeddings, margin=0.2, distance="L2"))
    assert float(restored(labels, embeddings)) == pytest.approx(expected, rel=1e-6)
    assert float(restored(labels.reshape(-1, 1), embeddings)) == pytest.approx(expected, rel=1e-6)



def test_class_axis_loss_is_the_cross_entropy_of_the_first_axis() -> None:
    from dfembed.model.losses import class_axis_loss

    labels = np.array([0, 1, 1, 0])
    first = np.array([-0.5, 0.25, -1.0, 0.0])  # the first axis of each embedding; the other axis is ignored
    embeddings = np.stack([first, np.array([0.9, -0.1, 0.3, 1.0])], axis=1).astype(np.float32)
    # by hand, logit z = 2 x: real -0.5 -> ln(1 + e^-1); fake 0.25 -> ln(1 + e^-0.5); fake -1 -> ln(1 + e^2);
    # real 0 -> ln 2
    expected = (np.log1p(np.exp(-1.0)) + np.log1p(np.exp(-0.5)) + np.log1p(np.exp(2.0)) + np.log(2.0)) / 4
    assert float(class_axis_loss(labels, embeddings, scale=2.0)) == pytest.approx(expected, rel=1e-6)
    far = np.array([[-1.0, 0.0], [1.0, 0.0]], np.float32)  # each class far on its side: a tiny loss, no overflow
    assert 0.0 <= float(class_axis_loss(np.array([0, 1]), far, scale=100.0)) < 1e-6
    wrong = float(class_axis_loss(np.array([1, 0]), far, scale=100.0))  # both on the wrong side: 100 each
    assert wrong == pytest.approx(100.0, rel=1e-6)


def test_the_class_weight_adds_the_axis_loss_and_serialises() -> None:
    from dfembed.model.losses import CLASS_AXIS_SCALE, class_axis_loss

    rng = np.random.default_rng(5)
    labels = np.array([0, 1, 1, 0, 1, 0])
    embeddings = rng.normal(size=(6, 3)).astype(np.float32)
    triplet = float(triplet_semihard_loss(labels, embeddings))
    axis = float(class_axis_loss(labels, embeddings, CLASS_AXIS_SCALE))
    assert float(TripletSemiHardLoss()(labels, embeddings)) == pytest.approx(triplet, rel=1e-6)
    weighted = TripletSemiHardLoss(class_weight=0.5)
    assert float(weighted(labels, embeddings)) == pytest.approx(triplet + 0.5 * axis, rel=1e-6)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(weighted))
    assert restored.class_weight == 0.5
    old = {k: v for k, v in TripletSemiHardLoss().get_config().items() if k != "class_weight"}
    assert TripletSemiHardLoss.from_config(old).class_weight == 0.0  # a checkpoint saved before the option

_JAX_SCRIPT = """
import json, sys
import jax, keras, numpy as np
from dfembed.model.losses import triplet_semihard_loss
assert keras.backend.backend() == "jax"
cases = json.loads(sys.stdin.read())
# Compiled once per batch shape and distance; op-by-op dispatch would be several times slower.
loss = jax.jit(triplet_semihard_loss, static_argnames="distance")
out = {"losses": [float(loss(np.array(c["labels"]), np.array(c["embeddings"], np.float32),
                             c["margin"], distance=c["distance"])) for c in cases]}
duplicates = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], np.float32)
grad = jax.jit(jax.grad(lambda e: loss(np.array([0, 0, 1, 1]), e, 1.0, distance="L2")))(duplicates)
out["grad_finite"] = bool(np.all(np.isfinite(np.asarray(grad))))
out["no_positive"] = float(loss(np.arange(3), duplicates[:3], 1.0, distance="L2"))
out["float16_dtype"] = str(loss(np.array([0, 0, 1, 1]), duplicates.astype(np.float16), 1.0, distance="L2").dtype)
print(json.dumps(out))
"""


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed (requirements-dev.txt)")
def test_loss_under_the_jax_backend() -> None:
    """The same values, finite gradients and edge cases with KERAS_BACKEND=jax (a subprocess)."""
    cases = [
        {"labels": [0, 0, 1, 1], "embeddings": [[0.0], [2.0], [3.0], [7.0]], "margin": m, "distance": d, "expected": e}
        for d, m, e in (("squared-L2", 1.0, 2.0), ("squared-L2", 10.0, 5.75), ("L2", 1.0, 0.5))
    ]
    for case, distance, margin, expected in _golden_cases():  # skips the test when the file is absent
        cases.append({**case, "margin": float(margin), "distance": distance, "expected": expected})
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", _JAX_SCRIPT], input=json.dumps(cases), env=env,
        capture_output=True, text=True, timeout=180, check=True,
    )  # fmt: skip
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["losses"] == pytest.approx([c["expected"] for c in cases], rel=1e-5, abs=1e-5)
    assert out["grad_finite"] and out["no_positive"] == 0.0 and out["float16_dtype"] == "float32"
