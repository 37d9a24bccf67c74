"""The registry of inference extensions by name, with the built-in ones, and the hooks run over all of them.

:func:`~dfembed.infer.run.run_inference` runs every registered extension's hooks at their
points of the run (:mod:`dfembed.infer.extension`) and holds no branch of its own for any
of them. The built-in extensions, in their order (the order their steps apply in):

* ``temporal`` (:mod:`dfembed.infer.temporal_aggregate`): ``--aggregate temporal``, a
  sequence model on each file's face track, which rescores the files;
* ``audio`` (:mod:`dfembed.infer.audio_fusion`): ``--audio-model``, each video's soundtrack
  scored and fused with the file's face score (the temporal one, when there is one).

Adding one is one :func:`register_extension` call with its
:class:`~dfembed.infer.extension.Extension`; see the architecture page of the documentation.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from dfembed.core.registry import Registry
from dfembed.infer.audio_fusion import AUDIO_FUSION
from dfembed.infer.config import InferConfig
from dfembed.infer.extension import Extension, ExtensionStep, ModelSetup, ScoringSetup
from dfembed.infer.temporal_aggregate import TEMPORAL_AGGREGATE

EXTENSIONS: Registry[Extension] = Registry("inference extension", "extensions")


def register_extension(extension: Extension) -> Extension:
    """Add an extension to the registry, after the others (a later one of the same name replaces the earlier).

    Args:
        extension: The extension; its steps apply after those of the extensions registered before it.

    Returns:
        ``extension``.
    """
    return EXTENSIONS.register(extension.name, extension)


def extension_names() -> list[str]:
    """Names of the registered extensions, in registration order."""
    return list(EXTENSIONS)


def check_extensions(config: InferConfig, model_h5: Path) -> None:
    """Every extension's checks that need no model (before the output is locked).

    Raises:
        DfembedError: An extension's check failed (a ``ConfigError`` or ``InputError`` naming the problem).
    """
    for extension in EXTENSIONS.values():
        extension.check(config, model_h5)


def load_extensions(setup: ModelSetup) -> dict[str, ExtensionStep]:
    """Every extension's ``load`` hook, once the face model is loaded: the steps it gave, by name."""
    steps = {}
    for name, extension in EXTENSIONS.items():
        step = extension.load(setup)
        if step is not None:
            steps[name] = step
    return steps


def prepare_extensions(setup: ScoringSetup, loaded: Mapping[str, ExtensionStep]) -> list[ExtensionStep]:
    """Every extension's ``prepare`` hook, just before detection; the run's steps in registration order.

    Args:
        setup: The options, the face scorer and the crop settings.
        loaded: The steps :func:`load_extensions` gave.

    Returns:
        The steps of this run: ``prepare``'s where it gave one, else ``load``'s.
    """
    steps = dict(loaded)
    for name, extension in EXTENSIONS.items():
        step = extension.prepare(setup)
        if step is not None:
            steps[name] = step
    return [steps[name] for name in EXTENSIONS if name in steps]


register_extension(TEMPORAL_AGGREGATE)
register_extension(AUDIO_FUSION)
