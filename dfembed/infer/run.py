"""Inference: score every face image and video under TEST and fill a submission CSV.

This module orchestrates the stage: it finds the media files, plans the submission rows,
loads the model and SVM bundle (:mod:`dfembed.infer.scoring`), scores the files with the
overlapped decode → detect → embed pipeline (:mod:`dfembed.infer.pipeline`), reduces face
scores per frame (maximum) and per video (``--aggregate``, see :mod:`dfembed.infer.aggregate`),
and writes the CSV with its JSON record. What changes that around the face pipeline —
the temporal aggregate (``--aggregate temporal``), the audio fusion (``--audio-model``) — is
an extension (:mod:`dfembed.infer.extension`) from the registry of
:mod:`dfembed.infer.extensions`, whose hooks run at fixed points of the run.

Order of work in :func:`run_inference`: the output path (distinct from every input,
writable, not existing without ``force``) and the crop overrides are checked, the output
is locked against a concurrent job, the inputs (TEST, SUB_CSV) are read, and the model
and the classifier are loaded and checked against each other — all before a single face
is detected. The classifier is read from its safe file (no pickle is loaded unless
``trust_pickle``). MODEL may also be an exported model (``dfembed export``), run on ONNX
Runtime with the crop settings of its contract (:mod:`dfembed.infer.models`).

SUB_CSV ``-`` (no template) and ``output`` ``-`` write the CSV to standard output (no
record, no lock: nothing is written to disk); SUB_CSV ``None`` writes no CSV at all, the
scores are in the summary (``inference.py FILE MODEL`` prints the one file's score).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dfembed.core.errors import InputError
from dfembed.core.lock import OutputLock, lock_file_beside
from dfembed.core.ownership import check_apart, check_replaceable, file_entry, owned_files
from dfembed.core.paths import check_distinct, check_writable
from dfembed.core.provenance import write_provenance
from dfembed.core.walk import Entry, SkippedEntry, printable, walk_files
from dfembed.faces.config import CropConfig
from dfembed.faces.detector import Detector, build_detector, check_available, detector_record
from dfembed.infer.aggregate import get_aggregator
from dfembed.infer.config import InferConfig, check_crop_overrides, resolve_crop_config
from dfembed.infer.extension import ExtensionStep, ModelSetup, ScoredFiles, ScoringSetup
from dfembed.infer.extensions import check_extensions, load_extensions, prepare_extensions
from dfembed.infer.models import InferenceModel, load_inference_model
from dfembed.infer.pipeline import FaceExtractor, FileResult, score_files
from dfembed.infer.scoring import FaceScorer, Scorer
from dfembed.infer.submission import (
    Matching,
    Submission,
    choose_format,
    default_output,
    fill,
    format_value,
    match_rows,
    new_submission,
    provenance_path,
    read_submission,
    submission_text,
    write_submission,
)
from dfembed.model.contract import ONNX_NAME, RECORD_NAME

if TYPE_CHECKING:
    from dfembed.model.classifier import ClassifierBundle

log = logging.getLogger(__name__)

#: The record's key naming the CSV it wrote with its SHA-256 (what --force may replace).
OUTPUTS_KEY = "outputs"

#: SUB_CSV or ``output`` ``-``: the CSV goes to standard output.
STDOUT = Path("-")


@dataclass
class InferSummary:
    """The outcome of :func:`run_inference`.

    Attributes:
        output: The written submission CSV (``-``: standard output; ``None``: no CSV).
        provenance: The JSON record beside it (``None`` when no CSV file was written).
        format: ``"dacon"`` or ``"dfdc"``.
        rows: Rows written.
        media_files: Media files found under TEST.
        scored: Files scored from at least one face.
        no_face: Relative paths of files without a detected face.
        unreadable: Relative path → reason, for files that could not be read.
        missing_rows: Keys of CSV rows with no media file.
        unmatched_files: Media files that no CSV row names (not scored).
        seconds: Wall time of the whole run.
        skipped: Entries of TEST that are not media files to score, relative path →
            ``"reason: detail"`` (broken or looping links, hidden entries, other files…).
        scores: Every scored media file's final P(fake) (as written, before ``--clip``), by key.
    """

    output: Path | None
    provenance: Path | None
    format: str
    rows: int
    media_files: int
    scored: int
    no_face: list[str]
    unreadable: dict[str, str]
    missing_rows: list[str]
    unmatched_files: list[str]
    seconds: float
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)
    scores: dict[str, float] = dataclasses.field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# Media discovery and the row plan


@dataclass(frozen=True)
class MediaFiles:
    """The media files of TEST and what was skipped.

    Attributes:
        paths: The media files, sorted by key.
        keys: Each file's key: its path relative to TEST (printable; its name when TEST is the file).
        skipped: Entries that are not media files to score (:mod:`dfembed.core.walk` and
            files with another suffix: ``not a media file``).
    """

    paths: list[Path]
    keys: list[str]
    skipped: list[SkippedEntry]


def list_media(test: Path, config: InferConfig | None = None) -> MediaFiles:
    """List the images and videos of TEST by the listing policy of every stage.

    Links to files and folders are followed (each real folder once); hidden entries,
    broken and looping links and files that are not media are skipped and reported
    (:func:`dfembed.core.walk.walk_files`).

    With ``config.layout`` ``ffpp`` or ``celebdf`` only the videos of that data set's split
    (compression, methods) are listed, found as the crop stage finds them
    (:func:`dfembed.crop.sources.discover_sources`).

    Args:
        test: A folder, or a single media file.
        config: Gives the layout and selection (``None``: every medium).

    Returns:
        The media files with their keys, and the skipped entries.

    Raises:
        InputError: ``test`` is missing or holds no image or video (of the selection).
        ConfigError: A selection the data set cannot give.
    """
    from dfembed.faces.media import is_media

    if not test.exists():
        raise InputError(f"TEST {test} does not exist")
    if config is not None and config.layout != "none":
        return _dataset_media(test, config)
    if test.is_file():
        walk_entries, skipped = [Entry(test, printable(test.name))], []
    else:
        walk = walk_files(test)
        walk_entries, skipped = walk.files, list(walk.skipped)
    entries = [e for e in walk_entries if is_media(e.path)]
    skipped += [SkippedEntry(e.relative, "not a media file", f"suffix {e.path.suffix!r}")
                for e in walk_entries if not is_media(e.path)]
    if not entries:
        raise InputError(f"TEST {test}: no image or video files found ({len(skipped)} entries skipped)")
    return MediaFiles([e.path for e in entries], [e.relative for e in entries], sorted(skipped, key=_by_relative))


def _by_relative(entry: SkippedEntry) -> str:
    return entry.relative


def _dataset_media(test: Path, config: InferConfig) -> MediaFiles:
    from dfembed.crop.discovery import Selection
    from dfembed.crop.sources import discover_sources

    discovery = discover_sources(test, selection=Selection.of(config))
    if not discovery.sources:
        raise InputError(f"TEST {test}: no {config.layout} video in split {config.split!r} "
                         f"({len(discovery.skipped)} listed or found files skipped)")
    missing = sum(s.reason in ("missing file", "missing folder") for s in discovery.skipped)
    if missing:
        log.warning("TEST %s: %d videos of the %s %s split are missing", test, missing, config.layout, config.split)
    skipped = [SkippedEntry(s.relative, s.reason, s.detail) for s in discovery.skipped]
    return MediaFiles([s.path for s in discovery.sources], [s.relative for s in discovery.sources], skipped)


def find_media(test: Path) -> list[Path]:
    """The media files below ``test`` (any depth) or ``test`` itself; see :func:`list_media`."""
    return list_media(test).paths


def plan_rows(sub_csv: Path | None, keys: Sequence[str], config: InferConfig) -> tuple[Submission, Matching]:
    """Read SUB_CSV and match its rows to the media files, or plan a new CSV.

    Args:
        sub_csv: The template; when it does not exist (or is ``-`` or ``None``: no
            template) a new submission lists every file.
        keys: Relative paths of the media files.
        config: For the new submission's format.

    Returns:
        The submission (values not yet filled) and the row → file matching.

    Raises:
        InputError: A bad template, an ambiguous row, or no row naming any file.
    """
    if sub_csv is None or sub_csv == STDOUT or not sub_csv.exists():
        fmt = choose_format(config.submission_format, keys)
        if sub_csv is not None:
            why = "no template" if sub_csv == STDOUT else f"{sub_csv} does not exist"
            log.info("%s: writing a new %s submission with one row per file", why, fmt.name)
        return new_submission(keys, fmt), Matching(list(keys))
    submission = read_submission(sub_csv)
    matching = match_rows(submission.keys, keys)
    if submission.rows and len(matching.missing_rows) == len(submission.rows):
        raise InputError(f"none of the {len(submission.rows)} rows of {sub_csv} names a media file under TEST")
    _report_matching(sub_csv, submission, matching)
    return submission, matching


def _report_matching(sub_csv: Path, submission: Submission, matching: Matching) -> None:
    log.info("%s: %s format, %d rows", sub_csv, submission.format.name, len(submission.rows))
    if matching.missing_rows:
        log.warning("%d rows name no file under TEST (they get the default score), e.g. %s",
                    len(matching.missing_rows), matching.missing_rows[:5])
    if matching.unmatched_files:
        log.warning("%d media files have no row in %s and are not scored, e.g. %s",
                    len(matching.unmatched_files), sub_csv, matching.unmatched_files[:5])


# ---------------------------------------------------------------------------------------
# Orchestration


def run_inference(
    test: Path,
    sub_csv: Path | None,
    model_h5: Path,
    svm_pkl: Path | None,
    config: InferConfig,
    output: Path | None = None,
    force: bool = False,
    detector: Detector | None = None,
    scorer: Scorer | None = None,
    trust_pickle: bool = False,
) -> InferSummary:
    """Score every media file that SUB_CSV names (or every file under TEST) and write the CSV.

    Args:
        test: Folder of images and/or videos (any depth), or one media file.
        sub_csv: Submission template (Dacon ``path,y`` or DFDC ``filename,label``); when
            it does not exist, a new submission listing every file is created there.
            ``-``: a new submission, written to standard output; ``None``: no CSV (the
            scores are in the summary).
        model_h5: Embedding model, or an exported model (``.onnx`` or its export folder).
        svm_pkl: Classifier: ``train.py``'s OUT_PKL, whose safe ``.npz`` beside it is read,
            or that ``.npz`` itself; ``None`` for an exported model.
        config: Inference options.
        output: Output CSV (``-``: standard output); default ``<name>_out.csv`` beside an
            existing SUB_CSV, else SUB_CSV (standard output for SUB_CSV ``-``).
        force: Overwrite an existing output.
        detector: The face detector; ``None`` builds the resolved crop settings' detector
            (the model's, unless ``config.detector`` says otherwise) with
            :func:`~dfembed.faces.detector.build_detector`, after every check of the inputs.
        scorer: Face crops at the model's input size → P(fake); ``None`` uses
            :class:`~dfembed.infer.scoring.FaceScorer` on the loaded model and bundle.
        trust_pickle: Allow loading SVM_PKL as a pickle when it has no safe file beside
            it. **Loading a pickle runs code**: only for files you made or trust.

    Returns:
        The summary, also written to ``<output stem>.dfembed-infer.json`` when the CSV goes to a file.

    Raises:
        InputError: Missing/bad inputs, a model/SVM mismatch, or an exported model that is
            not a valid dfembed export (before any detection).
        ConfigError: The output is one of the inputs, a bad crop override, ``--aggregate
            temporal`` with an exported model, or onnx/onnxruntime missing for one.
        OutputExistsError: The output exists and ``force`` is false.
        OutputError: The output's folder cannot be written.
        LockedError: Another job is writing the same output.
    """
    start = time.perf_counter()
    output = _output(sub_csv, output)
    _check_paths(test, sub_csv, model_h5, svm_pkl, output, force)
    check_crop_overrides(config)  # a bad --crop-option fails now, not after the model has loaded
    check_extensions(config, model_h5)  # so do the extensions' own inputs (their files, packages)
    if config.engine == "ray":  # so does a missing Ray
        from dfembed.core.cluster import import_ray

        import_ray()
    with _lock(output):
        media = list_media(test, config)
        submission, matching = plan_rows(sub_csv, media.keys, config)
        loaded = load_inference_model(model_h5, svm_pkl, config, trust_pickle)
        loaded_steps = load_extensions(ModelSetup(config, model_h5, svm_pkl, loaded, trust_pickle))
        crop_config = resolve_crop_config(loaded.crop_config, config, loaded.image_size)
        if detector is None:
            check_available(crop_config.detector)
        trained_detector = _check_detector_versions(loaded, crop_config)
        unmatched = set(matching.unmatched_files)
        wanted = [(p, k) for p, k in zip(media.paths, media.keys) if k not in unmatched]
        if scorer is None:
            scorer = loaded.make_scorer(config)
        steps = prepare_extensions(ScoringSetup(config, scorer, crop_config), loaded_steps)  # before any detection
        results = _score([p for p, _ in wanted], detector, scorer, loaded.image_size, crop_config, config,
                         embeddings=any(step.embeddings for step in steps))
        files = _apply_steps(wanted, results, config, steps)
        filled = fill(submission, _row_values(matching, files, config))
        for step in steps:
            filled = step.columns(filled, matching)
        _emit(filled, output, force)
        summary = _summarise(output, submission, matching, files, media, time.perf_counter() - start)
        if summary.provenance is not None:
            inputs = {"test": test, "sub_csv": sub_csv, "model_h5": model_h5, "svm_pkl": svm_pkl}
            _write_record(summary, config, crop_config, _file_records(files), inputs, trained_detector, loaded,
                          steps)
    _log_summary(summary)
    return summary


def _output(sub_csv: Path | None, output: Path | None) -> Path | None:
    """Where the CSV goes: a file, :data:`STDOUT`, or ``None`` (no CSV)."""
    if output is not None:
        return output
    if sub_csv is None:
        return None
    return STDOUT if sub_csv == STDOUT else default_output(sub_csv)


def _lock(output: Path | None) -> contextlib.AbstractContextManager[Any]:
    """The output file's lock; nothing to lock when no file is written."""
    if output is None or output == STDOUT:
        return contextlib.nullcontext()
    return OutputLock(lock_file_beside(output), f"output {output}")


def _emit(submission: Submission, output: Path | None, force: bool) -> None:
    """Write the filled CSV to its file or to standard output (none without an output)."""
    if output == STDOUT:
        sys.stdout.write(submission_text(submission))
        sys.stdout.flush()
    elif output is not None:
        write_submission(submission, output, force=force)


def _check_paths(test: Path, sub_csv: Path | None, model_h5: Path, svm_pkl: Path | None, output: Path | None,
                 force: bool) -> None:
    """The output and its record are new files, none of them an input, in a writable folder."""
    from dfembed.model.safe_bundle import safe_path

    if output is None or output == STDOUT:
        return
    inputs = {"TEST": test, "MODEL_H5": model_h5}
    if svm_pkl is not None:
        inputs.update({"SVM_PKL": svm_pkl, "the safe classifier": safe_path(svm_pkl)})
    else:  # an exported model: its folder's files, or the record beside the file
        folder = model_h5 if model_h5.is_dir() else model_h5.parent
        inputs.update({"the exported model": folder / ONNX_NAME, "the export's record": folder / RECORD_NAME})
    if sub_csv is not None and sub_csv != STDOUT and sub_csv.exists():  # else it is where a new submission goes
        inputs["SUB_CSV"] = sub_csv
    record = provenance_path(output)
    check_apart({"the output": output, "the output's record": record}, {"TEST": test})
    check_distinct({"the output": output, "the output's record": record}, inputs)
    check_replaceable([output], owned_files(record, key=OUTPUTS_KEY), force,
                      hint="or --output to choose another file")
    check_writable(output.parent, "the output's folder")


def _score(
    paths: list[Path], detector: Detector | None, scorer: Scorer, image_size: int, crop_config: CropConfig,
    config: InferConfig, embeddings: bool = False,
) -> list[FileResult]:
    """Detect, crop and score the faces of ``paths``, here or on a Ray cluster; with ``embeddings`` keep
    each face's embedding too (an extension asked for them)."""
    score = scorer.scores_and_embeddings if embeddings and isinstance(scorer, FaceScorer) else scorer
    if config.engine == "ray":
        from dfembed.infer.ray_engine import score_files_ray

        return score_files_ray(paths, crop_config, image_size, score, detector, config, embeddings=embeddings)
    if detector is None:  # loads the network: only once the inputs are checked
        detector = build_detector(crop_config)
    extractor = FaceExtractor(detector, crop_config, image_size)
    return score_files(paths, extractor, score, config.batch_size, config.queue_size, embeddings=embeddings)


def _apply_steps(wanted: list[tuple[Path, str]], results: list[FileResult], config: InferConfig,
                 steps: list[ExtensionStep]) -> ScoredFiles:
    """The scored files, with the frame rule of the run (``--aggregate``, unless a step replaces it),
    after every extension step has worked on them, in registration order."""
    rule = next((step.frame_rule for step in steps if step.frame_rule is not None), config.aggregate)
    files = ScoredFiles([k for _, k in wanted], [p for p, _ in wanted], results, get_aggregator(rule),
                        config.no_face_score, steps)
    for step in steps:
        step.apply(files)
    return files


def _row_values(matching: Matching, files: ScoredFiles, config: InferConfig) -> list[str]:
    values = []
    for key in matching.row_files:
        score = config.no_face_score if key is None else files.score(key)
        values.append(format_value(score, config.hard_labels, config.threshold, config.clip))
    return values


def _summarise(
    output: Path | None,
    submission: Submission,
    matching: Matching,
    files: ScoredFiles,
    media: MediaFiles,
    seconds: float,
) -> InferSummary:
    by_key = files.by_key
    unreadable = {k: r.error for k, r in by_key.items() if r.error is not None}
    no_face = [k for k, r in by_key.items() if r.error is None and not r.scores]
    return InferSummary(
        output=output,
        provenance=provenance_path(output) if output is not None and output != STDOUT else None,
        format=submission.format.name,
        rows=len(matching.row_files),
        media_files=len(media.paths),
        scored=sum(1 for r in by_key.values() if r.scores),
        no_face=no_face,
        unreadable=unreadable,
        missing_rows=list(matching.missing_rows),
        unmatched_files=list(matching.unmatched_files),
        seconds=seconds,
        skipped={s.relative: f"{s.reason}: {s.detail}" if s.detail else s.reason for s in media.skipped},
        scores={k: files.score(k) for k in by_key},
    )


def _file_records(files: ScoredFiles) -> dict[str, dict[str, Any]]:
    """Per-file detail for the JSON record: faces found, each face's frame and score, the file score from its
    faces, and what each extension step adds (whether the temporal model scored it, the audio scores…)."""
    records = {}
    for key, result in files.by_key.items():
        record = {
            "faces": result.n_faces,
            "frames": result.frames,
            "face_scores": [round(s, 6) for s in result.scores],
            "score": round(files.face_score(key), 6),
            "error": result.error,
        }
        for step in files.steps:
            step.file_record(key, result, record)
        records[key] = record
    return records


def _check_detector_versions(bundle: ClassifierBundle | InferenceModel,
                             crop_config: CropConfig) -> dict[str, Any] | None:
    """The bundle's (or model's) record of the training detector; warn when its packages had other versions.

    Returns:
        The record (``None`` for a bundle made before detectors were recorded).
    """
    trained = getattr(bundle, "detector", None)  # absent from bundles pickled before the field existed
    if not trained or trained.get("name") != crop_config.detector:
        return trained
    now = detector_record(crop_config)["versions"]
    changed = {k: (v, now.get(k)) for k, v in trained.get("versions", {}).items() if now.get(k) != v}
    if changed:
        log.warning("the %s detector now runs on other package versions than in training: %s", crop_config.detector,
                    ", ".join(f"{k} {old} -> {new}" for k, (old, new) in changed.items()))
    return trained


def _write_record(
    summary: InferSummary, config: InferConfig, crop_config: CropConfig, files: dict[str, Any],
    inputs: dict[str, Path | None], trained_detector: dict[str, Any] | None = None,
    model: InferenceModel | None = None, steps: Sequence[ExtensionStep] = (),
) -> None:
    sections = {name: value for step in steps for name, value in step.record().items()}
    write_provenance(
        summary.provenance,
        config,
        crop_config=dataclasses.asdict(crop_config),
        detector=detector_record(crop_config),
        trained_detector=trained_detector,
        model=model.record if model is not None else None,
        inputs={name: str(path) if path is not None else None for name, path in inputs.items()},
        **{OUTPUTS_KEY: {summary.output.name: file_entry(summary.output)}},
        summary={k: v for k, v in dataclasses.asdict(summary).items() if k != "scores"},  # scores: under files
        files=files,
        **sections,
    )


def _log_summary(summary: InferSummary) -> None:
    processed = len(summary.no_face) + summary.scored + len(summary.unreadable)
    log.info(
        "processed %d files (%d scored, %d without a face, %d unreadable) in %.1f s (%.2f files/s); %d rows → %s",
        processed, summary.scored, len(summary.no_face), len(summary.unreadable), summary.seconds,
        processed / summary.seconds if summary.seconds > 0 else 0.0, summary.rows,
        "standard output" if summary.output == STDOUT else summary.output or "no CSV",
    )
    if summary.no_face:
        log.warning("no face found in %d files (default score written), e.g. %s",
                    len(summary.no_face), summary.no_face[:5])
    if summary.unreadable:
        log.warning("%d files could not be read (default score written): %s",
                    len(summary.unreadable), list(summary.unreadable)[:5])
    if summary.skipped:
        where = f" (listed in {summary.provenance})" if summary.provenance is not None else ""
        log.warning("%d entries of TEST were skipped%s, e.g. %s", len(summary.skipped), where,
                    [f"{k} ({v})" for k, v in list(summary.skipped.items())[:5]])
