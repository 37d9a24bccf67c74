"""Temporal models: masked sequences of face embeddings → P(fake) of the video.

Two networks share one head:

* :func:`build_temporal_model` reads ``embeddings (B, T, D)`` and ``mask (B, T)``
  (false at gaps, see :mod:`dfembed.model.sequence`) — the frozen-embedding model of
  ``dfembed temporal train``;
* :func:`build_clip_model` wraps an embedding network (:mod:`dfembed.model.network`) in
  ``TimeDistributed`` (:class:`FoldedTimeDistributed`: one call on all frames) in front of such a model and reads ``clips (B, T, S, S, 3)`` —
  the end-to-end model of ``train.py --temporal T``. :func:`split_clip_model` takes it
  apart again into the embedding network and the sequence model.

Inside a sequence model the faces are first moved to the front of the sequence, in
order, and the gaps to the back (:class:`CompactFaces`); then

* ``"gru"`` / ``"lstm"``: bidirectional recurrent layers over the faces only (Keras
  masking), or
* ``"transformer"``: a linear projection, sinusoidal positions (the rank of a face
  among the faces), and Transformer encoder blocks whose attention ignores gaps;

then attention pooling over the faces (:class:`AttentionPooling`) and a sigmoid unit.
A sequence with gaps therefore scores exactly as the same faces without the gaps. The
time dimension is free: a model trained on ``T`` frames reads any length.

Only ``keras.layers`` and ``keras.ops``: every Keras 3 backend. Models are saved in the
Keras 3 format (``.keras``, a zip of JSON and weights — no pickle); the custom layers
are registered under the ``dfembed`` package, so importing this module is all that
loading needs.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from dfembed.core.errors import ConfigError, InputError
from dfembed.model.keras_file import load_keras_file
from dfembed.model.names import TEMPORAL_KINDS
from dfembed.model.sequence import INPUT_CLIPS, INPUT_EMBEDDINGS, INPUT_MASK

log = logging.getLogger(__name__)

TEMPORAL_MODEL_NAME = "dfembed_temporal"
CLIP_MODEL_NAME = "dfembed_clip"
FRAME_EMBEDDER_NAME = "frame_embedder"
#: The record written beside a temporal model ``<stem>.keras``: ``<stem>.dfembed-temporal.json``.
RECORD_SUFFIX = ".dfembed-temporal.json"
_NEG = -1e9  # masked attention logits (computed in float32)


@keras.saving.register_keras_serializable(package="dfembed")
class CompactFaces(keras.layers.Layer):
    """Moves the faces of each sequence to its front, in order, and the gaps to its back.

    Call with ``(values, mask)``: ``values (B, T, C)``, ``mask (B, T)`` bool. Returns the
    reordered values and mask; after it every mask is ``[True … True, False … False]``,
    the layout recurrent layers (and cuDNN) expect.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, values: Any, mask: Any) -> tuple[Any, Any]:
        steps = ops.shape(values)[1]
        index = ops.expand_dims(ops.arange(steps, dtype="int32"), 0)
        key = ops.where(ops.cast(mask, "bool"), index, index + steps)  # faces first, each group in order
        order = ops.argsort(key, axis=-1)
        moved = ops.take_along_axis(values, ops.expand_dims(order, -1), axis=1)
        return moved, ops.take_along_axis(ops.cast(mask, "bool"), order, axis=1)

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None


