"""The frame model's training, shared by the ``face`` and ``audio`` modalities.

:func:`train_frames` is what :func:`~dfembed.train.run.run_train` runs for them once the
outputs are checked and the run folder is locked:

1. the modality's checks (:class:`~dfembed.train.modality.FrameSteps`), then the crops
   (or tiles) listed and validation split off by group (:mod:`dfembed.train.data`), and
   the settings that go into the bundle read;
2. the model built (or, with ``resume``, reloaded from the run folder) and compiled;
3. ``Model.fit`` on balanced batches augmented by the modality's augmenter; after every
   epoch the validation callback embeds the validation crops, fits an SVM on training
   embeddings and logs AUC, log loss and accuracy, then the checkpoint callback saves
   model, optimiser state and epoch in ``<OUT_H5 stem>.run/``;
4. every training crop embedded without augmentation, the final SVM fitted, the model
   (HDF5) and the classifier bundle written, the modality's step after the fit run, and
   the provenance record written.

Devices and precision live in :mod:`dfembed.train.devices`, batches in
:mod:`dfembed.train.batches`, the callbacks of step 3 in :mod:`dfembed.train.callbacks`,
the run folder's state and resume policy in :mod:`dfembed.train.run_folder` and the SVM
head in :mod:`dfembed.train.head`. A resumed run trains the same weights as an
uninterrupted one: the random state of every epoch is set from (seed, epoch)
(:class:`~dfembed.train.callbacks.EpochSeed`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras

from dfembed.core.config import json_ready
from dfembed.core.errors import ConfigError, InputError
from dfembed.core.provenance import write_provenance
from dfembed.model.losses import TripletSemiHardLoss
from dfembed.model.network import build_embedding_model, model_info
from dfembed.model.safe_file import sha256_file
from dfembed.train.batches import BalancedBatches, opencv_threads, resolve_workers
from dfembed.train.callbacks import make_callbacks
from dfembed.train.config import TrainConfig
from dfembed.train.data import TrainData, load_data
from dfembed.train.devices import Distribution, precision_policy, resolve_distribution
from dfembed.train.distributed import fit_distributed
from dfembed.train.head import fit_final_classifier
from dfembed.train.modality import BundleSettings, FrameSteps, ImageAugmenter, TrainJob
from dfembed.train.outputs import OUTPUTS_KEY, OutputPaths, TrainSummary, output_entries, write_outputs
from dfembed.train.run_folder import RunState, best_weights_path, prepare_run_dir, read_state, resume_checkpoint

log = logging.getLogger(__name__)


def frame_distribution(config: TrainConfig) -> Distribution:
    """This process's part of a frame model's run (``--distribute``).

    Raises:
        ConfigError: The embedding batch cannot be split over the devices of a Keras distribution.
    """
    dist = resolve_distribution(config.distribute, config.batch_size)
    if dist.keras_distribution is not None and config.embed_batch_size % dist.replicas:
        raise ConfigError(f"embed batch size {config.embed_batch_size} cannot be split over {dist.replicas} "
                          f"devices: use a multiple of {dist.replicas} (--embed-batch-size)")
    return dist


def train_frames(job: TrainJob, steps: FrameSteps) -> TrainSummary:
    """Train the frame model with a modality's steps and write its outputs (steps 1-4 of the module docstring).

    Args:
        job: The run: outputs checked and, on the chief, the run folder locked.
        steps: What the modality plugs in.

    Returns:
        The :class:`~dfembed.train.outputs.TrainSummary` (``chief=False`` on the other workers, which write nothing).

    Raises:
        InputError: Missing or unusable data, too few images for a batch, a weights file
            that does not fit the backbone, or a damaged checkpoint.
        ConfigError: Options that do not fit the run being resumed.
    """
    job, train_data, settings = _prepare(job, steps)
    config, paths = job.config, job.paths
    batches = _training_batches(train_data, config, steps.augmenter)
    with opencv_threads(1), precision_policy(config.precision), job.dist.run_scope():
        model, initial_epoch, state = _fit_model(job, train_data, batches)
        if not job.dist.chief:
            return _summary(paths, train_data, initial_epoch, RunState(epoch=config.epochs),
                            time.monotonic() - job.started, chief=False)
        state = read_state(paths.run_dir) or state
        _restore_best(model, config, paths.run_dir, state)
        bundle = fit_final_classifier(model, train_data.train, config, settings.crop_config, train_data.pseudo,
                                      settings.detector)
    write_outputs(model, bundle, paths, config)
    steps.after_fit(job, model, bundle, train_data)
    summary = _summary(paths, train_data, initial_epoch, state, time.monotonic() - job.started)
    _write_record(summary, config, job.data, job.val, job.dist)
    log.info("wrote %s and %s in %.0f s", paths.model, paths.classifier, summary.seconds)
    return summary


def _prepare(job: TrainJob, steps: FrameSteps) -> tuple[TrainJob, TrainData, BundleSettings]:
    """Step 1: the modality's checks, the data, the bundle's settings; the run folder prepared (by the chief)."""
    steps.check(job)
    train_data = load_data(job.data, job.val, job.config)
    if job.config.pseudo_fakes != "none":  # record the share that was used
        config = dataclasses.replace(job.config, pseudo_fake_fraction=train_data.pseudo_fraction)
        job = dataclasses.replace(job, config=config)
    settings = steps.bundle_settings(job.data)  # read now: a bad record must not wait for the end of training
    if job.dist.chief:
        prepare_run_dir(job.paths.run_dir, force=job.force, resume=job.resume)
    return job, train_data, settings


def _fit_model(job: TrainJob, train_data: TrainData, batches: BalancedBatches) -> tuple[keras.Model, int, RunState]:
    """Steps 2 and 3: build or reload the model, and fit it from its first epoch to be run."""
    config, dist = job.config, job.dist
    with dist.build_scope():
        model, initial_epoch, state = prepare_model(config, job.paths.run_dir, job.resume, len(batches))
    callbacks = make_callbacks(config, train_data.train, train_data.val, batches, job.paths.run_dir, state,
                               train_data.pseudo, chief=dist.chief)
    n_train, n_val = (sum(c.blend_seed is None for c in crops) for crops in (train_data.train, train_data.val))
    n_fixed = len(train_data.train) + len(train_data.val) - n_train - n_val
    log.info("training on %d crops (%d validation, %d fixed self-blends) for epochs %d..%d of %d steps",
             n_train, n_val, n_fixed, initial_epoch + 1, config.epochs, len(batches))
    _fit(model, batches, dist, config, initial_epoch, callbacks)
    return model, initial_epoch, state


def _training_batches(data: TrainData, config: TrainConfig,
                      augmenter: Callable[[TrainConfig], ImageAugmenter]) -> BalancedBatches:
    """The balanced batches of the training crops, augmented by the modality's augmenter."""
    return BalancedBatches(
        data.train,
        config.batch_size,
        augmenter(config),
        seed=config.seed,
        steps_per_epoch=config.steps_per_epoch,
        workers=resolve_workers(config.workers),
        max_queue_size=config.max_queue_size,
        pseudo=data.pseudo,
        pseudo_fraction=data.pseudo_fraction,
    )


