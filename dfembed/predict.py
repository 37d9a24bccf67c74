"""Inference: score every face image and video under TEST and fill a submission CSV.

Three stages overlap, linked by bounded queues: a reader thread decodes files (videos in
chunks of sampled frames), a detector thread finds and crops faces with one
:class:`~dfembed.detector.FaceDetector` built once (same-size images detected together),
and the calling thread embeds faces of many files in fixed-size batches and classifies
them with the SVM. Face scores are then reduced per frame (maximum) and per video
(``--aggregate``), see :mod:`dfembed.aggregate`.

Order of work in :func:`run_inference`: the output path and the inputs (TEST, SUB_CSV)
are checked, the model and the SVM bundle are loaded and checked against each other —
all before a single face is detected.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from dfembed.aggregate import Aggregator, aggregate_file, get_aggregator
from dfembed.errors import InputError
from dfembed.infer_config import InferConfig, resolve_crop_config
from dfembed.provenance import write_provenance
from dfembed.submission import (
    Matching,
    Submission,
    check_output,
    choose_format,
    default_output,
    fill,
    format_value,
    match_rows,
    new_submission,
    read_submission,
    write_submission,
)

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
    """

    path: Path
    frames: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    n_faces: int | None = None
    error: str | None = None

    def score(self, aggregator: Aggregator, default: float) -> float:
        """The file's P(fake); ``default`` for a file without faces or that could not be read."""
        if self.error is not None or not self.scores:
            return default
        return aggregate_file(self.frames, self.scores, aggregator)


@dataclass
class InferSummary:
    """The outcome of :func:`run_inference`.

    Attributes:
        output: The written submission CSV.
        provenance: The JSON record beside it.
        format: ``"dacon"`` or ``"dfdc"``.
        rows: Rows written.
        media_files: Media files found under TEST.
        scored: Files scored from at least one face.
        no_face: Relative paths of files without a detected face.
        unreadable: Relative path → reason, for files that could not be read.
        missing_rows: Keys of CSV rows with no media file.
        unmatched_files: Media files that no CSV row names (not scored).
        seconds: Wall time of the whole run.
    """

    output: Path
    provenance: Path
    format: str
    rows: int
    media_files: int
    scored: int
    no_face: list[str]
    unreadable: dict[str, str]
    missing_rows: list[str]
    unmatched_files: list[str]
    seconds: float


# ---------------------------------------------------------------------------------------
# Media discovery and the row plan


def find_media(test: Path) -> list[Path]:
    """List the images and videos below ``test`` (any depth), sorted; hidden files skipped.

    Args:
        test: A folder, or a single media file.

    Returns:
        The media files.

    Raises:
        InputError: ``test`` is missing or holds no image or video.
    """
    from dfembed.media import is_image, is_video

    if not test.exists():
        raise InputError(f"TEST {test} does not exist")
    if test.is_file():
        candidates = [test]
    else:
        candidates = sorted(p for p in test.rglob("*") if p.is_file() and not _hidden(p.relative_to(test)))
    media = [p for p in candidates if is_image(p) or is_video(p)]
    if not media:
        raise InputError(f"TEST {test}: no image or video files found")
    return media


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def relative_key(path: Path, test: Path) -> str:
    """A media file's POSIX path relative to TEST (its name when TEST is the file)."""
    return path.name if test.is_file() else path.relative_to(test).as_posix()


def plan_rows(sub_csv: Path, keys: Sequence[str], config: InferConfig) -> tuple[Submission, Matching]:
    """Read SUB_CSV and match its rows to the media files, or plan a new CSV.

    Args:
        sub_csv: The template; when it does not exist a new submission lists every file.
        keys: Relative paths of the media files.
        config: For the new submission's format.

    Returns:
        The submission (values not yet filled) and the row → file matching.

    Raises:
        InputError: A bad template, an ambiguous row, or no row naming any file.
    """
    from dfembed.media import VIDEO_SUFFIXES

    if not sub_csv.exists():
        fmt = choose_format(config.submission_format, keys, VIDEO_SUFFIXES)
        log.info("%s does not exist: writing a new %s submission with one row per file", sub_csv, fmt.name)
        return new_submission(keys, fmt), Matching(list(keys))
    submission = read_submission(sub_csv)
    matching = match_rows(submission.keys, keys)
    if submission.rows and len(matching.missing_rows) == len(submission.rows):
        raise InputError(f"none of the {len(submission.rows)} rows of {sub_csv} names a media file under TEST")
    _report_matching(sub_csv, submission, matching)
    return submission, matching


