"""The audio branch of inference: each video's soundtrack scored by an audio model, fused with its faces.

``inference.py TEST SUB.csv MODEL.h5 SVM.pkl --audio-model A.h5 A.pkl``: before any face is
detected, the audio model and its classifier are loaded and checked (the classifier's
model, an audio model's bundle, the tile settings it was trained on, the fusion weight of
``--fuse weighted``). After the faces, every video's soundtrack is cut into those tiles
(:mod:`dfembed.audio`), each tile scored (optionally averaged with its views shifted by
``±audio_tta_shift`` seconds), the tiles aggregated (``--audio-aggregate mean|max``), and
the file's score fused from its face and audio scores (:func:`dfembed.model.fusion.fuse`):
a file without audio (an image, a video without a soundtrack or with a silent one) keeps
its face score, a video without a face keeps its audio score, a file with neither gets
``--no-face-score`` and is reported. The submission gets two more columns,
``face_score`` and ``audio_score`` (P(fake) with six decimals, empty where missing).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from dfembed.audio.config import AudioConfig, check_audio_available, tile_config
from dfembed.audio.decode import AudioError
from dfembed.audio.tiles import as_rgb, shifted_columns, soundtrack_tiles, tile_image
from dfembed.core.errors import InputError
from dfembed.core.walk import printable
from dfembed.faces.geometry import fit_size
from dfembed.faces.media import is_video
from dfembed.infer.config import InferConfig
from dfembed.infer.scoring import FaceScorer, Scorer, load_checked
from dfembed.infer.submission import Matching, Submission, add_columns
from dfembed.model.fusion import fuse, fusion_path, read_fusion
from dfembed.model.safe_bundle import sha256_file

log = logging.getLogger(__name__)

#: The extra submission columns, in order.
FACE_COLUMN, AUDIO_COLUMN = "face_score", "audio_score"
NOT_A_VIDEO = "not a video"


@dataclasses.dataclass(frozen=True)
class AudioResult:
    """What the audio branch found in one file.

    Attributes:
        tiles: P(fake) of each tile (its views averaged with TTA), in time order.
        starts: Each tile's start, seconds from the soundtrack's first sample.
        reason: Why the file has no audio score (``no audio``, ``not a video``, ``cannot open``…), else ``None``.
    """

    tiles: tuple[float, ...] = ()
    starts: tuple[float, ...] = ()
    reason: str | None = None


def aggregate_tiles(scores: Sequence[float], rule: str) -> float:
    """A soundtrack's P(fake) from its tiles': their ``mean`` or ``max``.

    Raises:
        ValueError: No score, or an unknown rule.
    """
    if not len(scores):
        raise ValueError("no tile score to aggregate")
    if rule not in ("mean", "max"):
        raise ValueError(f"unknown tile aggregation {rule!r}; choose mean or max")
    return float(np.mean(scores) if rule == "mean" else np.max(scores))


class AudioBranch:
    """Scores soundtracks with an audio model and fuses them with face scores.

    Args:
        scorer: Tiles ``(n, s, s, 3)`` uint8 at the model's input size → P(fake) (the audio model
            and its SVM; a fake in tests).
        settings: The tile settings the model was trained on.
        image_size: The model's input side (tiles are resized to it, as in training).
        config: The inference options (``fuse``, ``audio_aggregate``, ``audio_tta``…).
        weight: The audio weight of ``fuse: weighted``.
    """

    def __init__(self, scorer: Scorer, settings: AudioConfig, image_size: int, config: InferConfig,
                 weight: float | None = None) -> None:
        self.scorer, self.settings, self.image_size, self.config, self.weight = \
            scorer, settings, image_size, config, weight

    @classmethod
    def load(cls, config: InferConfig, face_model: Path, trust_pickle: bool = False) -> AudioBranch:
        """Load the audio model of ``config.audio_model`` and check everything it needs, before any work.

        Args:
            config: The inference options.
            face_model: MODEL_H5, the face model (compared with the one the fusion weight was fitted with).
            trust_pickle: Allow loading a pickle-only classifier (**runs code**).

        Returns:
            The branch.

        Raises:
            ConfigError: PyAV or librosa is missing.
            InputError: A file is missing or damaged, the classifier is not the audio model's or not an
                audio model's, or ``fuse: weighted`` has no fusion weight fitted for this audio model.
        """
        weight = check_audio_inputs(config, face_model)
        model_h5, svm_pkl = (Path(p) for p in config.audio_model or ())
        model, bundle, info = load_checked(model_h5, svm_pkl, trust_pickle)
        if bundle.train_config.get("modality", "face") != "audio":
            raise InputError(f"--audio-model: {svm_pkl} is the classifier of a face model; give the model and "
                             "classifier of train.py --modality audio")
        if bundle.crop_config is None:
            log.warning("%s does not say which tiles its model was trained on: cutting tiles with the defaults", svm_pkl)
        scorer = FaceScorer.from_bundle(model, bundle, config.batch_size,
                                        model_name=f"{model_h5} (the audio model, with classifier {svm_pkl})")
        log.info("audio model %s: %s, %d px; fusion %s%s", model_h5, info.backbone, info.image_size, config.fuse,
                 f" (audio weight {weight:.2f})" if weight is not None else "")
        return cls(scorer, tile_config(bundle.crop_config), info.image_size, config, weight)

    def score_file(self, path: Path) -> AudioResult:
        """Score one file's soundtrack (an image has none: ``not a video``)."""
        if not is_video(path):
            return AudioResult(reason=NOT_A_VIDEO)
        try:
            track = soundtrack_tiles(path, self.settings)
        except AudioError as err:
            if err.reason != "no audio":
                log.warning("audio of %s", err)
            return AudioResult(reason=err.reason)
        shift = self.config.audio_tta_shift if self.config.audio_tta == "shift" else 0.0
        columns = track.mel.db.shape[1]
        views = [shifted_columns(tile, columns, self.settings, shift) for tile in track.tiles]
        images = [fit_size(image, self.image_size) for image in
                  as_rgb([tile_image(track.mel, c, self.settings) for view in views for c in view])]
        scores = np.asarray(self.scorer(np.stack(images)), dtype=np.float64)
        ends = np.cumsum([len(v) for v in views])
        tiles = tuple(float(scores[end - len(v):end].mean()) for v, end in zip(views, ends))
        return AudioResult(tiles, tuple(t.start for t in track.tiles))

    def score_files(self, paths: Sequence[Path]) -> list[AudioResult]:
        """Score every file's soundtrack, in order (a tqdm bar counts them)."""
        return [self.score_file(p) for p in tqdm(paths, unit="file", desc="audio", disable=None)]

    def fuse(self, keys: Sequence[str], paths: Sequence[Path], faces: Mapping[str, float | None]) -> FusedScores:
        """Score the files' soundtracks and fuse each with its face score.

        Args:
            keys: The files' keys (relative paths).
            paths: The files.
            faces: Key → the face score, ``None`` for a file without a face (or unreadable).

        Returns:
            The :class:`FusedScores`.
        """
        results = dict(zip(keys, self.score_files(paths)))
        audio = {k: aggregate_tiles(r.tiles, self.config.audio_aggregate) if r.tiles else None
                 for k, r in results.items()}
        fused = FusedScores(dict(faces), audio, results, self.config, self.weight)
        fused.log()
        return fused


