"""Decoding and face detection in worker processes, each with its own detector and memory cap.

:class:`DetectionPool` runs :func:`detect_file` in ``workers`` processes (spawned, so no
thread or TensorFlow state is inherited). Each builds its detector once, when it starts,
and caps its address space with ``RLIMIT_AS`` where the platform has it, so a decoder
that a hostile file sends astray fails with ``MemoryError`` in the worker instead of
taking the server down. A request that runs past its time limit has its pool's processes
ended and a new pool started (the other requests then in those processes fail with 503).
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dfembed.core.walk import printable
from dfembed.faces.config import CropConfig
from dfembed.faces.detector import DetectorError, build_detector
from dfembed.faces.extract import crops_from_frames, iter_frame_chunks
from dfembed.faces.geometry import fit_size
from dfembed.faces.media import MediaError, is_video, video_frame_count

log = logging.getLogger(__name__)


@dataclass
class DetectedFace:
    """One face found by a worker.

    Attributes:
        frame: Frame index (0 for an image).
        box: ``x1, y1, x2, y2`` in source pixels.
        landmarks: Five ``(x, y)`` points in source pixels, or ``None``.
        confidence: The detector's confidence.
        crop: The crop at the model's input size, uint8 RGB.
    """

    frame: int
    box: tuple[float, float, float, float]
    landmarks: list[list[float]] | None
    confidence: float
    crop: np.ndarray


@dataclass
class Detected:
    """What a worker found in one file, or why it could not.

    Attributes:
        sampled: Every frame index read, faces or not.
        fps: The video's frame rate (``None`` for an image or when unknown).
        size: ``(width, height)`` of the frames.
        faces: The faces.
        error: One line for the client when the file was refused (no server path).
        status: The HTTP status of that refusal (413 too large, 422 unusable).
    """

    sampled: list[int] = field(default_factory=list)
    fps: float | None = None
    size: tuple[int, int] | None = None
    faces: list[DetectedFace] = field(default_factory=list)
    error: str | None = None
    status: int = 200


@dataclass(frozen=True)
class WorkerSettings:
    """What every worker is started with: the crop settings, the model's input size, its memory cap (MiB)."""

    crop_config: CropConfig
    image_size: int
    memory_mb: int


@dataclass(frozen=True)
class MediaLimits:
    """What one request's file may be: at most ``max_video_frames`` frames, at least ``min_side`` pixels a side."""

    max_video_frames: int
    min_side: int


_WORKER: dict[str, Any] = {}


def _start_worker(settings: WorkerSettings, pids: Any) -> None:
    """A worker's initialiser: ignore Ctrl-C (the server handles it), cap memory, build the detector."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pids.put(os.getpid())
    _cap_memory(settings.memory_mb)
    _WORKER["settings"] = settings
    _WORKER["detector"] = build_detector(settings.crop_config)


def _cap_memory(memory_mb: int) -> None:
    try:
        import resource
    except ImportError:  # not on this platform
        return
    if memory_mb > 0:
        limit = memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def detect_file(path: str, limits: MediaLimits) -> Detected:
    """Decode one file and detect its faces (in a worker; refusals are returned, not raised).

    Args:
        path: The uploaded file (its suffix names its sniffed format).
        limits: Its bounds beyond those of :mod:`dfembed.core.bounds`.

    Returns:
        The faces with their crops, or the refusal.
    """
    settings: WorkerSettings = _WORKER["settings"]
    try:
        return _detect(Path(path), settings, limits)
    except MediaError as err:
        return Detected(error=_without_path(str(err), path), status=413 if err.reason == "too large" else 422)
    except (DetectorError, ValueError) as err:
        return Detected(error=f"faces cannot be detected in this file ({_without_path(str(err), path)})", status=422)
    except MemoryError:
        return Detected(error=f"decoding this file needs more than the worker's {settings.memory_mb} MiB",
                        status=413)


def _detect(path: Path, settings: WorkerSettings, limits: MediaLimits) -> Detected:
    result = Detected()
    if is_video(path):
        result.fps = _check_video(path, limits.max_video_frames)
    for chunk in iter_frame_chunks(path, settings.crop_config):
        result.size = _check_side(chunk[0][1], limits.min_side)
        result.sampled.extend(index for index, _ in chunk)
        for crop in crops_from_frames(chunk, _WORKER["detector"], settings.crop_config):
            marks = crop.face.landmarks
            result.faces.append(DetectedFace(crop.frame_index, tuple(map(float, crop.face.box)),
                                             None if marks is None else np.asarray(marks, float).tolist(),
                                             float(crop.face.confidence), fit_size(crop.image, settings.image_size)))
    if not result.sampled:
        raise MediaError(path, "no frames", "no frame could be decoded")
    return result


def _check_video(path: Path, max_frames: int) -> float | None:
    import cv2

    count = video_frame_count(path)
    if count > max_frames:
        raise MediaError(path, "too large", f"{count} frames, above the limit of {max_frames}")
    capture = cv2.VideoCapture(str(path))
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS))
    finally:
        capture.release()
    return fps if np.isfinite(fps) and fps > 0 else None


def _check_side(frame: np.ndarray, min_side: int) -> tuple[int, int]:
    height, width = frame.shape[:2]
    if min(height, width) < min_side:
        raise MediaError("upload", "too small", f"{width}×{height} pixels; a face needs at least {min_side} pixels "
                                                "a side")
    return width, height


def _without_path(message: str, path: str) -> str:
    """A worker's message with the server's file name taken out."""
    for name in (printable(path), path, printable(str(Path(path).name))):
        message = message.replace(f"{name}: ", "").replace(name, "upload")
    return message


class DetectionPool:
    """``workers`` processes running :func:`detect_file`, restarted when a request times out.

    Args:
        settings: What each worker builds its detector from, and its limits.
        workers: Processes.
    """

    def __init__(self, settings: WorkerSettings, workers: int) -> None:
        self.settings = settings
        self.workers = workers
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._pids = self._context.SimpleQueue()
        self._pool = self._new_pool()

    def _new_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        return concurrent.futures.ProcessPoolExecutor(self.workers, mp_context=self._context,
                                                      initializer=_start_worker, initargs=(self.settings, self._pids))

    def warm_up(self) -> None:
        """Start every worker now (each builds its detector) rather than on the first request."""
        futures = [self._pool.submit(os.getpid) for _ in range(self.workers)]
        concurrent.futures.wait(futures)

    def detect(self, path: Path, timeout: float, limits: MediaLimits) -> Detected:
        """Run :func:`detect_file` on ``path`` in a worker, within ``limits``.

        Raises:
            TimeoutError: It took longer than ``timeout`` seconds (the workers are restarted).
            concurrent.futures.process.BrokenProcessPool: A worker died (it is restarted).
        """
        pool = self._pool
        future = pool.submit(detect_file, str(path), limits)
        try:
            return future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            self._restart(pool, "a request ran past its time limit")
            raise TimeoutError(f"decoding and detection took longer than {timeout:g} s") from None
        except concurrent.futures.process.BrokenProcessPool:
            self._restart(pool, "a worker process died")
            raise

    def _restart(self, pool: concurrent.futures.ProcessPoolExecutor, why: str) -> None:
        with self._lock:
            if pool is not self._pool:  # another request restarted it already
                return
            log.warning("%s: restarting the detection workers", why)
            self._kill_workers()
            pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()

    def _kill_workers(self) -> None:
        while not self._pids.empty():
            pid = self._pids.get()
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue

    def close(self) -> None:
        """End the workers."""
        with self._lock:
            self._kill_workers()
            self._pool.shutdown(wait=False, cancel_futures=True)