@keras.saving.register_keras_serializable(package="dfembed")
class PositionEncoding(keras.layers.Layer):
    """Adds the sinusoidal position encoding of "Attention is all you need" to ``(B, T, C)``.

    The position of an entry is its index, which after :class:`CompactFaces` is the rank of
    the face among the sequence's faces. ``C`` must be even.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, values: Any) -> Any:
        steps, channels = ops.shape(values)[1], values.shape[-1]
        position = ops.expand_dims(ops.cast(ops.arange(steps), "float32"), 1)
        rates = ops.exp(ops.cast(ops.arange(0, channels, 2), "float32") * (-math.log(10000.0) / channels))
        angles = position * ops.expand_dims(rates, 0)
        encoding = ops.reshape(ops.stack([ops.sin(angles), ops.cos(angles)], axis=-1), (steps, channels))
        return values + ops.cast(ops.expand_dims(encoding, 0), values.dtype)


@keras.saving.register_keras_serializable(package="dfembed")
class TransformerBlock(keras.layers.Layer):
    """One post-norm Transformer encoder block whose attention ignores masked entries.

    Call with ``(values (B, T, C), mask (B, T))``; returns ``(B, T, C)``. Outputs at
    masked entries are computed but meaningless; nothing downstream reads them.

    Args:
        units: Width ``C``.
        heads: Attention heads (``units`` divisible by it).
        dropout: Dropout of attention and feed-forward outputs.
    """

    def __init__(self, units: int, heads: int, dropout: float = 0.1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units, self.heads, self.dropout = units, heads, dropout
        self.attention = keras.layers.MultiHeadAttention(heads, units // heads, dropout=dropout, name="attention")
        self.hidden = keras.layers.Dense(2 * units, activation="gelu", name="hidden")
        self.back = keras.layers.Dense(units, name="back")
        self.norm1 = keras.layers.LayerNormalization(name="norm1")
        self.norm2 = keras.layers.LayerNormalization(name="norm2")
        self.drop = keras.layers.Dropout(dropout)

    def build(self, values_shape: Any, mask_shape: Any = None) -> None:
        self.attention.build(values_shape, values_shape)
        self.hidden.build(values_shape)
        self.back.build((*values_shape[:-1], 2 * self.units))
        self.norm1.build(values_shape)
        self.norm2.build(values_shape)

    def call(self, values: Any, mask: Any, training: bool | None = None) -> Any:
        keys = ops.expand_dims(ops.cast(mask, "bool"), 1)  # (B, 1, T): every query sees the faces only
        pairs = ops.logical_and(keys, ops.expand_dims(ops.ones_like(ops.cast(mask, "bool")), 2))
        attended = self.attention(values, values, attention_mask=pairs, training=training)
        values = self.norm1(values + self.drop(attended, training=training))
        fed = self.back(self.hidden(values))
        return self.norm2(values + self.drop(fed, training=training))

    def compute_output_shape(self, values_shape: Any, mask_shape: Any = None) -> Any:
        return values_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units, "heads": self.heads, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="dfembed")
class FoldedTimeDistributed(keras.layers.TimeDistributed):
    """``TimeDistributed`` that runs its layer once on all ``B × T`` frames, not ``T`` times on ``B``.

    Keras 3's ``TimeDistributed`` loops over a static time axis, calling the layer on each
    time step's batch: ``T`` copies of the backbone in the graph and batch statistics over
    ``B`` images only. Folding time into the batch gives the same per-frame outputs (the
    layer sees each frame alone) with one call, and batch normalisation sees all ``B × T``
    frames, as a frame model trained on batches of ``B × T`` would.
    """

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        steps = inputs.shape[1]
        folded = ops.reshape(inputs, (-1, *inputs.shape[2:]))
        outputs = self.layer(folded, training=training)
        return ops.reshape(outputs, (-1, steps, *outputs.shape[1:]))


@keras.saving.register_keras_serializable(package="dfembed")
class AttentionPooling(keras.layers.Layer):
    """A learned weighted mean over the unmasked entries: ``(B, T, C), (B, T) → (B, C)``.

    The weights are a softmax of one linear score per entry, computed in float32 with
    masked entries at -1e9 (their weight is exactly 0).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True
        self.score = keras.layers.Dense(1, name="score")

    def build(self, values_shape: Any, mask_shape: Any = None) -> None:
        self.score.build(values_shape)

    def call(self, values: Any, mask: Any) -> Any:
        mask = ops.cast(mask, "bool")
        logits = ops.where(mask, ops.cast(ops.squeeze(self.score(values), -1), "float32"), _NEG)
        weights = ops.softmax(logits, axis=-1) * ops.cast(mask, "float32")
        weights = weights / (ops.sum(weights, axis=-1, keepdims=True) + 1e-9)  # a sequence without faces gives 0
        return ops.sum(values * ops.cast(ops.expand_dims(weights, -1), values.dtype), axis=1)

    def compute_output_shape(self, values_shape: Any, mask_shape: Any = None) -> Any:
        return (values_shape[0], values_shape[-1])

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None


