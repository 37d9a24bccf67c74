"""Inference on a Ray cluster (``inference.py TEST SUB.csv MODEL SVM --engine ray``).

Two kinds of workers (Ray actors):

* :class:`DetectWorker` (one CPU each): checks that it sees TEST, builds the face detector
  once, and decodes, detects and crops consecutive files of TEST in chunks, exactly as the
  local pipeline's reader and detector threads do (:class:`~dfembed.infer.pipeline.FaceExtractor`);
* :class:`ModelWorker` (a GPU each where the cluster has GPUs, else one CPU): receives the
  scorer — the embedding model and the classifier, sent once through Ray's object store —
  and embeds and scores the faces of several chunks at a time.

The driver (the process that runs :func:`~dfembed.infer.run.run_inference`) keeps every
worker busy, gathers each file's faces, frames and scores into its
:class:`~dfembed.infer.pipeline.FileResult`, in TEST order, and goes on exactly as a local
run does: one submission, written once, by the driver. Crops never touch the disk; TEST
must be on storage that every node mounts at the same path (checked on each worker), the
model and the classifier need not be.

A worker that dies is restarted by Ray and its chunk or batch tried again, at most
:data:`MAX_ATTEMPTS` times; after that its files are counted as unreadable (the default
score, listed in the record), as a file that cannot be decoded is.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from tqdm import tqdm

from dfembed.core.cluster import (
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
from dfembed.faces.config import CropConfig
from dfembed.faces.detector import Detector, build_detector
from dfembed.infer.config import InferConfig
from dfembed.infer.pipeline import FaceExtractor, FileFaces, FileResult
from dfembed.infer.scoring import EmbeddingScorer, Scorer

log = logging.getLogger(__name__)

#: Attempts of one chunk of files (or one batch of faces) before its files count as unreadable.
MAX_ATTEMPTS = 3
#: Restarts of one worker before it is given up.
MAX_RESTARTS = 4
#: Faces batches queued on one model worker at a time.
MODEL_IN_FLIGHT = 2
#: Files whose sizes each detector worker checks against the driver's (is TEST on shared storage?).
VISIBILITY_SAMPLE = 3


def _bind_worker(log_level: int, cpus: int | None) -> None:
    """First thing in a worker: end with the node manager, log as the driver, limit TensorFlow's threads."""
    die_with_parent(os.getppid())
    setup_logging(verbose=int(log_level <= logging.DEBUG), quiet=log_level >= logging.WARNING)
    if cpus is not None:  # read by TensorFlow when it loads (MTCNN, the model on a CPU)
        os.environ["TF_NUM_INTRAOP_THREADS"] = str(cpus)
        os.environ["TF_NUM_INTEROP_THREADS"] = "1"


class DetectWorker:
    """Decodes files, detects and crops their faces (a face detector built once per worker).

    Args:
        crop_config: The crop settings inference resolved (the model's).
        image_size: The model's input size (crops are resized to it).
        detector: A detector to copy into this worker (it must pickle), or ``None`` to build
            ``crop_config.detector``.
        visible: ``(path, size)`` of a few TEST files this worker must see.
        log_level: The driver's log level.
    """

    def __init__(self, crop_config: CropConfig, image_size: int, detector: Detector | None,
                 visible: Sequence[tuple[str, int]], log_level: int) -> None:
        self.crop_config = crop_config
        self.image_size = image_size
        self.detector = detector
        self.visible = list(visible)
        self.log_level = log_level
        self.extractor: FaceExtractor | None = None

    def setup(self) -> str:
        """Check TEST and build the detector (once); return this node's name.

        Raises:
            InputError: This node does not see TEST's files.
        """
        if self.extractor is None:
            _bind_worker(self.log_level, 1)
            check_visible_files(self.visible, "TEST")
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
            config = dataclasses.replace(self.crop_config, jobs=cores)  # BlazeFace: one thread
            detector = self.detector if self.detector is not None else build_detector(config)
            self.extractor = FaceExtractor(detector, self.crop_config, self.image_size)
        return node_name()

    def detect(self, first: int, paths: list[Path]) -> tuple[list[FileFaces], np.ndarray]:
        """The face crops of files ``first, first + 1, …``: their items without images, and the images.

        Returns:
            ``(items, images)``: the detector's :class:`FileFaces` items in order (``index``
            counted from ``first``, ``images`` emptied) and all their crops stacked, in order.
        """
        self.setup()
        assert self.extractor is not None
        items = list(self.extractor.detect(self.extractor.read(paths)))
        images = [item.images for item in items]
        empty = np.zeros((0, self.image_size, self.image_size, 3), np.uint8)
        light = [dataclasses.replace(item, index=first + item.index, images=empty) for item in items]
        return light, np.concatenate(images) if images else empty


