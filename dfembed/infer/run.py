"""Inference: score every face image and video under TEST and fill a submission CSV.

This module orchestrates the stage: it finds the media files, plans the submission rows,
loads the model and SVM bundle (:mod:`dfembed.infer.scoring`), scores the files with the
overlapped decode → detect → embed pipeline (:mod:`dfembed.infer.pipeline`), reduces face
scores per frame (maximum) and per video (``--aggregate``, see :mod:`dfembed.infer.aggregate`),
and writes the CSV with its JSON record.

Order of work in :func:`run_inference`: the output path (distinct from every input,
writable, not existing without ``force``) and the crop overrides are checked, the output
is locked against a concurrent job, the inputs (TEST, SUB_CSV) are read, and the model
and the classifier are loaded and checked against each other — all before a single face
is detected. The classifier is read from its safe file (no pickle is loaded unless
``trust_pickle``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dfembed.core.errors import InputError
from dfembed.core.lock import OutputLock, lock_file_beside
from dfembed.core.paths import check_distinct, check_writable
from dfembed.core.provenance import write_provenance
from dfembed.core.walk import Entry, SkippedEntry, printable, walk_files
from dfembed.faces.config import CropConfig
from dfembed.faces.detector import Detector, build_detector, check_available, detector_record
from dfembed.infer.aggregate import get_aggregator
from dfembed.infer.config import InferConfig, check_crop_overrides, resolve_crop_config
from dfembed.infer.pipeline import FaceExtractor, FileResult, score_files
from dfembed.infer.scoring import FaceScorer, Scorer, load_checked
from dfembed.infer.submission import (
    Matching,
    Submission,
    check_output,
    choose_format,
    default_output,
    fill,
    format_value,
    match_rows,
    new_submission,
    read_submission,
    write_submission,
)

if TYPE_CHECKING:
    from dfembed.model.classifier import ClassifierBundle

log = logging.getLogger(__name__)


@dataclass
class InferSummary:
    """The outcome of :func:`run_inference`.

    Attributes:
        output: The written submission CSV.
        provenance: The JSON record beside it.
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
    """

    output: Path
    provenance: Path
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


def list_media(test: Path) -> MediaFiles:
    """List the images and videos of TEST by the listing policy of every stage.

    Links to files and folders are followed (each real folder once); hidden entries,
    broken and looping links and files that are not media are skipped and reported
    (:func:`dfembed.core.walk.walk_files`).

    Args:
        test: A folder, or a single media file.

    Returns:
        The media files with their keys, and the skipped entries.

    Raises:
        InputError: ``test`` is missing or holds no image or video.
    """
    from dfembed.faces.media import is_media

    if not test.exists():
        raise InputError(f"TEST {test} does not exist")
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


def find_media(test: Path) -> list[Path]:
    """The media files below ``test`` (any depth) or ``test`` itself; see :func:`list_media`."""
    return list_media(test).paths


def plan_rows(sub_csv: Path, keys: Sequence[str], config: InferConfig) -> tuple[Submission, Matching]:
    """Read SUB_CSV and match its rows to the media files, or plan a new CSV.

    Args:
        sub_csv: The template; when it does not exist a new submission lists every file.
        keys: Relative paths of the media files.
        config: For the new submission's format.

    Returns:
        The submission (values not yet filled) and the row → file matching.

    Raises:
        InputError: A bad template, an ambiguous row, or no row naming any file.
    """
    if not sub_csv.exists():
        fmt = choose_format(config.submission_format, keys)
        log.info("%s does not exist: writing a new %s submission with one row per file", sub_csv, fmt.name)
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
    sub_csv: Path,
    model_h5: Path,
    svm_pkl: Path,
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
        model_h5: Embedding model.
        svm_pkl: Classifier: ``train.py``'s OUT_PKL, whose safe ``.npz`` beside it is read,
            or that ``.npz`` itself.
        config: Inference options.
        output: Output CSV; default ``<name>_out.csv`` beside an existing SUB_CSV, else SUB_CSV.
        force: Overwrite an existing output.
        detector: The face detector; ``None`` builds the resolved crop settings' detector
            (the model's, unless ``config.detector`` says otherwise) with
            :func:`~dfembed.faces.detector.build_detector`, after every check of the inputs.
        scorer: Face crops at the model's input size → P(fake); ``None`` uses
            :class:`~dfembed.infer.scoring.FaceScorer` on the loaded model and bundle.
        trust_pickle: Allow loading SVM_PKL as a pickle when it has no safe file beside
            it. **Loading a pickle runs code**: only for files you made or trust.

    Returns:
        The summary, also written to ``<output stem>.dfembed-infer.json``.

    Raises:
        InputError: Missing/bad inputs or a model/SVM mismatch (before any detection).
        ConfigError: The output is one of the inputs, or a bad crop override.
        OutputExistsError: The output exists and ``force`` is false.
        OutputError: The output's folder cannot be written.
        LockedError: Another job is writing the same output.
    """
    start = time.perf_counter()
    output = output if output is not None else default_output(sub_csv)
    _check_paths(test, sub_csv, model_h5, svm_pkl, output, force)
    check_crop_overrides(config)  # a bad --crop-option fails now, not after the model has loaded
    if config.engine == "ray":  # so does a missing Ray
        from dfembed.core.cluster import import_ray

        import_ray()
    with OutputLock(lock_file_beside(output), f"output {output}"):
        media = list_media(test)
        submission, matching = plan_rows(sub_csv, media.keys, config)
        model, bundle, info = load_checked(model_h5, svm_pkl, trust_pickle)
        crop_config = resolve_crop_config(bundle.crop_config, config, info.image_size)
        if detector is None:
            check_available(crop_config.detector)
        trained_detector = _check_detector_versions(bundle, crop_config)
        unmatched = set(matching.unmatched_files)
        wanted = [(p, k) for p, k in zip(media.paths, media.keys) if k not in unmatched]
        if scorer is None:
            scorer = FaceScorer.from_bundle(model, bundle, config.batch_size, config.tta)
        results = _score([p for p, _ in wanted], detector, scorer, info.image_size, crop_config, config)
        by_key = {key: result for (_, key), result in zip(wanted, results)}
        values = _row_values(matching, by_key, config)
        write_submission(fill(submission, values), output, force=force)
        summary = _summarise(output, submission, matching, by_key, media, time.perf_counter() - start)
        inputs = {"test": test, "sub_csv": sub_csv, "model_h5": model_h5, "svm_pkl": svm_pkl}
        _write_record(summary, config, crop_config, _file_records(by_key, config), inputs, trained_detector)
    _log_summary(summary)
    return summary


