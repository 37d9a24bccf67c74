"""Names shared by the model, its loss and the configurations, readable without Keras.

The backbones, the triplet distances and the smallest input size are defined here once;
:mod:`dfembed.model.network`, :mod:`dfembed.model.losses`, the classifier bundle and the
training configuration all read them from here.
"""

from __future__ import annotations

from dfembed.core.errors import ConfigError

#: The triplet loss's distances (the keys of ``dfembed.model.losses.DISTANCES``) and its default.
DISTANCE_NAMES = ("squared-L2", "L2")
DEFAULT_DISTANCE = "squared-L2"
#: The EfficientNet variants, as :func:`backbone_key` spells them.
BACKBONE_NAMES = tuple(f"b{i}" for i in range(8))
#: keras.applications' lower bound on the input side of EfficientNet without its top.
MIN_IMAGE_SIZE = 32


def backbone_key(name: str) -> str:
    """Normalise a backbone name: ``"b4"``, ``"B4"`` and ``"efficientnetb4"`` give ``"b4"``.

    Args:
        name: The backbone as a user, a config file, a bundle or a model's layer wrote it.

    Returns:
        One of :data:`BACKBONE_NAMES`.

    Raises:
        ConfigError: The name is not one of the eight EfficientNets.
    """
    key = str(name).strip().lower().removeprefix("efficientnet")
    if key not in BACKBONE_NAMES:
        raise ConfigError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONE_NAMES)}")
    return key
#: The sequence models of :mod:`dfembed.model.temporal`: bidirectional GRU or LSTM, or a small Transformer encoder.
TEMPORAL_KINDS = ("gru", "lstm", "transformer")
