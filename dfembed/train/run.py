"""The training stage's orchestration: triplet-loss embedding network, then an SVM on its embeddings.

:func:`run_train` is what ``train.py DATA OUT_H5 OUT_PKL`` runs:

1. list the crops (skipping unreadable ones) and split off validation by group;
2. build (or, with ``resume``, reload from the run folder) and compile the model;
3. ``Model.fit`` on balanced, augmented batches; after every epoch the validation
   callback embeds the validation crops, fits an SVM on training embeddings and logs
   AUC, log loss and accuracy, then the checkpoint callback saves model, optimiser
   state and epoch in ``<OUT_H5 stem>.run/``;
4. embed every training crop without augmentation, fit the final SVM, and write the
   model (HDF5), the classifier bundle (joblib) and a provenance record.

Crops and the split live in :mod:`dfembed.train.crops` and :mod:`dfembed.train.split`,
batches in :mod:`dfembed.train.batches`, devices and precision in
:mod:`dfembed.train.devices`, the callbacks of step 3 in :mod:`dfembed.train.callbacks`,
the run folder's state and resume policy in :mod:`dfembed.train.run_folder` and the SVM
head in :mod:`dfembed.train.head`; this module resolves the outputs, loads the data,
prepares the model and optimiser, and writes the results.

Before any work the outputs are checked (distinct from each other and from the inputs,
in writable folders, not existing without ``force``; with ``resume``, the run folder's
state and checkpoint), and the run folder is locked against a concurrent job. A resumed
run trains the same weights as an uninterrupted one: the random state of every epoch is
set from (seed, epoch) (:class:`~dfembed.train.callbacks.EpochSeed`).

Loading the bundle unpickles it, which runs code: load only files you trust (inference
reads the safe ``.npz`` written beside it instead).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import zipfile
from pathlib import Path
from typing import Any

import keras

from dfembed.core.atomic import refuse_existing
from dfembed.core.classes import FAKE, REAL
from dfembed.core.config import json_ready
from dfembed.core.errors import ConfigError, InputError, OutputExistsError
from dfembed.core.lock import OutputLock, lock_file_beside
from dfembed.core.paths import check_distinct, check_writable
from dfembed.core.provenance import write_provenance
from dfembed.crop.manifest import PROVENANCE_NAME as CROP_RECORD_NAME
from dfembed.crop.manifest import read_crop_record
from dfembed.model.classifier import ClassifierBundle, save_bundle
from dfembed.model.losses import TripletSemiHardLoss
from dfembed.model.network import build_embedding_model, model_info, save_model
from dfembed.model.safe_bundle import safe_path, sha256_file
from dfembed.train.audio import check_fusion_output, check_modality, fit_fusion, log_ignored_options, read_tile_settings
from dfembed.train.augment import Augmenter, AugmentParams
from dfembed.train.batches import BalancedBatches, check_balanced_batch, opencv_threads, resolve_workers
from dfembed.train.callbacks import make_callbacks
from dfembed.train.config import TrainConfig
from dfembed.train.crops import VALIDATION_DIR, Crop, CropSet, list_crops, self_blend_crops
from dfembed.train.devices import Distribution, precision_policy, resolve_distribution
from dfembed.train.distributed import fit_distributed
from dfembed.train.head import fit_final_classifier
from dfembed.train.pseudo import PseudoFakes, build_pseudo_fakes
from dfembed.train.run_folder import (
    RunState,
    best_weights_path,
    has_checkpoint,
    prepare_run_dir,
    read_state,
    resume_checkpoint,
)
from dfembed.train.spec_augment import SpecAugmenter, SpecAugmentParams
from dfembed.train.split import check_disjoint, split_by_group

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "model.h5"
DEFAULT_CLASSIFIER_NAME = "svm.pkl"


@dataclasses.dataclass(frozen=True)
class OutputPaths:
    """Where a training run writes.

    Attributes:
        model: The HDF5 model (OUT_H5).
        classifier: The joblib classifier bundle (OUT_PKL).
        safe_classifier: The same classifier as plain arrays, loadable without unpickling
            (``OUT_PKL`` with the suffix ``.npz``).
        keras_model: The ``.keras`` copy (``--format keras``), else ``None``.
        provenance: JSON record of configuration, versions and results.
        run_dir: Checkpoints, per-epoch state and TensorBoard logs.
    """

    model: Path
    classifier: Path
    safe_classifier: Path
    keras_model: Path | None
    provenance: Path
    run_dir: Path


@dataclasses.dataclass(frozen=True)
class TrainData:
    """The crops a run trains and validates on.

    Attributes:
        train: Training crops (with pseudo-fakes: also one fixed self-blend of each real crop,
            for the SVM; the batches make fresh ones).
        val: Validation crops (empty: no validation).
        unreadable: Number of files skipped because they did not decode.
        pseudo: Maker of the self-blended pseudo-fakes, ``None`` without them.
        pseudo_fraction: Share of each batch's fake half that is self-blended.
    """

    train: tuple[Crop, ...]
    val: tuple[Crop, ...]
    unreadable: int
    pseudo: PseudoFakes | None = None
    pseudo_fraction: float = 0.0


@dataclasses.dataclass(frozen=True)
class TrainSummary:
    """What a training run did.

    Attributes:
        outputs: The files written.
        initial_epoch: First epoch run by this call (> 0 after ``resume``).
        epochs: Epochs completed in total.
        history: Per-epoch metrics (loss, and val_auc/val_log_loss/val_accuracy with validation).
        best_epoch: 1-based epoch of the best validation AUC, ``None`` without validation.
        best_val_auc: That AUC.
        n_train: Training crop files.
        n_val: Validation crop files.
        n_unreadable: Skipped unreadable files.
        seconds: Wall time of the call.
        n_pseudo: Fixed self-blended pseudo-fakes in the SVM's training set and in validation.
        chief: This process wrote the outputs (``False``: another worker of a multi-worker run did).
    """

    outputs: OutputPaths
    initial_epoch: int
    epochs: int
    history: tuple[dict[str, float], ...]
    best_epoch: int | None
    best_val_auc: float | None
    n_train: int
    n_val: int
    n_unreadable: int
    seconds: float
    n_pseudo: int = 0
    chief: bool = True


def run_train(
    data: Path,
    out_h5: Path,
    out_pkl: Path,
    config: TrainConfig,
    force: bool = False,
    resume: bool = False,
    val: Path | None = None,
) -> TrainSummary:
    """Train the embedding network and the SVM, and write OUT_H5, OUT_PKL and provenance.

    Args:
        data: The crop tree (``real/``, ``fake/``, optionally ``manifest.csv``,
            ``dfembed-crop.json`` and ``validation/{real,fake}``).
        out_h5: Model file, or an existing folder (then ``model.h5`` inside it).
        out_pkl: Classifier file, or an existing folder (then ``svm.pkl`` inside it).
        config: The resolved training configuration.
        force: Replace existing outputs; without ``resume`` also start the run folder over.
        resume: Continue from the run folder's last checkpoint (with ``force``, also a
            finished run whose outputs exist).
        val: A validation tree with ``real/`` and ``fake/``; by default
            ``DATA/validation`` when present, else a split of DATA by group.

    Returns:
        The :class:`TrainSummary`.

    Raises:
        InputError: Missing or unusable data, too few images for a batch, a weights file
            that does not fit the backbone, or nothing (or a damaged checkpoint) to resume.
        OutputExistsError: Outputs (or a run folder with checkpoints) exist without ``force``.
        ConfigError: Two outputs are one file or an output is an input, or options that do
            not fit the machine or the run being resumed.
        OutputError: An output folder cannot be written.
        LockedError: Another job trains into the same run folder.
    """
    started = time.monotonic()
    dist = _distribution(config)  # first: MultiWorkerMirroredStrategy must exist before TensorFlow runs an op
    paths = resolve_outputs(Path(data), Path(out_h5), Path(out_pkl), config, force, resume)
    if not dist.chief:  # a multi-worker run's other workers train; the chief checks, locks and writes
        return _train(Path(data), paths, config, force, resume, val, started, dist)
    for folder in {paths.model.parent, paths.classifier.parent}:
        check_writable(folder, "output folder")
    with OutputLock(lock_file_beside(paths.run_dir), f"run folder {paths.run_dir}"):
        if config.temporal is not None:  # the end-to-end clip model (dfembed.train.run_clips)
            from dfembed.train.run_clips import run_train_clips

            return run_train_clips(data, out_h5, out_pkl, config, force=force, resume=resume, val=val)
        return _train(Path(data), paths, config, force, resume, val, started, dist)


def _distribution(config: TrainConfig) -> Distribution:
    """This process's part of the run (``--distribute``); the clip model keeps its own one-machine scope."""
    if config.temporal is not None:
        if config.distribute not in ("auto", "none"):
            raise ConfigError(f"--distribute {config.distribute} trains the frame model; the clip model "
                              "(--temporal) trains on one machine (several local GPUs with --distribute auto)")
        return Distribution()
    dist = resolve_distribution(config.distribute, config.batch_size)
    if dist.keras_distribution is not None and config.embed_batch_size % dist.replicas:
        raise ConfigError(f"embed batch size {config.embed_batch_size} cannot be split over {dist.replicas} "
                          f"devices: use a multiple of {dist.replicas} (--embed-batch-size)")
    return dist


