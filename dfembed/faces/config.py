"""Configuration of the crop stage (``crop_face.py`` / ``dfembed crop``).

One frozen dataclass holds every option with its default; ``resources/crop.yaml`` is the
same defaults as a file. Values are checked in ``__post_init__`` so that a bad value from
a config file or a flag fails before any work starts, with the field's name.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Literal

import yaml

from dfembed.core.config import check
from dfembed.core.errors import shown
from dfembed.core.yamlsafe import load_yaml
from dfembed.core.datasets import FFPP_DEFAULT_METHODS, FFPP_METHODS, check_methods
from dfembed.faces.registry import detector_names, detector_spec

# Options that change how fast a run is but not what it writes; a resumed run may change them.
RUNTIME_ONLY_FIELDS = frozenset({"jobs", "batch_size", "device", "engine", "ray_address", "ray_workers"})
# Options that choose which media of SRC are cropped, not how a face is cut (inference picks its own).
SOURCE_FIELDS = frozenset({"layout", "split", "compression", "methods", "group_regex"})
#: Named option sets (``resources/presets/<name>.yaml``), see :mod:`dfembed.crop.presets`.
PRESET_NAMES = ("dfembed", "deepfakebench", "sbi", "dfdc-winner")


@dataclasses.dataclass(frozen=True)
class CropConfig:
    """Every option of the crop stage.

    Box sizes are in pixels. ``min_face_size`` is measured on the source image (after the
    box is mapped back), ``detector_min_face_size`` on the image MTCNN sees (after the
    DFDC-winner downscale, see :func:`dfembed.faces.geometry.downscale_factor`). Every
    detector sees frames after that downscale; its own options are the fields its
    registry entry lists (:data:`dfembed.faces.registry.DETECTORS`): ``thresholds``,
    ``detector_min_face_size`` and ``scale_factor`` for ``mtcnn``, ``blazeface_model`` and
    ``blazeface_nms`` for ``blazeface``; the others' options are ignored.

    Attributes:
        preset: The named option set the other defaults come from (``dfembed``,
            ``deepfakebench``, ``sbi``, ``dfdc-winner``); recorded with the crops.
        size: Side of the square output crop, in pixels.
        margin: Fraction of the box's width (height) added on the left and right (top and
            bottom) before the box is made square (``align: none`` only).
        align: ``"none"``: the box crop; ``"similarity"``: the five landmarks mapped by a
            similarity transform onto the standard five-point template (a face without
            landmarks falls back to the box crop).
        align_scale: Context of an aligned crop: the template fills its central ``1 / align_scale``.
        landmarks: ``"five"``: the detector's five landmarks only; ``"facemesh"``: also
            MediaPipe FaceMesh's 468 points of every kept face, saved per crop beside the
            manifest (``DST/landmarks/``, see :mod:`dfembed.faces.facemesh`); a face whose
            detector gives no five landmarks gets five derived from the mesh.
        faces: ``"largest"`` keeps the largest face of a frame, ``"all"`` keeps every face.
        detector: Name of the face detector (``mtcnn``, ``blazeface``; see
            :func:`dfembed.faces.detector.build_detector`).
        min_confidence: Faces with a lower detector confidence are dropped; ``None`` = the
            detector's default floor (``mtcnn`` 0.8, ``blazeface`` 0.5: their scores differ).
        min_face_size: Faces whose box has a shorter side (source pixels) are dropped.
        detector_min_face_size: Smallest face MTCNN searches for, in detection-image pixels.
        thresholds: MTCNN's P-Net, R-Net and O-Net confidence thresholds.
        scale_factor: Ratio between successive levels of MTCNN's image pyramid.
        blazeface_model: BlazeFace network: ``full`` (192 px input, faces near and far),
            ``sparse`` (the same, sparse weights) or ``short`` (128 px, faces within ~2 m).
        blazeface_nms: IoU above which BlazeFace's weighted NMS merges two boxes.
        frames_per_video: Frames sampled evenly over each video.
        image_format: ``"jpg"`` or ``"png"`` crop files.
        jpeg_quality: JPEG quality (1-100) of ``jpg`` crops.
        jobs: Worker processes, each with its own detector (1 = run in this process).
        batch_size: Frames given to the detector in one call: of one video, or of one size from several
            small sources (images, videos sampled with fewer frames); bounds memory.
        group_regex: Optional regular expression applied to an image's relative path; its
            first group (or whole match) becomes the group key. See ``dfembed.crop.sources``.
        layout: SRC's layout: ``auto`` (recognised), or ``labelled``, ``dfdc``, ``ffpp``
            (FaceForensics++), ``celebdf`` (Celeb-DF v2), ``unlabelled``.
        split: The official subset of FaceForensics++ (``train``/``val``/``test``) or
            Celeb-DF (``test``: its list of testing videos, ``train``: the others); ``all``.
        compression: The FaceForensics++ quality: ``raw``, ``c23`` or ``c40``.
        methods: The FaceForensics++ manipulations to take.
        device: TensorFlow device of the detector, e.g. ``"CPU:0"`` or ``"GPU:0"``.
        engine: ``"local"`` (this machine: ``jobs`` processes) or ``"ray"`` (detector workers
            on a Ray cluster, see :mod:`dfembed.crop.ray_engine`).
        ray_address: The Ray cluster to join (``"auto"`` or ``"HOST:PORT"``); ``None`` starts a
            local one. Only with ``engine="ray"``.
        ray_workers: Detector workers (Ray actors, one CPU each) with ``engine="ray"``; 0 = one
            per CPU of the cluster.
    """

    preset: Literal["dfembed", "deepfakebench", "sbi", "dfdc-winner"] = "dfembed"
    size: int = 380
    margin: float = 0.3
    align: Literal["none", "similarity"] = "none"
    align_scale: float = 1.3
    landmarks: Literal["five", "facemesh"] = "five"
    faces: Literal["largest", "all"] = "largest"
    detector: str = "mtcnn"
    min_confidence: float | None = None
    min_face_size: int = 20
    detector_min_face_size: int = 20
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.8)
    scale_factor: float = 0.709
    blazeface_model: Literal["full", "sparse", "short"] = "full"
    blazeface_nms: float = 0.3
    frames_per_video: int = 32
    image_format: Literal["jpg", "png"] = "jpg"
    jpeg_quality: int = 95
    jobs: int = 1
    batch_size: int = 8
    group_regex: str | None = None
    layout: Literal["auto", "labelled", "dfdc", "ffpp", "celebdf", "unlabelled"] = "auto"
    split: Literal["all", "train", "val", "test"] = "all"
    compression: Literal["raw", "c23", "c40"] = "c23"
    methods: tuple[str, ...] = FFPP_DEFAULT_METHODS
    device: str = "CPU:0"
    engine: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    ray_workers: int = 0

    def __post_init__(self) -> None:
        check(self.size >= 8, "size", self.size, "an integer >= 8")
        check(0.0 <= self.margin <= 2.0, "margin", self.margin, "a fraction between 0 and 2")
        check(self.faces in ("largest", "all"), "faces", self.faces, "'largest' or 'all'")
        check(self.detector in detector_names(), "detector", self.detector,
              f"a registered face detector ({', '.join(detector_names())})")
        check(self.min_confidence is None or 0.0 <= self.min_confidence <= 1.0, "min_confidence",
              self.min_confidence, "in [0, 1] (or none: the detector's default)")
        # >= 2 pixels: a box of side 2 still covers at least one whole pixel once its corners are rounded.
        check(self.min_face_size >= 2, "min_face_size", self.min_face_size, ">= 2")
        check(self.detector_min_face_size >= 12, "detector_min_face_size", self.detector_min_face_size, ">= 12")
        check(len(self.thresholds) == 3 and all(0.0 <= t <= 1.0 for t in self.thresholds),
              "thresholds", self.thresholds, "three values in [0, 1]")
        check(0.1 <= self.scale_factor <= 0.95, "scale_factor", self.scale_factor, "in [0.1, 0.95]")
        check(self.blazeface_model in ("full", "sparse", "short"), "blazeface_model", self.blazeface_model,
              "'full', 'sparse' or 'short'")
        check(0.0 < self.blazeface_nms < 1.0, "blazeface_nms", self.blazeface_nms, "in (0, 1)")
        check(self.frames_per_video >= 1, "frames_per_video", self.frames_per_video, ">= 1")
        check(self.image_format in ("jpg", "png"), "image_format", self.image_format, "'jpg' or 'png'")
        check(1 <= self.jpeg_quality <= 100, "jpeg_quality", self.jpeg_quality, "in [1, 100]")
        check(self.jobs >= 1, "jobs", self.jobs, ">= 1")
        check(self.batch_size >= 1, "batch_size", self.batch_size, ">= 1")
        check(self.group_regex is None or _compiles(self.group_regex), "group_regex", self.group_regex,
              "a valid regular expression")
        check(self.preset in PRESET_NAMES, "preset", self.preset, f"one of {', '.join(PRESET_NAMES)}")
        check(self.align in ("none", "similarity"), "align", self.align, "'none' or 'similarity'")
        check(0.5 <= self.align_scale <= 4.0, "align_scale", self.align_scale, "in [0.5, 4]")
        check(self.landmarks in ("five", "facemesh"), "landmarks", self.landmarks, "'five' or 'facemesh'")
        check(check_methods(self.methods), "methods", self.methods, f"one or more of {', '.join(FFPP_METHODS)}")
        check(self.engine in ("local", "ray"), "engine", self.engine, "'local' or 'ray'")
        check(self.ray_workers >= 0, "ray_workers", self.ray_workers, "0 (one per CPU of the cluster) or more")


def parse_crop_options(options: tuple[str, ...]) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` crop overrides; values are read as YAML (``0.9``, ``[0.6, 0.7, 0.7]``).

    Args:
        options: Strings such as ``"min_face_size=20"``.

    Returns:
        A mapping of key to value.

    Raises:
        ValueError: An option has no ``=``, an unparseable value, or one beyond the YAML bounds
            (:mod:`dfembed.core.yamlsafe`).
    """
    parsed: dict[str, Any] = {}
    for option in options:
        key, sep, text = option.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"crop option {shown(option)} is not KEY=VALUE")
        try:  # bounded YAML: a few bytes of aliases may not stand for gigabytes
            parsed[key.strip().replace("-", "_")] = load_yaml(text)
        except (yaml.YAMLError, ValueError) as err:
            raise ValueError(f"crop option {shown(option)}: cannot read the value: "
                             f"{' '.join(str(err).split())[:200]}") from err
    return parsed


def confidence_floor(config: CropConfig, name: str | None = None) -> float:
    """The confidence below which faces are dropped: ``config.min_confidence``, else the detector's default.

    Args:
        config: The crop configuration.
        name: Another registered detector than ``config.detector``.

    Returns:
        The floor in ``[0, 1]`` (detectors' scores are not on one scale, so each has its own default).

    Raises:
        ConfigError: ``name`` is not a registered detector.
    """
    if config.min_confidence is not None:
        return config.min_confidence
    return detector_spec(name or config.detector).default_min_confidence


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True