class ModelWorker:
    """Embeds and scores faces with the scorer it received (on its GPU where it has one).

    Args:
        box: ``[ObjectRef]`` of the scorer (in a list, so that Ray does not fetch it before
            :meth:`setup` has limited TensorFlow's threads).
        embeddings: The scorer returns ``(scores, embeddings)``.
        cpus: TensorFlow threads on a CPU-only worker (``None`` on a GPU).
        log_level: The driver's log level.
    """

    def __init__(self, box: list[Any], embeddings: bool, cpus: int | None, log_level: int) -> None:
        self.box = box
        self.embeddings = embeddings
        self.cpus = cpus
        self.log_level = log_level
        self.scorer: Any = None

    def setup(self) -> str:
        """Load the scorer (once); return this node's name."""
        if self.scorer is None:
            import ray

            _bind_worker(self.log_level, self.cpus)
            self.scorer = ray.get(self.box[0])
        return node_name()

    def score(self, *images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """P(fake) of every face of the given crop arrays, in order (and their embeddings)."""
        self.setup()
        faces = np.concatenate(images)
        out = self.scorer(faces)
        scores, vectors = out if self.embeddings else (out, None)
        return np.asarray(scores, dtype=np.float64), None if vectors is None else np.asarray(vectors, np.float32)


@dataclasses.dataclass
class _Chunk:
    first: int
    paths: list[Path]
    attempts: int = 0


@dataclasses.dataclass
class _Detected:
    chunk: _Chunk
    items: list[FileFaces]
    images: Any  # ObjectRef of the crops
    faces: int


def score_files_ray(
    paths: Sequence[Path],
    crop_config: CropConfig,
    image_size: int,
    scorer: Scorer | EmbeddingScorer,
    detector: Detector | None,
    config: InferConfig,
    embeddings: bool = False,
    progress: bool = True,
) -> list[FileResult]:
    """Score files on a Ray cluster: what :func:`~dfembed.infer.pipeline.score_files` returns, in order.

    Args:
        paths: Media files (absolute paths on storage every node sees).
        crop_config: Detection and crop settings.
        image_size: The model's input size.
        scorer: Face crops → P(fake) (or ``(P(fake), embeddings)`` with ``embeddings``); it is
            pickled to every model worker (a Keras model pickles itself).
        detector: A picklable detector for every detector worker, or ``None`` to build one in each.
        config: ``ray_address``, ``ray_workers``, ``ray_model_workers`` and ``batch_size``.
        embeddings: Keep each face's embedding in its result (a temporal model).
        progress: Show a tqdm bar.

    Returns:
        One :class:`~dfembed.infer.pipeline.FileResult` per path, in order.

    Raises:
        InputError: A worker does not see TEST.
        ConfigError: Ray is missing, or the cluster cannot be joined.
        DfembedError: Every worker of one kind died.
    """
    results = [FileResult(Path(path)) for path in paths]
    if not results:
        return results
    with ray_cluster(config.ray_address) as ray:
        pools = _Pools.start(ray, [Path(p) for p in paths], crop_config, image_size, scorer, detector, config,
                             embeddings)
        with tqdm(total=len(results), unit="file", desc="infer", disable=not progress) as bar:
            _Driver(ray, pools, results, crop_config.batch_size, config.batch_size, bar).run()
    return results


@dataclasses.dataclass
class _Pools:
    """The started workers of both kinds, and the scorer's object (kept for restarted model workers)."""

    detect: list[Any]
    model: list[Any]
    scorer: list[Any]

    @classmethod
    def start(cls, ray: ModuleType, paths: list[Path], crop_config: CropConfig, image_size: int, scorer: Any,
              detector: Detector | None, config: InferConfig, embeddings: bool) -> _Pools:
        gpus = cluster_count(ray, "GPU")
        models = config.ray_model_workers or max(1, gpus)
        on_gpu = gpus >= models
        cpus = max(1, cluster_count(ray, "CPU"))
        chunks = -(-len(paths) // max(1, crop_config.batch_size))
        detectors = config.ray_workers or max(1, cpus - (0 if on_gpu else models))
        detectors = max(1, min(detectors, chunks))
        level = logging.getLogger("dfembed").getEffectiveLevel()
        visible = [(str(p.resolve()), p.stat().st_size) for p in paths[:VISIBILITY_SAMPLE]]
        detect_actor = ray.remote(num_cpus=1, max_restarts=MAX_RESTARTS, max_task_retries=0)(DetectWorker)
        model_actor = ray.remote(num_cpus=1, num_gpus=1 if on_gpu else 0, max_restarts=MAX_RESTARTS,
                                 max_task_retries=0)(ModelWorker)
        box = [ray.put(scorer)]
        pools = cls([detect_actor.remote(crop_config, image_size, detector, visible, level)
                     for _ in range(detectors)],
                    [model_actor.remote(box, embeddings, None if on_gpu else 1, level) for _ in range(models)], box)
        nodes = _wait_ready(ray, pools.detect + pools.model)
        log.info("inference on Ray: %d detector workers, %d model workers (%s), on %s", detectors, models,
                 "a GPU each" if on_gpu else "CPU", ", ".join(sorted(set(nodes))))
        return pools


def _wait_ready(ray: ModuleType, workers: list[Any]) -> list[str]:
    try:
        return ray.get([worker.setup.remote() for worker in workers])
    except ray.exceptions.RayTaskError as err:
        raise remote_error(err) from None
    except ray.exceptions.RayError as err:
        raise DfembedError(f"a Ray inference worker could not start: {' '.join(str(err).split())[:300]}") from err


class _Driver:
    """Feeds chunks of files to the detector workers and batches of faces to the model workers."""

    def __init__(self, ray: ModuleType, pools: _Pools, results: list[FileResult], chunk_files: int,
                 batch_faces: int, bar: tqdm) -> None:
        self.ray = ray
        self.pools = pools
        self.results = results
        self.batch_faces = batch_faces
        self.bar = bar
        paths = [r.path for r in results]
        step = max(1, chunk_files)
        self.chunks = collections.deque(_Chunk(i, paths[i:i + step]) for i in range(0, len(paths), step))
        self.detecting: dict[Any, tuple[_Chunk, Any, Any]] = {}  # items ref → chunk, worker, images ref
        self.scoring: dict[Any, tuple[list[_Detected], Any, int]] = {}  # ref → batch, worker, attempts
        self.ready: list[_Detected] = []
        self.limit = 2 * (len(pools.detect) + len(pools.model))  # detected chunks waiting for a model

    def run(self) -> None:
        while self.chunks or self.detecting or self.scoring or self.ready:
            self._submit()
            refs = [*self.detecting, *self.scoring]
            if not refs:
                continue
            (ref,), _ = self.ray.wait(refs, num_returns=1)
            if ref in self.detecting:
                self._detected(ref)
            else:
                self._scored(ref)

    # --- submitting ------------------------------------------------------------------

    def _submit(self) -> None:
        waiting = len(self.ready) + sum(len(batch) for batch, _, _ in self.scoring.values())
        busy = {id(worker) for _, worker, _ in self.detecting.values()}
        for worker in self.pools.detect:
            if not self.chunks or waiting + len(self.detecting) >= self.limit:
                break
            if id(worker) not in busy:
                chunk = self.chunks.popleft()
                chunk.attempts += 1
                items, images = worker.detect.options(num_returns=2).remote(chunk.first, chunk.paths)
                self.detecting[items] = (chunk, worker, images)
        self._submit_faces()

    def _submit_faces(self) -> None:
        last = not self.chunks and not self.detecting
        while self.ready and (last or self._full() or sum(d.faces for d in self.ready) >= self.batch_faces):
            worker = self._free_model()
            if worker is None:
                return
            batch, faces = [], 0
            while self.ready and (faces < self.batch_faces or not batch):
                batch.append(self.ready.pop(0))
                faces += batch[-1].faces
            self._send(batch, worker, 1)

    def _full(self) -> bool:
        """As many detected chunks wait as the driver holds: send them whatever their faces."""
        return len(self.ready) + sum(len(batch) for batch, _, _ in self.scoring.values()) >= self.limit

    def _free_model(self) -> Any:
        load = collections.Counter(id(worker) for _, worker, _ in self.scoring.values())
        worker = min(self.pools.model, key=lambda w: load[id(w)])
        return worker if load[id(worker)] < MODEL_IN_FLIGHT else None

    def _send(self, batch: list[_Detected], worker: Any, attempts: int) -> None:
        ref = worker.score.remote(*[d.images for d in batch])
        self.scoring[ref] = (batch, worker, attempts)

    # --- receiving -------------------------------------------------------------------

    def _detected(self, ref: Any) -> None:
        chunk, worker, images = self.detecting.pop(ref)
        try:
            items = self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as err:  # the worker's own error: stop, as locally
            raise remote_error(err) from None
        except self.ray.exceptions.RayError as err:
            self._lost_chunk(chunk, worker, err)
            return
        for item in items:
            _record(self.results[item.index], item)
        detected = _Detected(chunk, items, images, sum(len(item.frames) for item in items))
        if detected.faces:
            self.ready.append(detected)
        else:
            self.bar.update(len(chunk.paths))

    def _scored(self, ref: Any) -> None:
        batch, worker, attempts = self.scoring.pop(ref)
        try:
            scores, vectors = self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as err:
            raise remote_error(err) from None
        except self.ray.exceptions.RayError as err:
            self._lost_batch(batch, worker, attempts, err)
            return
        position = 0
        for detected in batch:
            for item in detected.items:
                position = _add_faces(self.results[item.index], item, scores, vectors, position)
            self.bar.update(len(detected.chunk.paths))

    # --- workers that died -----------------------------------------------------------

    def _lost_chunk(self, chunk: _Chunk, worker: Any, err: BaseException) -> None:
        reason = _reason(err)
        log.warning("a Ray detector worker died on files %d..%d (attempt %d of %d): %s", chunk.first,
                    chunk.first + len(chunk.paths) - 1, chunk.attempts, MAX_ATTEMPTS, reason)
        if chunk.attempts < MAX_ATTEMPTS:
            self.chunks.appendleft(chunk)
        else:
            for index in range(chunk.first, chunk.first + len(chunk.paths)):
                self._fail(index, f"the Ray worker detecting faces in it died on each of {MAX_ATTEMPTS} "
                                  f"attempts: {reason}")
            self.bar.update(len(chunk.paths))
        self._keep_alive(self.pools.detect, worker, "detector")

    def _lost_batch(self, batch: list[_Detected], worker: Any, attempts: int, err: BaseException) -> None:
        reason = _reason(err)
        log.warning("a Ray model worker died on a batch of %d faces (attempt %d of %d): %s",
                    sum(d.faces for d in batch), attempts, MAX_ATTEMPTS, reason)
        self._keep_alive(self.pools.model, worker, "model")
        if attempts < MAX_ATTEMPTS:
            self._send(batch, worker if worker in self.pools.model else self.pools.model[0], attempts + 1)
            return
        for detected in batch:
            for item in detected.items:
                self._fail(item.index, f"the Ray worker scoring its faces died on each of {MAX_ATTEMPTS} "
                                       f"attempts: {reason}")
            self.bar.update(len(detected.chunk.paths))

    def _fail(self, index: int, message: str) -> None:
        result = self.results[index]
        result.error = message
        result.n_faces = result.n_faces or 0
        for faces in (result.frames, result.scores, result.boxes, result.embeddings):
            faces.clear()

    def _keep_alive(self, pool: list[Any], worker: Any, kind: str) -> None:
        """Keep a worker that Ray restarted; drop one it gave up. Raises when a pool is empty."""
        busy = any(w is worker for _, w, _ in self.detecting.values()) or \
            any(w is worker for _, w, _ in self.scoring.values())
        if worker in pool and not busy and not restarted(self.ray, worker):
            log.warning("a Ray %s worker was given up after %d restarts", kind, MAX_RESTARTS)
            pool.remove(worker)
        if not pool:
            raise DfembedError(f"every Ray {kind} worker died (see the log for why); nothing was written: "
                               "run the same command again")


def _record(result: FileResult, item: FileFaces) -> None:
    """A detected item's count, timeline and error, as the local pipeline records them."""
    result.n_faces = (result.n_faces or 0) + len(item.frames)
    result.sampled.extend(item.sampled)
    if item.error is not None:
        result.error = item.error


def _add_faces(result: FileResult, item: FileFaces, scores: np.ndarray, vectors: np.ndarray | None,
               position: int) -> int:
    """Append an item's faces with their scores (from ``position`` on); return the next position."""
    boxes = item.boxes if item.boxes is not None else np.full((len(item.frames), 4), np.nan)
    for frame, box in zip(item.frames.tolist(), boxes.tolist()):
        result.frames.append(frame)
        result.scores.append(float(scores[position]))
        result.boxes.append(tuple(box))
        if vectors is not None:
            result.embeddings.append(vectors[position])
        position += 1
    return position


def _reason(err: BaseException) -> str:
    return " ".join(str(err).split())[:300]