def check_audio_inputs(config: InferConfig, face_model: Path) -> float | None:
    """The checks of ``--audio-model`` that need no model loaded: packages, files, the fusion weight.

    Args:
        config: The inference options (``audio_model`` set).
        face_model: MODEL_H5.

    Returns:
        The audio weight of ``fuse: weighted``, else ``None``.

    Raises:
        ConfigError: PyAV or librosa is missing.
        InputError: A file of ``--audio-model`` is missing, or ``fuse: weighted`` has no fusion weight
            fitted for this audio model.
    """
    check_audio_available()
    paths = [Path(p) for p in config.audio_model or ()]
    for path in paths:
        if not path.is_file():
            raise InputError(f"--audio-model: {path} does not exist")
    return _fusion_weight(paths[0], face_model) if config.fuse == "weighted" else None


def check_face_bundle(bundle: Any, svm_pkl: Path) -> None:
    """Refuse an audio model's classifier given as the face classifier (SVM_PKL).

    Raises:
        InputError: The bundle was trained with ``--modality audio``.
    """
    if bundle.train_config.get("modality", "face") == "audio":
        raise InputError(f"{svm_pkl} is the classifier of an audio model; give it with --audio-model MODEL_H5 "
                         "SVM_PKL, and a face model as MODEL_H5 SVM_PKL")


