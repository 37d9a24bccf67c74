"""A registered test backbone, ``tiny``: two strided convolutions with batch normalisation, average-pooled.

The tests of training mechanics (resume, distribution, keep-best, records) check that runs which
must compute the same steps do, never what a network learns; on this backbone a run builds and
traces in a fraction of B0's time. It is registered like any user's backbone, as a plugin:
``tests/conftest.py`` names it in ``DFEMBED_PLUGINS``, so the test process and every process
it starts import it at their first registry lookup.
"""

from __future__ import annotations

from typing import Any

from dfembed.model.backbones import BackboneSpec, register_backbone

NAME = "tiny"


def build_tiny(spec: BackboneSpec, image_size: int, weights: Any) -> Any:
    """The backbone: 0..255 pixels scaled to 0..1, two conv-BN-swish blocks, global average pooling."""
    import keras

    if str(weights).lower() != "none":
        raise ValueError(f"the tiny test backbone has no weights to load ({weights!r})")
    inputs = keras.Input((image_size, image_size, 3))
    x = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    for filters in (8, 16):
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("swish")(x)
    outputs = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, outputs, name=spec.layer_name)


# Imported once per process (the plugin loader, or a builder path naming this module).
register_backbone(BackboneSpec(
    name=NAME, family="Test", builder="tests.tiny_backbone:build_tiny", layer_name="tiny_backbone",
    default_size=32, min_size=16, preprocessing="x/255 (inside the model)", weight_sources=(),
))
