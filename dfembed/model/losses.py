"""Semi-hard triplet loss (FaceNet; tensorflow-addons semantics) in ``keras.ops``.

For every anchor–positive pair ``(a, p)`` of the batch (same label, ``a != p``) the
loss picks a negative ``n`` (different label):

1. the *semi-hard* negative: the closest negative that is still farther from the
   anchor than the positive, ``min {D(a, n) : D(a, n) > D(a, p)}``;
2. when no negative is that far, the *hardest* one, ``max D(a, n)`` (tfa's fallback,
   kept for compatibility although FaceNet's paper says nothing about it).

The batch loss is ``mean over positive pairs of max(D(a, p) - D(a, n) + margin, 0)``.
This is a port of ``tfa.losses.triplet_semihard_loss`` (tensorflow-addons 0.23),
written with ``keras.ops`` only, so it runs under the TensorFlow, JAX and torch
backends. Two deliberate differences from tfa: a batch without any positive pair gives
0 instead of NaN, and the loss is returned in float32 even for float16 input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from keras import ops

from dfembed.core.errors import ConfigError
from dfembed.model.names import DEFAULT_DISTANCE, DISTANCE_NAMES

#: Scale of :func:`class_axis_loss`'s logit (a unit embedding's first axis is in [-1, 1]).
CLASS_AXIS_SCALE = 8.0


def _squared_l2(embeddings: Any) -> Any:
    """Pairwise squared Euclidean distances, clipped at 0, with a zero diagonal (tfa)."""
    squared_norms = ops.sum(ops.square(embeddings), axis=1, keepdims=True)
    gram = ops.matmul(embeddings, ops.transpose(embeddings))
    distances = squared_norms + ops.transpose(squared_norms) - 2.0 * gram
    distances = ops.maximum(distances, 0.0)
    return distances * _off_diagonal(ops.shape(embeddings)[0], distances.dtype)


def _l2(embeddings: Any) -> Any:
    """Pairwise Euclidean distances with a gradient that stays finite at distance 0.

    ``sqrt`` has an infinite derivative at 0 (the diagonal, duplicate embeddings), and
    ``0 * inf`` would make the gradient NaN; taking the root of 1 there and masking the
    result afterwards keeps every gradient finite and gives tfa's values.
    """
    squared = _squared_l2(embeddings)
    is_zero = ops.less_equal(squared, 0.0)
    safe = ops.where(is_zero, ops.ones_like(squared), squared)
    return ops.where(is_zero, ops.zeros_like(squared), ops.sqrt(safe))


DISTANCES: dict[str, Callable[[Any], Any]] = dict(zip(DISTANCE_NAMES, (_squared_l2, _l2), strict=True))


def distance_function(name: str) -> Callable[[Any], Any]:
    """Look up a pairwise distance by name (the single registry of distances).

    Args:
        name: ``"squared-L2"`` or ``"L2"``.

    Returns:
        A function mapping embeddings ``(B, D)`` to distances ``(B, B)``.

    Raises:
        ConfigError: ``name`` is not a known distance; the message lists the choices.
    """
    try:
        return DISTANCES[name]
    except (KeyError, TypeError):
        choices = ", ".join(repr(n) for n in DISTANCES)
        raise ConfigError(f"unknown triplet distance {name!r}; choose one of {choices}") from None


def _off_diagonal(size: Any, dtype: Any) -> Any:
    return ops.ones((size, size), dtype=dtype) - ops.eye(size, dtype=dtype)


def _masked_minimum(data: Any, mask: Any) -> Any:
    """Row-wise minimum of ``data`` over ``mask``; the row maximum where the mask is empty (tfa)."""
    row_max = ops.max(data, axis=-1, keepdims=True)
    return ops.min((data - row_max) * mask, axis=-1, keepdims=True) + row_max


def _masked_maximum(data: Any, mask: Any) -> Any:
    """Row-wise maximum of ``data`` over ``mask``; the row minimum where the mask is empty (tfa)."""
    row_min = ops.min(data, axis=-1, keepdims=True)
    return ops.max((data - row_min) * mask, axis=-1, keepdims=True) + row_min


def _semihard_negatives(distances: Any, negative: Any) -> Any:
    """Distance ``D(a, n)`` of the chosen negative for every pair ``(a, p)``; shape ``(B, B)``.

    ``farther[a, p, n]`` is true when ``n`` is a negative of ``a`` farther from ``a``
    than ``p`` is; tfa builds the same ``B³`` mask by tiling.
    """
    anchor_to_neg = ops.expand_dims(distances, 1)  # [a, 1, n]
    anchor_to_pos = ops.expand_dims(distances, 2)  # [a, p, 1]
    farther = ops.logical_and(ops.expand_dims(negative, 1), ops.greater(anchor_to_neg, anchor_to_pos))
    farther = ops.cast(farther, distances.dtype)
    tiled = ops.broadcast_to(anchor_to_neg, ops.shape(farther))
    outside = ops.squeeze(_masked_minimum(tiled, farther), -1)  # semi-hard, [a, p]
    inside = _masked_maximum(distances, ops.cast(negative, distances.dtype))  # hardest, [a, 1]
    has_semihard = ops.greater(ops.sum(farther, axis=-1), 0.0)
    return ops.where(has_semihard, outside, ops.broadcast_to(inside, ops.shape(outside)))


def triplet_semihard_loss(
    labels: Any, embeddings: Any, margin: float = 1.0, distance: str = DEFAULT_DISTANCE
) -> Any:
    """Semi-hard triplet loss of one batch (FaceNet; tensorflow-addons semantics).

    Args:
        labels: Class ids, shape ``(B,)`` or ``(B, 1)`` (any numeric dtype).
        embeddings: Shape ``(B, D)``; float16/bfloat16 input is computed in float32.
        margin: The margin ``alpha`` of the hinge.
        distance: ``"squared-L2"`` (default; what the original solution trained with)
            or ``"L2"`` (tensorflow-addons' default).

    Returns:
        A float32 scalar tensor: the mean hinge over all anchor–positive pairs, or 0
        when the batch holds no positive pair.

    Raises:
        ConfigError: ``distance`` is unknown.
    """
    pairwise = distance_function(distance)
    embeddings = ops.cast(embeddings, "float32")
    labels = ops.reshape(labels, (-1, 1))
    distances = pairwise(embeddings)
    same = ops.equal(labels, ops.transpose(labels))
    negatives = _semihard_negatives(distances, ops.logical_not(same))
    hinge = margin + distances - negatives
    positive_pairs = ops.cast(same, "float32") * _off_diagonal(ops.shape(labels)[0], "float32")
    total = ops.sum(ops.maximum(hinge * positive_pairs, 0.0))
    # A batch without positive pairs has total 0; dividing by 1 then gives 0, not 0/0.
    return total / ops.maximum(ops.sum(positive_pairs), 1.0)


def class_axis_loss(labels: Any, embeddings: Any, scale: float = CLASS_AXIS_SCALE) -> Any:
    """Binary cross-entropy of the classes on the embedding's first axis: a fixed linear head.

    The logit of "fake" is ``scale × e[:, 0]`` (embeddings are unit vectors, so ``e[:, 0]``
    is in [-1, 1]): reals are pushed to the negative side of the first axis and fakes to
    the positive one, while the triplet loss shapes the rest. It gives the network a
    direct real-versus-fake signal where semi-hard mining gives little (a self-blend is
    nearly identical to its real, so it is rarely a semi-hard negative), and needs no
    weights of its own, so the saved model is the embedding network alone.

    Args:
        labels: 0 (real) or 1 (fake), shape ``(B,)`` or ``(B, 1)``.
        embeddings: Shape ``(B, D)``.
        scale: The logit's scale.

    Returns:
        A float32 scalar tensor: the mean cross-entropy (natural log).
    """
    labels = ops.cast(ops.reshape(labels, (-1,)), "float32")
    logits = float(scale) * ops.cast(embeddings, "float32")[:, 0]
    # log(1 + e^z) - y z: the cross-entropy of sigmoid(z) against y, stable for any z
    return ops.mean(ops.softplus(logits) - labels * logits)


@keras.saving.register_keras_serializable(package="dfembed")
class TripletSemiHardLoss(keras.losses.Loss):
    """Keras ``Loss`` wrapper of :func:`triplet_semihard_loss`, serialisable by name.

    ``y_true`` holds the class ids and ``y_pred`` the embeddings of the whole batch;
    the loss is one scalar per batch (per-sample weights scale that scalar).

    Args:
        margin: The hinge margin.
        distance: ``"squared-L2"`` or ``"L2"``.
        class_weight: Weight of :func:`class_axis_loss` added to the triplet loss (0: none).
        name: Name of the loss.
        reduction: Keras reduction of the (already scalar) value.
        dtype: Computation dtype (float32 by default, also under mixed precision).

    Raises:
        ConfigError: ``distance`` is unknown.
    """

    def __init__(
        self,
        margin: float = 1.0,
        distance: str = DEFAULT_DISTANCE,
        class_weight: float = 0.0,
        name: str = "triplet_semihard_loss",
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        distance_function(distance)  # fail at construction, not at the first batch
        self.margin = float(margin)
        self.distance = distance
        self.class_weight = float(class_weight)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """Compute the batch loss from labels ``y_true`` and embeddings ``y_pred``."""
        loss = triplet_semihard_loss(y_true, y_pred, margin=self.margin, distance=self.distance)
        if self.class_weight:
            loss = loss + self.class_weight * class_axis_loss(y_true, y_pred)
        return loss

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments (for saving and ``from_config``)."""
        return {**super().get_config(), "margin": self.margin, "distance": self.distance,
                "class_weight": self.class_weight}
