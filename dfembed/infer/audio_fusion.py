"""The extension of ``--audio-model``: each video's soundtrack scored and fused with its faces.

Before the output is locked it checks what needs no model (PyAV and librosa, the audio
model's files, the fusion weight of ``--fuse weighted``:
:func:`~dfembed.infer.audio.check_audio_inputs`). Once the face model is loaded, it refuses
an audio model's classifier given as SVM_PKL (with or without ``--audio-model``) and
loads the audio model (:meth:`~dfembed.infer.audio.AudioBranch.load`). After the faces
are scored, every file's soundtrack is scored and fused with its face score
(:meth:`~dfembed.infer.audio.AudioBranch.fuse`): the fused score replaces the file's
score, the submission gets the ``face_score`` and ``audio_score`` columns, each file's
JSON entry its audio fields and the record an ``audio`` section. Without
``--audio-model`` a ``--fuse`` other than ``mean`` is ignored, with a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from dfembed.infer.audio import AudioBranch, FusedScores, check_audio_inputs, check_face_bundle
from dfembed.infer.config import InferConfig
from dfembed.infer.extension import Extension, ExtensionStep, ModelSetup, ScoredFiles
from dfembed.infer.pipeline import FileResult
from dfembed.infer.submission import Matching, Submission

log = logging.getLogger(__name__)


class AudioFusionStep(ExtensionStep):
    """The audio branch's part in a run: it fuses every file's face score with its soundtrack's.

    Args:
        branch: The loaded audio model and its options.
    """

    def __init__(self, branch: AudioBranch) -> None:
        self.branch = branch
        self.fused: FusedScores | None = None

    def apply(self, files: ScoredFiles) -> None:
        """Score every file's soundtrack and fuse it with the file's face score (``None`` without a face)."""
        faces = {k: r.score(files.frame_rule, files.no_face_score) if r.error is None and r.scores else None
                 for k, r in files.by_key.items()}
        self.fused = self.branch.fuse(files.keys, files.paths, faces)

    def score(self, key: str, score: float) -> float:
        """The fused score (the one modality the file has, or ``--no-face-score`` with neither)."""
        return self._fused().score(key)

    def columns(self, submission: Submission, matching: Matching) -> Submission:
        """The submission with the ``face_score`` and ``audio_score`` columns."""
        return self._fused().with_columns(submission, matching)

    def file_record(self, key: str, result: FileResult, record: dict[str, Any]) -> None:
        """The file's face, audio and fused scores, its tiles, and which modality scored it."""
        fused = self._fused()
        record.update(fused.file_record(key), score=round(fused.score(key), 6))

    def record(self) -> dict[str, Any]:
        """The ``audio`` section: settings and counts."""
        return {"audio": self._fused().record()}

    def _fused(self) -> FusedScores:
        if self.fused is None:
            raise RuntimeError("the audio fusion was asked for scores before the files were scored")
        return self.fused


def check_audio(config: InferConfig, model_h5: Path) -> None:
    """With ``--audio-model``: its files, packages and fusion weight, before the output is locked.

    Raises:
        ConfigError: PyAV or librosa is missing.
        InputError: A file of ``--audio-model`` is missing, or ``--fuse weighted`` has no fusion
            weight fitted for this audio model.
    """
    if config.audio_model is not None:
        check_audio_inputs(config, model_h5)


def load_audio(setup: ModelSetup) -> AudioFusionStep | None:
    """Refuse an audio classifier as SVM_PKL; with ``--audio-model``, load the audio branch, else ``None``.

    Raises:
        InputError: SVM_PKL is an audio model's classifier, or a file of ``--audio-model`` is
            missing, damaged or not an audio model's.
        ConfigError: PyAV or librosa is missing.
    """
    config = setup.config
    if setup.loaded.bundle is not None:
        check_face_bundle(setup.loaded.bundle, setup.svm_pkl)
    if config.audio_model is None:
        if config.fuse != "mean":
            log.warning("--fuse is used only with --audio-model; ignoring --fuse %s", config.fuse)
        return None
    return AudioFusionStep(AudioBranch.load(config, setup.model_h5, setup.trust_pickle))


#: ``--audio-model A.h5 A.pkl``.
AUDIO_FUSION = Extension(
    name="audio", summary="--audio-model: each video's soundtrack scored by an audio model and fused with its faces",
    check=check_audio, load=load_audio,
)
