"""The configuration of ``dfembed serve``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dfembed.core.config import check
from dfembed.faces.config import detector_names


@dataclass(frozen=True)
class ServeConfig:
    """Every option of ``dfembed serve`` but the token (a secret is not written to records).

    Attributes:
        host: Address to bind; the loopback address unless another is asked for.
        port: TCP port.
        max_upload_mb: Largest upload, in MiB, counted while it streams in.
        workers: Processes that decode media and detect faces.
        queue: Requests that may wait for a worker; one more is answered 429.
        timeout: Seconds a request's decoding and detection may take (then 504).
        worker_memory_mb: Address-space cap of each worker process (RLIMIT_AS), MiB; 0: none.
        max_video_frames: Longest video accepted, in frames (by its header).
        min_side: Smallest image or frame side accepted, in pixels (a smaller one holds no face).
        aggregate: Frame → file score (:mod:`dfembed.infer.aggregate`).
        no_face_score: The score of a file without a face (flagged in the answer).
        threshold: P(fake) above which the verdict reads fake.
        explain_faces: Faces whose Grad-CAM overlay ``?explain=1`` adds (the most suspicious).
        frames_per_video: Frames sampled from a video; none = as in training.
        detector: Face detector; none = the one the model was trained with.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_mb: float = 200.0
    workers: int = 1
    queue: int = 4
    timeout: float = 120.0
    worker_memory_mb: int = 8192
    max_video_frames: int = 108000
    min_side: int = 32
    aggregate: Literal["mean", "max", "confident"] = "confident"
    no_face_score: float = 0.5
    threshold: float = 0.5
    explain_faces: int = 4
    frames_per_video: int | None = None
    detector: str | None = None

    def __post_init__(self) -> None:
        check(0 <= self.port <= 65535, "port", self.port, "in [0, 65535]")
        check(self.max_upload_mb > 0, "max_upload_mb", self.max_upload_mb, "positive")
        for name in ("workers", "max_video_frames", "min_side"):
            check(getattr(self, name) >= 1, name, getattr(self, name), "at least 1")
        for name in ("queue", "worker_memory_mb", "explain_faces"):
            check(getattr(self, name) >= 0, name, getattr(self, name), "0 or more")
        check(self.timeout > 0, "timeout", self.timeout, "positive seconds")
        check(0.0 <= self.no_face_score <= 1.0, "no_face_score", self.no_face_score, "in [0, 1]")
        check(0.0 <= self.threshold <= 1.0, "threshold", self.threshold, "in [0, 1]")
        check(self.frames_per_video is None or self.frames_per_video >= 1, "frames_per_video",
              self.frames_per_video, "at least 1")
        check(self.detector is None or self.detector in detector_names(), "detector", self.detector,
              f"a registered face detector ({', '.join(detector_names())}) or none (as in training)")

    @property
    def max_upload_bytes(self) -> int:
        """``max_upload_mb`` in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)
