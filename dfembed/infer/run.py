"""Inference: score every face image and video under TEST and fill a submission CSV.

This module orchestrates the stage: it finds the media files, plans the submission rows,
loads the model and SVM bundle (:mod:`dfembed.infer.scoring`), scores the files with the
overlapped decode → detect → embed pipeline (:mod:`dfembed.infer.pipeline`), reduces face
scores per frame (maximum) and per video (``--aggregate``, see :mod:`dfembed.infer.aggregate`),
and writes the CSV with its JSON record.

Order of work in :func:`run_inference`: the output path and the inputs (TEST, SUB_CSV)
are checked, the model and the SVM bundle are loaded and checked against each other —
all before a single face is detected.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dfembed.core.errors import InputError
from dfembed.core.provenance import write_provenance
from dfembed.faces.config import CropConfig
from dfembed.faces.detector import Detector
from dfembed.infer.aggregate import get_aggregator
from dfembed.infer.config import InferConfig, resolve_crop_config
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


# ---------------------------------------------------------------------------------------
# Media discovery and the row plan


def find_media(test: Path, config: InferConfig | None = None) -> list[Path]:
    """List the images and videos below ``test`` (any depth), sorted; hidden files skipped.

    With ``config.layout`` ``ffpp`` or ``celebdf`` only the videos of that data set's split
    (compression, methods) are listed, found as the crop stage finds them
    (:func:`dfembed.crop.sources.discover_sources`).

    Args:
        test: A folder, or a single media file.
        config: Gives the layout and selection (``None``: every medium).

    Returns:
        The media files.

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
        candidates = [test]
    else:
        candidates = sorted(p for p in test.rglob("*") if p.is_file() and not _hidden(p.relative_to(test)))
    media = [p for p in candidates if is_media(p)]
    if not media:
        raise InputError(f"TEST {test}: no image or video files found")
    return media


def _dataset_media(test: Path, config: InferConfig) -> list[Path]:
    from dfembed.crop.datasets import Selection
    from dfembed.crop.sources import discover_sources

    discovery = discover_sources(test, selection=Selection.of(config))
    if not discovery.sources:
        raise InputError(f"TEST {test}: no {config.layout} video in split {config.split!r} "
                         f"({len(discovery.skipped)} listed or found files skipped)")
    missing = sum(s.reason in ("missing file", "missing folder") for s in discovery.skipped)
    if missing:
        log.warning("TEST %s: %d videos of the %s %s split are missing", test, missing, config.layout, config.split)
    return [s.path for s in discovery.sources]


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def relative_key(path: Path, test: Path) -> str:
    """A media file's POSIX path relative to TEST (its name when TEST is the file)."""
    return path.name if test.is_file() else path.relative_to(test).as_posix()


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
) -> InferSummary:
    """Score every media file that SUB_CSV names (or every file under TEST) and write the CSV.

    Loading ``svm_pkl`` (a joblib pickle) runs code: only use files you trust.

    Args:
        test: Folder of images and/or videos (any depth), or one media file.
        sub_csv: Submission template (Dacon ``path,y`` or DFDC ``filename,label``); when
            it does not exist, a new submission listing every file is created there.
        model_h5: Embedding model.
        svm_pkl: Classifier bundle.
        config: Inference options.
        output: Output CSV; default ``<name>_out.csv`` beside an existing SUB_CSV, else SUB_CSV.
        force: Overwrite an existing output.
        detector: The face detector; ``None`` builds :class:`~dfembed.faces.detector.FaceDetector`
            with the resolved crop settings (after every check of the inputs).
        scorer: Face crops at the model's input size → P(fake); ``None`` uses
            :class:`~dfembed.infer.scoring.FaceScorer` on the loaded model and bundle.

    Returns:
        The summary, also written to ``<output stem>.dfembed-infer.json``.

    Raises:
        InputError: Missing/bad inputs or a model/SVM mismatch (before any detection).
        OutputExistsError: The output exists and ``force`` is false.
    """
    start = time.perf_counter()
    output = output if output is not None else default_output(sub_csv)
    check_output(output, force)
    paths = find_media(test, config)
    keys = [relative_key(p, test) for p in paths]
    submission, matching = plan_rows(sub_csv, keys, config)
    model, bundle, info = load_checked(model_h5, svm_pkl)
    crop_config = resolve_crop_config(bundle.crop_config, config, info.image_size)
    unmatched = set(matching.unmatched_files)
    wanted = [p for p, k in zip(paths, keys) if k not in unmatched]
    if scorer is None:
        scorer = FaceScorer.from_bundle(model, bundle, config.batch_size, config.tta)
    results = _score(wanted, detector, scorer, info.image_size, crop_config, config)
    by_key = {relative_key(r.path, test): r for r in results}
    values = _row_values(matching, by_key, config)
    write_submission(fill(submission, values), output, force=force)
    summary = _summarise(output, submission, matching, by_key, len(paths), time.perf_counter() - start)
    inputs = {"test": test, "sub_csv": sub_csv, "model_h5": model_h5, "svm_pkl": svm_pkl}
    _write_record(summary, config, crop_config, _file_records(by_key, config), inputs)
    _log_summary(summary)
    return summary


def _score(
    paths: list[Path], detector: Detector | None, scorer: Scorer, image_size: int, crop_config: CropConfig,
    config: InferConfig,
) -> list[FileResult]:
    if detector is None:
        from dfembed.faces.detector import FaceDetector  # builds MTCNN: only once the inputs are checked

        detector = FaceDetector(crop_config)
    extractor = FaceExtractor(detector, crop_config, image_size)
    return score_files(paths, extractor, scorer, config.batch_size, config.queue_size)


def _row_values(matching: Matching, by_key: dict[str, FileResult], config: InferConfig) -> list[str]:
    aggregator = get_aggregator(config.aggregate)
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
    n_media: int,
    seconds: float,
) -> InferSummary:
    unreadable = {k: r.error for k, r in by_key.items() if r.error is not None}
    no_face = [k for k, r in by_key.items() if r.error is None and not r.scores]
    return InferSummary(
        output=output,
        provenance=provenance_path(output),
        format=submission.format.name,
        rows=len(matching.row_files),
        media_files=n_media,
        scored=sum(1 for r in by_key.values() if r.scores),
        no_face=no_face,
        unreadable=unreadable,
        missing_rows=list(matching.missing_rows),
        unmatched_files=list(matching.unmatched_files),
        seconds=seconds,
    )


def provenance_path(output: Path) -> Path:
    """The JSON record written beside an output CSV: ``<stem>.dfembed-infer.json``."""
    return output.with_name(f"{output.stem}.dfembed-infer.json")


def _file_records(by_key: dict[str, FileResult], config: InferConfig) -> dict[str, dict[str, Any]]:
    """Per-file detail for the JSON record: faces found, each face's frame and score, the file score."""
    aggregator = get_aggregator(config.aggregate)
    return {
        key: {
            "faces": result.n_faces,
            "frames": result.frames,
            "face_scores": [round(s, 6) for s in result.scores],
            "score": round(result.score(aggregator, config.no_face_score), 6),
            "error": result.error,
        }
        for key, result in by_key.items()
    }


def _write_record(
    summary: InferSummary, config: InferConfig, crop_config: CropConfig, files: dict[str, Any],
    inputs: dict[str, Path],
) -> None:
    write_provenance(
        summary.provenance,
        config,
        crop_config=dataclasses.asdict(crop_config),
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