def _train(
    data: Path, paths: OutputPaths, config: TrainConfig, force: bool, resume: bool, val: Path | None, started: float,
    dist: Distribution,
) -> TrainSummary:
    """:func:`run_train` once the outputs are checked and the run folder is locked (by the chief)."""
    check_modality(Path(data), config)
    check_fusion_output(paths.model, config, force)
    train_data = load_data(Path(data), val, config)
    if config.pseudo_fakes != "none":  # record the share that was used
        config = dataclasses.replace(config, pseudo_fake_fraction=train_data.pseudo_fraction)
    if config.modality == "audio":  # the tile settings, as the crop settings of faces, go into the bundle
        crop_config, crop_detector = read_tile_settings(Path(data)), None
    else:
        crop_config = read_crop_config(Path(data))  # read now: a bad record must not wait for the end of training
        crop_detector = read_crop_detector(Path(data))
    if dist.chief:
        prepare_run_dir(paths.run_dir, force=force, resume=resume)
    batches = _training_batches(train_data, config)
    with opencv_threads(1), precision_policy(config.precision), dist.run_scope():
        with dist.build_scope():
            model, initial_epoch, state = prepare_model(config, paths.run_dir, resume, len(batches))
        callbacks = make_callbacks(config, train_data.train, train_data.val, batches, paths.run_dir, state,
                                   train_data.pseudo, chief=dist.chief)
        n_train, n_val = (sum(c.blend_seed is None for c in crops) for crops in (train_data.train, train_data.val))
        n_fixed = len(train_data.train) + len(train_data.val) - n_train - n_val
        log.info("training on %d crops (%d validation, %d fixed self-blends) for epochs %d..%d of %d steps",
                 n_train, n_val, n_fixed, initial_epoch + 1, config.epochs, len(batches))
        _fit(model, batches, dist, config, initial_epoch, callbacks)
        if not dist.chief:
            return _summary(paths, train_data, initial_epoch, RunState(epoch=config.epochs),
                            time.monotonic() - started, chief=False)
        state = read_state(paths.run_dir) or state
        _restore_best(model, config, paths.run_dir, state)
        bundle = fit_final_classifier(model, train_data.train, config, crop_config, train_data.pseudo,
                                      crop_detector)
    write_outputs(model, bundle, paths, config)
    if config.modality == "audio":
        fit_fusion(model, bundle, train_data.val, Path(data), paths.model, config)
    summary = _summary(paths, train_data, initial_epoch, state, time.monotonic() - started)
    _write_record(summary, config, Path(data), val, dist)
    log.info("wrote %s and %s in %.0f s", paths.model, paths.classifier, summary.seconds)
    return summary