def _report_matching(sub_csv: Path, submission: Submission, matching: Matching) -> None:
    log.info("%s: %s format, %d rows", sub_csv, submission.format.name, len(submission.rows))
    if matching.missing_rows:
        log.warning("%d rows name no file under TEST (they get the default score), e.g. %s",
                    len(matching.missing_rows), matching.missing_rows[:5])
    if matching.unmatched_files:
        log.warning("%d media files have no row in %s and are not scored, e.g. %s",
                    len(matching.unmatched_files), sub_csv, matching.unmatched_files[:5])


# ---------------------------------------------------------------------------------------
# Models


def load_checked(model_h5: Path, svm_pkl: Path) -> tuple[Any, Any, Any]:
    """Load the embedding model and the SVM bundle and check that they belong together.

    The bundle is a joblib pickle: **loading it runs code**; only load files you trust.

    Args:
        model_h5: The embedding model (``train.py``'s OUT_H5).
        svm_pkl: The classifier bundle (``train.py``'s OUT_PKL).

    Returns:
        ``(model, bundle, model_info)``.

    Raises:
        InputError: A file is missing or unreadable, or the two do not match (backbone,
            image size or embedding size).
    """
    from dfembed.classifier import check_compatible, load_bundle
    from dfembed.model import load_embedding_model, model_info

    bundle = load_bundle(svm_pkl)
    model = load_embedding_model(model_h5)
    info = model_info(model)
    check_compatible(bundle, info)
    log.info("model %s: %s, %d px, %d-d embeddings", model_h5, info.backbone, info.image_size, info.embedding_dim)
    return model, bundle, info


class FaceScorer:
    """Face crops → P(fake): embedding model, then the SVM, optionally with flip TTA.

    Batches are zero-padded to ``batch_size`` so the compiled predict function sees one
    shape only.

    Args:
        model: The embedding model (input: RGB pixels 0..255).
        classifier: Fitted estimator with ``predict_proba``.
        batch_size: Faces per model call.
        tta: ``"flip"`` averages each face's P(fake) with its mirror image's.
        fake_column: Column of P(fake) in ``predict_proba``'s output.
    """

    def __init__(self, model: Any, classifier: Any, batch_size: int, tta: str = "none", fake_column: int = 1) -> None:
        self.model = model
        self.classifier = classifier
        self.batch_size = batch_size
        self.tta = tta
        self.fake_column = fake_column

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Score face crops.

        Args:
            images: ``(n, s, s, 3)`` uint8 RGB crops at the model's input size.

        Returns:
            P(fake) of each crop, shape ``(n,)``.
        """
        if len(images) == 0:
            return np.zeros((0,), dtype=np.float64)
        scores = self._proba(images)
        if self.tta == "flip":
            scores = (scores + self._proba(images[:, :, ::-1])) / 2.0
        return scores

    def embed(self, images: np.ndarray) -> np.ndarray:
        """Embed crops in padded batches; returns ``(n, embedding_dim)``."""
        out = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            padded = np.zeros((self.batch_size, *chunk.shape[1:]), dtype=np.float32)
            padded[: len(chunk)] = chunk
            out.append(np.asarray(self.model.predict_on_batch(padded))[: len(chunk)])
        return np.concatenate(out)

    def _proba(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self.classifier.predict_proba(self.embed(images)))[:, self.fake_column]


def fit_size(image: np.ndarray, size: int) -> np.ndarray:
    """Resize a square crop to ``size`` (area interpolation down, linear up); unchanged if it fits."""
    if image.shape[0] == size and image.shape[1] == size:
        return image
    interpolation = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interpolation)


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
        image: The file is an image (one frame), so it may be detected together with others.
    """

    index: int
    frames: list[tuple[int, np.ndarray]]
    last: bool = True
    error: str | None = None
    image: bool = False


