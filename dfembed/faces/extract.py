"""From one media file to its face crops: read → detect → choose → crop.

This is the API shared by the crop stage and the inference stage::

    detector = build_detector(config)          # once per process (any Detector will do)
    crops = faces_from_media(path, detector, config)

Boxes are ``x1, y1, x2, y2`` in source-image pixels.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from dfembed.faces.config import CropConfig
from dfembed.faces.detector import Detector, Face, confidence_floor
from dfembed.faces.geometry import face_crop
from dfembed.faces.media import MediaError, is_image, is_video, iter_video_frames, read_image


@dataclasses.dataclass
class FaceCrop:
    """One face cut out of one frame.

    Attributes:
        frame_index: Index of the frame in the video (0 for an image).
        face_index: Rank of the face in its frame after :func:`choose_faces` (0 = largest).
        image: The crop, RGB ``uint8`` ``(size, size, 3)``.
        face: The detection (box ``x1, y1, x2, y2`` and landmarks in source pixels).
    """

    frame_index: int
    face_index: int
    image: np.ndarray
    face: Face


def choose_faces(faces: list[Face], config: CropConfig) -> list[Face]:
    """Keep faces with enough confidence and size, largest first; one or all of them.

    Args:
        faces: Detections of one frame.
        config: Uses ``min_confidence`` (``None``: the default floor of ``config.detector``,
            see :func:`~dfembed.faces.detector.confidence_floor`), ``min_face_size`` (shorter
            box side, source pixels) and ``faces`` (``"largest"`` or ``"all"``).

    Returns:
        The kept faces sorted by decreasing box area (ties: higher confidence first).
    """
    floor = confidence_floor(config)
    kept = [f for f in faces if f.confidence >= floor and min(f.width, f.height) >= config.min_face_size]
    kept.sort(key=lambda f: (-f.width * f.height, -f.confidence))
    return kept[:1] if config.faces == "largest" else kept


def crops_from_frames(
    frames: list[tuple[int, np.ndarray]], detector: Detector, config: CropConfig
) -> list[FaceCrop]:
    """Detect faces in same-size frames as one batch and crop the chosen ones.

    Args:
        frames: ``(frame_index, RGB uint8 frame)`` pairs of one source.
        detector: The face detector.
        config: Crop options (``margin``, ``size`` and the choice options).

    Returns:
        The crops, ordered by frame then face index.
    """
    detections = detector.detect([frame for _, frame in frames])
    crops = []
    for (frame_index, frame), faces in zip(frames, detections):
        for face_index, face in enumerate(choose_faces(faces, config)):
            image = face_crop(frame, np.asarray(face.box), config.margin, config.size)
            crops.append(FaceCrop(frame_index, face_index, image, face))
    return crops


def faces_from_media(path: Path, detector: Detector, config: CropConfig) -> list[FaceCrop]:
    """Read an image or a video, detect faces and return the chosen crops.

    Videos are sampled with ``config.frames_per_video`` frames, detected in batches of
    ``config.batch_size`` frames, so memory does not grow with the video's length.

    Args:
        path: An image (jpg, jpeg, png, bmp, webp) or video (mp4, avi, mov, mkv, webm).
        detector: A :class:`~dfembed.faces.detector.Detector` (built once, reused).
        config: The crop configuration.

    Returns:
        The crops (``[]`` when no face passes the filters).

    Raises:
        MediaError: The file is not a supported medium or cannot be read.
        DetectorError: The detector failed on a frame.
    """
    crops: list[FaceCrop] = []
    for chunk in iter_frame_chunks(path, config):
        crops.extend(crops_from_frames(chunk, detector, config))
    return crops


def iter_frame_chunks(path: Path, config: CropConfig) -> Iterator[list[tuple[int, np.ndarray]]]:
    """Decode an image as one chunk of one frame, or a video's sampled frames in chunks.

    Args:
        path: An image (jpg, jpeg, png, bmp, webp) or video (mp4, avi, mov, mkv, webm).
        config: Uses ``frames_per_video`` (frames sampled from a video) and ``batch_size``
            (frames per chunk).

    Yields:
        Lists of ``(frame_index, RGB uint8 frame)`` pairs, never empty; none for a video
        without readable frames.

    Raises:
        MediaError: The file is not a supported medium or cannot be read.
    """
    path = Path(path)
    if is_image(path):
        yield [(0, read_image(path))]
        return
    if not is_video(path):
        raise MediaError(path, "not a media file", "unsupported file type")
    yield from _chunks(iter_video_frames(path, config.frames_per_video), config.batch_size)


def _chunks(frames: Iterator[tuple[int, np.ndarray]], size: int) -> Iterator[list[tuple[int, np.ndarray]]]:
    chunk: list[tuple[int, np.ndarray]] = []
    for item in frames:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
