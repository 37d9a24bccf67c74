"""What an inference extension plugs into :func:`~dfembed.infer.run.run_inference`, and what it sees.

Inference scores the faces of every file (:mod:`dfembed.infer.pipeline`) and reduces
them to one score per file by the frame rule (:mod:`dfembed.infer.aggregate`). An
:class:`Extension` changes that around the face pipeline, at four points of the run:

1. ``check``: before the output is locked, with no model loaded (missing files, packages);
2. ``load``: once MODEL and SVM_PKL are loaded (:class:`ModelSetup`): its own models load
   and are checked against them;
3. ``prepare``: once the crop settings and the face scorer are known, just before the first
   face is detected (:class:`ScoringSetup`);
4. after scoring, the :class:`ExtensionStep` that ``load`` or ``prepare`` returned for this
   run: it may ask the pipeline to keep each face's embedding, change the frame rule,
   work on the scored files (:meth:`ExtensionStep.apply`), replace a file's score, add
   columns to the submission and fields to the JSON record.

Every registered extension's hooks run at each point; an extension that the
configuration does not ask for returns no step (and may warn about its options that
are then ignored). The built-in ones (:mod:`dfembed.infer.extensions`) are the temporal
aggregate (``--aggregate temporal``) and the audio fusion (``--audio-model``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dfembed.faces.config import CropConfig
from dfembed.infer.aggregate import Aggregator
from dfembed.infer.config import InferConfig
from dfembed.infer.models import InferenceModel
from dfembed.infer.pipeline import FileResult
from dfembed.infer.scoring import Scorer
from dfembed.infer.submission import Matching, Submission


@dataclasses.dataclass(frozen=True)
class ModelSetup:
    """What ``load`` sees: the run's options and its loaded face model.

    Attributes:
        config: The inference options.
        model_h5: MODEL_H5 (or the exported model).
        svm_pkl: SVM_PKL, ``None`` for an exported model.
        loaded: The loaded face model and classifier.
        trust_pickle: Whether a pickle-only classifier may be loaded (**runs code**).
    """

    config: InferConfig
    model_h5: Path
    svm_pkl: Path | None
    loaded: InferenceModel
    trust_pickle: bool


@dataclasses.dataclass(frozen=True)
class ScoringSetup:
    """What ``prepare`` sees: the options, the face scorer and the crop settings faces will be detected with.

    Attributes:
        config: The inference options.
        scorer: Face crops → P(fake) (a :class:`~dfembed.infer.scoring.FaceScorer`, or one given by the caller).
        crop_config: The resolved crop settings.
    """

    config: InferConfig
    scorer: Scorer
    crop_config: CropConfig


class ExtensionStep:
    """An extension's part in one run, after scoring; every default leaves the run as it is.

    Attributes:
        embeddings: The face pipeline must keep each face's embedding (:attr:`FileResult.embeddings`).
        frame_rule: The frame rule (:data:`~dfembed.infer.aggregate.AGGREGATORS`) that replaces
            ``--aggregate``, or ``None``.
    """

    embeddings: bool = False
    frame_rule: str | None = None

    def apply(self, files: ScoredFiles) -> None:
        """Work on the scored files (in registration order of the extensions), e.g. score them anew."""

    def score(self, key: str, score: float) -> float:
        """A file's P(fake), given the score the face pipeline (and the steps before) gave it."""
        return score

    def columns(self, submission: Submission, matching: Matching) -> Submission:
        """The filled submission, with this step's columns."""
        return submission

    def file_record(self, key: str, result: FileResult, record: dict[str, Any]) -> None:
        """Add this step's fields to a file's entry of the JSON record (in place)."""

    def record(self) -> dict[str, Any]:
        """This step's sections of the JSON record, by name."""
        return {}


@dataclasses.dataclass
class ScoredFiles:
    """The files the face pipeline scored, and the steps that turn their faces into each file's score.

    Attributes:
        keys: Each file's key (its path relative to TEST), in scoring order.
        paths: The files.
        results: Each file's faces and scores.
        frame_rule: The frames → file rule.
        no_face_score: The score of a file without a face.
        steps: The run's extension steps, in registration order.
        by_key: Each file's result by its key (made from ``keys`` and ``results``).
    """

    keys: list[str]
    paths: list[Path]
    results: list[FileResult]
    frame_rule: Aggregator
    no_face_score: float
    steps: Sequence[ExtensionStep] = ()
    by_key: dict[str, FileResult] = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.by_key = dict(zip(self.keys, self.results))

    def face_score(self, key: str) -> float:
        """The file's score from its faces: the frame rule (or a temporal score), ``no_face_score`` without a face."""
        return self.by_key[key].score(self.frame_rule, self.no_face_score)

    def score(self, key: str) -> float:
        """The file's final P(fake): its face score, passed through every step."""
        score = self.face_score(key)
        for step in self.steps:
            score = step.score(key, score)
        return score


def _nothing_to_check(config: InferConfig, model_h5: Path) -> None:
    """An extension without checks before the output is locked."""


def _no_step(setup: Any) -> ExtensionStep | None:
    """An extension without a step at this point of the run."""
    return None


@dataclasses.dataclass(frozen=True)
class Extension:
    """A registered inference extension (see the module docstring for when each hook runs).

    Attributes:
        name: The name it is registered by.
        summary: One line for the documentation.
        check: ``(config, model_h5)``: checks that need no model; raise to stop the run.
        load: Once the face model is loaded: this run's step, or ``None`` (not asked for).
        prepare: Just before detection: this run's step, or ``None``; a step returned here
            replaces one that ``load`` returned.
    """

    name: str
    summary: str
    check: Callable[[InferConfig, Path], None] = _nothing_to_check
    load: Callable[[ModelSetup], ExtensionStep | None] = _no_step
    prepare: Callable[[ScoringSetup], ExtensionStep | None] = _no_step