@dataclass
class FileFaces:
    """Face crops found in one file, or in one chunk of a video (detector → embedder).

    Attributes:
        index: Position of the file in the job's list.
        frames: Frame index of each face, ``(n,)``.
        images: The crops at the model's input size, ``(n, s, s, 3)`` uint8.
        last: The file's last item.
        error: Why the file could not be read or detected.
    """

    index: int
    frames: np.ndarray
    images: np.ndarray
    last: bool = True
    error: str | None = None


class FaceExtractor:
    """Decodes media and detects faces; images of one size are detected together, in batches.

    A video is read in chunks of ``crop_config.batch_size`` sampled frames (memory stays
    flat); consecutive images of the same size are grouped up to that many per MTCNN call,
    which halves detection time per image on a CPU compared with one call per image.

    Args:
        detector: A :class:`~dfembed.detector.FaceDetector` (built once).
        crop_config: The :class:`~dfembed.crop_config.CropConfig` to detect and crop with.
        image_size: The model's input size; crops are resized to it.
    """

    def __init__(self, detector: Any, crop_config: Any, image_size: int) -> None:
        self.detector = detector
        self.crop_config = crop_config
        self.image_size = image_size

    def read(self, paths: Sequence[Path]) -> Iterator[MediaFrames]:
        """Stage 1: decode every file; unreadable files become items with ``error`` set."""
        from dfembed.media import MediaError

        for index, path in enumerate(paths):
            try:
                yield from self._read_one(index, path)
            except MediaError as err:  # a bad file is counted, the job goes on
                log.warning("cannot read %s", err)
                yield MediaFrames(index, [], error=str(err))

    def _read_one(self, index: int, path: Path) -> Iterator[MediaFrames]:
        from dfembed.media import MediaError, is_image, is_video, iter_video_frames, read_image

        if is_image(path):
            yield MediaFrames(index, [(0, read_image(path))], image=True)
            return
        if not is_video(path):
            raise MediaError(path, "not a media file", "unsupported file type")
        chunk: list[tuple[int, np.ndarray]] = []
        for item in iter_video_frames(path, self.crop_config.frames_per_video):
            chunk.append(item)
            if len(chunk) == self.crop_config.batch_size:
                yield MediaFrames(index, chunk, last=False)
                chunk = []
        yield MediaFrames(index, chunk, last=True)

    def detect(self, items: Iterable[MediaFrames]) -> Iterator[FileFaces]:
        """Stage 2: detect and crop faces, grouping consecutive same-size images."""
        group: list[MediaFrames] = []
        for item in items:
            if _is_image(item) and self._joins(group, item):
                group.append(item)
                continue
            yield from self._detect_images(group)
            group = [item] if _is_image(item) else []
            if not group:
                yield self._detect_item(item)
        yield from self._detect_images(group)

    def _joins(self, group: list[MediaFrames], item: MediaFrames) -> bool:
        if not group:
            return True
        same_shape = group[0].frames[0][1].shape == item.frames[0][1].shape
        return same_shape and len(group) < self.crop_config.batch_size

    def _detect_item(self, item: MediaFrames) -> FileFaces:
        from dfembed.detector import DetectorError

        if item.error is not None or not item.frames:
            return self._faces(item.index, [], item.last, item.error)
        try:
            crops = self._crops(item.frames)
        except DetectorError as err:  # counted like an unreadable file
            log.warning("face detection failed on file %d: %s", item.index, err)
            return self._faces(item.index, [], item.last, str(err))
        return self._faces(item.index, crops, item.last)

    def _detect_images(self, group: list[MediaFrames]) -> Iterator[FileFaces]:
        from dfembed.detector import DetectorError

        if len(group) < 2:
            yield from (self._detect_item(item) for item in group)
            return
        try:  # frame_index k marks the k-th image of the group
            crops = self._crops([(k, item.frames[0][1]) for k, item in enumerate(group)])
        except DetectorError:
            yield from (self._detect_item(item) for item in group)
            return
        for k, item in enumerate(group):
            mine = [dataclasses.replace(c, frame_index=0) for c in crops if c.frame_index == k]
            yield self._faces(item.index, mine, True)

    def _crops(self, frames: list[tuple[int, np.ndarray]]) -> list[Any]:
        from dfembed.faces import crops_from_frames

        return crops_from_frames(frames, self.detector, self.crop_config)

    def _faces(self, index: int, crops: list[Any], last: bool, error: str | None = None) -> FileFaces:
        frames = np.array([c.frame_index for c in crops], dtype=np.int64)
        if crops:
            images = np.stack([fit_size(c.image, self.image_size) for c in crops])
        else:
            images = np.zeros((0, self.image_size, self.image_size, 3), dtype=np.uint8)
        return FileFaces(index, frames, images, last, error)


