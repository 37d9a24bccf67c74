"""``--aggregate temporal``: a video's score from a sequence model on its face track's embeddings.

The sequence model (``dfembed train-temporal``'s OUT, or ``train.py --temporal``'s
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
from dfembed.core.provenance import file_sha256
from dfembed.faces.media import is_image
from dfembed.faces.track import follow_track
from dfembed.infer.aggregate import Aggregator
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


def load_temporal_scorer(path: Path, embedding_dim: int, model_h5: Path | None = None,
                         frames_per_video: int | None = None) -> TemporalScorer:
    """Load a temporal model and its record, and check them against the frame model.

    Args:
        path: The ``.keras`` sequence model.
        embedding_dim: Width of the frame model's embeddings.
        model_h5: The frame model file: a different file than the one the training
            embeddings came from is a warning (same width, other features).
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
    width = temporal_embedding_dim(model)
    if width != embedding_dim:
        raise InputError(f"temporal model {path} reads {width}-d embeddings; the frame model gives {embedding_dim}")
    _warn_on_other_inputs(path, record, model_h5, frames_per_video)
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


def _warn_on_other_inputs(path: Path, record: dict[str, Any], model_h5: Path | None,
                          frames_per_video: int | None) -> None:
    trained_on = (record.get("embedder") or {}).get("model_sha256")
    if model_h5 is not None and trained_on and file_sha256(model_h5) != trained_on:
        log.warning("temporal model %s was trained on embeddings of another model file than %s", path, model_h5)
    sampled = (record.get("crop") or {}).get("frames_per_video")
    if frames_per_video is not None and isinstance(sampled, int) and sampled != frames_per_video:
        log.warning("temporal model %s was trained on timelines of %d frames per video; inference samples %d",
                    path, sampled, frames_per_video)


def temporal_scores(
    results: dict[str, FileResult], scorer: TemporalScorer, fallback: Aggregator, default: float
) -> tuple[dict[str, float], list[str]]:
    """Every file's score by the temporal model, or by the frame rule when it is too short.

    Args:
        results: Relative path → the file's result.
        scorer: The temporal model.
        fallback: The frame rule of too-short files.
        default: Score of a file without a face or that could not be read.

    Returns:
        ``(scores, fallen_back)``: the score of every file, and the files scored by the frame rule.
    """
    scores, fallen_back = {}, []
    for key, result in results.items():
        if result.error is not None or not result.scores:
            scores[key] = default
            continue
        value = scorer.score(result)
        if value is None:
            fallen_back.append(key)
            value = result.score(fallback, default)
            if not is_image(result.path):
                log.warning("%s: %d tracked faces, fewer than the temporal model's %d (or none in a sequence): "
                            "scored with the frame rule", key, int(scorer.timeline(result)[1].sum()),
                            scorer.spec.min_faces)
        scores[key] = value
    images = sum(is_image(results[k].path) for k in fallen_back)
    if images:
        log.warning("%d images scored with the frame rule (an image is a one-frame video)", images)
    return scores, fallen_back
