"""The crop job: every medium of SRC to face crops in DST, resumable, optionally in parallel.

Outputs in DST:

* ``real/``, ``fake/`` or ``unlabeled/`` crop files named after the source's relative path,
  the frame index and the face index (see :mod:`dfembed.crop.naming`);
* ``manifest.csv`` (one row per crop), ``failures.csv`` (one row per source that gave
  no crop), ``sources.csv`` (one row per finished source: the resume journal);
* ``dfembed-crop.json``: the resolved :class:`~dfembed.faces.config.CropConfig`, the
  detector's record (name, versions, options, confidence floor; see
  :func:`~dfembed.faces.detector.detector_record`), library versions and counts (file
  names and schemas: :mod:`dfembed.crop.manifest`);
* with ``landmarks: facemesh``, ``landmarks/`` holding each crop's 468 FaceMesh points in
  crop pixels, one ``.npy`` per crop named after it (:func:`~dfembed.crop.naming.mesh_file`).

A crop file (and its points file) is written under a temporary name and renamed; its manifest rows are
appended (and synced) only after all crops of its source exist, and the source's
journal row only after that. A killed run is therefore resumed by redoing exactly the
sources that have no journal row (:mod:`dfembed.crop.resume`).

Before any work: SRC and DST must not overlap (in either direction, links resolved), DST
must be writable, and the job takes DST's lock (``DST/.dfembed-crop.lock``), so a second
job on the same DST fails at once naming the first. Worker processes (``--jobs``) end
with the main process, even when it is killed with ``kill -9``. With ``--engine ray`` the
sources are cropped by workers on a Ray cluster (:mod:`dfembed.crop.ray_engine`); this
process still writes every report.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import logging
import multiprocessing
import os
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from dfembed.core.errors import ConfigError, DfembedError, InputError
from dfembed.core.lock import OutputLock
from dfembed.core.paths import check_separate, check_writable
from dfembed.core.provenance import write_provenance
from dfembed.core.workers import die_with_parent
from dfembed.crop.discovery import Discovery, Selection, Source
from dfembed.crop.manifest import (
    FAILURE_COLUMNS,
    FAILURES_NAME,
    MANIFEST_COLUMNS,
    MANIFEST_NAME,
    PROVENANCE_NAME,
    SOURCE_COLUMNS,
    SOURCES_NAME,
    CsvAppender,
    read_rows,
    sort_key,
    write_rows,
)
from dfembed.crop.naming import crop_stems
from dfembed.crop.process import SourceResult, frame_weight, process_sources
from dfembed.crop.ray_engine import results_on_ray
from dfembed.crop.resume import prepare_dst, restore_journal
from dfembed.crop.sources import discover_sources
from dfembed.faces.config import CropConfig
from dfembed.faces.detector import Detector, build_detector, check_available, detector_record
from dfembed.faces.facemesh import model_file

log = logging.getLogger(__name__)

#: DST's lock file: held while a job writes into DST.
LOCK_NAME = ".dfembed-crop.lock"


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


def run_crop(
    src: Path, dst: Path, config: CropConfig, force: bool = False, detector: Detector | None = None
) -> CropSummary:
    """Crop every face of every medium below ``src`` into ``dst``.

    Args:
        src: Input folder (labelled ``real/``/``fake/`` tree, DFDC folder or unlabelled).
        dst: Output folder (created if needed).
        config: The crop configuration.
        force: Redo everything, deleting the crops and reports of an earlier run.
        detector: The face detector to use (``config.jobs`` must then be 1); ``None``
            builds ``config.detector`` with :func:`~dfembed.faces.detector.build_detector`
            once, in this process or in each worker.

    Returns:
        A :class:`CropSummary`.

    Raises:
        InputError: ``src`` is missing or holds no usable medium, or SRC and DST overlap.
        OutputExistsError: ``dst`` holds a run made with another configuration or
            from another SRC and ``force`` is false.
        OutputError: ``dst`` cannot be created or written to.
        LockedError: Another job is writing into ``dst``.
        ConfigError: A detector is given with ``config.jobs > 1`` (local engine), or
            ``config.detector`` (or FaceMesh, with ``landmarks="facemesh"``) cannot be built
            (its package is missing), or ``engine="ray"`` without Ray installed.
    """
    if detector is not None and config.jobs > 1 and config.engine == "local":
        raise ConfigError("a detector can be passed to run_crop only with jobs=1: each worker builds its own")
    if config.engine == "ray":  # a missing Ray is an error now, before any work
        from dfembed.core.cluster import import_ray

        import_ray()
    if detector is None:
        check_available(config.detector)  # a missing package is an error now, not in a worker
        if config.landmarks == "facemesh":
            model_file()
    src, dst = Path(src).resolve(), Path(dst)
    if not src.is_dir():
        raise InputError(f"SRC {src} does not exist or is not a folder")
    check_separate(src, "SRC", dst, "DST")  # either inside the other: --force would delete inputs
    created = not dst.exists()
    check_writable(dst, "DST")
    try:
        with OutputLock(dst / LOCK_NAME, f"DST {dst}"):
            return _run_locked(src, dst, config, force, detector)
    except InputError:
        if created and dst.is_dir() and not any(dst.iterdir()):
            dst.rmdir()  # a run that found nothing to crop leaves no empty DST behind
        raise


def _run_locked(src: Path, dst: Path, config: CropConfig, force: bool, detector: Detector | None) -> CropSummary:
    """:func:`run_crop` once the paths are checked and DST is locked."""
    discovery = _discover(src, config)
    prepare_dst(src, dst, config, force)
    write_provenance(dst / PROVENANCE_NAME, config, status="running", src=str(src), detector=detector_record(config))
    done = restore_journal(dst, discovery)
    todo = [s for s in discovery.sources if s.relative not in done]
    resumed = len(discovery.sources) - len(todo)
    log.info("%d sources to crop, %d complete from an earlier run", len(todo), resumed)
    runs = [[(s, s.relative in done) for s in run] for run in source_batches(discovery.sources, config)
            if any(s.relative not in done for s in run)]
    written = _process_all(todo, runs, crop_stems(discovery.sources), dst, config, detector)
    return _finish(src, dst, config, discovery, resumed, len(todo), written)


def _discover(src: Path, config: CropConfig) -> Discovery:
    discovery = discover_sources(src, config.group_regex, Selection.of(config))
    if not discovery.sources:
        skipped = discovery.skipped
        named = "; ".join(f"{s.relative}: {s.reason}" for s in skipped[:3]) + ("; ..." if len(skipped) > 3 else "")
        raise InputError(f"SRC {src}: no usable image or video found ({len(skipped)} entries skipped"
                         + (f": {named})" if skipped else ")"))
    return discovery


#: A run of sources detected together, each with whether an earlier run finished it.
Run = list[tuple[Source, bool]]


def _process_all(
    todo: list[Source], runs: list[Run], stems: dict[str, PurePosixPath], dst: Path, config: CropConfig,
    detector: Detector | None,
) -> int:
    """Process ``todo`` (in ``runs``) in this process, in worker processes or on Ray; journal each result."""
    if not todo:
        return 0
    with (
        CsvAppender(dst / MANIFEST_NAME, MANIFEST_COLUMNS) as manifest,
        CsvAppender(dst / FAILURES_NAME, FAILURE_COLUMNS) as failures,
        CsvAppender(dst / SOURCES_NAME, SOURCE_COLUMNS) as journal,
    ):
        written = 0
        results = _results(todo, runs, stems, dst, config, detector)
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


def _results(
    todo: list[Source], runs: list[Run], stems: dict[str, PurePosixPath], dst: Path, config: CropConfig,
    detector: Detector | None,
) -> Iterator[SourceResult]:
    """Each source's result, from this process, local worker processes, or Ray workers (one source at a time)."""
    if config.engine == "ray":
        if config.jobs > 1:
            log.info("--jobs is the local engine's: the Ray engine runs --ray-workers workers")
        return results_on_ray(todo, stems, dst, config, detector)
    if config.jobs == 1:
        return _results_in_process(runs, stems, dst, config, detector)
    return _results_in_workers(runs, stems, dst, config)


