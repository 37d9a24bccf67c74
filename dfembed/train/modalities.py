"""The registry of training modalities by name, with the built-in ones.

:func:`~dfembed.train.run.run_train` asks :func:`training_modality` for the modality of its
configuration and hands it the run (:mod:`dfembed.train.modality`). The built-in modalities:

* ``face`` (:mod:`dfembed.train.face`): the embedding network and its SVM on face crops;
* ``audio`` (:mod:`dfembed.train.audio`): the same on log-mel tiles, and the fusion weight;
* ``clip`` (:mod:`dfembed.train.run_clips`): the end-to-end clip model of ``--temporal T``.

``TrainConfig.modality`` names the modality (``face`` or ``audio``); ``--temporal`` chooses
``clip``. Adding one is one :func:`register_modality` call with its
:class:`~dfembed.train.modality.Modality` (and its name among ``TrainConfig.modality``'s
choices); see the architecture page of the documentation.
"""

from __future__ import annotations

from dfembed.core.registry import Registry
from dfembed.train.audio import AUDIO
from dfembed.train.config import TrainConfig
from dfembed.train.face import FACE
from dfembed.train.modality import Modality
from dfembed.train.run_clips import CLIP

MODALITIES: Registry[Modality] = Registry("training modality", "modalities")


def register_modality(modality: Modality) -> Modality:
    """Add a modality to the registry (a later one of the same name replaces the earlier).

    Args:
        modality: The modality; ``modality.name`` is what it is looked up by.

    Returns:
        ``modality``.
    """
    return MODALITIES.register(modality.name, modality)


def modality_names() -> list[str]:
    """Names of the registered modalities, sorted."""
    return sorted(MODALITIES)


def get_modality(name: str) -> Modality:
    """The registered modality called ``name``.

    Raises:
        ConfigError: No modality has that name; the message lists the known ones.
    """
    return MODALITIES.lookup(name)


def training_modality(config: TrainConfig) -> Modality:
    """The modality that trains ``config``: the clip model with ``--temporal``, else ``config.modality``.

    Raises:
        ConfigError: The name is not registered.
    """
    return get_modality(CLIP.name if config.temporal is not None else config.modality)


register_modality(FACE)
register_modality(AUDIO)
register_modality(CLIP)
