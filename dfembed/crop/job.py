"""The crop job: every medium of SRC to face crops in DST, resumable, optionally in parallel.

Outputs in DST:

* ``real/``, ``fake/`` or ``unlabeled/`` crop files named after the source's relative path,
  the frame index and the face index (see :func:`crop_stems`);
* ``manifest.csv`` (one row per crop), ``failures.csv`` (one row per source that gave
  no crop), ``sources.csv`` (one row per finished source: the resume journal);
* ``dfembed-crop.json``: the resolved :class:`~dfembed.faces.config.CropConfig`, library
  versions and counts.

A crop file is written under a temporary name and renamed; its manifest rows are
appended (and synced) only after all crops of its source exist, and the source's
journal row only after that. A killed run is therefore resumed by redoing exactly the
sources that have no journal row.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import json
import logging
import multiprocessing
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
from tqdm import tqdm

from dfembed.core.atomic import atomic_write_bytes, remove_stale_temps
from dfembed.faces.config import RUNTIME_ONLY_FIELDS, CropConfig
from dfembed.faces.detector import DetectorError, FaceDetector
from dfembed.core.errors import DfembedError, InputError, OutputExistsError
from dfembed.faces.extract import FaceCrop, faces_from_media
from dfembed.crop.manifest import (
    FAILURE_COLUMNS,
    FAILURES_NAME,
    LANDMARK_COLUMNS,
    MANIFEST_COLUMNS,
    MANIFEST_NAME,
    SOURCE_COLUMNS,
    SOURCES_NAME,
    CsvAppender,
    Row,
    read_rows,
    sort_key,
    write_rows,
)
from dfembed.faces.media import MediaError
from dfembed.core.provenance import write_provenance
from dfembed.crop.sources import LABELS, UNLABELED, Discovery, Skipped, Source, discover_sources

log = logging.getLogger(__name__)

PROVENANCE_NAME = "dfembed-crop.json"
CROPPED = "cropped"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_CROP_NAME = re.compile(r"_f\d{5}_\d{2}\.(jpg|png)$")


@dataclasses.dataclass(frozen=True)
class CropSummary:
    """Counts of a crop run.

    Attributes:
        dst: The output folder.
        layout: SRC's layout (``labelled``, ``dfdc`` or ``unlabelled``).
        sources: Media found in SRC.
        resumed: Sources already complete from an earlier run (skipped).
        processed: Sources processed in this run.
        crops_written: Crop files written in this run.
        crops_total: Rows in the final manifest.
        failures: Count per reason of sources and entries that gave no crop (all runs).
    """

    dst: Path
    layout: str
    sources: int
    resumed: int
    processed: int
    crops_written: int
    crops_total: int
    failures: dict[str, int]


@dataclasses.dataclass(frozen=True)
class SourceResult:
    """What processing one source gave: manifest rows, or the reason it gave none."""

    source: Source
    rows: list[Row]
    status: str
    detail: str = ""


def run_crop(src: Path, dst: Path, config: CropConfig, force: bool = False) -> CropSummary:
    """Crop every face of every medium below ``src`` into ``dst``.

    Args:
        src: Input folder (labelled ``real/``/``fake/`` tree, DFDC folder or unlabelled).
        dst: Output folder (created if needed).
        config: The crop configuration.
        force: Redo everything, deleting the crops and reports of an earlier run.

    Returns:
        A :class:`CropSummary`.

    Raises:
        InputError: ``src`` is missing, holds no usable medium, or contains ``dst``.
        OutputExistsError: ``dst`` holds a run made with another configuration or
            from another SRC and ``force`` is false.
    """
    src, dst = Path(src).resolve(), Path(dst)
    discovery = _discover(src, dst, config)
    _prepare_dst(src, dst, config, force)
    write_provenance(dst / PROVENANCE_NAME, config, status="running", src=str(src))
    done = _restore_journal(dst, discovery)
    todo = [s for s in discovery.sources if s.relative not in done]
    resumed = len(discovery.sources) - len(todo)
    log.info("%d sources to crop, %d complete from an earlier run", len(todo), resumed)
    written = _process_all(todo, crop_stems(discovery.sources), dst, config)
    return _finish(src, dst, config, discovery, resumed, len(todo), written)


def _discover(src: Path, dst: Path, config: CropConfig) -> Discovery:
    if not src.is_dir():
        raise InputError(f"SRC {src} does not exist or is not a folder")
    if dst.resolve().is_relative_to(src.resolve()):
        raise InputError(f"DST {dst} is inside SRC {src}; choose an output folder outside the input")
    discovery = discover_sources(src, config.group_regex)
    if not discovery.sources:
        raise InputError(f"SRC {src}: no usable image or video found ({len(discovery.skipped)} files skipped)")
    return discovery


def _prepare_dst(src: Path, dst: Path, config: CropConfig, force: bool) -> None:
    """Create ``dst``; on ``force`` delete the previous run, else check it is compatible.

    Compatible means made from the same (resolved) SRC with the same options.
    """
    dst.mkdir(parents=True, exist_ok=True)
    removed = remove_stale_temps(dst)
    if removed:
        log.info("removed %d temporary files left by an interrupted run", removed)
    if force:
        _delete_previous(dst)
        return
    record = _previous_record(dst)
    if record is not None and read_rows(dst / SOURCES_NAME, SOURCE_COLUMNS):
        previous_src = record.get("src")
        if previous_src is not None and Path(previous_src).resolve() != src:
            raise OutputExistsError(
                f"{dst} holds crops of SRC {previous_src}, not of SRC {src}; "
                "use --force to replace them or choose another DST"
            )
        changed = _config_changes(record["config"], config)
        if changed:
            raise OutputExistsError(
                f"{dst} holds crops made with other options ({', '.join(changed)}); "
                "use --force to redo them or choose another DST"
            )


def _previous_record(dst: Path) -> dict | None:
    """The previous run's crop record (``config`` checked to be present), or ``None``."""
    path = dst / PROVENANCE_NAME
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record["config"], dict):
            raise TypeError("'config' is not an object")
        return record
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise InputError(f"{path}: not a valid crop record ({err}); use --force to start afresh") from err


