"""``train.py DATA OUT_H5 OUT_PKL --temporal T``: the end-to-end clip model.

The embedding network of :mod:`dfembed.model.network` is wrapped in ``TimeDistributed``
in front of a sequence model (:func:`dfembed.model.temporal.build_clip_model`) and
trained with binary cross-entropy on clips of ``T`` consecutive frames of the face track
(:mod:`dfembed.train.clips`). Every training step runs the backbone on ``T`` images per
clip, so a step with ``B`` clips costs about what a frame model's step with ``B × T``
images costs.

The outputs are those of a frame run plus the sequence model, so inference uses them
unchanged:

* OUT_H5: the trained embedding network (the clip model's ``TimeDistributed`` part);
* OUT_PKL: the SVM bundle fitted on its embeddings of the training crops (the frame rule,
  and ``--temporal-fallback``'s scores);
* ``<OUT_H5 stem>.temporal.keras`` and its record ``<stem>.temporal.dfembed-temporal.json``:
  the sequence model for ``inference.py --aggregate temporal --temporal-model``, reading
  windows of ``T`` consecutive frames (stride 1) and at least ``T`` faces, as trained.

Validation (by group, as a frame run), checkpoints, ``--resume`` and ``--keep best`` are
those of the frame run; the validation AUC is the video AUC of the inference path.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from dfembed.core.atomic import refuse_existing
from dfembed.core.config import json_ready
from dfembed.core.errors import ConfigError
from dfembed.core.provenance import file_sha256, write_provenance
from dfembed.crop.videos import read_crop_videos
from dfembed.evaluate.metrics import compute_metrics
from dfembed.faces.geometry import fit_size
from dfembed.faces.media import read_image
from dfembed.faces.track import DEFAULT_MIN_IOU
from dfembed.model.network import build_embedding_model, embed_images, weights_digest
from dfembed.model.sequence import SequenceSpec, gather_sequences
from dfembed.model.temporal import (
    build_clip_model,
    build_temporal_model,
    predict_sequences,
    record_path,
    save_temporal_model,
    split_clip_model,
)
from dfembed.train.augment import Augmenter, AugmentParams
from dfembed.train.batches import opencv_threads, resolve_workers
from dfembed.train.callbacks import EpochSeed, RunCheckpoint
from dfembed.train.clips import ClipBatches, ClipVideo, check_clip_classes, clip_videos
from dfembed.train.config import TrainConfig
from dfembed.train.crops import VALIDATION_DIR
from dfembed.train.data import TrainData, load_data, read_crop_config
from dfembed.train.devices import Distribution, distribution_scope, precision_policy
from dfembed.train.frames import make_optimizer
from dfembed.train.head import fit_final_classifier
from dfembed.train.modality import Modality, TrainJob
from dfembed.train.outputs import OUTPUTS_KEY, OutputPaths, TrainSummary, output_entries, resolve_outputs, write_outputs
from dfembed.train.run_folder import RunState, best_weights_path, prepare_run_dir, read_state, resume_checkpoint

log = logging.getLogger(__name__)

TRACK = {"track": "iou", "min_iou": DEFAULT_MIN_IOU}


def temporal_paths(paths: OutputPaths) -> tuple[Path, Path]:
    """The sequence model and its record beside OUT_H5: ``<stem>.temporal.keras``, ``<stem>.temporal.dfembed-temporal.json``."""
    model = paths.model.with_name(f"{paths.model.stem}.temporal.keras")
    return model, record_path(model)


def run_train_clips(
    data: Path, out_h5: Path, out_pkl: Path, config: TrainConfig, force: bool = False, resume: bool = False,
    val: Path | None = None,
) -> TrainSummary:
    """Train the clip model end to end and write the embedder, its SVM and the sequence model.

    Args:
        data: The crop folder (``manifest.csv``: its videos and their face tracks).
        out_h5: Model file or existing folder (as a frame run).
        out_pkl: Classifier file or existing folder.
        config: The training configuration; ``config.temporal`` is ``T``.
        force: Replace outputs; without ``resume`` also start the run folder over.
        resume: Continue from the run folder's last checkpoint.
        val: A validation crop folder (its ``manifest.csv`` gives the videos).

    Returns:
        The :class:`~dfembed.train.outputs.TrainSummary` (``n_train``/``n_val`` count videos).

    Raises:
        InputError: Unusable data: no manifest, no real or fake video with ``T`` faces.
        OutputExistsError: Outputs or checkpoints exist without ``force`` / ``resume``.
        ConfigError: Resuming with other options.
    """
    started = time.monotonic()
    frames = int(config.temporal or 0)
    paths = resolve_outputs(Path(data), Path(out_h5), Path(out_pkl), config, force, resume)
    head_path, head_record = temporal_paths(paths)
    refuse_existing([head_path, head_record], force)
    frame_data = load_data(Path(data), val, config)
    train_videos, val_videos, short = _videos(Path(data), val, frame_data, frames)
    crop_config = read_crop_config(Path(data))
    prepare_run_dir(paths.run_dir, force=force, resume=resume)
    batches = ClipBatches(train_videos, frames, config.batch_size, Augmenter(AugmentParams.from_config(config)),
                          config.seed, config.steps_per_epoch, resolve_workers(config.workers), config.max_queue_size)
    with opencv_threads(1), precision_policy(config.precision), distribution_scope(config.batch_size) as scope:
        with scope:
            model, initial_epoch, state = _prepare(config, paths.run_dir, resume, len(batches))
        callbacks = _callbacks(config, batches, val_videos, paths.run_dir, state)
        log.info("training the %d-frame clip model on %d videos (%d validation) for epochs %d..%d of %d steps",
                 frames, len(train_videos), len(val_videos), initial_epoch + 1, config.epochs, len(batches))
        batches.set_epoch(initial_epoch)
        verbose = 1 if logging.getLogger("dfembed").isEnabledFor(logging.INFO) else 0  # as a frame run
        model.fit(batches, epochs=config.epochs, initial_epoch=initial_epoch, callbacks=callbacks, shuffle=False,
                  verbose=verbose)
        state = read_state(paths.run_dir) or state
        _restore_best(model, config, paths.run_dir, state)
        embedder, head = split_clip_model(model)
        bundle = fit_final_classifier(embedder, frame_data.train, config, crop_config)
    write_outputs(embedder, bundle, paths, config)
    save_temporal_model(head, head_path)
    summary = _summary(paths, len(train_videos), len(val_videos), frame_data, initial_epoch, state, started)
    _write_records(summary, config, Path(data), val, head_path, short, crop_config, weights_digest(embedder))
    log.info("wrote %s, %s and %s in %.0f s", paths.model, paths.classifier, head_path, summary.seconds)
    return summary


def _videos(data: Path, val: Path | None, frame_data: TrainData, frames: int
            ) -> tuple[list[ClipVideo], list[ClipVideo], list[str]]:
    """Training and validation videos with ``frames`` faces, split as the frame crops were."""
    readable = {c.path.resolve() for c in (*frame_data.train, *frame_data.val)}
    found = read_crop_videos(data, TRACK["track"], TRACK["min_iou"])
    usable, short = clip_videos(data, found.videos, frames, readable)
    val_groups = {c.group for c in frame_data.val}
    val_dir = val if val is not None else data / VALIDATION_DIR
    if val is not None or (val_dir / "manifest.csv").is_file():
        held_out, more_short = clip_videos(val_dir, read_crop_videos(val_dir, **TRACK).videos, frames, readable)
        short += more_short
    else:
        held_out = [v for v in usable if v.group in val_groups]
    train = [v for v in usable if v.group not in val_groups]
    check_clip_classes(train, frames, data)
    return train, held_out, short


def _prepare(config: TrainConfig, run_dir: Path, resume: bool, steps: int) -> tuple[keras.Model, int, RunState]:
    if resume:
        checkpoint, state = resume_checkpoint(run_dir, config)
        log.info("resuming from %s after epoch %d", checkpoint, state.epoch)
        return keras.models.load_model(checkpoint, compile=True), state.epoch, state
    keras.utils.set_random_seed(config.seed)
    embedder = build_embedding_model(config.backbone, config.image_size, config.weights, config.embedding_dim,
                                     config.dropout, config.l2)
    head = build_temporal_model(config.temporal_network, config.embedding_dim)
    model = build_clip_model(embedder, head, int(config.temporal or 0))
    model.compile(optimizer=make_optimizer(config, steps), loss="binary_crossentropy")
    return model, 0, RunState()


def head_spec(config: TrainConfig) -> SequenceSpec:
    """How inference reads the sequence model: windows of ``T`` consecutive frames, at least ``T`` faces."""
    frames = int(config.temporal or 1)
    return SequenceSpec(frames=frames, window=1, min_faces=frames)


def _callbacks(config: TrainConfig, batches: ClipBatches, val: Sequence[ClipVideo], run_dir: Path,
               state: RunState) -> list[keras.callbacks.Callback]:
    callbacks: list[keras.callbacks.Callback] = [EpochSeed(batches, config.seed)]  # type: ignore[arg-type]  # same set_epoch
    if val:
        callbacks.append(ClipValidation(val, head_spec(config), config.image_size, config.embed_batch_size))
    callbacks.append(RunCheckpoint(run_dir, config, state))
    if config.tensorboard and keras.backend.backend() == "tensorflow" and importlib.util.find_spec("tensorboard"):
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard")))
    return callbacks


class ClipValidation(keras.callbacks.Callback):
    """After each epoch: score each validation video as inference would, log video AUC, log loss, accuracy.

    The clip model's embedder embeds the video's face crops, the sequence model scores the
    masked windows of its timeline, and the video's score is their mean.

    Args:
        videos: Validation videos.
        spec: The sequences inference will read.
        image_size: The model's input side.
        batch_size: Crops per embedding call.
    """

    def __init__(self, videos: Sequence[ClipVideo], spec: SequenceSpec, image_size: int, batch_size: int) -> None:
        super().__init__()
        self.videos, self.spec, self.image_size, self.batch_size = list(videos), spec, image_size, batch_size

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Compute and log the validation metrics."""
        embedder, head = split_clip_model(self.model)
        scores = np.array([self._score(embedder, head, v) for v in self.videos])
        metrics = compute_metrics([v.label for v in self.videos], np.clip(scores, 0.0, 1.0))
        if logs is not None:
            logs.update(val_auc=float(metrics["roc_auc"]), val_log_loss=float(metrics["log_loss"]),
                        val_accuracy=float(metrics["accuracy"]))
        log.info("epoch %d: validation video AUC %.4f, log loss %.4f", epoch + 1, metrics["roc_auc"],
                 metrics["log_loss"])

    def _score(self, embedder: keras.Model, head: keras.Model, video: ClipVideo) -> float:
        faces = np.flatnonzero(video.mask)
        images = np.stack([fit_size(read_image(video.crops[k]), self.image_size) for k in faces]).astype(np.float32)
        vectors = embed_images(embedder, images, self.batch_size)
        timeline = np.zeros((len(video.mask), vectors.shape[1]), np.float32)
        timeline[faces] = vectors
        sequences, masks = gather_sequences(timeline, video.mask, self.spec)
        return float(np.mean(predict_sequences(head, sequences, masks)))