def _results_in_process(
    runs: list[Run], stems: dict[str, PurePosixPath], dst: Path, config: CropConfig, detector: Detector | None
) -> Iterator[SourceResult]:
    detector = detector if detector is not None else build_detector(config)
    for run in runs:
        batch, done = _work_of(run, stems)
        yield from process_sources(batch, dst, config, detector, done)


def _work_of(run: Run, stems: dict[str, PurePosixPath]) -> tuple[list[tuple[Source, PurePosixPath]], frozenset[int]]:
    """A run's sources with their stems, and the positions of those an earlier run finished."""
    return [(s, stems[s.relative]) for s, _ in run], frozenset(k for k, (_, done) in enumerate(run) if done)


def source_batches(sources: list[Source], config: CropConfig) -> list[list[Source]]:
    """Runs of consecutive small sources holding up to ``config.batch_size`` frames (their frames of one
    size are detected together, see :func:`~dfembed.crop.process.process_sources`); every other source alone.

    The runs are cut from all of SRC's sources, so the same sources share detector calls in a first run,
    a resumed one and with ``--jobs``; a run is journalled source by source as it ends, so a killed run
    redoes at most one run's sources.
    """
    batches: list[list[Source]] = []
    room = 0
    for source in sources:
        weight = frame_weight(source.path, config)
        if weight is not None and batches and weight <= room:
            batches[-1].append(source)
            room -= weight
        else:
            batches.append([source])
            room = config.batch_size - weight if weight is not None else 0
    return batches