def _is_image(item: MediaFrames) -> bool:
    return item.image and item.error is None and len(item.frames) == 1


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
    """Collects faces of many files and scores them ``batch_size`` at a time."""

    def __init__(self, scorer: Callable[[np.ndarray], np.ndarray], batch_size: int, results: list[FileResult]) -> None:
        self._scorer = scorer
        self._batch_size = batch_size
        self._results = results
        self._images: list[np.ndarray] = []
        self._owners: list[tuple[int, int]] = []

    def add(self, item: FileFaces) -> None:
        for frame, image in zip(item.frames.tolist(), item.images):
            self._images.append(image)
            self._owners.append((item.index, frame))
        while len(self._images) >= self._batch_size:
            self._run(self._batch_size)

    def flush(self) -> None:
        if self._images:
            self._run(len(self._images))

    def _run(self, n: int) -> None:
        scores = self._scorer(np.stack(self._images[:n]))
        for (index, frame), score in zip(self._owners[:n], scores.tolist()):
            self._results[index].frames.append(frame)
            self._results[index].scores.append(score)
        del self._images[:n], self._owners[:n]


def _record(result: FileResult, item: FileFaces) -> None:
    result.n_faces = (result.n_faces or 0) + len(item.frames)
    if item.error is not None:
        result.error = item.error


