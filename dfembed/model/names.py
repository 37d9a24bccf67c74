"""Names shared by the model, its loss and the configurations, readable without Keras.

The backbones, the triplet distances and the smallest input size are defined here once;
:mod:`dfembed.model.network`, :mod:`dfembed.model.losses`, the classifier bundle and the
training configuration all read them from here.
"""

from __future__ import annotations

from dfembed.model.backbones import backbone_spec

#: The triplet loss's distances (the keys of ``dfembed.model.losses.DISTANCES``) and its default.
DISTANCE_NAMES = ("squared-L2", "L2")
DEFAULT_DISTANCE = "squared-L2"
#: keras.applications' lower bound on the input side of EfficientNet without its top.
MIN_IMAGE_SIZE = 32


def backbone_key(name: str) -> str:
    """Normalise a backbone name: ``"B4"`` and ``"efficientnetb4"`` give ``"b4"``, ``"efficientnet-lite0"`` ``"lite0"``.

    Args:
        name: The backbone as a user, a config file, a bundle or a model's layer wrote it.

    Returns:
        A key of the backbone registry (:func:`dfembed.model.backbones.list_backbones`).

    Raises:
        ConfigError: No registered backbone has that name.
    """
    return backbone_spec(name).name


#: The sequence models of :mod:`dfembed.model.temporal`: bidirectional GRU or LSTM, or a small Transformer encoder.
TEMPORAL_KINDS = ("gru", "lstm", "transformer")