def _restore_best(model: keras.Model, config: TrainConfig, run_dir: Path, state: RunState) -> None:
    best = best_weights_path(run_dir, state) if config.keep == "best" else None
    if best is not None:
        model.load_weights(best)
        log.info("keeping the weights of epoch %d (best validation AUC %.4f)", state.best_epoch, state.best_auc)


def _summary(paths: OutputPaths, n_train: int, n_val: int, frame_data: TrainData, initial_epoch: int,
             state: RunState, started: float) -> TrainSummary:
    history = tuple({k: (float("nan") if v is None else float(v)) for k, v in h.items()} for h in state.history)
    return TrainSummary(paths, initial_epoch, state.epoch, history, state.best_epoch, state.best_auc, n_train, n_val,
                        frame_data.unreadable, time.monotonic() - started)


def _write_records(summary: TrainSummary, config: TrainConfig, data: Path, val: Path | None, head_path: Path,
                   short: list[str], crop_config: dict[str, Any] | None, weights: str) -> None:
    inputs = {"data": str(data), "val": str(val) if val is not None else None}
    clips = {"frames": config.temporal, "network": config.temporal_network, "videos_left_out_short": short}
    write_provenance(summary.outputs.provenance, config, inputs=inputs, summary=json_ready(summary), clips=clips,
                     **{OUTPUTS_KEY: output_entries(summary.outputs)})
    write_provenance(record_path(head_path), config, inputs=inputs, summary=json_ready(summary),
                     sequence=dataclasses.asdict(head_spec(config)), track=TRACK, crop=crop_config,
                     embedder={"model": str(summary.outputs.model), "model_sha256": file_sha256(summary.outputs.model),
                               "weights_sha256": weights, "image_size": config.image_size,
                               "embedding_dim": config.embedding_dim})


def clip_distribution(config: TrainConfig) -> Distribution:
    """The clip model trains on one machine (its own scope spreads it over the local GPUs).

    Raises:
        ConfigError: ``--distribute`` names a mode of the frame model.
    """
    if config.distribute not in ("auto", "none"):
        raise ConfigError(f"--distribute {config.distribute} trains the frame model; the clip model "
                          "(--temporal) trains on one machine (several local GPUs with --distribute auto)")
    return Distribution()


def train_clips(job: TrainJob) -> TrainSummary:
    """:func:`run_train_clips` on the job that :func:`~dfembed.train.run.run_train` checked and locked."""
    return run_train_clips(job.data, job.out_h5, job.out_pkl, job.config, force=job.force, resume=job.resume,
                           val=job.val)


#: ``--temporal T``: the end-to-end clip model, its embedder's SVM and the sequence model.
CLIP = Modality(name="clip", summary="face crops as clips of T frames: the end-to-end clip model (--temporal)",
                distribution=clip_distribution, train=train_clips)