# --- outputs -------------------------------------------------------------------------


def resolve_outputs(
    data: Path, out_h5: Path, out_pkl: Path, config: TrainConfig, force: bool, resume: bool
) -> OutputPaths:
    """Name the output files and refuse to overwrite them without ``force``.

    Args:
        data: The data folder (checked to exist first, for a clearer message).
        out_h5: Model file or existing folder.
        out_pkl: Classifier file or existing folder.
        config: Gives the model format.
        force: Allow replacing outputs; without ``resume`` also start the run folder over.
        resume: Continue in the run folder (which must then hold a checkpoint); with
            ``force`` a finished run can be continued and its outputs replaced.

    Returns:
        The :class:`OutputPaths`.

    Raises:
        InputError: ``data`` is missing; ``resume`` without a checkpoint, or with a state
            or checkpoint that cannot be resumed.
        OutputExistsError: An output or a run folder with checkpoints exists.
        ConfigError: The model file name does not end in ``.h5``/``.hdf5``; two outputs are
            one file, or an output is an input (the weights file, a validation tree).
    """
    if not data.is_dir():
        raise InputError(f"data folder {data} does not exist")
    model = out_h5 / DEFAULT_MODEL_NAME if out_h5.is_dir() else out_h5
    classifier = out_pkl / DEFAULT_CLASSIFIER_NAME if out_pkl.is_dir() else out_pkl
    if model.suffix.lower() not in (".h5", ".hdf5"):
        raise ConfigError(f"model file {model}: OUT_H5 must end in .h5 or .hdf5 (or be an existing folder)")
    if classifier.suffix == ".npz":
        raise ConfigError(f"classifier file {classifier}: OUT_PKL must not end in .npz, the name of the "
                          "safe classifier file written beside it")
    paths = OutputPaths(
        model=model,
        classifier=classifier,
        safe_classifier=safe_path(classifier),
        keras_model=model.with_suffix(".keras") if config.format == "keras" else None,
        provenance=model.with_name(f"{model.stem}.dfembed-train.json"),
        run_dir=model.with_name(f"{model.stem}.run"),
    )
    _check_distinct(paths, config)
    _check_existing(paths, config, force, resume)
    return paths