def _fusion_weight(audio_model: Path, face_model: Path) -> float:
    """The audio weight beside the audio model, checked to be fitted for it (and, with a warning, for MODEL_H5)."""
    path = fusion_path(audio_model)
    record = read_fusion(path)
    fitted = record.get("audio_model", {}).get("sha256")
    if fitted is not None and fitted != sha256_file(audio_model):
        raise InputError(f"fusion weight file {path} was fitted for another audio model than {audio_model} "
                         "(its SHA-256 differs): train them again together, or use --fuse mean or max")
    face = record.get("face_model", {}).get("sha256")
    if face is not None and Path(face_model).is_file() and face != sha256_file(face_model):
        log.warning("the fusion weight %s was fitted with another face model than %s", path, face_model)
    return float(record["weight"])


@dataclasses.dataclass
class FusedScores:
    """Each file's face, audio and fused scores.

    Attributes:
        faces: Key → face P(fake) (``None``: no face).
        audio: Key → audio P(fake) (``None``: no audio score).
        results: Key → the audio branch's :class:`AudioResult`.
        config: The inference options.
        weight: The audio weight of ``fuse: weighted``.
    """

    faces: dict[str, float | None]
    audio: dict[str, float | None]
    results: dict[str, AudioResult]
    config: InferConfig
    weight: float | None = None

    def score(self, key: str) -> float:
        """The file's P(fake): fused, or the one modality it has, or ``no_face_score`` with neither."""
        value = fuse(self.faces.get(key), self.audio.get(key), self.config.fuse, self.weight)
        return self.config.no_face_score if value is None else value

    def source(self, key: str) -> str:
        """Where the file's score came from: ``fused``, ``face only``, ``audio only`` or ``default``."""
        face, audio = self.faces.get(key) is not None, self.audio.get(key) is not None
        return {(True, True): "fused", (True, False): "face only", (False, True): "audio only"}.get(
            (face, audio), "default")

    def columns(self, matching: Matching) -> dict[str, list[str]]:
        """The ``face_score`` and ``audio_score`` columns of the submission's rows."""
        def cell(values: dict[str, float | None], key: str | None) -> str:
            value = values.get(key) if key is not None else None
            return "" if value is None else f"{value:.6f}"

        return {FACE_COLUMN: [cell(self.faces, k) for k in matching.row_files],
                AUDIO_COLUMN: [cell(self.audio, k) for k in matching.row_files]}

    def with_columns(self, submission: Submission, matching: Matching) -> Submission:
        """``submission`` with the two score columns added (or replaced, with a warning)."""
        return add_columns(submission, self.columns(matching))

    def file_record(self, key: str) -> dict[str, Any]:
        """The audio fields of a file's entry in the JSON record."""
        result = self.results.get(key, AudioResult())
        return {"face_score": _rounded(self.faces.get(key)), "audio_score": _rounded(self.audio.get(key)),
                "audio_tiles": [round(s, 6) for s in result.tiles], "audio_tile_starts": list(result.starts),
                "audio_reason": result.reason, "scored_by": self.source(key)}

    def record(self) -> dict[str, Any]:
        """The branch's part of the JSON record: settings and counts."""
        config = self.config
        return {"model": list(config.audio_model or ()), "fuse": config.fuse, "weight": self.weight,
                "aggregate": config.audio_aggregate, "tta": config.audio_tta,
                "tta_shift": config.audio_tta_shift if config.audio_tta == "shift" else None,
                "counts": dict(Counter(self.source(k) for k in self.faces)),
                "no_audio": dict(Counter(r.reason for r in self.results.values() if r.reason is not None)),
                "neither": sorted(k for k in self.faces if self.source(k) == "default")}

    def log(self) -> None:
        """Log the counts; warn about the files scored by neither modality."""
        counts = Counter(self.source(k) for k in self.faces)
        log.info("audio: %d files fused, %d face only, %d audio only, %d with neither (score %s)",
                 counts["fused"], counts["face only"], counts["audio only"], counts["default"],
                 self.config.no_face_score)
        neither = [printable(k) for k in self.faces if self.source(k) == "default"]
        if neither:
            log.warning("%d files have neither a face nor a soundtrack score (default %s written), e.g. %s",
                        len(neither), self.config.no_face_score, neither[:5])


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