_WORKER_DETECTOR: Detector | None = None


def _init_worker(config: CropConfig, log_level: int, parent: int) -> None:
    """Set up one worker process: bound to the parent's life, deaf to Ctrl-C (the main process stops
    the pool, letting each worker finish its run), logging as the parent's, TensorFlow threads and its
    own detector."""
    global _WORKER_DETECTOR
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C reaches the whole process group
    from dfembed.core.logs import setup_logging

    setup_logging(verbose=int(log_level <= logging.DEBUG), quiet=log_level >= logging.WARNING)
    import tensorflow as tf

    threads = max(1, len(os.sched_getaffinity(0)) // config.jobs)
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    _WORKER_DETECTOR = build_detector(config)


def _work(batch: list[tuple[Source, PurePosixPath]], done: frozenset[int], dst: Path,
          config: CropConfig) -> list[SourceResult]:
    assert _WORKER_DETECTOR is not None, "worker not initialised"
    return process_sources(batch, dst, config, _WORKER_DETECTOR, done)


def _results_in_workers(
    runs: list[Run], stems: dict[str, PurePosixPath], dst: Path, config: CropConfig
) -> Iterator[SourceResult]:
    # spawn: TensorFlow is not fork-safe once imported; each worker builds its own detector.
    context = multiprocessing.get_context("spawn")
    level = logging.getLogger("dfembed").getEffectiveLevel()
    pool = cf.ProcessPoolExecutor(config.jobs, mp_context=context, initializer=_init_worker,
                                  initargs=(config, level, os.getpid()))
    try:
        futures = [pool.submit(_work, *_work_of(run, stems), dst, config) for run in runs]
        for future in cf.as_completed(futures):
            yield from future.result()
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
    write_provenance(dst / PROVENANCE_NAME, config, status="complete", src=str(src), counts=counts,
                     detector=detector_record(config))
    log.info("crop: %d sources (%d from an earlier run), %d crops written now, %d in the manifest; "
             "failures: %s", summary.sources, resumed, written, summary.crops_total, reasons or "none")
    return summary
