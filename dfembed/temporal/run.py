"""``dfembed temporal train EMBEDDINGS OUT``: a sequence model on frozen frame embeddings.

1. read the embeddings folder (``dfembed temporal embed``'s OUT) into masked sequences, holding
   out whole groups for validation (:mod:`dfembed.temporal.sequences`);
2. build (or, with ``resume``, reload from ``<OUT stem>.run/``) the sequence model of
   :mod:`dfembed.model.temporal`, binary cross-entropy on the video label, Adam;
3. ``Model.fit``; after every epoch the validation callback scores each validation video
   (mean of its sequences) and logs AUC, log loss and accuracy, then the training stage's
   checkpoint callback saves model, optimiser and state, and the best epoch's weights;
4. keep the best (or last) weights and write OUT (Keras 3 format) and
   ``<OUT stem>.dfembed-temporal.json``: the configuration, versions, history, what was
   left out and what inference needs — the sequence settings, the face track and the
   embedding model the embeddings came from.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from dfembed.core.atomic import atomic_write_text, refuse_existing
from dfembed.core.config import json_ready
from dfembed.core.errors import ConfigError, InputError, OutputExistsError
from dfembed.core.lock import OutputLock, lock_file_beside
from dfembed.core.paths import check_distinct, check_writable
from dfembed.core.provenance import file_sha256, write_provenance
from dfembed.evaluate.metrics import compute_metrics
from dfembed.model.sequence import INPUT_EMBEDDINGS, INPUT_MASK
from dfembed.model.temporal import build_temporal_model, predict_sequences, record_path, save_temporal_model
from dfembed.temporal.config import TemporalConfig
from dfembed.temporal.sequences import SequenceSet, TemporalData, load_sequences
from dfembed.temporal.store import INDEX_NAME, read_record
from dfembed.train.callbacks import RunCheckpoint
from dfembed.train.run_folder import (
    RunState,
    best_weights_path,
    has_checkpoint,
    prepare_run_dir,
    read_state,
)

log = logging.getLogger(__name__)

DEFAULT_NAME = "temporal.keras"
INPUTS_NAME = "inputs.json"
#: Options that change the network or the data it sees; a run cannot be resumed with other values.
RESUME_KEYS = ("network", "frames", "window", "min_faces", "units", "layers", "heads", "dropout", "seed",
               "val_fraction", "batch_size")


@dataclass(frozen=True)
class TemporalOutputs:
    """Where ``temporal train`` writes.

    Attributes:
        model: The sequence model (``.keras``).
        record: Its JSON record (read by inference).
        run_dir: Checkpoints and state.
    """

    model: Path
    record: Path
    run_dir: Path


@dataclass(frozen=True)
class TemporalSummary:
    """What a ``temporal train`` run did.

    Attributes:
        outputs: The files written.
        initial_epoch: First epoch of this call (> 0 after ``resume``).
        epochs: Epochs completed in total.
        history: Per-epoch metrics.
        best_epoch: Epoch of the best validation AUC, ``None`` without validation.
        best_val_auc: That AUC.
        n_train: Training videos (sequences: ``n_train_sequences``).
        n_val: Validation videos.
        n_train_sequences: Training sequences.
        left_out: Video names left out, by reason (``unlabelled``, ``short``, ``empty``).
        seconds: Wall time.
    """

    outputs: TemporalOutputs
    initial_epoch: int
    epochs: int
    history: tuple[dict[str, float], ...]
    best_epoch: int | None
    best_val_auc: float | None
    n_train: int
    n_val: int
    n_train_sequences: int
    left_out: dict[str, list[str]]
    seconds: float


def run_train_temporal(
    embeddings: Path, out: Path, config: TemporalConfig, force: bool = False, resume: bool = False
) -> TemporalSummary:
    """Train a sequence model on an embeddings folder and write it with its record.

    Args:
        embeddings: The folder ``dfembed temporal embed`` wrote.
        out: The model file (``.keras``), or an existing folder (then ``temporal.keras`` in it).
        config: The options.
        force: Replace existing outputs; without ``resume`` also start the run folder over.
        resume: Continue from the run folder's last checkpoint.

    Returns:
        The :class:`TemporalSummary`.

    Raises:
        InputError: A bad embeddings folder, too few usable videos, or nothing to resume.
        OutputExistsError: Outputs or checkpoints exist without ``force`` / ``resume``.
        ConfigError: ``resume`` with other options or other embeddings, or OUT is an input.
        LockedError: Another job trains into the same run folder.
    """
    started = time.monotonic()
    embeddings = Path(embeddings)
    paths = resolve_outputs(Path(out), force, resume)
    check_distinct({"OUT": paths.model, "record": paths.record}, {"EMBEDDINGS": embeddings})
    check_writable(paths.model.parent, "output folder")
    with OutputLock(lock_file_beside(paths.run_dir), f"run folder {paths.run_dir}"):
        return _train(embeddings, paths, config, force, resume, started)


def _train(
    embeddings: Path, paths: TemporalOutputs, config: TemporalConfig, force: bool, resume: bool, started: float
) -> TemporalSummary:
    """:func:`run_train_temporal` once the outputs are checked and the run folder is locked."""
    record = read_record(embeddings)
    data = load_sequences(embeddings, config.sequence(), config.val_fraction, config.seed)
    inputs = _inputs(embeddings, record)
    prepare_run_dir(paths.run_dir, force=force, resume=resume)
    model, initial_epoch, state = prepare_model(config, paths.run_dir, resume, data.embedding_dim, inputs)
    callbacks: list[keras.callbacks.Callback] = [RunCheckpoint(paths.run_dir, config, state)]
    if len(data.val.videos):
        callbacks.insert(0, SequenceValidation(data.val))
    log.info("training a %s on %d sequences of %d videos (%d validation videos), epochs %d..%d", config.network,
             len(data.train.labels), len(data.train.videos), len(data.val.videos), initial_epoch + 1, config.epochs)
    model.fit(_inputs_of(data.train), data.train.labels, batch_size=config.batch_size, epochs=config.epochs,
              initial_epoch=initial_epoch, callbacks=callbacks, shuffle=True, verbose=_verbosity())
    state = read_state(paths.run_dir) or state
    _restore_best(model, config, paths.run_dir, state)
    save_temporal_model(model, paths.model)
    summary = _summary(paths, data, initial_epoch, state, time.monotonic() - started)
    _write_record(summary, config, record, inputs)
    log.info("wrote %s in %.0f s", paths.model, summary.seconds)
    return summary


def resolve_outputs(out: Path, force: bool, resume: bool) -> TemporalOutputs:
    """Name the outputs and refuse to overwrite them (or reuse a run folder) unless asked.

    Raises:
        ConfigError: The model name does not end in ``.keras``.
        OutputExistsError: Outputs exist without ``force``, or checkpoints without ``resume``/``force``.
        InputError: ``resume`` without a checkpoint.
    """
    model = out / DEFAULT_NAME if out.is_dir() else out
    if model.suffix.lower() != ".keras":
        raise ConfigError(f"temporal model file {model}: OUT must end in .keras (or be an existing folder)")
    paths = TemporalOutputs(model, record_path(model), model.with_name(f"{model.stem}.run"))
    refuse_existing([paths.model, paths.record], force)
    checkpointed = has_checkpoint(paths.run_dir)
    if resume and not checkpointed:
        raise InputError(f"nothing to resume: {paths.run_dir} holds no checkpoint")
    if checkpointed and not resume and not force:
        raise OutputExistsError(f"run folder {paths.run_dir} holds checkpoints of an earlier run: "
                                "use --resume to continue it or --force to start over")
    return paths


def _inputs(embeddings: Path, record: dict[str, Any]) -> dict[str, Any]:
    """What identifies the training data: the folder, its index and the model that embedded it."""
    return {"embeddings": str(embeddings.resolve()), "index_sha256": file_sha256(embeddings / INDEX_NAME),
            "model_sha256": record.get("model_sha256")}


def prepare_model(
    config: TemporalConfig, run_dir: Path, resume: bool, embedding_dim: int, inputs: dict[str, Any]
) -> tuple[keras.Model, int, RunState]:
    """Build and compile a new model, or reload the run folder's last checkpoint after checking it fits.

    Raises:
        ConfigError: Resuming with other options or other embeddings, or with no epoch left.
        InputError: The state names a missing checkpoint.
    """
    if resume:
        state = read_state(run_dir) or RunState()
        _check_resumable(state, config, run_dir, inputs)
        checkpoint = run_dir / str(state.checkpoint)
        if not state.checkpoint or not checkpoint.is_file():
            raise InputError(f"checkpoint {checkpoint} named in {run_dir / 'state.json'} is missing")
        log.info("resuming from %s after epoch %d", checkpoint, state.epoch)
        return keras.models.load_model(checkpoint, compile=True), state.epoch, state
    atomic_write_text(run_dir / INPUTS_NAME, json.dumps(inputs, indent=2) + "\n")
    keras.utils.set_random_seed(config.seed)
    model = build_temporal_model(config.network, embedding_dim, config.units, config.layers, config.heads,
                                 config.dropout)
    model.compile(optimizer=keras.optimizers.Adam(config.lr), loss="binary_crossentropy")
    return model, 0, RunState()


def _check_resumable(state: RunState, config: TemporalConfig, run_dir: Path, inputs: dict[str, Any]) -> None:
    wrong = [f"{k}: checkpoint {state.config.get(k)!r}, now {getattr(config, k)!r}"
             for k in RESUME_KEYS if k in state.config and state.config[k] != json_ready(getattr(config, k))]
    if wrong:
        raise ConfigError("cannot resume with other options: " + "; ".join(wrong))
    saved = json.loads((run_dir / INPUTS_NAME).read_text(encoding="utf-8")) if (run_dir / INPUTS_NAME).is_file() else {}
    if saved and saved != inputs:
        raise ConfigError(f"cannot resume on other embeddings: the run trained on {saved.get('embeddings')} "
                          "(another index or embedding model now)")
    if state.epoch >= config.epochs:
        raise ConfigError(f"the run has completed {state.epoch} epochs already; raise --epochs to continue")


class SequenceValidation(keras.callbacks.Callback):
    """After each epoch: score every validation video (mean over its sequences) and log the metrics.

    Adds ``val_auc``, ``val_log_loss`` and ``val_accuracy`` to the epoch's logs (AUC is NaN
    when the validation videos have one class).

    Args:
        val: The validation sequences.
    """

    def __init__(self, val: SequenceSet) -> None:
        super().__init__()
        self.val = val

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Compute and log the validation metrics."""
        scores = self.val.video_scores(predict_sequences(self.model, self.val.embeddings, self.val.mask))
        metrics = compute_metrics(self.val.video_labels, np.clip(scores, 0.0, 1.0))
        if logs is not None:
            logs.update(val_auc=float(metrics["roc_auc"]), val_log_loss=float(metrics["log_loss"]),
                        val_accuracy=float(metrics["accuracy"]))
        log.info("epoch %d: validation AUC %.4f, log loss %.4f, accuracy %.4f", epoch + 1, metrics["roc_auc"],
                 metrics["log_loss"], metrics["accuracy"])


