"""``dfembed explain``: score the faces of one image or video and show, with Grad-CAM, where each looks fake.

Order of work in :func:`run_explain`: OUT is checked against the inputs and against what is
already in it (only a previous explain's files are replaced, with ``force``), the model and
its classifier are loaded and checked (a Keras model: Grad-CAM needs its gradients), faces
are detected with the crop settings of training, scored, the most suspicious of each frame
explained, and OUT is written: one overlay PNG per explained face, ``report.html`` (one
self-contained page) and ``explain.json`` (configuration, versions, model SHA-256, scores,
and every file written with its SHA-256).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dfembed.core.errors import ConfigError, InputError, OutputExistsError
from dfembed.core.ownership import check_apart, check_replaceable, file_entry, owned_files
from dfembed.core.provenance import file_sha256, write_provenance
from dfembed.explain.config import ExplainConfig
from dfembed.explain.report import ReportFace, report_html
from dfembed.explain.select import as_array, frame_time, most_suspicious, video_fps
from dfembed.faces.detector import Detector, build_detector, check_available
from dfembed.faces.extract import FaceCrop, faces_from_media
from dfembed.faces.geometry import fit_size
from dfembed.faces.media import MediaError, is_media, is_video
from dfembed.infer.aggregate import aggregate_file, get_aggregator
from dfembed.infer.config import InferConfig, resolve_crop_config
from dfembed.infer.models import InferenceModel, load_inference_model
from dfembed.model.gradcam import from_bundle, overlay, png_bytes

log = logging.getLogger(__name__)

RECORD_NAME = "explain.json"
REPORT_NAME = "report.html"
#: No face found: the file's score (as ``dfembed infer``'s default ``--no-face-score``).
NO_FACE_SCORE = InferConfig.no_face_score


@dataclass(frozen=True)
class ExplainSummary:
    """What :func:`run_explain` wrote.

    Attributes:
        out: The output folder.
        p_fake: The file's P(fake) (the no-face score when no face was found).
        faces: Faces found.
        explained: Faces explained (one overlay each).
        report: The HTML page.
        record: The JSON record.
    """

    out: Path
    p_fake: float
    faces: int
    explained: int
    report: Path
    record: Path


def run_explain(media: Path, model: Path, svm: Path, out: Path, config: ExplainConfig, force: bool = False,
                detector: Detector | None = None, trust_pickle: bool = False) -> ExplainSummary:
    """Explain one image or video's score with Grad-CAM overlays, an HTML page and a JSON record in ``out``.

    Args:
        media: The image or video.
        model: The Keras embedding model (MODEL_H5).
        svm: Its classifier (SVM_PKL; the safe ``.npz`` beside it is read).
        out: The output folder (created; an existing one only with ``force`` and only when it
            holds a previous explain's files and nothing else).
        config: The options.
        force: Replace a previous explain's output.
        detector: The face detector; ``None`` builds the one of training (or ``config.detector``).
        trust_pickle: Allow unpickling SVM_PKL when it has no safe file (**runs code**).

    Returns:
        The summary.

    Raises:
        InputError: A missing or unreadable file, or a model that is not a Keras model.
        ConfigError: OUT overlaps an input.
        OutputExistsError: OUT exists without ``force``, or holds files explain did not write.
    """
    _check_paths(media, model, svm, out, force)
    loaded = _load(model, svm, trust_pickle)
    infer_config = InferConfig(detector=config.detector, frames_per_video=config.frames_per_video)
    crop_config = resolve_crop_config(loaded.crop_config, infer_config, loaded.image_size)
    if detector is None:
        check_available(crop_config.detector)
        detector = build_detector(crop_config)
    crops = faces_from_media(media, detector, crop_config)
    images = as_array([fit_size(c.image, loaded.image_size) for c in crops], loaded.image_size)
    scores = np.asarray(loaded.make_scorer(infer_config)(images), np.float64)
    chosen = most_suspicious([c.frame_index for c in crops], scores, config.faces_per_frame, config.max_faces)
    cams, _ = from_bundle(loaded.model, loaded.bundle)(images[chosen])
    p_fake = _file_score(crops, scores, config)
    fps = video_fps(media) if is_video(media) else None
    faces = [ReportFace(crops[k].frame_index, frame_time(crops[k].frame_index, fps), float(scores[k]),
                        png_bytes(images[k]), png_bytes(overlay(images[k], cam, config.alpha)))
             for k, cam in zip(chosen, cams)]
    _clear(out)
    files = _write_outputs(out, media, faces, p_fake, config, loaded, crop_config.detector)
    record = write_provenance(out / RECORD_NAME, config, stage="explain", media=str(media), p_fake=round(p_fake, 6),
                              faces_found=len(crops), model=_model_record(model, svm, loaded),
                              detector=crop_config.detector, faces=[_face_record(f, n) for f, n in zip(faces, files)],
                              files={name: file_entry(out / name) for name in [*files, REPORT_NAME]})
    log.info("explained %d of %d faces of %s in %s (P(fake) %.3f)", len(faces), len(crops), media, out, p_fake)
    return ExplainSummary(out, p_fake, len(crops), len(faces), out / REPORT_NAME, record)


def _check_paths(media: Path, model: Path, svm: Path, out: Path, force: bool) -> None:
    for name, path in (("FILE", media), ("MODEL", model), ("SVM", svm)):
        if not path.is_file():
            raise InputError(f"{name} {path} does not exist or is not a file")
    if not is_media(media):
        raise MediaError(media, "not a media file", "an image (jpg, png, bmp, webp) or a video (mp4, avi, mov, "
                                                    "mkv, webm)")
    check_apart({"OUT": out}, {"FILE": media, "MODEL": model, "SVM": svm})
    _check_out(out, force)


def _check_out(out: Path, force: bool) -> None:
    """OUT is new, or (with ``force``) a previous explain's folder holding only the files its record names."""
    if not out.exists() and not out.is_symlink():
        return
    if out.is_symlink() or not out.is_dir():
        raise ConfigError(f"OUT {out} exists and is not a folder; choose a new folder")
    entries = sorted(out.iterdir())
    if not entries:
        return
    record = out / RECORD_NAME
    if not force:
        raise OutputExistsError(f"OUT {out} exists; use --force to replace a previous explain's output")
    if not record.is_file() or _stage(record) != "explain":
        raise OutputExistsError(f"OUT {out} holds files that dfembed explain did not write (no {RECORD_NAME}); "
                                "it is not replaced, --force or not; choose another folder")
    check_replaceable([e for e in entries if e != record], owned_files(record), force=True)


def _stage(record: Path) -> str | None:
    import json

    try:
        value = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return value.get("stage") if isinstance(value, dict) else None


def _clear(out: Path) -> None:
    """Remove a previous explain's files (checked by :func:`_check_out`) and make OUT."""
    if out.is_dir():
        shutil.rmtree(out)
    out.mkdir(parents=True)


def _load(model: Path, svm: Path, trust_pickle: bool) -> InferenceModel:
    loaded = load_inference_model(model, svm, InferConfig(), trust_pickle)
    if loaded.kind != "keras":
        raise InputError(f"MODEL {model}: Grad-CAM needs the Keras model and its classifier (MODEL_H5 SVM_PKL), "
                         "not an exported model")
    return loaded


def _file_score(crops: list[FaceCrop], scores: np.ndarray, config: ExplainConfig) -> float:
    if not crops:
        return NO_FACE_SCORE
    return aggregate_file([c.frame_index for c in crops], scores, get_aggregator(config.aggregate))


def _write_outputs(out: Path, media: Path, faces: list[ReportFace], p_fake: float, config: ExplainConfig,
                   loaded: InferenceModel, detector: str) -> list[str]:
    """The overlay PNGs and the report; returns the overlays' names."""
    names = []
    for rank, face in enumerate(faces):
        name = f"face{rank:02d}_frame{face.frame:05d}.png"
        (out / name).write_bytes(face.overlay_png)
        names.append(name)
    rule = (f"The file's score: the highest P(fake) of each frame, then {config.aggregate} over the frames "
            f"({len({f.frame for f in faces})} frames with an explained face)." if faces else
            f"No face was found: the file gets the no-face score {NO_FACE_SCORE}.")
    facts = {"model": f"{loaded.record.get('backbone', '?')} ({loaded.kind})", "detector": detector,
             "threshold": f"{config.threshold}", "faces explained": str(len(faces))}
    (out / REPORT_NAME).write_text(report_html(media.name, p_fake, config.threshold, rule, facts, faces),
                                   encoding="utf-8")
    return names


def _model_record(model: Path, svm: Path, loaded: InferenceModel) -> dict[str, Any]:
    return {"file": str(model), "sha256": file_sha256(model), "classifier": str(svm),
            "classifier_sha256": file_sha256(svm), **loaded.record}


def _face_record(face: ReportFace, name: str) -> dict[str, Any]:
    fields = {k: v for k, v in asdict(face).items() if not k.endswith("_png")}
    return {**fields, "p_fake": round(face.p_fake, 6), "overlay": name}