def _config_changes(previous: dict, config: CropConfig) -> list[str]:
    current = json.loads(json.dumps(dataclasses.asdict(config)))
    keys = sorted(set(previous) | set(current))
    return [f"{k}: {previous.get(k)!r} -> {current.get(k)!r}" for k in keys
            if k not in RUNTIME_ONLY_FIELDS and previous.get(k) != current.get(k)]


def _delete_previous(dst: Path) -> None:
    """Delete the crops (files named like ours below the label folders) and reports of a run."""
    deleted = 0
    for folder in (*LABELS, UNLABELED):
        for path in (dst / folder).rglob("*"):
            if path.is_file() and _CROP_NAME.search(path.name):
                path.unlink()
                deleted += 1
    for name in (MANIFEST_NAME, FAILURES_NAME, SOURCES_NAME, PROVENANCE_NAME):
        (dst / name).unlink(missing_ok=True)
    log.info("--force: deleted %d crops and the reports of the previous run in %s", deleted, dst)


def _restore_journal(dst: Path, discovery: Discovery) -> set[str]:
    """Keep the rows of complete sources still in SRC; re-add SRC-level skips to ``failures.csv``.

    Crop files of sources no longer in SRC are deleted with their rows.
    """
    present = {s.relative for s in discovery.sources}
    journal = [r for r in read_rows(dst / SOURCES_NAME, SOURCE_COLUMNS) if r["source"] in present]
    done = {row["source"] for row in journal}
    manifest = []
    for row in read_rows(dst / MANIFEST_NAME, MANIFEST_COLUMNS):
        if row["source"] in done:
            manifest.append(row)
        elif row["source"] not in present:
            _delete_crop(dst, row["crop"])
    failures = [r for r in read_rows(dst / FAILURES_NAME, FAILURE_COLUMNS) if r["source"] in done]
    failures += [_skip_row(s) for s in discovery.skipped]
    write_rows(dst / SOURCES_NAME, SOURCE_COLUMNS, journal)
    write_rows(dst / MANIFEST_NAME, MANIFEST_COLUMNS, manifest)
    write_rows(dst / FAILURES_NAME, FAILURE_COLUMNS, failures)
    return done


def _delete_crop(dst: Path, relative: str) -> None:
    """Delete one crop file of an earlier run, if it is a crop file inside ``dst``."""
    path = dst / relative
    if path.resolve().is_relative_to(dst.resolve()) and _CROP_NAME.search(path.name):
        path.unlink(missing_ok=True)
        log.info("deleted %s: its source is no longer in SRC", relative)


def _skip_row(skipped: Skipped) -> Row:
    return {"source": skipped.relative, "label": skipped.label, "reason": skipped.reason, "detail": skipped.detail}


