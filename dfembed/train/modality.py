"""What a training modality plugs into :func:`~dfembed.train.run.run_train`: the run it is given and its steps.

:func:`~dfembed.train.run.run_train` resolves and checks the outputs, locks the run folder
and hands a :class:`TrainJob` to the :class:`Modality` that the configuration names
(:func:`dfembed.train.modalities.training_modality`). A modality says which part of the
run this process takes (``distribution``, called first: a multi-worker strategy must
exist before TensorFlow runs an operation) and trains (``train``); it holds no branch
of ``run_train``.

The frame model's modalities (``face``, ``audio``) share one training loop,
:func:`dfembed.train.frames.train_frames`, and differ only in the :class:`FrameSteps` they
plug into it: the checks before any data is read, the augmenter of the training
batches, the settings that go into the classifier bundle, and the step after the
outputs are written. The clip model (``--temporal``) trains with its own loop
(:mod:`dfembed.train.run_clips`).

Nothing here imports a modality: the built-in ones are registered by
:mod:`dfembed.train.modalities`, which imports them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from dfembed.model.classifier import ClassifierBundle
from dfembed.train.config import TrainConfig
from dfembed.train.data import TrainData
from dfembed.train.devices import Distribution
from dfembed.train.outputs import OutputPaths, TrainSummary


@dataclasses.dataclass(frozen=True)
class TrainJob:
    """One call of :func:`~dfembed.train.run.run_train`, its outputs resolved and checked.

    Attributes:
        data: DATA, the crop (or tile) folder.
        out_h5: OUT_H5 as given (a file or an existing folder).
        out_pkl: OUT_PKL as given.
        paths: The output files (:func:`~dfembed.train.outputs.resolve_outputs`).
        config: The resolved training configuration.
        force: Replace existing outputs; without ``resume`` also start the run folder over.
        resume: Continue from the run folder's last checkpoint.
        val: A validation tree, or ``None`` (``DATA/validation``, else a split by group).
        started: ``time.monotonic()`` when the call began.
        dist: This process's part of the run.
    """

    data: Path
    out_h5: Path
    out_pkl: Path
    paths: OutputPaths
    config: TrainConfig
    force: bool
    resume: bool
    val: Path | None
    started: float
    dist: Distribution


@dataclasses.dataclass(frozen=True)
class Modality:
    """A registered training modality.

    Attributes:
        name: The name it is registered and looked up by.
        summary: One line for the documentation and the logs.
        distribution: Configuration → this process's part of the run (it may refuse options
            the modality cannot train with: ``ConfigError``).
        train: Train and write the outputs; called by the chief once the run folder is
            locked (and, in a multi-worker run, by every other worker without the lock).
    """

    name: str
    summary: str
    distribution: Callable[[TrainConfig], Distribution]
    train: Callable[[TrainJob], TrainSummary]


class ImageAugmenter(Protocol):
    """Resizes and augments one training image (:class:`~dfembed.train.augment.Augmenter`…)."""

    def __call__(self, image: np.ndarray, seed: int) -> np.ndarray:
        """The augmented image, at the model's input size; the same ``seed`` gives the same image."""
        ...


@dataclasses.dataclass(frozen=True)
class BundleSettings:
    """What the classifier bundle records of the data, for inference to prepare its inputs alike.

    Attributes:
        crop_config: The settings the crops (or tiles) were made with, ``None`` when unknown.
        detector: The crop stage's record of its face detector, ``None`` when unknown or not faces.
    """

    crop_config: dict[str, Any] | None
    detector: dict[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class FrameSteps:
    """What a modality of the frame model plugs into :func:`dfembed.train.frames.train_frames`.

    Attributes:
        check: Before any data is read: refuse data of another modality, outputs it would
            overwrite, missing inputs of its own (``InputError``, ``OutputExistsError``).
        augmenter: Configuration → the augmenter of the training batches.
        bundle_settings: DATA → what goes into the bundle; read before training, so that a
            bad record fails before the first epoch.
        after_fit: Once the model and the bundle are written: ``(job, model, bundle, data)``.
    """

    check: Callable[[TrainJob], None]
    augmenter: Callable[[TrainConfig], ImageAugmenter]
    bundle_settings: Callable[[Path], BundleSettings]
    after_fit: Callable[[TrainJob, Any, ClassifierBundle, TrainData], None]
