"""The inference stage's configuration, and the crop settings it runs the detector with.

Face detection and cropping at inference should match what the model was trained on:
by default they come from the ``crop_config`` that ``train.py`` stored in the SVM
bundle (itself read from the crop job's ``dfembed-crop.json``), the face detector
included. The fields ``detector``, ``frames_per_video``, ``faces``, ``margin``,
``min_confidence`` and ``crop_options`` (``KEY=VALUE`` for any other
:class:`~dfembed.faces.config.CropConfig` field, e.g. ``blazeface_model=sparse``) override it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from dfembed.core.config import check, resolve_config
from dfembed.core.datasets import FFPP_DEFAULT_METHODS, FFPP_METHODS, check_methods
from dfembed.core.errors import ConfigError
from dfembed.faces.config import RUNTIME_ONLY_FIELDS, SOURCE_FIELDS, CropConfig, detector_names, parse_crop_options

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InferConfig:
    """Every option of ``inference.py`` / ``dfembed infer``.

    Attributes:
        aggregate: Frame → video strategy: ``mean``, ``max`` or ``confident`` (DFDC winner),
            or ``temporal``: the sequence model ``temporal_model`` on the face track's embeddings.
        no_face_score: Score of a file with no detected face (or that cannot be read).
        tta: ``flip`` averages each face's P(fake) with its mirror image's.
        clip: ``[low, high]`` bounds for written probabilities (log-loss friendly), or none.
        hard_labels: Write 0/1 (``P(fake) > threshold``) instead of probabilities.
        threshold: Decision threshold for ``hard_labels``.
        batch_size: Faces per embedding batch (faces of many files are batched together).
        queue_size: Files decoded and detected ahead of the embedder.
        submission_format: Layout of a new CSV: ``auto`` (DFDC when every file is a
            video, else Dacon), ``dacon`` or ``dfdc``. Ignored when SUB_CSV exists.
        detector: Face detector (``mtcnn``, ``blazeface``); none = the one the model was
            trained with (a different one is logged as a warning).
        frames_per_video: Frames sampled per video; none = as in training.
        faces: ``largest`` or ``all`` faces per frame; none = as in training.
        margin: Crop margin (fraction of the box each side); none = as in training.
        min_confidence: Detector confidence floor; none = as in training.
        crop_options: Further crop/detector overrides as ``KEY=VALUE`` (YAML values).
        temporal_model: The ``.keras`` sequence model of ``aggregate: temporal`` (from
            ``dfembed temporal train`` or ``train.py --temporal``), its record beside it.
        temporal_fallback: Frame rule of a file too short for the temporal model.
        layout: ``none``: every image and video under TEST; ``ffpp`` or ``celebdf``: the
            videos of that data set's ``split`` (with ``compression`` and ``methods``), read
            as ``crop_face.py`` reads them.
        split: The official subset (``all``, ``train``, ``val``, ``test``).
        compression: The FaceForensics++ quality folder.
        methods: The FaceForensics++ manipulations.
        onnx_provider: ONNX Runtime provider of an exported model: ``auto`` (CUDA when
            onnxruntime has it, else CPU), ``cpu`` or ``cuda``.
        onnx_threads: ONNX Runtime's threads per operator on the CPU; none = its default
            (one per physical core).
        audio_model: The audio model (``MODEL_H5``, ``SVM_PKL`` of ``train.py --modality audio``): each
            video's soundtrack is cut into the tiles it was trained on and scored, and the audio score
            fused with the face score (``fuse``); ``None``: faces only.
        fuse: Face and audio scores → the file's: ``mean``, ``max`` or ``weighted`` (the audio weight
            fitted on validation videos, ``<audio model stem>.fusion.json``). A file with one of the two
            keeps it; with neither it gets ``no_face_score``.
        audio_aggregate: Tile scores → the audio score: ``mean`` or ``max``.
        audio_tta: ``shift`` also scores each tile ``audio_tta_shift`` seconds earlier and later and
            averages the views that fit in the track.
        audio_tta_shift: The shift of ``audio_tta``, seconds.
        engine: ``local`` (this machine's threads) or ``ray``: decoding and detection on CPU
            workers and the model on workers that hold it, on a Ray cluster
            (:mod:`dfembed.infer.ray_engine`).
        ray_address: The Ray cluster to join (``auto`` or ``HOST:PORT``); none starts a local one.
        ray_workers: Detector workers (one CPU each) with ``engine: ray``; 0 = the cluster's CPUs
            not taken by model workers.
        ray_model_workers: Model workers with ``engine: ray`` (a GPU each when the cluster has that
            many, else a CPU); 0 = one per GPU of the cluster, or one.
    """

    aggregate: Literal["mean", "max", "confident", "temporal"] = "confident"
    no_face_score: float = 0.5
    tta: Literal["none", "flip"] = "none"
    clip: tuple[float, float] | None = None
    hard_labels: bool = False
    threshold: float = 0.5
    batch_size: int = 32
    queue_size: int = 8
    submission_format: Literal["auto", "dacon", "dfdc"] = "auto"
    detector: str | None = None
    frames_per_video: int | None = None
    faces: Literal["largest", "all"] | None = None
    margin: float | None = None
    min_confidence: float | None = None
    crop_options: tuple[str, ...] = ()
    temporal_model: str | None = None
    temporal_fallback: Literal["mean", "max", "confident"] = "confident"
    layout: Literal["none", "ffpp", "celebdf"] = "none"
    split: Literal["all", "train", "val", "test"] = "all"
    compression: Literal["raw", "c23", "c40"] = "c23"
    methods: tuple[str, ...] = FFPP_DEFAULT_METHODS
    onnx_provider: Literal["auto", "cpu", "cuda"] = "auto"
    onnx_threads: int | None = None
    audio_model: tuple[str, str] | None = None
    fuse: Literal["mean", "max", "weighted"] = "mean"
    audio_aggregate: Literal["mean", "max"] = "mean"
    audio_tta: Literal["none", "shift"] = "none"
    audio_tta_shift: float = 0.1
    engine: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    ray_workers: int = 0
    ray_model_workers: int = 0

    def __post_init__(self) -> None:
        check(self.aggregate != "temporal" or bool(self.temporal_model), "temporal_model", self.temporal_model,
              "a .keras sequence model with --aggregate temporal")
        check(0.0 <= self.no_face_score <= 1.0, "no_face_score", self.no_face_score, "in [0, 1]")
        check(0.0 <= self.threshold <= 1.0, "threshold", self.threshold, "in [0, 1]")
        check(self.clip is None or 0.0 <= self.clip[0] < self.clip[1] <= 1.0, "clip", self.clip,
              "two values 0 <= low < high <= 1")
        for name in ("batch_size", "queue_size", "frames_per_video", "onnx_threads"):
            value = getattr(self, name)
            check(value is None or value >= 1, name, value, "at least 1")
        check(self.detector is None or self.detector in detector_names(), "detector", self.detector,
              f"a registered face detector ({', '.join(detector_names())}) or none (as in training)")
        parse_crop_options(self.crop_options)
        check(check_methods(self.methods), "methods", self.methods, f"one or more of {', '.join(FFPP_METHODS)}")
        check(0.0 < self.audio_tta_shift <= 5.0, "audio_tta_shift", self.audio_tta_shift, "in (0, 5] seconds")
        check(self.engine in ("local", "ray"), "engine", self.engine, "'local' or 'ray'")
        for name in ("ray_workers", "ray_model_workers"):
            check(getattr(self, name) >= 0, name, getattr(self, name), "0 (automatic) or more")

    def crop_overrides(self) -> dict[str, Any]:
        """The crop settings this configuration overrides (named fields win over ``crop_options``)."""
        overrides = parse_crop_options(self.crop_options)
        named = ("detector", "frames_per_video", "faces", "margin", "min_confidence")
        overrides.update({k: getattr(self, k) for k in named if getattr(self, k) is not None})
        return overrides


def check_crop_overrides(config: InferConfig) -> None:
    """Check this run's crop overrides on their own, before the model and its crop settings load.

    Each override must name a crop option and hold a value that option accepts (checked
    on the default crop settings: every check of :class:`CropConfig` is per option).

    Raises:
        ConfigError: An unknown crop option or a bad value, naming it.
    """
    try:
        resolve_config(CropConfig, None, config.crop_overrides())
    except ConfigError as err:
        raise ConfigError(f"crop settings for inference: {err}") from err


def resolve_crop_config(trained: Mapping[str, Any] | None, config: InferConfig, image_size: int) -> CropConfig:
    """The crop settings for inference: training's, then this run's overrides.

    Args:
        trained: The bundle's ``crop_config`` (a ``CropConfig`` as a mapping), or ``None``
            when the model was trained on crops of unknown origin — then the
            ``CropConfig`` defaults are used with ``size = image_size``. Its runtime-only
            fields (``jobs``, ``batch_size``, ``device``) and the fields that chose the
            training media (``layout``, ``split``, ``compression``, ``methods``,
            ``group_regex``) are not inherited.
        config: This run's options.
        image_size: The embedding model's input size.

    Returns:
        The crop settings.

    Raises:
        ConfigError: An override names an unknown crop option or has a bad value.
    """
    known = {f.name for f in dataclasses.fields(CropConfig)}
    base = dict(trained) if trained is not None else {"size": image_size}
    dropped = sorted(set(base) - known)
    if dropped:
        log.warning("ignoring crop settings from training that this version does not know: %s", dropped)
    # jobs, batch size and device describe the training machine, not the crops: this machine's defaults
    base = {k: v for k, v in base.items() if k in known and k not in RUNTIME_ONLY_FIELDS | SOURCE_FIELDS}
    try:
        resolved = resolve_config(CropConfig, None, {**base, **config.crop_overrides()})
    except ConfigError as err:
        raise ConfigError(f"crop settings for inference: {err}") from err
    _log_detector(trained, resolved)
    return resolved


def _log_detector(trained: Mapping[str, Any] | None, resolved: CropConfig) -> None:
    """Say which detector inference uses, and warn when it is not the one of training."""
    if trained is None:
        log.info("the classifier bundle does not say how its crops were made: detecting faces with %s",
                 resolved.detector)
        return
    # a bundle from before detectors had names was made with MTCNN, the only one then (the default)
    used = trained.get("detector", CropConfig.detector)
    if used != resolved.detector:
        log.warning("the model was trained on crops of the %s detector; detecting faces with %s as asked",
                    used, resolved.detector)
    else:
        log.info("detecting faces with %s, the detector the model was trained with", resolved.detector)
