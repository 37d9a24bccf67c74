"""The extension of ``--aggregate temporal``: a file's score from a sequence model on its face track.

Just before detection it loads the sequence model of ``--temporal-model`` and checks it
against the frame model (:func:`~dfembed.infer.temporal.load_temporal_scorer`); the face
pipeline then keeps each face's embedding, and after scoring every file with faces gets
its temporal score (:func:`~dfembed.infer.temporal.apply_temporal`). A file too short for
the model is scored by ``--temporal-fallback``, the frame rule of this run; each file's
JSON entry says whether the temporal model scored it. Without ``--aggregate temporal`` a
``--temporal-model`` is ignored, with a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from dfembed.infer.extension import Extension, ExtensionStep, ScoredFiles, ScoringSetup
from dfembed.infer.pipeline import FileResult
from dfembed.infer.scoring import FaceScorer
from dfembed.infer.temporal import TemporalScorer, apply_temporal, load_temporal_scorer

log = logging.getLogger(__name__)


class TemporalStep(ExtensionStep):
    """The temporal model's part in a run.

    Args:
        scorer: The loaded sequence model and its settings.
        fallback: The frame rule of files too short for it (``--temporal-fallback``).
    """

    embeddings = True

    def __init__(self, scorer: TemporalScorer, fallback: str) -> None:
        self.scorer = scorer
        self.frame_rule = fallback

    def apply(self, files: ScoredFiles) -> None:
        """Give every file with faces its temporal score (warning about the files too short for it)."""
        apply_temporal(files.results, self.scorer)

    def file_record(self, key: str, result: FileResult, record: dict[str, Any]) -> None:
        """Say whether the temporal model scored the file."""
        record["temporal"] = result.temporal_score is not None


def prepare_temporal(setup: ScoringSetup) -> TemporalStep | None:
    """Load the temporal model of ``--aggregate temporal`` and check it against the frame model; else ``None``.

    Raises:
        InputError: A missing or bad model or record, or another embedding width than the frame model's.
    """
    config = setup.config
    if config.aggregate != "temporal":
        if config.temporal_model:
            log.warning("--temporal-model is used only with --aggregate temporal; ignoring %s", config.temporal_model)
        return None
    model = setup.scorer.model if isinstance(setup.scorer, FaceScorer) else None
    scorer = load_temporal_scorer(Path(str(config.temporal_model)), model, setup.crop_config.frames_per_video)
    return TemporalStep(scorer, config.temporal_fallback)


#: ``--aggregate temporal --temporal-model M``.
TEMPORAL_AGGREGATE = Extension(
    name="temporal", summary="--aggregate temporal: a sequence model on each file's face track",
    prepare=prepare_temporal,
)