def crop_stems(sources: list[Source]) -> dict[str, PurePosixPath]:
    """Map each source to the stem of its crop files, relative to DST.

    The stem is ``<label>/<folders>/<name>_<ext>``: the source's relative path with the
    label folder of a labelled tree left out (when it is the first folder), every part
    reduced to ``[A-Za-z0-9._-]`` without leading dots, so no name can leave DST. When
    that changed a name, or two sources would share a stem (also ignoring letter case),
    an 8-digit hash of the relative path is appended. Crop files add
    ``_f<frame:05d>_<face:02d>.<format>``.

    Args:
        sources: All sources of the run.

    Returns:
        ``{source.relative: stem}``.
    """
    stems = {s.relative: _plain_stem(s) for s in sources}
    seen = Counter(str(stem).lower() for stem in stems.values())
    for source in sources:
        stem = stems[source.relative]
        renamed = any(_safe_part(p) != p for p in PurePosixPath(source.relative).parts)
        if renamed or seen[str(stem).lower()] > 1:
            digest = hashlib.sha1(source.relative.encode("utf-8")).hexdigest()[:8]
            stems[source.relative] = stem.with_name(f"{stem.name}_{digest}")
    return stems


def _plain_stem(source: Source) -> PurePosixPath:
    parts = list(PurePosixPath(source.relative).parts)
    if source.label in LABELS and parts[0].lower() == source.label:
        parts = parts[1:]
    name = PurePosixPath(parts[-1])
    folders = [_safe_part(p) for p in parts[:-1]]
    file_stem = f"{_safe_part(name.stem)}_{_safe_part(name.suffix.lstrip('.').lower())}"
    return PurePosixPath(source.label, *folders, file_stem)


def _safe_part(part: str) -> str:
    return (_UNSAFE.sub("_", part).lstrip(".") or "_")[:120]


def crop_file(stem: PurePosixPath, frame_index: int, face_index: int, image_format: str) -> PurePosixPath:
    """Relative path of one crop: ``<stem>_f<frame:05d>_<face:02d>.<format>``."""
    return stem.with_name(f"{stem.name}_f{frame_index:05d}_{face_index:02d}.{image_format}")


def process_source(
    source: Source, stem: PurePosixPath, dst: Path, config: CropConfig, detector: FaceDetector
) -> SourceResult:
    """Crop one source, write its crop files and return its manifest rows or failure.

    Args:
        source: The medium.
        stem: Its crop stem (from :func:`crop_stems`).
        dst: Output folder.
        config: Crop options.
        detector: The process's face detector.

    Returns:
        A :class:`SourceResult`; media, detector and geometry (``ValueError``) errors become a failure status.
    """
    try:
        crops = faces_from_media(source.path, detector, config)
    except MediaError as err:
        return SourceResult(source, [], err.reason, str(err))
    except DetectorError as err:
        return SourceResult(source, [], "detector error", str(err))
    except ValueError as err:  # e.g. a detected box that geometry cannot crop
        log.debug("%s: cannot crop", source.relative, exc_info=True)
        return SourceResult(source, [], "crop error", str(err))
    if not crops:
        return SourceResult(source, [], "no face", "no face passed the detector and the filters")
    rows = [_write_crop(source, crop, crop_file(stem, crop.frame_index, crop.face_index, config.image_format),
                        dst, config) for crop in crops]
    return SourceResult(source, rows, CROPPED)


def _write_crop(source: Source, crop: FaceCrop, relative: PurePosixPath, dst: Path, config: CropConfig) -> Row:
    target = dst / relative
    if not target.resolve().is_relative_to(dst.resolve()):
        raise InputError(f"crop path {relative} would leave {dst}")  # unreachable by construction of the stem
    atomic_write_bytes(target, encode_image(crop.image, config))
    return manifest_row(source, crop, relative)


def encode_image(image: np.ndarray, config: CropConfig) -> bytes:
    """Encode an RGB ``uint8`` crop as JPEG (``config.jpeg_quality``) or PNG bytes."""
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if config.image_format == "jpg":
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality])
    else:
        ok, data = cv2.imencode(".png", bgr)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} crop as {config.image_format}")
    return data.tobytes()


def manifest_row(source: Source, crop: FaceCrop, relative: PurePosixPath) -> Row:
    """The manifest row of one crop (box ``x1, y1, x2, y2`` and landmarks in source pixels)."""
    face = crop.face
    row = {"source": source.relative, "label": source.label, "group": source.group,
           "frame_index": str(crop.frame_index), "face_index": str(crop.face_index),
           "confidence": f"{face.confidence:.4f}", "crop": relative.as_posix()}
    row.update({name: f"{value:.1f}" for name, value in zip(("x1", "y1", "x2", "y2"), face.box)})
    row.update({col: f"{value:.1f}" for col, value in zip(LANDMARK_COLUMNS, np.asarray(face.landmarks).ravel())})
    return row


