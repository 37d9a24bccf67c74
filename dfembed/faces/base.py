"""What a face detector is and gives: :class:`Face`, the :class:`Detector` protocol, and the shared steps.

Box convention: ``x1, y1, x2, y2`` in source-image pixels for every :class:`Face`.

The built-in detectors share :class:`ResizingDetector`: frames are checked, resized by
the DFDC winner's rule (:func:`~dfembed.faces.geometry.downscale_factor`), detected
``batch_size`` frames at a time, mapped back to source pixels, and a batch that fails
is retried frame by frame before the failure becomes a :class:`DetectorError` (which
the crop job records as a ``detector error`` and inference counts as unreadable).

The implementations (:mod:`dfembed.faces.mtcnn`, :mod:`dfembed.faces.blazeface`,
:mod:`dfembed.faces.facemesh`) import these types from here; the registry that builds
them by name is :mod:`dfembed.faces.detector`, which they never import.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
from collections.abc import Sequence
from typing import ClassVar, Protocol

import numpy as np

from dfembed.core.errors import DfembedError
from dfembed.faces.geometry import downscale_factor, resize, to_source_pixels

log = logging.getLogger(__name__)

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


class DetectorError(DfembedError):
    """A face detector failed on a frame even after the per-frame retry."""


@dataclasses.dataclass(frozen=True, eq=False)  # arrays make == ambiguous
class Face:
    """One detected face.

    Attributes:
        box: ``x1, y1, x2, y2`` in source-image pixels.
        confidence: The detector's confidence in ``[0, 1]`` (each detector has its own
            scale: compare it with that detector's default floor, :func:`~dfembed.faces.config.confidence_floor`).
        landmarks: Array ``(5, 2)`` of ``(x, y)`` in source pixels, in the order left eye,
            right eye, nose, mouth left, mouth right (:data:`LANDMARK_NAMES`; "left" is the
            image's left), or ``None`` for a detector that gives no such five points.
        mesh: Array ``(468, 2)`` of MediaPipe FaceMesh points in source pixels
            (:mod:`dfembed.faces.facemesh`, ``landmarks: facemesh``), or ``None``.
    """

    box: tuple[float, float, float, float]
    confidence: float
    landmarks: np.ndarray | None = None
    mesh: np.ndarray | None = None

    @property
    def width(self) -> float:
        """Box width in source pixels."""
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        """Box height in source pixels."""
        return self.box[3] - self.box[1]

    def scaled(self, factor: float) -> Face:
        """This face found on an image resized by ``factor``, in the source image's pixels."""
        box = to_source_pixels(self.box, factor)
        landmarks = None if self.landmarks is None else to_source_pixels(self.landmarks, factor)
        mesh = None if self.mesh is None else to_source_pixels(self.mesh, factor)
        return Face(box=tuple(float(v) for v in box), confidence=self.confidence, landmarks=landmarks, mesh=mesh)


class Detector(Protocol):
    """What the crop and inference stages need of a face detector.

    Implementations are built once (loading their weights in the constructor) and
    reused for every frame; tests pass a fake that satisfies this protocol.
    """

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        """Detect faces in RGB ``uint8`` frames of one shape.

        Args:
            frames: Arrays ``(H, W, 3)``, all of the same shape.

        Returns:
            One list of :class:`Face` per frame, boxes ``x1, y1, x2, y2`` in source pixels.

        Raises:
            DetectorError: The detector failed on a frame.
        """
        ...


class ResizingDetector(abc.ABC):
    """The steps every built-in detector shares around its network.

    :meth:`detect` checks the frames, resizes them by the DFDC winner's rule, passes them
    to :meth:`detect_resized` ``batch_size`` at a time, retries a failing batch frame by
    frame, and maps the faces back to source pixels. Subclasses implement
    :meth:`detect_resized` only.

    Args:
        batch_size: Frames per call of :meth:`detect_resized` (bounds memory).
    """

    #: Name used in messages (``"MTCNN"``).
    label: ClassVar[str] = "detector"
    #: Exceptions of the network that mean "this input failed": retried, then a DetectorError.
    retry_errors: ClassVar[tuple[type[Exception], ...]] = (ValueError,)

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size

    @abc.abstractmethod
    def detect_resized(self, images: list[np.ndarray]) -> list[list[Face]]:
        """Detect faces in already resized RGB ``uint8`` images of one shape.

        Args:
            images: At most ``batch_size`` arrays ``(h, w, 3)``.

        Returns:
            One list of faces per image, in the pixels of ``images``.
        """

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        """Detect faces in frames of one size (e.g. the sampled frames of one video).

        Args:
            frames: RGB ``uint8`` arrays ``(H, W, 3)``, all of the same shape.

        Returns:
            One list of :class:`Face` per frame, boxes and landmarks in source pixels.

        Raises:
            ValueError: ``frames`` have different shapes or are not RGB ``uint8``.
            DetectorError: The network failed on a frame, also when retried alone.
        """
        if not frames:
            return []
        check_frames(frames)
        height, width = frames[0].shape[:2]
        factor = self.detection_factor(width, height)
        results: list[list[Face]] = []
        for start in range(0, len(frames), self.batch_size):
            chunk = [resize_by(f, factor) for f in frames[start : start + self.batch_size]]
            results.extend(self._detect_chunk(chunk, factor))
        return results

    def detection_factor(self, width: int, height: int) -> float:
        """The resize factor of a ``width`` × ``height`` frame before detection: the DFDC winner's rule.

        A detector whose network takes a fixed input size overrides this to fold its own
        resize into the rule's (one resize of the frame instead of two).
        """
        return downscale_factor(width, height)

    def _detect_chunk(self, images: list[np.ndarray], factor: float) -> list[list[Face]]:
        try:
            found = self.detect_resized(images)
        except self.retry_errors as err:
            if len(images) == 1:
                return [self._detect_one(images[0], factor)]
            log.warning("%s failed on a batch of %d frames (%s); retrying frame by frame", self.label, len(images), err)
            return [self._detect_one(image, factor) for image in images]
        return [[face.scaled(factor) for face in faces] for faces in found]

    def _detect_one(self, image: np.ndarray, factor: float) -> list[Face]:
        try:
            found = self.detect_resized([image])[0]
        except self.retry_errors as err:
            raise DetectorError(f"{self.label} failed on a {image.shape[1]}x{image.shape[0]} frame: {err}") from err
        return [face.scaled(factor) for face in found]


def check_frames(frames: Sequence[np.ndarray]) -> None:
    """Check that ``frames`` are RGB ``uint8`` arrays ``(H, W, 3)`` of one shape.

    Raises:
        ValueError: Naming the first offending shape or type.
    """
    shape = frames[0].shape
    for frame in frames:
        if frame.shape != shape:
            raise ValueError(f"frames of one batch must have one shape; got {shape} and {frame.shape}")
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frames must be RGB uint8 (H, W, 3); got {frame.dtype} {frame.shape}")


def resize_by(frame: np.ndarray, factor: float) -> np.ndarray:
    """Resize a frame by ``factor`` (at least 1×1 pixel) with dfembed's one resize rule."""
    height, width = frame.shape[:2]
    return resize(frame, max(1, int(round(width * factor))), max(1, int(round(height * factor))))
