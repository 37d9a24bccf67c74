"""The crop job on a Ray cluster (``crop_face.py SRC DST --engine ray``).

The driver (the process that runs :func:`~dfembed.crop.job.run_crop`) does everything it
does with the local engine — the checks, DST's lock, listing SRC, resuming, and writing
``manifest.csv``, ``failures.csv`` and the journal ``sources.csv`` — and hands the sources
to :class:`CropWorker` actors, one CPU each. Each worker checks that it sees DST (the
driver's token file, :func:`~dfembed.core.cluster.check_shared_token`), builds its
detector once, and crops the sources it is given with
:func:`~dfembed.crop.process.process_source`, writing the crop files into DST itself; only
the manifest rows or the failure come back. SRC and DST must therefore be on storage that
every node mounts at the same path; each worker also checks that it sees a few sources of
SRC with the driver's sizes (:func:`~dfembed.core.cluster.check_visible_files`).

A worker that dies (out of memory, a crashing decoder, a lost node) is restarted by Ray
(``max_restarts``); the sources it held go back to the queue, each for at most
:data:`MAX_ATTEMPTS` attempts, after which the source is recorded as ``worker died`` (a
rerun tries it again). A worker's own error other than a bad medium — a full disk, a DST
it cannot write — stops the job as it does locally; finished sources are kept.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

from dfembed.core.cluster import (
    SharedFolderToken,
    check_shared_token,
    check_visible_files,
    cluster_count,
    node_name,
    ray_cluster,
    remote_error,
    restarted,
)
from dfembed.core.errors import DfembedError
from dfembed.core.logs import setup_logging
from dfembed.core.workers import die_with_parent
from dfembed.crop.resume import WORKER_DIED
from dfembed.crop.discovery import Source
from dfembed.crop.process import SourceResult, process_source
from dfembed.faces.config import CropConfig
from dfembed.faces.detector import Detector, build_detector

log = logging.getLogger(__name__)

#: Attempts of one source before it is recorded as ``worker died``.
MAX_ATTEMPTS = 3
#: Restarts of one worker (Ray actor) before it is given up.
MAX_RESTARTS = 4
#: Sources queued on one worker at a time (the next one is ready when the current one ends).
IN_FLIGHT = 2
#: CPUs of one worker, and its detector's threads.
WORKER_CPUS = 1
#: Sources of SRC that each worker checks it sees, by size, before any work.
VISIBILITY_SAMPLE = 3


class CropWorker:
    """One detector on one Ray node: checks DST, builds the detector once, crops sources.

    Ray restarts a worker that dies by building this object again with the same
    arguments; :meth:`setup` then runs again before its next source.

    Args:
        dst: The output folder, by the driver's path.
        token: The driver's token in DST.
        config: The crop configuration.
        detector: A detector to copy into this worker (it must pickle); ``None`` builds
            ``config.detector``.
        log_level: The driver's log level.
        visible: ``(absolute path, size)`` of a few sources of SRC, which this node must see too.
    """

    def __init__(self, dst: Path, token: str, config: CropConfig, detector: Detector | None, log_level: int,
                 visible: Sequence[tuple[str, int]] = ()) -> None:
        self.dst = dst
        self.visible = list(visible)
        self.token = token
        self.config = config
        self.detector = detector
        self.log_level = log_level
        self.ready = False

    def setup(self) -> str:
        """Bind to the node manager's life, check DST, build the detector (once); return this node's name.

        Raises:
            InputError: This node does not see DST, or SRC.
        """
        if not self.ready:
            die_with_parent(os.getppid())
            setup_logging(verbose=int(self.log_level <= logging.DEBUG), quiet=self.log_level >= logging.WARNING)
            check_shared_token(self.dst, self.token, "DST")
            check_visible_files(self.visible, "SRC")
            if self.detector is None:
                self.detector = build_detector(worker_config(self.config, WORKER_CPUS))
            self.ready = True
        return node_name()

    def crop(self, source: Source, stem: PurePosixPath) -> SourceResult:
        """Crop one source into DST; its manifest rows or failure go back to the driver."""
        self.setup()
        assert self.detector is not None
        return process_source(source, stem, self.dst, self.config, self.detector)


def worker_config(config: CropConfig, cpus: int) -> CropConfig:
    """The configuration a worker builds its detector with: ``cpus`` threads for its network.

    TensorFlow (MTCNN) reads its thread counts from the environment when it loads, and
    BlazeFace divides the usable cores by ``jobs``; Ray places one worker per CPU.
    """
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(cpus)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return dataclasses.replace(config, jobs=max(1, cores // cpus))


@dataclasses.dataclass
class _Task:
    """A source and how often a worker died while cropping it."""

    source: Source
    deaths: int = 0


def results_on_ray(
    todo: list[Source], stems: dict[str, PurePosixPath], dst: Path, config: CropConfig, detector: Detector | None
) -> Iterator[SourceResult]:
    """Crop ``todo`` on Ray workers; yield each source's result as it arrives (the driver journals it).

    Args:
        todo: Sources still to crop.
        stems: Crop stem of every source.
        dst: The output folder (on storage every node sees).
        config: The crop configuration (``ray_address``, ``ray_workers``).
        detector: A picklable detector for every worker, or ``None`` to build ``config.detector`` in each.

    Yields:
        One :class:`~dfembed.crop.process.SourceResult` per source, in completion order.

    Raises:
        InputError: A worker does not see DST.
        ConfigError: Ray is missing, or the cluster cannot be joined.
        DfembedError: Every worker died.
    """
    with ray_cluster(config.ray_address) as ray, SharedFolderToken(dst) as token:
        workers = start_workers(ray, len(todo), dst, token.token, config, detector, visible_sample(todo))
        yield from _Dispatcher(ray, workers, todo, stems).run()


def visible_sample(todo: Sequence[Source]) -> list[tuple[str, int]]:
    """``(absolute path, size)`` of the first few sources the driver can stat, for the workers to check."""
    sample = []
    for source in todo:
        try:
            sample.append((str(source.path.resolve()), source.path.stat().st_size))
        except OSError:  # the driver cannot read it either: it becomes a failure row, not a check
            continue
        if len(sample) == VISIBILITY_SAMPLE:
            break
    return sample


def start_workers(ray: ModuleType, sources: int, dst: Path, token: str, config: CropConfig,
                  detector: Detector | None, visible: Sequence[tuple[str, int]] = ()) -> list[Any]:
    """Start the workers and wait until each has checked DST (and ``visible`` of SRC) and built its detector."""
    count = config.ray_workers or max(1, cluster_count(ray, "CPU") // WORKER_CPUS)
    count = max(1, min(count, sources))
    actor = ray.remote(num_cpus=WORKER_CPUS, max_restarts=MAX_RESTARTS, max_task_retries=0)(CropWorker)
    level = logging.getLogger("dfembed").getEffectiveLevel()
    workers = [actor.remote(dst, token, config, detector, level, visible) for _ in range(count)]
    try:
        nodes = ray.get([worker.setup.remote() for worker in workers])
    except ray.exceptions.RayTaskError as err:
        raise remote_error(err) from None
    except ray.exceptions.RayError as err:
        raise DfembedError(f"a Ray crop worker could not start: {' '.join(str(err).split())[:300]}") from err
    log.info("%d crop workers on Ray, on %s", count, ", ".join(sorted(set(nodes))))
    return workers


class _Dispatcher:
    """Keeps every worker busy with :data:`IN_FLIGHT` sources and collects their results.

    A worker runs its sources one after the other, in the order they were sent; when it
    dies, the oldest of its pending sources is the one it was cropping (one death more for
    that source), the others had not started and go back to the queue as they were.
    """

    def __init__(self, ray: ModuleType, workers: list[Any], todo: list[Source],
                 stems: dict[str, PurePosixPath]) -> None:
        self.ray = ray
        self.workers = list(workers)
        self.queue = collections.deque(_Task(source) for source in todo)
        self.stems = stems
        self.pending: dict[Any, tuple[_Task, Any, int]] = {}  # ref → task, worker, submission number
        self.submitted = 0
        self.not_started: set[int] = set()  # tasks queued behind a source that killed their worker

    def run(self) -> Iterator[SourceResult]:
        """Yield each source's result as it arrives."""
        for worker in self.workers:
            self._fill(worker)
        while self.pending:
            (ref,), _ = self.ray.wait(list(self.pending), num_returns=1)
            task, worker, number = self.pending.pop(ref)
            try:
                result = self.ray.get(ref)
            except self.ray.exceptions.RayTaskError as err:  # the worker's own error: stop, as locally
                raise remote_error(err) from None
            except self.ray.exceptions.RayError as err:  # the worker died (or its node)
                yield from self._lost(task, worker, number, err)
                continue
            yield result
            self._fill(worker)

    def _fill(self, worker: Any) -> None:
        busy = sum(1 for _, owner, _ in self.pending.values() if owner is worker)
        while self.queue and busy < IN_FLIGHT:
            task = self.queue.popleft()
            ref = worker.crop.remote(task.source, self.stems[task.source.relative])
            self.pending[ref] = (task, worker, self.submitted)
            self.submitted += 1
            busy += 1

    def _lost(self, task: _Task, worker: Any, number: int, err: BaseException) -> Iterator[SourceResult]:
        """A source's worker died: retry the source, or record it after its last attempt."""
        behind = sorted(n for _, owner, n in self.pending.values() if owner is worker)
        started = number not in self.not_started and not (behind and behind[0] < number)
        self.not_started.discard(number)
        if started:  # it was being cropped: it may be what killed the worker
            task.deaths += 1
            self.not_started.update(behind)
            reason = " ".join(str(err).split())[:300]
            log.warning("%s: its Ray worker died (attempt %d of %d): %s", task.source.relative, task.deaths,
                        MAX_ATTEMPTS, reason)
        if task.deaths >= MAX_ATTEMPTS:
            yield SourceResult(task.source, [], WORKER_DIED,
                               f"the Ray worker cropping it died on each of {MAX_ATTEMPTS} attempts: {reason}")
        else:
            self.queue.appendleft(task)
        if worker in self.workers and not behind and not self._alive(worker):
            self.workers.remove(worker)
        if not self.workers:
            raise DfembedError("every Ray crop worker died (see the log for why); finished sources are kept: "
                               "run the same command again to resume")
        for live in self.workers:
            self._fill(live)

    def _alive(self, worker: Any) -> bool:
        """Whether Ray restarted the worker (its setup runs again), or gave it up."""
        if restarted(self.ray, worker):
            return True
        log.warning("a Ray crop worker was given up after %d restarts", MAX_RESTARTS)
        return False