def _check_distinct(paths: OutputPaths, config: TrainConfig) -> None:
    weights = Path(config.weights) if config.weights.lower() not in ("imagenet", "none") else None
    check_distinct(
        {"OUT_H5": paths.model, "OUT_PKL": paths.classifier, "the safe classifier": paths.safe_classifier,
         "the .keras copy": paths.keras_model, "the training record": paths.provenance,
         "the run folder": paths.run_dir},
        {"--weights": weights},
    )


def _check_existing(paths: OutputPaths, config: TrainConfig, force: bool, resume: bool) -> None:
    outputs = (paths.model, paths.classifier, paths.safe_classifier, paths.keras_model, paths.provenance)
    refuse_existing([p for p in outputs if p], force)
    checkpointed = has_checkpoint(paths.run_dir)
    if resume and not checkpointed:
        raise InputError(f"nothing to resume: {paths.run_dir} holds no checkpoint")
    if resume:
        resume_checkpoint(paths.run_dir, config)  # a bad state or checkpoint fails now, before the data load
    if checkpointed and not resume and not force:
        raise OutputExistsError(
            f"run folder {paths.run_dir} holds checkpoints of an earlier run: "
            "use --resume to continue it or --force to start over"
        )


# --- data ----------------------------------------------------------------------------


def load_data(data: Path, val: Path | None, config: TrainConfig) -> TrainData:
    """List training and validation crops and check that they can make balanced batches.

    With ``pseudo_fakes: sbi`` DATA needs no ``fake/``: every real crop also gives one fixed
    self-blend (label fake, the real's group) before the split, so validation has fakes and
    the split by group stays leak-free; a validation tree without fakes gets the
    self-blends of its reals.

    Args:
        data: The crop tree.
        val: A validation tree, or ``None`` for ``DATA/validation`` or a group split.
        config: Gives the batch size, split fraction, seed, workers and pseudo-fake options.

    Returns:
        The :class:`TrainData`.

    Raises:
        InputError: Missing folders, no images (no real crop, with pseudo-fakes), too few
            for a batch, or train and validation sharing a group.
    """
    workers = resolve_workers(config.workers)
    sbi = config.pseudo_fakes == "sbi"
    crops = list_crops(data, workers=workers, fakes_optional=sbi)
    sets = [crops]
    val_dir = val if val is not None else data / VALIDATION_DIR
    if val is not None or (val_dir / "real").is_dir() or (val_dir / "fake").is_dir():
        val_set = list_crops(val_dir, workers=workers, fakes_optional=sbi)
        sets.append(val_set)
        train = list(crops.crops) + (self_blend_crops(crops.crops, config.seed) if sbi else [])
        held_out = list(val_set.crops)
        if sbi and not val_set.count(FAKE):
            held_out += self_blend_crops(held_out, config.seed, stream=5)
        check_disjoint(train, held_out)
    else:
        pool = list(crops.crops) + (self_blend_crops(crops.crops, config.seed) if sbi else [])
        train, held_out = split_by_group(pool, config.val_fraction, config.seed)
    fraction = pseudo_fraction(config, crops) if sbi else 0.0
    check_balanced_batch(train, config.batch_size, fraction)
    pseudo = build_pseudo_fakes([(s.root, [c.path for c in s.crops if c.label == REAL]) for s in sets],
                                config.image_size) if sbi else None
    unreadable = sum(len(s.unreadable) for s in sets)
    return TrainData(tuple(train), tuple(held_out), unreadable, pseudo, fraction)


