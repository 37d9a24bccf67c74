"""``--aggregate temporal``: a video's score from a sequence model on its face track's embeddings.

The sequence model (``dfembed temporal train``'s OUT, or ``train.py --temporal``'s
``<stem>.temporal.keras``) comes with its record ``<stem>.dfembed-temporal.json``, which
says how training built its sequences. A file is scored the same way:

1. its timeline is every frame inference read from it (``--frames-per-video``, as the
   crop stage sampled them), and :func:`~dfembed.faces.track.follow_track` chooses one
   face per frame with the recorded track policy (gaps where it finds none);
2. the timeline is cut into masked sequences with the recorded
   :class:`~dfembed.model.sequence.SequenceSpec`; the file's P(fake) is the mean of its
   sequences' scores;
3. a file with fewer faces than the record's ``min_faces`` (an image is a one-frame
   video), or without a sequence holding a face, is scored by the frame rule
   ``--temporal-fallback`` instead, with a warning.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dfembed.core.errors import InputError
from dfembed.faces.media import is_image
from dfembed.faces.track import follow_track
from dfembed.infer.pipeline import FileResult
from dfembed.model.sequence import SequenceSpec, gather_sequences

log = logging.getLogger(__name__)

@dataclass
class TemporalScorer:
    """A sequence model and the settings it was trained with; scores one file at a time.

    Attributes:
        model: The sequence model (anything with ``predict_on_batch`` on ``{"embeddings", "mask"}``).
        spec: How a timeline becomes sequences.
        track: Track policy (``"iou"`` or ``"largest"``).
        min_iou: Overlap that continues an ``"iou"`` track.
        batch_size: Sequences per model call.
    """

    model: Any
    spec: SequenceSpec
    track: str
    min_iou: float
    batch_size: int = 64

    def score(self, result: FileResult) -> float | None:
        """The file's P(fake), or ``None`` when it is too short for the model.

        Args:
            result: The file's faces: frames, boxes and embeddings, and its sampled frames.

        Returns:
            The mean score of its sequences, or ``None`` (fewer than ``min_faces`` faces on
            the track, or no sequence holding a face).
        """
        embeddings, mask = self.timeline(result)
        if int(mask.sum()) < self.spec.min_faces:
            return None
        sequences, masks = gather_sequences(embeddings, mask, self.spec)
        if not len(sequences):
            return None
        from dfembed.model.temporal import predict_sequences

        return float(np.mean(predict_sequences(self.model, sequences, masks, self.batch_size)))

    def timeline(self, result: FileResult) -> tuple[np.ndarray, np.ndarray]:
        """The file's timeline: ``(embeddings (N, D), mask (N,))``, one tracked face per sampled frame."""
        frames = sorted(set(result.sampled) | set(result.frames))
        if not result.embeddings:
            return np.zeros((len(frames), 0), np.float32), np.zeros(len(frames), bool)
        faces: dict[int, list[int]] = {}
        for k, frame in enumerate(result.frames):
            faces.setdefault(frame, []).append(k)
        candidates = [faces.get(f, []) for f in frames]
        chosen = follow_track([[result.boxes[k] for k in ks] for ks in candidates], self.track, self.min_iou)
        embeddings = np.zeros((len(frames), len(result.embeddings[0])), np.float32)
        mask = np.zeros(len(frames), bool)
        for position, (ks, pick) in enumerate(zip(candidates, chosen)):
            if pick is not None:
                embeddings[position], mask[position] = result.embeddings[ks[pick]], True
        return embeddings, mask


def load_temporal_scorer(path: Path, frame_model: Any = None, frames_per_video: int | None = None) -> TemporalScorer:
    """Load a temporal model and its record, and check them against the frame model.

    Args:
        path: The ``.keras`` sequence model.
        frame_model: The embedding model inference embeds with, when known: another
            embedding width is an error, other weights than those the training embeddings
            came from (the record's digest) a warning.
        frames_per_video: Frames inference samples per video: other than the crop run
            behind the training data is a warning (other timelines).

    Returns:
        The :class:`TemporalScorer`.

    Raises:
        InputError: A missing or bad model or record, or another embedding width.
    """
    from dfembed.model.temporal import load_temporal_model, temporal_embedding_dim

    record = read_temporal_record(path)
    model = load_temporal_model(path)
    if frame_model is not None:
        width, frame_width = temporal_embedding_dim(model), int(frame_model.output_shape[-1])
        if width != frame_width:
            raise InputError(f"temporal model {path} reads {width}-d embeddings; the frame model gives {frame_width}")
    _warn_on_other_inputs(path, record, frame_model, frames_per_video)
    track = record["track"]
    spec = SequenceSpec(**record["sequence"])
    log.info("temporal model %s: %d frames per sequence (window %s), at least %d faces, %s track", path, spec.frames,
             spec.window, spec.min_faces, track["track"])
    return TemporalScorer(model, spec, str(track["track"]), float(track["min_iou"]))


def read_temporal_record(path: Path) -> dict[str, Any]:
    """The record beside a temporal model, checked for what inference reads.

    Raises:
        InputError: It is missing, not JSON, or lacks the sequence or track settings.
    """
    from dfembed.model.temporal import record_path

    record_file = record_path(path)
    if not record_file.is_file():
        raise InputError(f"temporal model {path} has no record {record_file.name} beside it: it holds the sequence "
                         "settings; keep the two files together")
    try:
        record = json.loads(record_file.read_text(encoding="utf-8"))
        SequenceSpec(**record["sequence"])
        track = record["track"]
        str(track["track"]), float(track["min_iou"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as err:
        raise InputError(f"{record_file} is not a temporal model's record: {err}") from err
    return record


def _warn_on_other_inputs(path: Path, record: dict[str, Any], frame_model: Any,
                          frames_per_video: int | None) -> None:
    trained_on = (record.get("embedder") or {}).get("weights_sha256")
    if frame_model is not None and trained_on:
        from dfembed.model.network import weights_digest

        if weights_digest(frame_model) != trained_on:
            log.warning("temporal model %s was trained on embeddings of another embedding model than MODEL_H5 "
                        "(other weights): its scores may mean little", path)
    sampled = (record.get("crop") or {}).get("frames_per_video")
    if frames_per_video is not None and isinstance(sampled, int) and sampled != frames_per_video:
        log.warning("temporal model %s was trained on timelines of %d frames per video; inference samples %d",
                    path, sampled, frames_per_video)


def apply_temporal(results: list[FileResult], scorer: TemporalScorer) -> list[FileResult]:
    """Give every file with faces its temporal score; warn about the files too short for the model.

    A file left without one (``temporal_score`` ``None``) is scored by the frame rule
    (:meth:`FileResult.score` with ``--temporal-fallback``).

    Args:
        results: The files' results, with their faces' boxes and embeddings.
        scorer: The temporal model.

    Returns:
        ``results``, updated in place.
    """
    short = []
    for result in results:
        if result.error is not None or not result.scores:
            continue
        result.temporal_score = scorer.score(result)
        if result.temporal_score is None:
            short.append(result)
            if not is_image(result.path):
                log.warning("%s: %d tracked faces, fewer than the temporal model's %d (or none in a sequence): "
                            "scored with the frame rule", result.path, int(scorer.timeline(result)[1].sum()),
                            scorer.spec.min_faces)
    images = sum(is_image(r.path) for r in short)
    if images:
        log.warning("%d images scored with the frame rule (an image is a one-frame video)", images)
    if short:
        log.warning("%d of %d files were too short for the temporal model and scored with the frame rule",
                    len(short), len(results))
    return results
