"""The overlapped inference pipeline: decode → detect → embed, linked by bounded queues.

A reader thread decodes files (videos in chunks of sampled frames), a detector thread
finds and crops faces with one :class:`~dfembed.faces.detector.Detector` built once
(same-size images detected together), and the calling thread embeds faces of many files
in fixed-size batches and classifies them (:class:`~dfembed.infer.scoring.FaceScorer`).
:func:`score_files` runs the three stages and returns one :class:`FileResult` per file.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from dfembed.faces.config import CropConfig
from dfembed.faces.detector import Detector, DetectorError
from dfembed.faces.extract import FaceCrop, crops_from_frames, crops_of_sources, iter_frame_chunks
from dfembed.faces.geometry import fit_size
from dfembed.faces.media import MediaError, is_image
from dfembed.infer.aggregate import Aggregator, aggregate_file
from dfembed.infer.scoring import EmbeddingScorer, Scorer

log = logging.getLogger(__name__)


@dataclass
class FileResult:
    """What inference found in one media file.

    Attributes:
        path: The file.
        frames: Frame index of each face scored so far.
        scores: P(fake) of each face scored so far.
        n_faces: Faces the detector found (``None`` until the file has been read).
        error: Why the file could not be read, or ``None``.
        sampled: Every frame index read from the file, faces or not (its timeline).
        boxes: Box ``x1, y1, x2, y2`` (source pixels) of each face scored so far.
        embeddings: Embedding of each face scored so far (only when asked for).
        temporal_score: The temporal model's P(fake) of the file (``--aggregate temporal``);
            ``None``: not computed, or the file is too short for it.
    """

    path: Path
    frames: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    n_faces: int | None = None
    error: str | None = None
    sampled: list[int] = field(default_factory=list)
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)
    temporal_score: float | None = None

    def score(self, aggregator: Aggregator, default: float) -> float:
        """The file's P(fake): the temporal model's when it gave one, else ``aggregator`` on the
        frame scores; ``default`` for a file without faces or that could not be read."""
        if self.error is not None or not self.scores:
            return default
        if self.temporal_score is not None:
            return self.temporal_score
        return aggregate_file(self.frames, self.scores, aggregator)


# ---------------------------------------------------------------------------------------
# Reading and detection: the two producer stages


@dataclass
class MediaFrames:
    """Decoded frames of one file, or one chunk of a video's frames (reader → detector).

    Attributes:
        index: Position of the file in the job's list.
        frames: ``(frame_index, RGB uint8 frame)`` pairs (empty for an end marker or an error).
        last: The file's last item.
        error: Why the file could not be read.
        image: The file is an image (one frame).
        whole: The item holds all of its file's frames (an image, or a video sampled in one chunk),
            so it may be detected together with other files.
    """

    index: int
    frames: list[tuple[int, np.ndarray]]
    last: bool = True
    error: str | None = None
    image: bool = False
    whole: bool = False


@dataclass
class FileFaces:
    """Face crops found in one file, or in one chunk of a video (detector → embedder).

    Attributes:
        index: Position of the file in the job's list.
        frames: Frame index of each face, ``(n,)``.
        images: The crops at the model's input size, ``(n, s, s, 3)`` uint8.
        last: The file's last item.
        error: Why the file could not be read or detected.
        boxes: Box of each face, ``(n, 4)`` ``x1, y1, x2, y2`` in source pixels (``None``: unknown).
        sampled: Frame indices of a video read in this item, faces or not.
    """

    index: int
    frames: np.ndarray
    images: np.ndarray
    last: bool = True
    error: str | None = None
    boxes: np.ndarray | None = None
    sampled: tuple[int, ...] = ()


class FaceExtractor:
    """Decodes media and detects faces; images of one size are detected together, in batches.

    A video is read in chunks of ``crop_config.batch_size`` sampled frames (memory stays
    flat); consecutive images of the same size are grouped up to that many per MTCNN call,
    which halves detection time per image on a CPU compared with one call per image.

    Args:
        detector: The face detector (built once).
        crop_config: The crop settings to detect and crop with.
        image_size: The model's input size; crops are resized to it.
    """

    def __init__(self, detector: Detector, crop_config: CropConfig, image_size: int) -> None:
        self.detector = detector
        self.crop_config = crop_config
        self.image_size = image_size

    def read(self, paths: Sequence[Path]) -> Iterator[MediaFrames]:
        """Stage 1: decode every file; unreadable files become items with ``error`` set."""
        for index, path in enumerate(paths):
            try:
                yield from self._read_one(index, path)
            except MediaError as err:  # a bad file is counted, the job goes on
                log.warning("cannot read %s", err)
                yield MediaFrames(index, [], error=str(err))

    def _read_one(self, index: int, path: Path) -> Iterator[MediaFrames]:
        pending: list[tuple[int, np.ndarray]] = []
        whole = True
        for chunk in iter_frame_chunks(path, self.crop_config):
            if pending:  # hold one chunk back so that the file's last item says so
                yield MediaFrames(index, pending, last=False)
                whole = False
            pending = chunk
        yield MediaFrames(index, pending, last=True, image=is_image(path), whole=whole)

    def detect(self, items: Iterable[MediaFrames]) -> Iterator[FileFaces]:
        """Stage 2: detect and crop faces, grouping consecutive files of same-size frames (images, short clips)."""
        group: list[MediaFrames] = []
        for item in items:
            if _shares(item) and self._joins(group, item):
                group.append(item)
                continue
            yield from self._detect_group(group)
            group = [item] if _shares(item) else []
            if not group:
                yield _with_sampled(self._detect_item(item), item)
        yield from self._detect_group(group)

    def _joins(self, group: list[MediaFrames], item: MediaFrames) -> bool:
        """Whether ``item`` fits ``group``: frames of the group's shape, the group's frames within a batch."""
        if not group:
            return True
        same_shape = group[0].frames[0][1].shape == item.frames[0][1].shape
        frames = sum(len(member.frames) for member in group) + len(item.frames)
        return same_shape and frames <= self.crop_config.batch_size

    def _detect_item(self, item: MediaFrames) -> FileFaces:
        if item.error is not None or not item.frames:
            return self._faces(item.index, [], item.last, item.error)
        try:
            crops = self._crops(item.frames)
        except DetectorError as err:  # counted like an unreadable file
            log.warning("face detection failed on file %d: %s", item.index, err)
            return self._faces(item.index, [], item.last, str(err))
        except ValueError as err:  # a detected box that geometry cannot crop, as the crop stage counts it
            log.warning("cannot crop a face of file %d: %s", item.index, err)
            return self._faces(item.index, [], item.last, f"crop error: {err}")
        return self._faces(item.index, crops, item.last)

    def _detect_group(self, group: list[MediaFrames]) -> Iterator[FileFaces]:
        if len(group) < 2:
            yield from (_with_sampled(self._detect_item(item), item) for item in group)
            return
        try:
            found = crops_of_sources([item.frames for item in group], self.detector, self.crop_config)
        except (DetectorError, ValueError):  # find the file it was, one by one
            yield from (_with_sampled(self._detect_item(item), item) for item in group)
            return
        for item, crops in zip(group, found):
            yield _with_sampled(self._faces(item.index, crops, True), item)

    def _crops(self, frames: list[tuple[int, np.ndarray]]) -> list[FaceCrop]:
        return crops_from_frames(frames, self.detector, self.crop_config)

    def _faces(self, index: int, crops: list[FaceCrop], last: bool, error: str | None = None) -> FileFaces:
        frames = np.array([c.frame_index for c in crops], dtype=np.int64)
        boxes = np.array([c.face.box for c in crops], dtype=np.float64).reshape(-1, 4)
        if crops:
            images = np.stack([fit_size(c.image, self.image_size) for c in crops])
        else:
            images = np.zeros((0, self.image_size, self.image_size, 3), dtype=np.uint8)
        return FileFaces(index, frames, images, last, error, boxes)


def _shares(item: MediaFrames) -> bool:
    """Whether an item may be detected together with other files' (all of its file's frames, one shape)."""
    return (item.whole or item.image) and item.error is None and bool(item.frames) and len(
        {frame.shape for _, frame in item.frames}) == 1


def _with_sampled(faces: FileFaces, item: MediaFrames) -> FileFaces:
    """Note the frames a video chunk read, faces or not (a temporal model's timeline); nothing for an image."""
    if not item.image:
        faces.sampled = tuple(index for index, _ in item.frames)
    return faces


# ---------------------------------------------------------------------------------------
# The overlapped pipeline: reader thread → detector thread → embedding on this thread


@dataclass
class _Failure:
    error: BaseException


_DONE = object()


def _put(items: queue.Queue, stop: threading.Event, item: object) -> None:
    """Put ``item`` unless the consumer has stopped (never blocks forever)."""
    while not stop.is_set():
        try:
            items.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _drain(items: queue.Queue, stop: threading.Event) -> Iterator[Any]:
    """Yield items until the producer is done; re-raise a producer's error here."""
    while not stop.is_set():
        try:
            item = items.get(timeout=0.1)
        except queue.Empty:
            continue
        if item is _DONE:
            return
        if isinstance(item, _Failure):
            raise item.error
        yield item


def _stage(
    name: str, produce: Callable[[], Iterable[Any]], out: queue.Queue, stop: threading.Event
) -> threading.Thread:
    """Start a thread that puts everything ``produce()`` yields on ``out``, then a done marker."""

    def run() -> None:
        try:
            for item in produce():
                if stop.is_set():
                    return
                _put(out, stop, item)
        except Exception as err:  # re-raised by the consumer on the main thread
            _put(out, stop, _Failure(err))
            return
        _put(out, stop, _DONE)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


class _Batcher:
    """Collects faces of many files and scores them ``batch_size`` at a time.

    With ``embeddings``, the scorer returns ``(scores, embeddings)`` and each face's
    embedding is kept in its file's result.
    """

    def __init__(self, scorer: Scorer | EmbeddingScorer, batch_size: int, results: list[FileResult],
                 embeddings: bool = False) -> None:
        self._scorer = scorer
        self._batch_size = batch_size
        self._results = results
        self._embeddings = embeddings
        self._images: list[np.ndarray] = []
        self._owners: list[tuple[int, int, tuple[float, ...]]] = []

    def add(self, item: FileFaces) -> None:
        boxes = item.boxes if item.boxes is not None else np.full((len(item.frames), 4), np.nan)
        for frame, image, box in zip(item.frames.tolist(), item.images, boxes.tolist()):
            self._images.append(image)
            self._owners.append((item.index, frame, tuple(box)))
        while len(self._images) >= self._batch_size:
            self._run(self._batch_size)

    def flush(self) -> None:
        if self._images:
            self._run(len(self._images))

    def _run(self, n: int) -> None:
        out = self._scorer(np.stack(self._images[:n]))
        scores, vectors = out if self._embeddings else (out, None)
        for k, ((index, frame, box), score) in enumerate(zip(self._owners[:n], np.asarray(scores).tolist())):
            result = self._results[index]
            result.frames.append(frame)
            result.scores.append(score)
            result.boxes.append(box)
            if vectors is not None:
                result.embeddings.append(np.asarray(vectors[k], dtype=np.float32))
        del self._images[:n], self._owners[:n]


def _record(result: FileResult, item: FileFaces) -> None:
    result.n_faces = (result.n_faces or 0) + len(item.frames)
    result.sampled.extend(item.sampled)
    if item.error is not None:
        result.error = item.error


def score_files(
    paths: Sequence[Path],
    extractor: FaceExtractor,
    scorer: Scorer | EmbeddingScorer,
    batch_size: int = 32,
    queue_size: int = 8,
    progress: bool = True,
    embeddings: bool = False,
) -> list[FileResult]:
    """Score files with decoding, detection and embedding overlapped.

    A reader thread decodes files, a detector thread finds and crops faces, and this
    thread embeds and classifies faces of many files in batches of ``batch_size``.

    Args:
        paths: Media files.
        extractor: Decoding and detection (runs on the two producer threads).
        scorer: Face crops → P(fake) (runs on the calling thread).
        batch_size: Faces per scorer call; faces of several files share a batch.
        queue_size: Detected files (or video chunks) held ahead of the scorer.
        progress: Show a tqdm bar.
        embeddings: ``scorer`` is an :data:`~dfembed.infer.scoring.EmbeddingScorer`; keep
            each face's embedding in its result (for a temporal model).

    Returns:
        One :class:`FileResult` per path, in order.
    """
    results = [FileResult(path) for path in paths]
    stop = threading.Event()
    decoded: queue.Queue = queue.Queue(maxsize=2)  # frames are large: keep few in flight
    detected: queue.Queue = queue.Queue(maxsize=queue_size)
    threads = [
        _stage("dfembed-read", lambda: extractor.read(paths), decoded, stop),
        _stage("dfembed-detect", lambda: extractor.detect(_drain(decoded, stop)), detected, stop),
    ]
    batcher = _Batcher(scorer, batch_size, results, embeddings)
    try:
        with tqdm(total=len(paths), unit="file", desc="infer", disable=not progress) as bar:
            for item in _drain(detected, stop):
                _record(results[item.index], item)
                batcher.add(item)
                bar.update(int(item.last))
        batcher.flush()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    return results
