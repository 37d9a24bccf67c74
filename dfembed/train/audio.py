"""The audio modality of the training stage (``train.py DST/audio OUT_H5 OUT_PKL --modality audio``).

The embedding network, the triplet loss, the balanced batches, the group split and the
SVM are the face pipeline's (:func:`dfembed.train.frames.train_frames`); what differs lives
here, as the modality's :class:`~dfembed.train.modality.FrameSteps` (:data:`AUDIO_STEPS`):
refusing a face crop folder (a folder of tiles trained as faces is refused by
:mod:`dfembed.train.face`), SpecAugment's masks instead of the face augmentations, the tile
settings of ``DATA/dfembed-audio.json`` that go into the classifier bundle (inference
recomputes tiles with them), and, after the fit, the fusion weight of ``--fuse-face-model``:
the validation videos are scored by their audio tiles (this run's model and SVM, tile
scores averaged) and by their face crops (the given face model, in the crop folder above
DATA: per-frame maximum, frames averaged), and the audio weight ``w`` of
``w a + (1 - w) f`` with the least validation log loss is saved as
``<OUT_H5 stem>.fusion.json`` (:mod:`dfembed.model.fusion`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dfembed.core.atomic import refuse_existing
from dfembed.core.classes import FAKE
from dfembed.core.errors import InputError
from dfembed.core.provenance import write_provenance
from dfembed.crop.audio_manifest import AUDIO_MANIFEST_NAME, AUDIO_RECORD_NAME, read_audio_record, read_tile_column
from dfembed.crop.manifest import MANIFEST_NAME, read_manifest_crops
from dfembed.faces.geometry import fit_size
from dfembed.faces.media import MediaError, read_image
from dfembed.model.fusion import FUSION_FORMAT, fit_weight, fuse, fusion_path, log_loss
from dfembed.model.classifier import ClassifierBundle
from dfembed.model.safe_file import sha256_file
from dfembed.train.config import TrainConfig
from dfembed.train.crops import Crop
from dfembed.train.data import TrainData
from dfembed.train.frames import frame_distribution, train_frames
from dfembed.train.modality import BundleSettings, FrameSteps, Modality, TrainJob
from dfembed.train.outputs import TrainSummary
from dfembed.train.spec_augment import SpecAugmenter, SpecAugmentParams

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class VideoScores:
    """Validation videos with both scores.

    Attributes:
        sources: The videos (relative to SRC).
        labels: Their labels (1 = fake).
        face: Face P(fake) of each.
        audio: Audio P(fake) of each.
    """

    sources: tuple[str, ...]
    labels: tuple[int, ...]
    face: tuple[float, ...]
    audio: tuple[float, ...]


def refuse_face_crops(data: Path) -> None:
    """Refuse a face crop folder trained as audio.

    Raises:
        InputError: The folder's reports say it holds face crops and no audio tiles; the message says
            where its tiles are, when they are in ``DATA/audio``.
    """
    tiles = (data / AUDIO_MANIFEST_NAME).is_file() or (data / AUDIO_RECORD_NAME).is_file()
    if (data / MANIFEST_NAME).is_file() and not tiles:
        hint = f"; its audio tiles are in {data / 'audio'}" if (data / "audio" / AUDIO_MANIFEST_NAME).is_file() else ""
        raise InputError(f"{data} holds face crops ({MANIFEST_NAME}), not audio tiles{hint}")


def read_tile_settings(data: Path) -> dict[str, Any] | None:
    """The tile settings of ``DATA/dfembed-audio.json``, stored in the bundle for inference.

    Returns:
        The settings, or ``None`` (with a warning: inference will use the default tile
        settings) when DATA has no audio record.

    Raises:
        InputError: The record is not valid JSON or holds no settings.
    """
    record = read_audio_record(data)
    if record is None:
        log.warning("%s has no %s: inference will cut tiles with the default settings", data, AUDIO_RECORD_NAME)
        return None
    if record.get("status", "complete") != "complete":
        log.warning("%s says the audio job is %r, not complete: some videos may be missing", data / AUDIO_RECORD_NAME,
                    record["status"])
    return record["config"]


def check_fusion_output(model_path: Path, config: TrainConfig, force: bool) -> Path | None:
    """Before training: the fusion weight file's path (refused when it exists without ``force``), its face model checked.

    Returns:
        The path, or ``None`` when no ``fuse_face_model`` is given.

    Raises:
        OutputExistsError: The file exists and ``force`` is false.
        InputError: The face model or its classifier file does not exist.
    """
    if config.fuse_face_model is None:
        return None
    for name in config.fuse_face_model:
        if not Path(name).is_file():
            raise InputError(f"--fuse-face-model: {name} does not exist")
    path = fusion_path(model_path)
    refuse_existing([path], force)
    return path


def fit_fusion(model: Any, bundle: Any, val: Sequence[Crop], data: Path, model_path: Path, config: TrainConfig,
               face_scorer: Any = None) -> dict[str, Any] | None:
    """Fit the audio weight on the validation videos and write ``<OUT_H5 stem>.fusion.json``.

    Args:
        model: The trained audio embedding model.
        bundle: Its classifier bundle (the SVM fitted on the training tiles).
        val: The validation tiles.
        data: DATA (``DST/audio``); the face crops are those of ``DATA/..``.
        model_path: OUT_H5 (written already: its SHA-256 is recorded).
        config: The training configuration (``fuse_face_model``).
        face_scorer: Face crops ``(n, s, s, 3)`` → P(fake), and its input size as ``image_size``; ``None``
            loads ``fuse_face_model`` (checked: the classifier's model, read without pickle).

    Returns:
        The record written, or ``None`` when there is no weight to fit (no face model, no
        validation videos with both scores of both classes; a warning says why).

    Raises:
        InputError: DATA is not beside a face crop folder, or the face model does not fit its classifier.
    """
    if config.fuse_face_model is None:
        return None
    if not val:
        log.warning("no validation split: no fusion weight is fitted (inference's --fuse weighted needs one)")
        return None
    crops = read_manifest_crops(data.parent)
    if not crops:
        raise InputError(f"--fuse-face-model scores the validation videos' face crops in {data.parent}, which has no "
                         f"{MANIFEST_NAME}: run crop_face.py SRC DST --audio and train on DST/audio")
    scorer = face_scorer if face_scorer is not None else FaceCropScorer.load(*config.fuse_face_model)
    scores = video_scores(_tile_scores(model, bundle, val, config), _tile_sources(data, val), val, crops, scorer)
    return _write_fusion(scores, model_path, config)


def _tile_scores(model: Any, bundle: Any, val: Sequence[Crop], config: TrainConfig) -> np.ndarray:
    from dfembed.train.head import embed

    classes = list(np.asarray(bundle.classifier.classes_).tolist())
    return np.asarray(bundle.classifier.predict_proba(embed(model, val, config)))[:, classes.index(FAKE)]


def _tile_sources(data: Path, val: Sequence[Crop]) -> list[str | None]:
    sources = read_tile_column(data, "source")
    return [sources.get(c.path.resolve()) for c in val]


def video_scores(tile_scores: Sequence[float], tile_sources: Sequence[str | None], val: Sequence[Crop],
                 face_crops: dict[str, list[tuple[int, Path]]], scorer: Any) -> VideoScores:
    """Per validation video: the mean of its tiles' scores, and the mean over frames of its faces' maximum.

    Args:
        tile_scores: P(fake) of each validation tile.
        tile_sources: The video of each tile (``None``: unknown, left out).
        val: The validation tiles (their labels).
        face_crops: Source → ``(frame, crop path)`` of the face crop folder.
        scorer: Face crops → P(fake), with ``image_size``.

    Returns:
        The videos that have both scores, sorted.
    """
    tiles: dict[str, list[float]] = defaultdict(list)
    labels: dict[str, int] = {}
    for score, source, crop in zip(tile_scores, tile_sources, val):
        if source is not None:
            tiles[source].append(float(score))
            labels[source] = crop.label
    rows = [(s, labels[s], face, float(np.mean(tiles[s]))) for s in sorted(tiles)
            if (face := _face_score(face_crops.get(s, []), scorer)) is not None]
    missing = len(tiles) - len(rows)
    if missing:
        log.info("%d validation videos have no readable face crop and are left out of the fusion fit", missing)
    return VideoScores(*(tuple(column) for column in zip(*rows))) if rows else VideoScores((), (), (), ())


def _face_score(crops: list[tuple[int, Path]], scorer: Any) -> float | None:
    images, frames = [], []
    for frame, path in crops:
        try:
            images.append(fit_size(read_image(path), scorer.image_size))
        except MediaError as err:
            log.warning("fusion weight: skipping a face crop: %s", err)
            continue
        frames.append(frame)
    if not images:
        return None
    scores = np.asarray(scorer(np.stack(images)), dtype=np.float64)
    per_frame = [scores[np.asarray(frames) == f].max() for f in sorted(set(frames))]
    return float(np.mean(per_frame))


def _write_fusion(scores: VideoScores, model_path: Path, config: TrainConfig) -> dict[str, Any] | None:
    if len(set(scores.labels)) < 2:
        log.warning("the validation videos with face and audio scores (%d) are not of both classes: no fusion weight",
                    len(scores.sources))
        return None
    weight = fit_weight(scores.face, scores.audio, scores.labels)
    losses = {rule: log_loss([fuse(f, a, rule, weight) for f, a in zip(scores.face, scores.audio)], scores.labels)
              for rule in ("mean", "max", "weighted")}
    losses.update(face=log_loss(scores.face, scores.labels), audio=log_loss(scores.audio, scores.labels))
    face_h5, face_pkl = config.fuse_face_model
    record = {"format": FUSION_FORMAT, "weight": weight, "videos": len(scores.sources),
              "fake_videos": int(sum(scores.labels)), "validation_log_loss": losses,
              "audio_model": {"file": str(model_path), "sha256": sha256_file(model_path)},
              "face_model": {"file": face_h5, "classifier": face_pkl, "sha256": sha256_file(face_h5)},
              "scores": {s: {"label": y, "face": round(f, 6), "audio": round(a, 6)}
                         for s, y, f, a in zip(scores.sources, scores.labels, scores.face, scores.audio)}}
    path = fusion_path(model_path)
    write_provenance(path, config, **record)
    log.info("fusion: audio weight %.2f on %d validation videos (log loss %.4f; mean %.4f, faces %.4f, audio %.4f) "
             "-> %s", weight, len(scores.sources), losses["weighted"], losses["mean"], losses["face"], losses["audio"],
             path)
    return record


class FaceCropScorer:
    """Face crops → P(fake) with a trained face model and its safe classifier file (no pickle is loaded).

    Args:
        model: The face embedding model.
        classifier: Its fitted classifier (``predict_proba``, ``classes_``).
        image_size: The model's input side.
        batch_size: Crops per model call.
    """

    def __init__(self, model: Any, classifier: Any, image_size: int, batch_size: int = 32) -> None:
        self.model, self.classifier, self.image_size, self.batch_size = model, classifier, image_size, batch_size

    @classmethod
    def load(cls, model_h5: str, svm_pkl: str) -> FaceCropScorer:
        """Load a face model and its classifier (the safe file beside SVM_PKL) and check that they belong together.

        Raises:
            InputError: A file is missing or damaged, the classifier is not this model's, or it is an audio model.
        """
        from dfembed.model.classifier import check_compatible
        from dfembed.model.network import load_embedding_model, model_info
        from dfembed.model.safe_bundle import load_classifier

        loaded = load_classifier(svm_pkl)
        loaded.check_model(model_h5)
        if loaded.bundle.train_config.get("modality", "face") != "face":
            raise InputError(f"--fuse-face-model: {svm_pkl} is the classifier of an audio model, not of a face model")
        model = load_embedding_model(model_h5)
        info = model_info(model)
        check_compatible(loaded.bundle, info)
        return cls(model, loaded.bundle.classifier, info.image_size)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        from dfembed.model.network import embed_images

        classes = list(np.asarray(self.classifier.classes_).tolist())
        embeddings = embed_images(self.model, images.astype(np.float32), self.batch_size)
        return np.asarray(self.classifier.predict_proba(embeddings))[:, classes.index(FAKE)]


def log_ignored_options(config: TrainConfig) -> None:
    """Say which face augmentations an audio run ignores (its tiles are augmented with masks only)."""
    on = [name for name in ("noise_p", "jpeg_p", "blur_p", "flip_p") if getattr(config, name) > 0]
    if on:
        log.info("--modality audio augments tiles with time and frequency masks only; ignoring %s", ", ".join(on))


def audio_augmenter(config: TrainConfig) -> SpecAugmenter:
    """The tiles' augmenter: SpecAugment's time and frequency masks (the face augmentations are ignored, and said so)."""
    log_ignored_options(config)
    return SpecAugmenter(SpecAugmentParams.from_config(config))


def tile_settings(data: Path) -> BundleSettings:
    """The tile settings of ``DATA/dfembed-audio.json`` for the bundle (inference cuts its tiles with them).

    Raises:
        InputError: The record is not valid JSON or holds no settings.
    """
    return BundleSettings(read_tile_settings(data))


def _check(job: TrainJob) -> None:
    refuse_face_crops(job.data)
    check_fusion_output(job.paths.model, job.config, job.force)


def _fit_fusion(job: TrainJob, model: Any, bundle: ClassifierBundle, data: TrainData) -> None:
    fit_fusion(model, bundle, data.val, job.data, job.paths.model, job.config)


#: The audio modality's steps in the frame model's training.
AUDIO_STEPS = FrameSteps(check=_check, augmenter=audio_augmenter, bundle_settings=tile_settings,
                         after_fit=_fit_fusion)


def train_audio(job: TrainJob) -> TrainSummary:
    """Train the frame model on audio tiles (:func:`~dfembed.train.frames.train_frames` with :data:`AUDIO_STEPS`)."""
    return train_frames(job, AUDIO_STEPS)


#: ``--modality audio``: the embedding network and the SVM on log-mel tiles, and the fusion weight.
AUDIO = Modality(name="audio", summary="log-mel tiles of the soundtracks: the embedding network, its SVM and the "
                 "fusion weight of --fuse-face-model", distribution=frame_distribution, train=train_audio)