def _process_all(todo: list[Source], stems: dict[str, PurePosixPath], dst: Path, config: CropConfig) -> int:
    """Process ``todo`` in this process or in worker processes; journal each result."""
    if not todo:
        return 0
    with (
        CsvAppender(dst / MANIFEST_NAME, MANIFEST_COLUMNS) as manifest,
        CsvAppender(dst / FAILURES_NAME, FAILURE_COLUMNS) as failures,
        CsvAppender(dst / SOURCES_NAME, SOURCE_COLUMNS) as journal,
    ):
        written = 0
        results = _results_in_process(todo, stems, dst, config) if config.jobs == 1 else \
            _results_in_workers(todo, stems, dst, config)
        for result in tqdm(results, total=len(todo), unit="source", desc="crop", disable=None):
            _record(result, manifest, failures, journal)
            written += len(result.rows)
    return written


def _record(result: SourceResult, manifest: CsvAppender, failures: CsvAppender, journal: CsvAppender) -> None:
    source = result.source
    if result.rows:
        manifest.append(result.rows)
    else:
        failures.append([{"source": source.relative, "label": source.label, "reason": result.status,
                          "detail": result.detail}])
        level = logging.INFO if result.status == "no face" else logging.WARNING
        log.log(level, "%s: %s", source.relative, result.detail or result.status)
    journal.append([{"source": source.relative, "label": source.label, "group": source.group,
                     "status": result.status, "crops": str(len(result.rows)), "detail": result.detail}])


def _results_in_process(
    todo: list[Source], stems: dict[str, PurePosixPath], dst: Path, config: CropConfig
) -> Iterator[SourceResult]:
    detector = FaceDetector(config)
    for source in todo:
        yield process_source(source, stems[source.relative], dst, config, detector)


_WORKER_DETECTOR: FaceDetector | None = None


def _init_worker(config: CropConfig, log_level: int) -> None:
    """Set up one worker process: logging as the parent's, TensorFlow threads and its own detector."""
    global _WORKER_DETECTOR
    from dfembed.core.logs import setup_logging

    setup_logging(verbose=int(log_level <= logging.DEBUG), quiet=log_level >= logging.WARNING)
    import tensorflow as tf

    threads = max(1, len(os.sched_getaffinity(0)) // config.jobs)
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    _WORKER_DETECTOR = FaceDetector(config)


def _work(source: Source, stem: PurePosixPath, dst: Path, config: CropConfig) -> SourceResult:
    assert _WORKER_DETECTOR is not None, "worker not initialised"
    return process_source(source, stem, dst, config, _WORKER_DETECTOR)


def _results_in_workers(
    todo: list[Source], stems: dict[str, PurePosixPath], dst: Path, config: CropConfig
) -> Iterator[SourceResult]:
    # spawn: TensorFlow is not fork-safe once imported; each worker builds its own detector.
    context = multiprocessing.get_context("spawn")
    level = logging.getLogger("dfembed").getEffectiveLevel()
    pool = cf.ProcessPoolExecutor(config.jobs, mp_context=context, initializer=_init_worker,
                                  initargs=(config, level))
    try:
        futures = [pool.submit(_work, s, stems[s.relative], dst, config) for s in todo]
        for future in cf.as_completed(futures):
            yield future.result()
    except cf.process.BrokenProcessPool as err:
        raise DfembedError(
            f"a crop worker process died ({err}); often out of memory: rerun with fewer --jobs "
            "or a smaller --batch-size, finished sources are kept"
        ) from err
    finally:
        # On an error here or in the caller, drop the queue instead of running it to the end.
        pool.shutdown(wait=True, cancel_futures=True)


def _finish(src: Path, dst: Path, config: CropConfig, discovery: Discovery, resumed: int, processed: int,
            written: int) -> CropSummary:
    """Sort the manifest, write the provenance record with the counts, log them."""
    manifest = sorted(read_rows(dst / MANIFEST_NAME, MANIFEST_COLUMNS), key=sort_key)
    write_rows(dst / MANIFEST_NAME, MANIFEST_COLUMNS, manifest)
    failures = read_rows(dst / FAILURES_NAME, FAILURE_COLUMNS)
    write_rows(dst / FAILURES_NAME, FAILURE_COLUMNS, sorted(failures, key=lambda r: r["source"]))
    reasons = dict(sorted(Counter(r["reason"] for r in failures).items()))
    summary = CropSummary(dst, discovery.layout, len(discovery.sources), resumed, processed, written,
                          len(manifest), reasons)
    counts = {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(summary).items()}
    write_provenance(dst / PROVENANCE_NAME, config, status="complete", src=str(src), counts=counts)
    log.info("crop: %d sources (%d from an earlier run), %d crops written now, %d in the manifest; "
             "failures: %s", summary.sources, resumed, written, summary.crops_total, reasons or "none")
    return summary
