"""The Keras callbacks of a training run: per-epoch batch selection, validation of the
embeddings by an SVM (AUC, log loss, accuracy), checkpoints in the run folder and
TensorBoard logs.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from dfembed.core.atomic import atomic_path
from dfembed.core.config import json_ready
from dfembed.evaluate.metrics import compute_metrics
from dfembed.train.batches import BalancedBatches
from dfembed.train.config import TrainConfig
from dfembed.train.crops import Crop
from dfembed.train.head import balanced_subset, crop_labels, embed, fit_classifier
from dfembed.train.pseudo import PseudoFakes
from dfembed.train.run_folder import (
    BEST_WEIGHTS_GLOB,
    CHECKPOINT_GLOB,
    RunState,
    best_weights_name,
    checkpoint_name,
    write_state,
)

log = logging.getLogger(__name__)


def make_callbacks(
    config: TrainConfig,
    train: Sequence[Crop],
    val: Sequence[Crop],
    batches: BalancedBatches,
    run_dir: Path,
    state: RunState,
    pseudo: PseudoFakes | None = None,
    chief: bool = True,
) -> list[keras.callbacks.Callback]:
    """Epoch selection, validation (when there is a validation set), checkpoint and TensorBoard.

    Args:
        config: The training configuration.
        train: Training crops.
        val: Validation crops (empty: no validation callback).
        batches: The training batches.
        run_dir: The run folder (checkpoints, state, TensorBoard logs).
        state: The run folder's state so far.
        pseudo: Maker of the pseudo-fakes among ``train`` and ``val``.
        chief: This process writes the run folder; the other workers of a multi-worker run
            only select and seed their epochs (validation is the chief's, and needs no other worker).

    Returns:
        The callbacks for ``Model.fit``, in the order they run.
    """
    callbacks: list[keras.callbacks.Callback] = [EpochSeed(batches, config.seed)]
    if not chief:
        return callbacks
    if val:
        callbacks.append(EmbeddingValidation(train, val, config, pseudo))
    callbacks.append(RunCheckpoint(run_dir, config, state))
    if config.tensorboard and keras.backend.backend() == "tensorflow":
        if importlib.util.find_spec("tensorboard") is None:
            log.warning("TensorBoard is not installed (pip install tensorboard): no TensorBoard logs")
        else:
            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard")))
    return callbacks


class EpochSeed(keras.callbacks.Callback):
    """At each epoch's start: select the epoch's batches and reseed every random generator.

    The random state of an epoch then depends only on (``seed``, epoch), never on what ran
    before, so a run resumed from the checkpoint of epoch ``e`` trains epoch ``e + 1``
    exactly as the uninterrupted run does. That needs more than the global seeds: Keras
    keeps the state of each layer's random generator (the dropout masks) in a
    ``SeedGenerator`` variable that checkpoints do not save — a loaded model starts it from
    a new seed — so every such state is set here too.

    Args:
        batches: The training batches.
        seed: The run's seed; ``None`` only selects the batches.
    """

    def __init__(self, batches: BalancedBatches, seed: int | None = None) -> None:
        super().__init__()
        self.batches = batches
        self.seed = seed

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Select the epoch's batches and reseed."""
        self.batches.set_epoch(epoch)
        if self.seed is not None:
            reseed(self.model, self.seed, epoch)


def reseed(model: keras.Model, seed: int, epoch: int) -> None:
    """Set Python's and NumPy's seeds and every ``SeedGenerator`` state of ``model`` from
    (``seed``, ``epoch``) alone.

    TensorFlow's global seed is set once, before the model is built, not here: setting it
    clears TensorFlow's caches, so every epoch would optimise the training step's graph again
    (about 4.5 s an epoch for B0 on 2 cores), and no random draw of an epoch comes from it —
    Keras's random layers (dropout) draw from their ``SeedGenerator`` states, set below, and
    the batches and their augmentation from NumPy's and Python's generators.

    Args:
        model: The model being trained.
        seed: The run's seed.
        epoch: The 0-based epoch about to start.
    """
    value = epoch_seed(seed, epoch)
    random.seed(value)
    np.random.seed(value)
    if keras.backend.backend() == "torch":
        import torch

        torch.manual_seed(value)
    for index, state in enumerate(seed_generator_states(model)):
        state.assign(np.array([epoch_seed(seed, epoch, index + 1), 0], dtype=state.dtype))


def epoch_seed(*values: int) -> int:
    """A seed below 2**31 (it fits every backend's seed type) derived from integers."""
    return int(np.random.SeedSequence([int(v) for v in values]).generate_state(1)[0]) % (2**31)


def seed_generator_states(model: keras.Model) -> list[keras.Variable]:
    """The state variables of the model's random generators, in layer order."""
    return [v for v in model.non_trainable_variables if v.name == "seed_generator_state"]


class EmbeddingValidation(keras.callbacks.Callback):
    """After each epoch: embed, fit an SVM on training embeddings, score the validation set.

    Adds ``val_auc``, ``val_log_loss`` and ``val_accuracy`` to the epoch's logs.

    Args:
        train: Training crops (a balanced, seeded subset of ``val_svm_samples`` is embedded).
        val: Validation crops.
        config: The training configuration.
        pseudo: Maker of the pseudo-fakes among ``train`` and ``val``.
    """

    def __init__(
        self, train: Sequence[Crop], val: Sequence[Crop], config: TrainConfig, pseudo: PseudoFakes | None = None
    ) -> None:
        super().__init__()
        self.train = balanced_subset(train, config.val_svm_samples, config.seed)
        self.val = list(val)
        self.config = config
        self.pseudo = pseudo

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Compute and log the validation metrics."""
        embeddings = embed(self.model, self.train, self.config, self.pseudo)
        classifier = fit_classifier(embeddings, self.train, self.config)
        scores = classifier.predict_proba(embed(self.model, self.val, self.config, self.pseudo))[:, 1]
        metrics = compute_metrics(crop_labels(self.val), scores)
        for key in ("auc", "log_loss", "accuracy"):
            value = float(metrics["roc_auc" if key == "auc" else key])
            if logs is not None:
                logs[f"val_{key}"] = value
        log.info("epoch %d: validation AUC %.4f, log loss %.4f, accuracy %.4f", epoch + 1,
                 metrics["roc_auc"], metrics["log_loss"], metrics["accuracy"])


class RunCheckpoint(keras.callbacks.Callback):
    """Saves model and optimiser (``epoch-NNN.keras``), the best weights and ``state.json``.

    ``state.json`` is written last and names the checkpoint, so a run killed at any
    moment resumes from a complete checkpoint.

    Args:
        run_dir: The run folder.
        config: The training configuration (recorded in the state).
        state: The state so far (history, best AUC) — carried over on resume.
    """

    def __init__(self, run_dir: Path, config: TrainConfig, state: RunState) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.config = config
        self.state = dataclasses.replace(state, history=list(state.history))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Save the checkpoint and update the state."""
        record = {key: float(value) for key, value in (logs or {}).items()}
        state = self.state
        state.history = [*state.history[:epoch], {"epoch": epoch + 1, **record}]
        auc = record.get("val_auc", math.nan)
        if not math.isnan(auc) and (state.best_auc is None or auc > state.best_auc):
            best_name = best_weights_name(epoch + 1)
            with atomic_path(self.run_dir / best_name, suffix=".weights.h5") as tmp:
                self.model.save_weights(tmp)
            state.best_auc, state.best_epoch, state.best_weights = auc, epoch + 1, best_name
        name = checkpoint_name(epoch + 1)
        with atomic_path(self.run_dir / name) as tmp:
            self.model.save(tmp)
        state.epoch, state.checkpoint, state.config = epoch + 1, name, json_ready(self.config)
        write_state(self.run_dir, state)
        # Only now that the state names the new files are the older ones unneeded.
        keep = {name, state.best_weights}
        for old in [*self.run_dir.glob(CHECKPOINT_GLOB), *self.run_dir.glob(BEST_WEIGHTS_GLOB)]:
            if old.name not in keep:
                old.unlink()