def prepare_model(
    config: TrainConfig, run_dir: Path, resume: bool, steps_per_epoch: int
) -> tuple[keras.Model, int, RunState]:
    """Build and compile a new model, or reload the last checkpoint of ``run_dir``.

    Args:
        config: The training configuration.
        run_dir: The run folder.
        resume: Reload the checkpoint (with optimiser state) instead of building.
        steps_per_epoch: Batches per epoch (the length of the cosine schedule).

    Returns:
        ``(model, initial_epoch, state)``; ``state`` is the run folder's state.

    Raises:
        ConfigError: The checkpoint was made with other architecture options.
        InputError: A weights file that does not fit the backbone, or a missing checkpoint.
    """
    keras.utils.set_random_seed(config.seed)  # epochs reseed themselves (EpochSeed); this covers the build
    if resume:
        checkpoint, state = resume_checkpoint(run_dir, config)
        model = load_checkpoint(checkpoint, config)
        log.info("resuming from %s after epoch %d", checkpoint, state.epoch)
        return model, state.epoch, state
    model = build_embedding_model(
        backbone=config.backbone, image_size=config.image_size, weights=config.weights,
        embedding_dim=config.embedding_dim, dropout=config.dropout, l2=config.l2,
    )
    model.compile(optimizer=make_optimizer(config, steps_per_epoch), loss=TripletSemiHardLoss(config.margin, config.distance, config.class_loss_weight))
    return model, 0, RunState()