def pseudo_fraction(config: TrainConfig, crops: CropSet) -> float:
    """The share of a batch's fakes that are self-blended: the option, else 1 without fake crops, else 0.5."""
    if config.pseudo_fake_fraction is not None:
        return config.pseudo_fake_fraction
    return 0.5 if crops.count(FAKE) else 1.0


def _training_batches(data: TrainData, config: TrainConfig) -> BalancedBatches:
    log_ignored_options(config)
    augmenter = SpecAugmenter(SpecAugmentParams.from_config(config)) if config.modality == "audio" else \
        Augmenter(AugmentParams.from_config(config))
    return BalancedBatches(
        data.train,
        config.batch_size,
        augmenter,
        seed=config.seed,
        steps_per_epoch=config.steps_per_epoch,
        workers=resolve_workers(config.workers),
        max_queue_size=config.max_queue_size,
        pseudo=data.pseudo,
        pseudo_fraction=data.pseudo_fraction,
    )


def read_crop_config(data: Path) -> dict[str, Any] | None:
    """The crop stage's configuration from ``DATA/dfembed-crop.json`` (its ``config`` key).

    Args:
        data: The crop tree.

    Returns:
        The configuration mapping, or ``None`` when the record is absent or has none.

    Raises:
        InputError: The record exists but is not valid JSON.
    """
    record = read_crop_record(data)
    if record is None:
        return None
    if not isinstance(record.get("config"), dict):
        log.warning("%s holds no crop configuration; inference will use its own crop options", data / CROP_RECORD_NAME)
        return None
    if record.get("status", "complete") != "complete":
        log.warning("%s says the crop job is %r, not complete: some sources may be missing",
                    data / CROP_RECORD_NAME, record["status"])
    return record["config"]


def read_crop_detector(data: Path) -> dict[str, Any] | None:
    """The crop stage's record of its face detector (``DATA/dfembed-crop.json``, key ``detector``).

    Args:
        data: The crop tree.

    Returns:
        The record (name, versions, options, confidence floor), or ``None`` when absent.

    Raises:
        InputError: The record exists but is not valid JSON.
    """
    record = read_crop_record(data)
    detector = record.get("detector") if record is not None else None
    return detector if isinstance(detector, dict) else None


# --- model and optimiser ------------------------------------------------------------


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


# --- writing -------------------------------------------------------------------------


def write_outputs(model: keras.Model, bundle: ClassifierBundle, paths: OutputPaths, config: TrainConfig) -> None:
    """Save the model (HDF5, and ``.keras`` on request) and the classifier bundle, atomically."""
    save_model(model, paths.model, fmt="h5")
    models = {"OUT_H5": paths.model}
    if paths.keras_model is not None:
        models["keras"] = save_model(model, paths.keras_model, fmt="keras")
    save_bundle(bundle, paths.classifier, models=models)


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
    )
