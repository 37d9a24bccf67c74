"""Temporal models: masking, shapes, save → load, the end-to-end clip model (tiny sizes, random weights)."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from dfembed.core.errors import ConfigError, InputError
from dfembed.model.sequence import INPUT_CLIPS, INPUT_EMBEDDINGS, INPUT_MASK
from dfembed.model.temporal import (
    build_clip_model,
    build_temporal_model,
    load_temporal_model,
    predict_sequences,
    save_temporal_model,
    split_clip_model,
    temporal_embedding_dim,
)

DIM = 6
RNG = np.random.default_rng(0)
FACES = RNG.normal(size=(4, DIM)).astype(np.float32)  # four faces of one track, in time order


@pytest.fixture(scope="module", params=["gru", "lstm", "transformer"])
def model(request: pytest.FixtureRequest) -> keras.Model:
    keras.utils.set_random_seed(0)
    return build_temporal_model(request.param, DIM, units=8, layers=2, heads=2, dropout=0.1)


def _with_gaps() -> tuple[np.ndarray, np.ndarray]:
    """The four faces on a 7-entry timeline with gaps at 0, 2 and 5; the gaps hold junk values."""
    values = np.full((1, 7, DIM), 9.0, dtype=np.float32)
    mask = np.zeros((1, 7), dtype=bool)
    values[0, [1, 3, 4, 6]], mask[0, [1, 3, 4, 6]] = FACES, True
    return values, mask


def test_gaps_score_as_the_same_faces_without_gaps_when_the_model_is_told(model: keras.Model) -> None:
    values, mask = _with_gaps()
    compact = predict_sequences(model, FACES[None], np.ones((1, 4), bool))
    np.testing.assert_allclose(predict_sequences(model, values, mask), compact, atol=1e-6)
    trailing = np.concatenate([FACES[None], np.full((1, 3, DIM), -4.0, np.float32)], axis=1)
    padded_mask = np.array([[True] * 4 + [False] * 3])
    np.testing.assert_allclose(predict_sequences(model, trailing, padded_mask), compact, atol=1e-6)
    untold = predict_sequences(model, values, np.ones((1, 7), bool))  # the junk is read as faces
    assert abs(untold[0] - compact[0]) > 1e-4


def test_shapes_probabilities_and_any_length(model: keras.Model) -> None:
    for steps in (1, 3, 16):
        batch = RNG.normal(size=(5, steps, DIM)).astype(np.float32)
        scores = predict_sequences(model, batch, np.ones((5, steps), bool), batch_size=2)
        assert scores.shape == (5,) and ((scores > 0) & (scores < 1)).all()
    assert temporal_embedding_dim(model) == DIM
    assert predict_sequences(model, np.zeros((0, 4, DIM)), np.zeros((0, 4), bool)).shape == (0,)


def test_save_load_gives_the_same_scores(model: keras.Model, tmp_path: Path) -> None:
    values, mask = _with_gaps()
    batch = np.concatenate([values, RNG.normal(size=(3, 7, DIM)).astype(np.float32)])
    masks = np.concatenate([mask, RNG.uniform(size=(3, 7)) > 0.3])
    path = save_temporal_model(model, tmp_path / "temporal.keras")
    loaded = load_temporal_model(path)
    np.testing.assert_array_equal(predict_sequences(loaded, batch, masks), predict_sequences(model, batch, masks))


@pytest.mark.slow
def test_training_reduces_the_loss_of_a_learnable_rule() -> None:
    """A GRU learns 'fake when the faces drift' (mean step > 0) on 64 sequences; a contract, not accuracy."""
    keras.utils.set_random_seed(1)
    net = build_temporal_model("gru", 2, units=8, dropout=0.0)
    net.compile(optimizer=keras.optimizers.Adam(0.02), loss="binary_crossentropy")
    labels = np.arange(64) % 2
    steps = RNG.normal(size=(64, 6, 2)) * 0.1 + labels[:, None, None] * 0.5
    values = np.cumsum(steps, axis=1).astype(np.float32)
    inputs = {INPUT_EMBEDDINGS: values, INPUT_MASK: RNG.uniform(size=(64, 6)) > 0.2}
    history = net.fit(inputs, labels.astype(np.float32), epochs=15, batch_size=16, verbose=0).history["loss"]
    assert history[-1] < 0.7 * history[0]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [({"kind": "tcn"}, "unknown temporal model 'tcn'"), ({"kind": "transformer", "units": 6, "heads": 4}, "divisible"),
     ({"kind": "gru", "dropout": 1.0}, "dropout")],
)
def test_bad_options_are_named(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        build_temporal_model(embedding_dim=DIM, **kwargs)


def test_a_file_that_is_not_a_temporal_model_is_refused(tmp_path: Path) -> None:
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    other.save(tmp_path / "other.keras")
    with pytest.raises(InputError, match="other.keras: .*not a dfembed temporal model"):
        load_temporal_model(tmp_path / "other.keras")
    (tmp_path / "junk.keras").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="cannot be loaded"):
        load_temporal_model(tmp_path / "junk.keras")
    with pytest.raises(InputError, match="does not exist"):
        load_temporal_model(tmp_path / "none.keras")


@pytest.mark.slow
def test_clip_model_is_the_embedder_per_frame_then_the_sequence_model() -> None:
    """The clip model's P(fake) equals embedding each frame alone and scoring the masked sequence."""
    from dfembed.model.network import build_embedding_model

    keras.utils.set_random_seed(0)
    embedder = build_embedding_model("b0", image_size=32, weights="none", embedding_dim=DIM)
    head = build_temporal_model("gru", DIM, units=4)
    clip_model = build_clip_model(embedder, head, frames=3)
    clips = RNG.uniform(0, 255, size=(2, 3, 32, 32, 3)).astype(np.float32)
    mask = np.array([[True, False, True], [True, True, True]])
    scores = np.asarray(clip_model.predict({INPUT_CLIPS: clips, INPUT_MASK: mask}, verbose=0)).reshape(-1)
    inner, sequence_model = split_clip_model(clip_model)
    frames = np.asarray(inner.predict(clips.reshape(6, 32, 32, 3), verbose=0)).reshape(2, 3, DIM)
    np.testing.assert_allclose(scores, predict_sequences(sequence_model, frames, mask), atol=1e-5)
    with pytest.raises(ConfigError, match="8-d embeddings, the temporal model reads 6"):
        build_clip_model(build_embedding_model("b0", 32, "none", embedding_dim=8), head, frames=3)