def score_files(
    paths: Sequence[Path],
    extractor: FaceExtractor,
    scorer: Callable[[np.ndarray], np.ndarray],
    batch_size: int = 32,
    queue_size: int = 8,
    progress: bool = True,
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
    batcher = _Batcher(scorer, batch_size, results)
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


# ---------------------------------------------------------------------------------------
# Orchestration


def run_inference(
    test: Path,
    sub_csv: Path,
    model_h5: Path,
    svm_pkl: Path,
    config: InferConfig,
    output: Path | None = None,
    force: bool = False,
) -> InferSummary:
    """Score every media file that SUB_CSV names (or every file under TEST) and write the CSV.

    Loading ``svm_pkl`` (a joblib pickle) runs code: only use files you trust.

    Args:
        test: Folder of images and/or videos (any depth), or one media file.
        sub_csv: Submission template (Dacon ``path,y`` or DFDC ``filename,label``); when
            it does not exist, a new submission listing every file is created there.
        model_h5: Embedding model.
        svm_pkl: Classifier bundle.
        config: Inference options.
        output: Output CSV; default ``<name>_out.csv`` beside an existing SUB_CSV, else SUB_CSV.
        force: Overwrite an existing output.

    Returns:
        The summary, also written to ``<output stem>.dfembed-infer.json``.

    Raises:
        InputError: Missing/bad inputs or a model/SVM mismatch (before any detection).
        OutputExistsError: The output exists and ``force`` is false.
    """
    start = time.perf_counter()
    output = output if output is not None else default_output(sub_csv)
    check_output(output, force)
    paths = find_media(test)
    keys = [relative_key(p, test) for p in paths]
    submission, matching = plan_rows(sub_csv, keys, config)
    model, bundle, info = load_checked(model_h5, svm_pkl)
    crop_config = resolve_crop_config(bundle.crop_config, config, info.image_size)
    unmatched = set(matching.unmatched_files)
    wanted = [p for p, k in zip(paths, keys) if k not in unmatched]
    results = _score(wanted, model, bundle, info.image_size, crop_config, config)
    by_key = {relative_key(r.path, test): r for r in results}
    values = _row_values(matching, by_key, config)
    write_submission(fill(submission, values), output, force=force)
    summary = _summarise(output, submission, matching, by_key, len(paths), time.perf_counter() - start)
    inputs = {"test": test, "sub_csv": sub_csv, "model_h5": model_h5, "svm_pkl": svm_pkl}
    _write_record(summary, config, crop_config, _file_records(by_key, config), inputs)
    _log_summary(summary)
    return summary


def _score(
    paths: list[Path], model: Any, bundle: Any, image_size: int, crop_config: Any, config: InferConfig
) -> list[FileResult]:
    from dfembed.detector import FaceDetector

    detector = FaceDetector(crop_config)
    fake_column = list(bundle.classifier.classes_).index(bundle.class_mapping["fake"])
    scorer = FaceScorer(model, bundle.classifier, config.batch_size, config.tta, fake_column)
    extractor = FaceExtractor(detector, crop_config, image_size)
    return score_files(paths, extractor, scorer, config.batch_size, config.queue_size)


def _row_values(matching: Matching, by_key: dict[str, FileResult], config: InferConfig) -> list[str]:
    aggregator = get_aggregator(config.aggregate)
    values = []
    for key in matching.row_files:
        score = by_key[key].score(aggregator, config.no_face_score) if key is not None else config.no_face_score
        values.append(format_value(score, config.hard_labels, config.threshold, config.clip))
    return values


def _summarise(
    output: Path,
    submission: Submission,
    matching: Matching,
    by_key: dict[str, FileResult],
    n_media: int,
    seconds: float,
) -> InferSummary:
    unreadable = {k: r.error for k, r in by_key.items() if r.error is not None}
    no_face = [k for k, r in by_key.items() if r.error is None and not r.scores]
    return InferSummary(
        output=output,
        provenance=provenance_path(output),
        format=submission.format.name,
        rows=len(matching.row_files),
        media_files=n_media,
        scored=sum(1 for r in by_key.values() if r.scores),
        no_face=no_face,
        unreadable=unreadable,
        missing_rows=list(matching.missing_rows),
        unmatched_files=list(matching.unmatched_files),
        seconds=seconds,
    )


def provenance_path(output: Path) -> Path:
    """The JSON record written beside an output CSV: ``<stem>.dfembed-infer.json``."""
    return output.with_name(f"{output.stem}.dfembed-infer.json")


def _file_records(by_key: dict[str, FileResult], config: InferConfig) -> dict[str, dict[str, Any]]:
    """Per-file detail for the JSON record: faces found, each face's frame and score, the file score."""
    aggregator = get_aggregator(config.aggregate)
    return {
        key: {
            "faces": result.n_faces,
            "frames": result.frames,
            "face_scores": [round(s, 6) for s in result.scores],
            "score": round(result.score(aggregator, config.no_face_score), 6),
            "error": result.error,
        }
        for key, result in by_key.items()
    }


def _write_record(
    summary: InferSummary, config: InferConfig, crop_config: Any, files: dict[str, Any], inputs: dict[str, Path]
) -> None:
    write_provenance(
        summary.provenance,
        config,
        crop_config=dataclasses.asdict(crop_config),
        inputs={name: str(path) for name, path in inputs.items()},
        summary=dataclasses.asdict(summary),
        files=files,
    )


def _log_summary(summary: InferSummary) -> None:
    processed = len(summary.no_face) + summary.scored + len(summary.unreadable)
    log.info(
        "processed %d files (%d scored, %d without a face, %d unreadable) in %.1f s (%.2f files/s); %d rows → %s",
        processed, summary.scored, len(summary.no_face), len(summary.unreadable), summary.seconds,
        processed / summary.seconds if summary.seconds > 0 else 0.0, summary.rows, summary.output,
    )
    if summary.no_face:
        log.warning("no face found in %d files (default score written), e.g. %s",
                    len(summary.no_face), summary.no_face[:5])
    if summary.unreadable:
        log.warning("%d files could not be read (default score written): %s",
                    len(summary.unreadable), list(summary.unreadable)[:5])
