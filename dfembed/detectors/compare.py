"""Measuring detectors on the same frames: timing, faces kept, recall, agreement, false positives.

Boxes are ``x1, y1, x2, y2`` in source-image pixels. Every detector sees the same decoded
frames (a file is decoded once), in chunks of ``batch_size`` frames per call as in the crop
stage; only the detector's calls are timed, so frames/s here is detection alone (with its
DFDC-winner downscale), not decoding. Faces are kept by each detector's own confidence
floor and ``min_face_size`` (:func:`~dfembed.faces.extract.choose_faces`, every face).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence

import numpy as np

from dfembed.detectors.truth import count_matched
from dfembed.faces.config import CropConfig
from dfembed.faces.detector import Detector, Face
from dfembed.faces.extract import choose_faces
from dfembed.faces.geometry import iou

log = logging.getLogger(__name__)

IMAGE, VIDEO, NEGATIVE = "image", "video", "negative"


@dataclasses.dataclass
class FileRun:
    """One detector on one file.

    Attributes:
        detector: The detector's name.
        file: The file's path relative to SRC (or as given, for a negative outside SRC).
        kind: ``image``, ``video`` or ``negative`` (a face-free image).
        frames: Frames given to the detector.
        seconds: Time spent in the detector's calls.
        faces: Faces kept per frame, largest first.
        error: Why the detector failed on the file, or ``None``.
    """

    detector: str
    file: str
    kind: str
    frames: int
    seconds: float
    faces: list[list[Face]]
    error: str | None = None

    def largest(self, frame: int) -> Face | None:
        """The largest kept face of a frame, or ``None``."""
        return self.faces[frame][0] if self.error is None and self.faces[frame] else None


def run_detector(
    name: str, detector: Detector, frames: Sequence[np.ndarray], config: CropConfig, file: str, kind: str
) -> FileRun:
    """Detect faces in a file's frames, ``config.batch_size`` at a time, timing the calls.

    A detector that fails (any exception: third-party networks raise their own types) is
    recorded in the run's ``error``; the comparison goes on.

    Args:
        name: The detector's name.
        detector: The built detector.
        frames: The file's RGB ``uint8`` frames, all of one shape.
        config: Its crop settings (``batch_size``, confidence floor, ``min_face_size``).
        file: The file's key.
        kind: ``image``, ``video`` or ``negative``.

    Returns:
        The :class:`FileRun`.
    """
    faces: list[list[Face]] = []
    seconds = 0.0
    try:
        for start in range(0, len(frames), config.batch_size):
            chunk = list(frames[start : start + config.batch_size])
            began = time.perf_counter()
            found = detector.detect(chunk)
            seconds += time.perf_counter() - began
            faces.extend(choose_faces(f, config) for f in found)
    except Exception as err:  # noqa: BLE001 - one detector failing on one file is a result, not a crash
        log.warning("%s failed on %s: %s", name, file, err)
        return FileRun(name, file, kind, len(frames), seconds, [[] for _ in frames], f"{type(err).__name__}: {err}")
    return FileRun(name, file, kind, len(frames), seconds, faces)


@dataclasses.dataclass
class DetectorSummary:
    """One detector over the whole comparison (a row of ``detectors.csv``).

    Attributes:
        detector: Its name.
        versions: Its packages' versions (``mtcnn 1.0.0; tensorflow 2.21.0``).
        error: Why it could not be built, or ``None``.
        images: Images (negatives included) it ran on.
        image_fps: Image frames per second of detection.
        video_frames: Video frames it ran on.
        video_fps: Video frames per second of detection.
        faces: Faces kept in all frames.
        truth_found: Ground-truth boxes found (IoU at or above the threshold).
        truth_total: Ground-truth boxes of the compared files.
        agreement_iou: Mean IoU of its largest face with the reference's, over the frames
            where the reference found a face (a frame where it found none counts 0).
        agreement_frames: Those frames.
        false_positives: Faces kept on the face-free images.
        failures: Files it failed on.
    """

    detector: str
    versions: str
    error: str | None = None
    images: int = 0
    image_fps: float | None = None
    video_frames: int = 0
    video_fps: float | None = None
    faces: int = 0
    truth_found: int | None = None
    truth_total: int | None = None
    agreement_iou: float | None = None
    agreement_frames: int = 0
    false_positives: int | None = None
    failures: int = 0


def summarise(
    name: str, versions: str, runs: Sequence[FileRun], reference: Mapping[str, FileRun],
    truth: Mapping[str, np.ndarray], iou_threshold: float, error: str | None = None,
) -> DetectorSummary:
    """Reduce one detector's file runs to its summary.

    Args:
        name: The detector.
        versions: Its packages' versions, as text.
        runs: Its runs, one per file.
        reference: The reference detector's runs by file.
        truth: Ground-truth boxes by file (only images).
        iou_threshold: IoU at which a box matches a ground-truth box.
        error: Why it could not be built (then ``runs`` is empty).

    Returns:
        The :class:`DetectorSummary`.
    """
    summary = DetectorSummary(name, versions, error)
    images = [r for r in runs if r.kind != VIDEO]
    videos = [r for r in runs if r.kind == VIDEO]
    summary.images, summary.image_fps = len(images), _fps(images)
    summary.video_frames, summary.video_fps = sum(r.frames for r in videos), _fps(videos)
    summary.faces = sum(len(f) for r in runs for f in r.faces)
    summary.failures = sum(r.error is not None for r in runs)
    _recall(summary, runs, truth, iou_threshold)
    _agreement(summary, runs, reference)
    negatives = [r for r in runs if r.kind == NEGATIVE]
    if negatives:
        summary.false_positives = sum(len(f) for r in negatives for f in r.faces)
    return summary


def _fps(runs: Sequence[FileRun]) -> float | None:
    frames = sum(r.frames for r in runs if r.error is None)
    seconds = sum(r.seconds for r in runs if r.error is None)
    return frames / seconds if frames and seconds > 0 else None


def _recall(summary: DetectorSummary, runs: Sequence[FileRun], truth: Mapping[str, np.ndarray], threshold: float) -> None:
    judged = [r for r in runs if r.file in truth and r.kind != VIDEO]
    if not judged:
        return
    summary.truth_total = sum(len(truth[r.file]) for r in judged)
    summary.truth_found = sum(count_matched(truth[r.file], face_boxes(r.faces[0]), threshold) for r in judged)


def _agreement(summary: DetectorSummary, runs: Sequence[FileRun], reference: Mapping[str, FileRun]) -> None:
    values = []
    for run in runs:
        ref = reference.get(run.file)
        if ref is None:
            continue
        for frame in range(min(run.frames, ref.frames)):
            theirs, ours = ref.largest(frame), run.largest(frame)
            if theirs is not None:
                values.append(0.0 if ours is None else float(iou(ours.box, theirs.box)[0, 0]))
    summary.agreement_frames = len(values)
    summary.agreement_iou = float(np.mean(values)) if values else None


def face_boxes(faces: Sequence[Face]) -> np.ndarray:
    """Boxes of ``faces`` as an ``(N, 4)`` array."""
    return np.asarray([f.box for f in faces], dtype=np.float64).reshape(-1, 4)