def build_temporal_model(
    kind: str,
    embedding_dim: int,
    units: int = 64,
    layers: int = 1,
    heads: int = 4,
    dropout: float = 0.1,
) -> keras.Model:
    """The sequence model: masked face embeddings → P(fake) (see the module docstring).

    Args:
        kind: ``"gru"``, ``"lstm"`` or ``"transformer"``.
        embedding_dim: Width ``D`` of the frame embeddings.
        units: Width of each direction of a recurrent layer, or of the Transformer.
        layers: Recurrent layers or Transformer blocks.
        heads: Attention heads (Transformer; must divide ``units``).
        dropout: Dropout inside the layers and before the output.

    Returns:
        An uncompiled model named ``dfembed_temporal`` with inputs ``{"embeddings": (B, T, D),
        "mask": (B, T) bool}`` and output P(fake) ``(B, 1)`` in float32.

    Raises:
        ConfigError: An unknown kind or an option out of range.
    """
    _check_options(kind, embedding_dim, units, layers, heads, dropout)
    embeddings = keras.Input((None, embedding_dim), name=INPUT_EMBEDDINGS)
    mask = keras.Input((None,), dtype="bool", name=INPUT_MASK)
    values, faces = CompactFaces(name="compact_faces")(embeddings, mask)
    if kind == "transformer":
        values = PositionEncoding(name="positions")(keras.layers.Dense(units, name="project")(values))
        for i in range(layers):
            values = TransformerBlock(units, heads, dropout, name=f"block_{i}")(values, faces)
    else:
        cell = keras.layers.GRU if kind == "gru" else keras.layers.LSTM
        for i in range(layers):
            rnn = cell(units, return_sequences=True, dropout=dropout, name=f"{kind}_{i}")
            values = keras.layers.Bidirectional(rnn, name=f"bi{kind}_{i}")(values, mask=faces)
    pooled = keras.layers.Dropout(dropout, name="pooled_dropout")(AttentionPooling(name="pool")(values, faces))
    output = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="p_fake")(pooled)
    return keras.Model({INPUT_EMBEDDINGS: embeddings, INPUT_MASK: mask}, output, name=TEMPORAL_MODEL_NAME)


def _check_options(kind: str, embedding_dim: int, units: int, layers: int, heads: int, dropout: float) -> None:
    if kind not in TEMPORAL_KINDS:
        raise ConfigError(f"unknown temporal model {kind!r}; choose one of {', '.join(TEMPORAL_KINDS)}")
    if min(embedding_dim, units, layers, heads) < 1:
        raise ConfigError(f"embedding size, units, layers and heads must be at least 1, got "
                          f"{embedding_dim}, {units}, {layers}, {heads}")
    if kind == "transformer" and (units % heads or units % 2):
        raise ConfigError(f"transformer units ({units}) must be even and divisible by heads ({heads})")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout must lie in [0, 1), got {dropout}")


def build_clip_model(embedder: keras.Model, head: keras.Model, frames: int) -> keras.Model:
    """The end-to-end model: ``TimeDistributed(embedder)`` in front of a sequence model.

    Args:
        embedder: An embedding network, images ``(B, S, S, 3)`` 0..255 → ``(B, D)``.
        head: A model from :func:`build_temporal_model` with the same ``D``.
        frames: Clip length ``T``.

    Returns:
        An uncompiled model named ``dfembed_clip`` with inputs ``{"clips": (B, T, S, S, 3),
        "mask": (B, T) bool}`` and output P(fake) ``(B, 1)``.

    Raises:
        ConfigError: The two parts disagree on the embedding size.
    """
    width, head_width = int(embedder.output_shape[-1]), int(head.input[INPUT_EMBEDDINGS].shape[-1])
    if width != head_width:
        raise ConfigError(f"the embedder gives {width}-d embeddings, the temporal model reads {head_width}")
    clips = keras.Input((frames, *embedder.input_shape[1:]), name=INPUT_CLIPS)
    mask = keras.Input((frames,), dtype="bool", name=INPUT_MASK)
    embeddings = FoldedTimeDistributed(embedder, name=FRAME_EMBEDDER_NAME)(clips)
    output = head({INPUT_EMBEDDINGS: embeddings, INPUT_MASK: mask})
    return keras.Model({INPUT_CLIPS: clips, INPUT_MASK: mask}, output, name=CLIP_MODEL_NAME)