def _check_paths(test: Path, sub_csv: Path, model_h5: Path, svm_pkl: Path, output: Path, force: bool) -> None:
    """The output and its record are new files, none of them an input, in a writable folder."""
    from dfembed.model.safe_bundle import safe_path

    inputs = {"TEST": test, "MODEL_H5": model_h5, "SVM_PKL": svm_pkl, "the safe classifier": safe_path(svm_pkl)}
    if sub_csv.exists():  # a SUB_CSV that does not exist is where a new submission goes
        inputs["SUB_CSV"] = sub_csv
    check_distinct({"the output": output, "the output's record": provenance_path(output)}, inputs)
    check_output(output, force)
    check_writable(output.parent, "the output's folder")


def _score(
    paths: list[Path], detector: Detector | None, scorer: Scorer, image_size: int, crop_config: CropConfig,
    config: InferConfig,
) -> list[FileResult]:
    temporal = _load_temporal(config, scorer, crop_config)  # before any detection, like every check
    if config.engine == "ray":
        return _score_on_ray(paths, detector, scorer, image_size, crop_config, config, temporal)
    if detector is None:  # loads the network: only once the inputs are checked
        detector = build_detector(crop_config)
    extractor = FaceExtractor(detector, crop_config, image_size)
    if temporal is None:
        return score_files(paths, extractor, scorer, config.batch_size, config.queue_size)
    from dfembed.infer.temporal import apply_temporal

    with_embeddings = scorer.scores_and_embeddings if isinstance(scorer, FaceScorer) else scorer
    results = score_files(paths, extractor, with_embeddings, config.batch_size, config.queue_size, embeddings=True)
    return apply_temporal(results, temporal)


def _score_on_ray(
    paths: list[Path], detector: Detector | None, scorer: Scorer, image_size: int, crop_config: CropConfig,
    config: InferConfig, temporal: Any,
) -> list[FileResult]:
    """:func:`_score` on a Ray cluster: the same results, from detector and model workers."""
    from dfembed.infer.ray_engine import score_files_ray

    embeddings = temporal is not None
    score = scorer.scores_and_embeddings if embeddings and isinstance(scorer, FaceScorer) else scorer
    results = score_files_ray(paths, crop_config, image_size, score, detector, config, embeddings=embeddings)
    if temporal is None:
        return results
    from dfembed.infer.temporal import apply_temporal

    return apply_temporal(results, temporal)


