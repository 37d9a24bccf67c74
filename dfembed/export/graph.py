"""The exported graph as a Keras model: uint8 face crops → ``p_fake`` and ``embedding``.

1. :func:`float32_copy` rebuilds the embedding model with every layer in float32 (a model
   trained in mixed precision computes in float16; an export runs in float32 everywhere)
   and the same weights. Keras's ``Normalization`` layer keeps its statistics as eager
   constants, which ``model.export(format="onnx")`` (tf2onnx) turns into extra graph
   inputs instead of constants; the copy's :class:`FrozenNormalization` computes the same
   ``(x - mean) / max(sqrt(variance), epsilon)`` from its weights, which exporters freeze.
2. :func:`build_export_model` puts the copy between a uint8 input (cast to float32, the
   0..255 pixels the embedding model reads) and the calibrated SVM
   (:class:`~dfembed.model.svm_head.CalibratedSVMHead`), with the two named outputs.

Keras layers and ``keras.ops`` only.
"""

from __future__ import annotations

import logging
from typing import Any

import keras
import numpy as np
from keras import ops

from dfembed.core.errors import InputError
from dfembed.model.contract import EMBEDDING_OUTPUT, INPUT_NAME, SCORE_OUTPUT
from dfembed.model.svm_head import CalibratedSVMHead
from dfembed.model.svm_params import CalibratedSVMParams

log = logging.getLogger(__name__)


class FrozenNormalization(keras.layers.Normalization):
    """``Normalization`` computing from its weights, so that an exporter freezes its statistics.

    Same configuration, weights and arithmetic as Keras's layer on the last axis (what
    EfficientNet uses), without the constant tensors it derives from them.
    """

    def call(self, inputs: Any) -> Any:
        inputs = ops.cast(inputs, self.compute_dtype)
        mean = ops.cast(self.adapt_mean, self.compute_dtype)
        variance = ops.cast(self.adapt_variance, self.compute_dtype)
        return (inputs - mean) / ops.maximum(ops.sqrt(variance), keras.config.epsilon())


def precision_of(model: keras.Model) -> str:
    """The dtype policy a model computes in: ``float32``, or the mixed policy of its layers."""
    policies = {layer.dtype_policy.name for layer in _all_layers(model)}
    mixed = sorted(p for p in policies if p.startswith("mixed_"))
    return mixed[0] if mixed else "float32"


def _all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    layers = []
    for layer in model.layers:
        layers.append(layer)
        if isinstance(layer, keras.Model):
            layers += _all_layers(layer)
    return layers


def _float32_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
    config = layer.get_config()
    if "dtype" in config:
        config["dtype"] = "float32"
    if type(layer) is keras.layers.Normalization:
        if tuple(layer.axis) not in ((-1,), (len(layer.input.shape) - 1,)) or layer.invert:
            raise InputError(f"layer {layer.name}: a Normalization over axis {layer.axis} (invert {layer.invert}) "
                             "cannot be exported; dfembed exports its EfficientNet's last-axis normalisation")
        return FrozenNormalization.from_config(config)
    return layer.__class__.from_config(config)


def float32_copy(model: keras.Model) -> keras.Model:
    """The embedding model rebuilt in float32 with the same weights (see the module docstring).

    Args:
        model: A dfembed embedding model (float32 or mixed precision).

    Returns:
        A new model computing the same embeddings in float32.
    """
    precision = precision_of(model)
    if precision != "float32":
        log.info("the model was trained in %s: rebuilding it in float32 for the export", precision)
    copy = keras.models.clone_model(model, clone_function=_float32_layer, recursive=True)
    copy.set_weights(model.get_weights())
    return copy


def build_export_model(embedder: keras.Model, params: CalibratedSVMParams, fake_label: int) -> keras.Model:
    """The exported graph: ``image`` uint8 ``(n, S, S, 3)`` → ``{"p_fake": (n,), "embedding": (n, D)}``.

    Args:
        embedder: The float32 embedding model (:func:`float32_copy`).
        params: The fitted calibrated SVM.
        fake_label: The class label of FAKE.

    Returns:
        The model, called once (exporters need a model that has run).
    """
    size = int(embedder.input_shape[1])
    image = keras.Input(shape=(size, size, 3), dtype="uint8", name=INPUT_NAME)
    embedding = embedder(ops.cast(image, "float32"))
    p_fake = CalibratedSVMHead(params, fake_label, name=SCORE_OUTPUT)(embedding)
    named = keras.layers.Identity(name=EMBEDDING_OUTPUT)(embedding)
    model = keras.Model(image, {SCORE_OUTPUT: p_fake, EMBEDDING_OUTPUT: named}, name="dfembed_export")
    model(np.zeros((1, size, size, 3), np.uint8))
    return model