def split_clip_model(model: keras.Model) -> tuple[keras.Model, keras.Model]:
    """The embedding network and the sequence model inside a :func:`build_clip_model` model.

    They share the clip model's weights (no copy): save them after training.

    Raises:
        InputError: ``model`` is not a clip model.
    """
    try:
        return model.get_layer(FRAME_EMBEDDER_NAME).layer, model.get_layer(TEMPORAL_MODEL_NAME)
    except ValueError as err:
        raise InputError(f"model {model.name!r} is not a dfembed clip model: {err}") from err


def record_path(model_path: str | os.PathLike[str]) -> Path:
    """The record beside a temporal model: the sequence settings, face track and embedder it was trained with."""
    path = Path(model_path)
    return path.with_name(path.stem + RECORD_SUFFIX)


def temporal_embedding_dim(model: keras.Model) -> int:
    """The embedding width a sequence model reads.

    Raises:
        InputError: ``model`` does not have the inputs of :func:`build_temporal_model`.
    """
    try:
        inputs = model.input if isinstance(model.input, dict) else {}
    except AttributeError:  # a model never called has no inputs
        inputs = {}
    shape = tuple(inputs[INPUT_EMBEDDINGS].shape) if INPUT_EMBEDDINGS in inputs else ()
    if INPUT_MASK not in inputs or len(shape) != 3 or shape[-1] is None:
        raise InputError(f"model {model.name!r} is not a dfembed temporal model (inputs 'embeddings' (B, T, D) "
                         "and 'mask' (B, T))")
    return int(shape[-1])


def load_temporal_model(path: str | os.PathLike[str]) -> keras.Model:
    """Load a sequence model saved in the Keras 3 format (no pickle; Keras's safe mode).

    Args:
        path: A ``.keras`` file written by ``dfembed temporal train`` or ``train.py --temporal``.

    Returns:
        The model (uncompiled).

    Raises:
        InputError: The file is missing, not a Keras model, or not a temporal model.
    """
    return load_keras_file(path, "temporal model", temporal_embedding_dim)


def save_temporal_model(model: keras.Model, path: str | os.PathLike[str]) -> Path:
    """Save a model in the Keras 3 format, atomically.

    Raises:
        ConfigError: ``path`` does not end in ``.keras``.
    """
    from dfembed.core.atomic import atomic_path

    path = Path(path)
    if path.suffix.lower() != ".keras":
        raise ConfigError(f"temporal model file {path}: the name must end in .keras")
    with atomic_path(path) as tmp:
        model.save(tmp)
    log.info("saved temporal model to %s", path)
    return path


def predict_sequences(model: keras.Model, embeddings: np.ndarray, mask: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """P(fake) of each sequence, ``(k,)`` float64 (``k`` may be 0).

    Sequences go to the model in batches of exactly ``batch_size`` rows (padded with
    masked rows), so scoring many videos with different numbers of sequences traces the
    model's predict function once, not once per count.

    Args:
        model: A sequence model.
        embeddings: ``(k, T, D)`` float32.
        mask: ``(k, T)`` bool.
        batch_size: Sequences per call.
    """
    embeddings, mask = np.asarray(embeddings, np.float32), np.asarray(mask, bool)
    if len(embeddings) == 0:
        return np.zeros((0,), dtype=np.float64)
    size = batch_size
    out = []
    for start in range(0, len(embeddings), size):
        chunk, chunk_mask = embeddings[start : start + size], mask[start : start + size]
        padded = np.zeros((size, *chunk.shape[1:]), np.float32)
        padded_mask = np.zeros((size, chunk.shape[1]), bool)
        padded[: len(chunk)], padded_mask[: len(chunk)] = chunk, chunk_mask
        scores = model.predict_on_batch({INPUT_EMBEDDINGS: padded, INPUT_MASK: padded_mask})
        out.append(np.asarray(scores, dtype=np.float64).reshape(-1)[: len(chunk)])
    return np.concatenate(out)
