"""From one media file to its face crops: read → detect → choose → crop.

This is the API shared by the crop stage and the inference stage::

    detector = build_detector(config)          # once per process (any Detector will do)
    crops = faces_from_media(path, detector, config)

Boxes are ``x1, y1, x2, y2`` in source-image pixels.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from dfembed.faces.alignment import alignment_matrix, apply_affine, warp_crop
from dfembed.faces.base import Detector, Face
from dfembed.faces.config import CropConfig, confidence_floor
from dfembed.faces.geometry import crop_matrix, face_crop
from dfembed.faces.media import MediaError, is_image, is_video, iter_video_frames, read_image

log = logging.getLogger(__name__)


@dataclasses.dataclass
class FaceCrop:
    """One face cut out of one frame.

    Attributes:
        frame_index: Index of the frame in the video (0 for an image).
        face_index: Rank of the face in its frame after :func:`choose_faces` (0 = largest).
        image: The crop, RGB ``uint8`` ``(size, size, 3)``.
        face: The detection (box ``x1, y1, x2, y2``, landmarks and mesh in source pixels).
        transform: The ``(2, 3)`` affine map from source pixels to crop pixels (pixel centres
            on integers), ``None`` when unknown.
    """

    frame_index: int
    face_index: int
    image: np.ndarray
    face: Face
    transform: np.ndarray | None = None

    @property
    def crop_landmarks(self) -> np.ndarray | None:
        """The five landmarks ``(5, 2)`` in crop pixels, ``None`` without landmarks or transform."""
        if self.transform is None or self.face.landmarks is None:
            return None
        return apply_affine(self.transform, np.asarray(self.face.landmarks, dtype=np.float64).reshape(5, 2))

    @property
    def crop_mesh(self) -> np.ndarray | None:
        """The FaceMesh points ``(468, 2)`` in crop pixels, ``None`` without mesh or transform."""
        if self.transform is None or self.face.mesh is None:
            return None
        return apply_affine(self.transform, np.asarray(self.face.mesh, dtype=np.float64))

    @property
    def crop_box(self) -> tuple[float, float, float, float] | None:
        """The face box in crop pixels (the bounds of its mapped corners), ``None`` without transform."""
        if self.transform is None:
            return None
        x1, y1, x2, y2 = self.face.box
        corners = apply_affine(self.transform, np.array([[x1, y1], [x2, y1], [x1, y2], [x2, y2]], dtype=np.float64))
        (left, top), (right, bottom) = corners.min(axis=0), corners.max(axis=0)
        return float(left), float(top), float(right), float(bottom)


def choose_faces(faces: list[Face], config: CropConfig) -> list[Face]:
    """Keep faces with enough confidence and size, largest first; one or all of them.

    Args:
        faces: Detections of one frame.
        config: Uses ``min_confidence`` (``None``: the default floor of ``config.detector``,
            see :func:`~dfembed.faces.config.confidence_floor`), ``min_face_size`` (shorter
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
            image, transform = cut_face(frame, face, config)
            crops.append(FaceCrop(frame_index, face_index, image, face, transform))
    if config.align == "similarity" and any(c.face.landmarks is None for c in crops):
        log.warning("%d faces without landmarks were cut by their box (margin %s), not aligned",
                    sum(c.face.landmarks is None for c in crops), config.margin)
    return crops


def crops_of_sources(
    sources: list[list[tuple[int, np.ndarray]]], detector: Detector, config: CropConfig
) -> list[list[FaceCrop]]:
    """Detect faces in the frames of several sources (all frames of one size) in one detector call and crop them.

    Many small images, or short samplings of small videos, then fill the detector's batches
    instead of each being a batch of its own (MTCNN detects a batch of eight 250-pixel images
    about twice as fast per image as one at a time).

    Args:
        sources: Each source's ``(frame_index, RGB uint8 frame)`` pairs (an image: one pair, index 0).
        detector: The face detector.
        config: Crop options, as for :func:`crops_from_frames`.

    Returns:
        Each source's crops with its own frame indices, in the order of ``sources``.

    Raises:
        DetectorError: The detector failed on one of the frames, also when retried alone.
        ValueError: A detected box that geometry cannot crop.
    """
    owners = [(k, index) for k, frames in enumerate(sources) for index, _ in frames]
    flat = [(position, frame) for position, (_, frame) in enumerate(pair for frames in sources for pair in frames)]
    per_source: list[list[FaceCrop]] = [[] for _ in sources]
    for crop in crops_from_frames(flat, detector, config):  # frame index: the position in ``flat``
        owner, index = owners[crop.frame_index]
        per_source[owner].append(dataclasses.replace(crop, frame_index=index))
    return per_source


def cut_face(frame: np.ndarray, face: Face, config: CropConfig) -> tuple[np.ndarray, np.ndarray]:
    """Cut one face out of a frame as ``config`` says: aligned on its landmarks, or by its box.

    ``align: similarity`` maps the five landmarks onto the standard template
    (:func:`dfembed.faces.alignment.alignment_matrix`); a face without landmarks is cut by
    its box instead (margin, square, padding: :func:`dfembed.faces.geometry.face_crop`).

    Args:
        frame: RGB ``uint8`` frame.
        face: The detection (source pixels).
        config: Uses ``align``, ``align_scale``, ``margin`` and ``size``.

    Returns:
        ``(crop, transform)``: the ``(size, size, 3)`` crop and its source → crop ``(2, 3)`` matrix.
    """
    if config.align == "similarity" and face.landmarks is not None:
        try:
            matrix = alignment_matrix(face.landmarks, config.size, config.align_scale)
        except ValueError as err:  # coinciding landmarks: no transform, cut by the box
            log.debug("face at %s: %s; cut by its box", face.box, err)
        else:
            return warp_crop(frame, matrix, config.size), matrix
    box = np.asarray(face.box, dtype=np.float64)
    return face_crop(frame, box, config.margin, config.size), crop_matrix(box, config.margin, config.size)


def faces_from_media(path: Path, detector: Detector, config: CropConfig) -> list[FaceCrop]:
    """Read an image or a video, detect faces and return the chosen crops.

    Videos are sampled with ``config.frames_per_video`` frames, detected in batches of
    ``config.batch_size`` frames, so memory does not grow with the video's length.

    Args:
        path: An image (jpg, jpeg, png, bmp, webp) or video (mp4, avi, mov, mkv, webm).
        detector: A :class:`~dfembed.faces.base.Detector` (built once, reused).
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