def load_checkpoint(checkpoint: Path, config: TrainConfig) -> keras.Model:
    """Load a run folder's checkpoint (model, optimiser, step) and check that it is this run's network.

    Keras's safe mode stays on, so a checkpoint cannot run code (a ``Lambda`` layer is refused).

    Raises:
        InputError: The file is truncated or not a Keras checkpoint, or holds another network.
    """
    try:
        model = keras.models.load_model(checkpoint, compile=True)
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as err:
        reason = " ".join(str(err).split())[:300] or type(err).__name__
        raise InputError(f"checkpoint {checkpoint} cannot be loaded (truncated or not a Keras checkpoint: "
                         f"{reason}); use --force to start over") from err
    try:
        info = model_info(model)
    except InputError as err:
        raise InputError(f"checkpoint {checkpoint}: {err}; use --force to start over") from err
    wanted = (config.backbone, config.image_size, config.embedding_dim)
    if (info.backbone, info.image_size, info.embedding_dim) != wanted:
        raise InputError(f"checkpoint {checkpoint} holds a {info.backbone} network at {info.image_size} px with "
                         f"{info.embedding_dim}-d embeddings, not the run's {wanted}; use --force to start over")
    return model


def make_optimizer(config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """SGD with the configured learning rate, momentum and schedule.

    The cosine schedule decays to 0 over ``epochs × steps_per_epoch`` steps; the
    optimiser's step counter is saved in checkpoints, so a resumed run continues on it.
    """
    lr: Any = config.lr
    if config.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(config.lr, decay_steps=max(1, config.epochs * steps_per_epoch))
    return keras.optimizers.SGD(learning_rate=lr, momentum=config.momentum, nesterov=config.nesterov)


def _fit(model: keras.Model, batches: BalancedBatches, dist: Distribution, config: TrainConfig, initial_epoch: int,
         callbacks: list[keras.callbacks.Callback]) -> None:
    """``Model.fit``, or under a TensorFlow strategy its equivalent :func:`~dfembed.train.distributed.fit_distributed`."""
    if dist.strategy is not None:
        fit_distributed(model, batches, dist, config.epochs, initial_epoch, callbacks, _verbosity())
        return
    batches.set_epoch(initial_epoch)
    model.fit(batches, epochs=config.epochs, initial_epoch=initial_epoch, callbacks=callbacks,
              shuffle=False, verbose=_verbosity())


def _verbosity() -> int:
    return 1 if logging.getLogger("dfembed").isEnabledFor(logging.INFO) else 0


def _restore_best(model: keras.Model, config: TrainConfig, run_dir: Path, state: RunState) -> None:
    """Load the weights of the best epoch named in the state (``keep="best"``, with validation)."""
    best = best_weights_path(run_dir, state) if config.keep == "best" else None
    if best is None:
        return
    try:
        model.load_weights(best)
    except (OSError, ValueError, KeyError) as err:
        raise InputError(f"best weights {best} cannot be loaded ({' '.join(str(err).split())[:200]}); "
                         "use --keep last, or --force to start over") from err
    log.info("keeping the weights of epoch %d (best validation AUC %.4f)", state.best_epoch, state.best_auc)


# --- records -------------------------------------------------------------------------


def _summary(paths: OutputPaths, data: TrainData, initial_epoch: int, state: RunState, seconds: float,
             chief: bool = True) -> TrainSummary:
    history = tuple({k: (math.nan if v is None else float(v)) for k, v in entry.items()} for entry in state.history)
    return TrainSummary(
        outputs=paths,
        initial_epoch=initial_epoch,
        epochs=state.epoch,
        history=history,
        best_epoch=state.best_epoch,
        best_val_auc=state.best_auc,
        n_train=sum(c.blend_seed is None for c in data.train),
        n_val=sum(c.blend_seed is None for c in data.val),
        n_unreadable=data.unreadable,
        seconds=seconds,
        n_pseudo=sum(c.blend_seed is not None for c in (*data.train, *data.val)),
        chief=chief,
    )


def _write_record(summary: TrainSummary, config: TrainConfig, data: Path, val: Path | None,
                  dist: Distribution) -> None:
    record = json_ready(summary)
    outputs = summary.outputs
    files = (outputs.model, outputs.keras_model, outputs.classifier, outputs.safe_classifier)
    write_provenance(
        outputs.provenance,
        config,
        inputs={"data": str(data), "val": str(val) if val is not None else None},
        distribution={"mode": dist.mode, "replicas": dist.replicas, "workers": dist.workers},
        summary=record,
        sha256={str(path): sha256_file(path) for path in files if path is not None},
        **{OUTPUTS_KEY: output_entries(outputs)},
    )