def _load_temporal(config: InferConfig, scorer: Scorer, crop_config: CropConfig) -> Any:
    """The temporal scorer of ``--aggregate temporal``, loaded and checked against the frame model; else ``None``."""
    if config.aggregate != "temporal":
        if config.temporal_model:
            log.warning("--temporal-model is used only with --aggregate temporal; ignoring %s", config.temporal_model)
        return None
    from dfembed.infer.temporal import load_temporal_scorer

    model = scorer.model if isinstance(scorer, FaceScorer) else None
    return load_temporal_scorer(Path(str(config.temporal_model)), model, crop_config.frames_per_video)


def _frame_rule(config: InferConfig) -> Any:
    """The frames → video rule (an ``Aggregator``): ``--aggregate``, or with ``temporal`` the rule of too-short files."""
    return get_aggregator(config.temporal_fallback if config.aggregate == "temporal" else config.aggregate)


def _row_values(matching: Matching, by_key: dict[str, FileResult], config: InferConfig) -> list[str]:
    aggregator = _frame_rule(config)
    values = []
    for key in matching.row_files:
        score = by_key[key].score(aggregator, config.no_face_score) if key is not None else config.no_face_score
        values.append(format_value(score, config.hard_labels, config.threshold, config.clip))
    return values


def _summarise(
    output: Path,
    submission: Submission,
    matching: Matching,
    by_key: dict[str, FileResult],
    media: MediaFiles,
    seconds: float,
) -> InferSummary:
    unreadable = {k: r.error for k, r in by_key.items() if r.error is not None}
    no_face = [k for k, r in by_key.items() if r.error is None and not r.scores]
    return InferSummary(
        output=output,
        provenance=provenance_path(output),
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
    )


def provenance_path(output: Path) -> Path:
    """The JSON record written beside an output CSV: ``<stem>.dfembed-infer.json``."""
    return output.with_name(f"{output.stem}.dfembed-infer.json")


def _file_records(by_key: dict[str, FileResult], config: InferConfig) -> dict[str, dict[str, Any]]:
    """Per-file detail for the JSON record: faces found, each face's frame and score, the file score
    (and with ``--aggregate temporal`` whether the temporal model gave it)."""
    aggregator = _frame_rule(config)
    return {
        key: {
            "faces": result.n_faces,
            "frames": result.frames,
            "face_scores": [round(s, 6) for s in result.scores],
            "score": round(result.score(aggregator, config.no_face_score), 6),
            "error": result.error,
            **({"temporal": result.temporal_score is not None} if config.aggregate == "temporal" else {}),
        }
        for key, result in by_key.items()
    }


def _check_detector_versions(bundle: ClassifierBundle, crop_config: CropConfig) -> dict[str, Any] | None:
    """The bundle's record of the training detector; warn when its packages had other versions.

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
    inputs: dict[str, Path], trained_detector: dict[str, Any] | None = None,
) -> None:
    write_provenance(
        summary.provenance,
        config,
        crop_config=dataclasses.asdict(crop_config),
        detector=detector_record(crop_config),
        trained_detector=trained_detector,
        inputs={name: str(path) for name, path in inputs.items()},
        summary=dataclasses.asdict(summary),
        files=files,
    )


def _log_summary(summary: InferSummary) -> None:
    processed = len(summary.no_face) + summary.scored + len(summary.unreadable)
    log.info(
        "processed %d files (%d scored, %d without a face, %d unreadable) in %.1f s (%.2f files/s); %d rows → %s",
        processed, summary.scored, len(summary.no_face), len(summary.unreadable), summary.seconds,
        processed / summary.seconds if summary.seconds > 0 else 0.0, summary.rows, summary.output,
    )
    if summary.no_face:
        log.warning("no face found in %d files (default score written), e.g. %s",
                    len(summary.no_face), summary.no_face[:5])
    if summary.unreadable:
        log.warning("%d files could not be read (default score written): %s",
                    len(summary.unreadable), list(summary.unreadable)[:5])
    if summary.skipped:
        log.warning("%d entries of TEST were skipped (listed in %s), e.g. %s", len(summary.skipped),
                    summary.provenance, [f"{k} ({v})" for k, v in list(summary.skipped.items())[:5]])
