"""The crop job's work on one source: detect and crop its faces, write the crop files, return its rows.

Every engine runs this per source: the job itself (in this process or in worker
processes, :mod:`dfembed.crop.job`) and the Ray workers (:mod:`dfembed.crop.ray_engine`).
Only the manifest rows or the failure go back to whoever journals them.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from dfembed.core.atomic import atomic_write_bytes
from dfembed.core.paths import check_inside, remove_inside
from dfembed.crop.discovery import Source
from dfembed.crop.manifest import CROP_BOX_COLUMNS, CROP_LANDMARK_COLUMNS, LANDMARK_COLUMNS, Row, mesh_bytes
from dfembed.crop.naming import crop_file, mesh_file
from dfembed.faces.config import CropConfig
from dfembed.faces.detector import Detector, DetectorError
from dfembed.faces.extract import FaceCrop, crops_of_sources, faces_from_media, iter_frame_chunks
from dfembed.faces.media import MediaError, is_image, is_video

log = logging.getLogger(__name__)

#: The status of a source that gave crops.
CROPPED = "cropped"
#: Frames of at most this many pixels (a 1080p frame) wait to be detected with others of their size;
#: larger ones gain little from it and are detected at once, so a batch holds little memory.
BATCHED_IMAGE_PIXELS = 1920 * 1080


def frame_weight(path: Path, config: CropConfig) -> int | None:
    """Frames a source gives the detector when it shares batches with others: 1 for an image,
    ``frames_per_video`` for a video sampled with fewer frames than a batch; ``None`` for a source
    processed alone (a video whose samples fill batches of their own, or an unknown kind)."""
    if is_image(path):
        return 1
    if is_video(path) and config.frames_per_video < config.batch_size:
        return config.frames_per_video
    return None


@dataclasses.dataclass(frozen=True)
class SourceResult:
    """What processing one source gave: manifest rows, or the reason it gave none."""

    source: Source
    rows: list[Row]
    status: str
    detail: str = ""


def process_source(
    source: Source, stem: PurePosixPath, dst: Path, config: CropConfig, detector: Detector
) -> SourceResult:
    """Crop one source, write its crop files and return its manifest rows or failure.

    Args:
        source: The medium.
        stem: Its crop stem (from :func:`crop_stems`).
        dst: Output folder.
        config: Crop options.
        detector: The process's face detector.

    Returns:
        A :class:`SourceResult`; media, detector and geometry (``ValueError``) errors become a failure status.
    """
    try:
        crops = faces_from_media(source.path, detector, config)
    except MediaError as err:
        return SourceResult(source, [], err.reason, str(err))
    except DetectorError as err:
        return SourceResult(source, [], "detector error", str(err))
    except ValueError as err:  # e.g. a detected box that geometry cannot crop
        log.debug("%s: cannot crop", source.relative, exc_info=True)
        return SourceResult(source, [], "crop error", str(err))
    return _written(source, stem, crops, dst, config)


def _written(source: Source, stem: PurePosixPath, crops: list[FaceCrop], dst: Path, config: CropConfig) -> SourceResult:
    """Write a source's crops; its result (``no face`` without any)."""
    if not crops:
        return SourceResult(source, [], "no face", "no face passed the detector and the filters")
    rows = [_write_crop(source, crop, crop_file(stem, crop.frame_index, crop.face_index, config.image_format),
                        dst, config) for crop in crops]
    return SourceResult(source, rows, CROPPED)