def _verbosity() -> int:
    """One line per epoch when the log shows INFO (the epochs are short), else nothing."""
    return 2 if logging.getLogger("dfembed").isEnabledFor(logging.INFO) else 0


def _inputs_of(sequences: SequenceSet) -> dict[str, np.ndarray]:
    return {INPUT_EMBEDDINGS: sequences.embeddings, INPUT_MASK: sequences.mask}


def _restore_best(model: keras.Model, config: TemporalConfig, run_dir: Path, state: RunState) -> None:
    best = best_weights_path(run_dir, state) if config.keep == "best" else None
    if best is not None:
        model.load_weights(best)
        log.info("keeping the weights of epoch %d (best validation AUC %.4f)", state.best_epoch, state.best_auc)


def _summary(paths: TemporalOutputs, data: TemporalData, initial_epoch: int, state: RunState,
             seconds: float) -> TemporalSummary:
    history = tuple({k: (math.nan if v is None else float(v)) for k, v in h.items()} for h in state.history)
    left_out = {"unlabelled": list(data.unlabelled), "short": list(data.short), "empty": list(data.empty)}
    return TemporalSummary(paths, initial_epoch, state.epoch, history, state.best_epoch, state.best_auc,
                           len(data.train.videos), len(data.val.videos), len(data.train.labels), left_out, seconds)


def temporal_record(config: TemporalConfig, embed_record: dict[str, Any]) -> dict[str, Any]:
    """What inference needs to build a video's sequences as training did.

    Returns:
        ``{"sequence": {frames, window, min_faces}, "track": {track, min_iou},
        "embedder": {model_sha256, weights_sha256, image_size, embedding_dim, model}, "crop": <crop settings>}``.
    """
    embed_config = embed_record.get("config") or {}
    return {
        "sequence": dataclasses.asdict(config.sequence()),
        "track": {"track": embed_config.get("track"), "min_iou": embed_config.get("min_iou")},
        "embedder": {k: embed_record.get(k)
                     for k in ("model_sha256", "weights_sha256", "image_size", "embedding_dim", "model")},
        "crop": embed_record.get("crop"),
    }


def _write_record(summary: TemporalSummary, config: TemporalConfig, embed_record: dict[str, Any],
                  inputs: dict[str, Any]) -> None:
    write_provenance(summary.outputs.record, config, inputs=inputs, summary=json_ready(summary),
                     **temporal_record(config, embed_record))