def process_sources(
    batch: list[tuple[Source, PurePosixPath]], dst: Path, config: CropConfig, detector: Detector,
    done: frozenset[int] = frozenset(),
) -> list[SourceResult]:
    """Crop several sources as :func:`process_source` does; frames of one size from different sources
    are detected together.

    The small sources of ``batch`` (see :func:`frame_weight`: images, and videos sampled with
    fewer frames than a batch) are read first; their frames of one shape (each at most a
    1080p frame's pixels) go to the detector in one call (it splits them into batches of
    ``config.batch_size``), so a folder of small images or short clips fills the detector's
    batches. Other sources, and every source of a group the detector or the geometry fails
    on, are processed one by one (each failure is then its own source's).

    MTCNN's numbers depend a little on how many frames share a call (a box can move by a
    pixel or two), so the sources that share calls must not depend on what an earlier run
    finished: the job cuts its runs from all of SRC's sources, and the sources of a run that
    an earlier run finished (``done``) are detected with the others again but neither
    written nor returned.

    Args:
        batch: Sources with their crop stems, in job order.
        dst: Output folder.
        config: Crop options.
        detector: The process's face detector.
        done: Positions in ``batch`` of sources an earlier run finished.

    Returns:
        One :class:`SourceResult` per source not in ``done``, in the order of ``batch``.
    """
    results: dict[int, SourceResult] = {}
    groups: dict[tuple[int, ...], list[tuple[int, list[tuple[int, np.ndarray]]]]] = {}
    for position, (source, stem) in enumerate(batch):
        if frame_weight(source.path, config) is None:
            continue
        try:
            frames = [pair for chunk in iter_frame_chunks(source.path, config) for pair in chunk]
        except MediaError as err:
            results[position] = SourceResult(source, [], err.reason, str(err))
            continue
        shapes = {frame.shape for _, frame in frames}
        if len(shapes) != 1:  # no readable frame (no face, as alone), or frames of several sizes
            continue
        shape = shapes.pop()
        if shape[0] * shape[1] > BATCHED_IMAGE_PIXELS:
            if position not in done:
                results.update(_process_group([(position, frames)], batch, dst, config, detector, done))
        else:
            groups.setdefault(shape, []).append((position, frames))
    for group in groups.values():
        results.update(_process_group(group, batch, dst, config, detector, done))
    return [results[k] if k in results else process_source(source, stem, dst, config, detector)
            for k, (source, stem) in enumerate(batch) if k not in done]


def _process_group(
    group: list[tuple[int, list[tuple[int, np.ndarray]]]], batch: list[tuple[Source, PurePosixPath]], dst: Path,
    config: CropConfig, detector: Detector, done: frozenset[int],
) -> dict[int, SourceResult]:
    """Results of sources whose frames (all of one shape) are detected together, those in ``done`` left
    out; ``{}`` (each processed alone) when the group fails."""
    if all(position in done for position, _ in group):
        return {}
    try:
        found = crops_of_sources([frames for _, frames in group], detector, config)
    except (DetectorError, ValueError):
        log.debug("a batch of %d sources failed; each is processed alone", len(group), exc_info=True)
        return {}
    return {position: _written(*batch[position], crops, dst, config)
            for (position, _), crops in zip(group, found) if position not in done}


def _write_crop(source: Source, crop: FaceCrop, relative: PurePosixPath, dst: Path, config: CropConfig) -> Row:
    target = dst / relative
    check_inside(target, dst, "crop")  # the stem cannot leave DST; a link inside DST could
    atomic_write_bytes(target, encode_image(crop.image, config))
    _write_mesh(crop, relative, dst)
    return manifest_row(source, crop, relative)


def _write_mesh(crop: FaceCrop, relative: PurePosixPath, dst: Path) -> None:
    """Write the crop's FaceMesh points, or remove a file left by a killed run for a crop that now has none."""
    target = dst / mesh_file(relative)
    check_inside(target, dst, "landmarks file")
    points = crop.crop_mesh
    if points is not None:
        atomic_write_bytes(target, mesh_bytes(points))
    elif target.exists():
        remove_inside(target, dst)


def encode_image(image: np.ndarray, config: CropConfig) -> bytes:
    """Encode an RGB ``uint8`` crop as JPEG (``config.jpeg_quality``) or PNG bytes."""
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if config.image_format == "jpg":
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality])
    else:
        ok, data = cv2.imencode(".png", bgr)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} crop as {config.image_format}")
    return data.tobytes()


def manifest_row(source: Source, crop: FaceCrop, relative: PurePosixPath) -> Row:
    """The manifest row of one crop: box ``x1, y1, x2, y2`` and landmarks in source pixels, then
    box and landmarks in crop pixels (``crop_*``); landmark cells are empty for a face without them."""
    face = crop.face
    row = {"source": source.relative, "label": source.label, "group": source.group, "method": source.method,
           "frame_index": str(crop.frame_index), "face_index": str(crop.face_index),
           "confidence": f"{face.confidence:.4f}", "crop": relative.as_posix()}
    row.update({name: f"{value:.1f}" for name, value in zip(("x1", "y1", "x2", "y2"), face.box)})
    row.update(_cells(LANDMARK_COLUMNS, None if face.landmarks is None else np.asarray(face.landmarks), 1))
    row.update(_cells(CROP_BOX_COLUMNS, None if crop.crop_box is None else np.asarray(crop.crop_box), 2))
    row.update(_cells(CROP_LANDMARK_COLUMNS, crop.crop_landmarks, 2))
    return row


def _cells(columns: tuple[str, ...], values: np.ndarray | None, decimals: int) -> Row:
    if values is None:
        return dict.fromkeys(columns, "")
    return {col: f"{value:.{decimals}f}" for col, value in zip(columns, np.asarray(values, dtype=np.float64).ravel())}
