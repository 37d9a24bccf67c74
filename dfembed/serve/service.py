"""The scoring service: the model loaded once, admission control, and one request's answer.

:class:`ScoringService` holds what every request shares: the loaded model and its scorer,
the Grad-CAM of a Keras model (built on the first ``?explain=1``), the detection workers and
a bounded count of admitted requests (the workers' and the queue's places; one more is
refused, and the app answers 429). :meth:`ScoringService.answer` turns one worker's
:class:`~dfembed.serve.workers.Detected` into the JSON answer: the verdict and the rule that
made it, per sampled frame its time and faces, the model's identity and the timings.
Model calls run one at a time on one thread, away from the event loop.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dfembed.core.provenance import file_sha256
from dfembed.explain.select import frame_time, most_suspicious
from dfembed.infer.aggregate import aggregate_file, get_aggregator
from dfembed.infer.config import InferConfig, resolve_crop_config
from dfembed.infer.models import InferenceModel, load_inference_model
from dfembed.serve.config import ServeConfig
from dfembed.serve.workers import Detected, DetectionPool, MediaLimits, WorkerSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelIdentity:
    """What ``GET /v1/model`` and every answer say about the model."""

    kind: str
    backbone: str
    image_size: int
    detector: str
    sha256: str
    classifier_sha256: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Admission:
    """At most ``capacity`` requests admitted at once; :meth:`enter` says whether one more fits."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.active = 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        with self._lock:
            if self.active >= self.capacity:
                return False
            self.active += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.active -= 1


class ScoringService:
    """The model, the workers and the rules of one running service.

    Args:
        loaded: The model (:func:`~dfembed.infer.models.load_inference_model`).
        identity: The model's identity.
        config: The service's options.
        pool: The detection workers (``None``: built from the model's crop settings).
    """

    def __init__(self, loaded: InferenceModel, identity: ModelIdentity, config: ServeConfig,
                 pool: DetectionPool | None = None) -> None:
        self.loaded = loaded
        self.identity = identity
        self.config = config
        self.crop_config = resolve_crop_config(loaded.crop_config, _infer_config(config), loaded.image_size)
        self.pool = pool or DetectionPool(self.worker_settings(), config.workers)
        self.admission = Admission(config.workers + config.queue)
        self._scorer = loaded.make_scorer(_infer_config(config))
        self._gradcam: Any = None
        self._model_lock = threading.Lock()

    def worker_settings(self) -> WorkerSettings:
        """What each detection worker is started with."""
        return WorkerSettings(self.crop_config, self.loaded.image_size, self.config.worker_memory_mb)

    def detect(self, path: Path) -> Detected:
        """Decode ``path`` and detect its faces in a worker, within this service's limits.

        Raises:
            TimeoutError: Past ``config.timeout``.
        """
        limits = MediaLimits(self.config.max_video_frames, self.config.min_side)
        return self.pool.detect(path, self.config.timeout, limits)

    @property
    def can_explain(self) -> bool:
        """Whether ``?explain=1`` can be served (a Keras model: Grad-CAM needs its gradients)."""
        return self.loaded.kind == "keras"

    def answer(self, detected: Detected, media: dict[str, Any], explain: bool, crops: bool,
               timings: dict[str, float]) -> dict[str, Any]:
        """The JSON answer for one scored file (see the module docstring).

        Args:
            detected: What the worker found (no error).
            media: ``{"kind", "format", "bytes"}`` of the upload.
            explain: Add Grad-CAM overlays of the most suspicious faces.
            crops: Add each face's crop as a PNG data URI.
            timings: Milliseconds so far (upload, detect); scoring and explaining are added.
        """
        images = np.stack([f.crop for f in detected.faces]) if detected.faces else np.zeros((0, 1, 1, 3), np.uint8)
        start = time.perf_counter()
        scores = self._score(images)
        timings["score_ms"] = _ms(start)
        frames = [f.frame for f in detected.faces]
        verdict = self._verdict(frames, scores, len(detected.sampled))
        answer = {"verdict": verdict, "media": {**media, "frames_sampled": len(detected.sampled),
                                                "fps": detected.fps, "size": detected.size},
                  "frames": _frames(detected, scores, crops), "model": self.identity.as_dict(), "timings": timings}
        if explain:
            start = time.perf_counter()
            answer["explanations"] = self._explain(detected, images, scores)
            timings["explain_ms"] = _ms(start)
        return answer

    def _score(self, images: np.ndarray) -> np.ndarray:
        if len(images) == 0:
            return np.zeros((0,), np.float64)
        with self._model_lock:
            return np.asarray(self._scorer(images), np.float64)

    def _verdict(self, frames: list[int], scores: np.ndarray, sampled: int) -> dict[str, Any]:
        config = self.config
        if len(scores) == 0:
            p_fake, rule = config.no_face_score, f"no face was found: the no-face score {config.no_face_score}"
        else:
            p_fake = aggregate_file(frames, scores, get_aggregator(config.aggregate))
            rule = (f"the highest P(fake) of each of the {len(set(frames))} frames with a face (of {sampled} "
                    f"sampled), then {config.aggregate}")
        return {"p_fake": round(float(p_fake), 6), "label": "fake" if p_fake > config.threshold else "real",
                "threshold": config.threshold, "aggregate": config.aggregate, "rule": rule,
                "no_face": len(scores) == 0, "faces": len(scores)}

    def _explain(self, detected: Detected, images: np.ndarray, scores: np.ndarray) -> list[dict[str, Any]]:
        from dfembed.model.gradcam import from_bundle, overlay, png_bytes

        if not self.can_explain or len(scores) == 0:
            return []
        chosen = most_suspicious([f.frame for f in detected.faces], scores, 1, self.config.explain_faces)
        with self._model_lock:
            if self._gradcam is None:
                self._gradcam = from_bundle(self.loaded.model, self.loaded.bundle)
            cams, _ = self._gradcam(images[chosen])
        return [{"face": k, "frame": detected.faces[k].frame, "p_fake": round(float(scores[k]), 6),
                 "overlay": _data_uri(png_bytes(overlay(images[k], cam)))} for k, cam in zip(chosen, cams)]

    def close(self) -> None:
        """End the workers."""
        self.pool.close()


def _infer_config(config: ServeConfig) -> InferConfig:
    return InferConfig(detector=config.detector, frames_per_video=config.frames_per_video, batch_size=16)


def _frames(detected: Detected, scores: np.ndarray, crops: bool) -> list[dict[str, Any]]:
    by_frame: dict[int, list[dict[str, Any]]] = {index: [] for index in detected.sampled}
    for k, (face, score) in enumerate(zip(detected.faces, scores.tolist())):
        entry = {"id": k, "box": [round(v, 1) for v in face.box], "p_fake": round(score, 6),
                 "landmarks": None if face.landmarks is None else [[round(v, 1) for v in p] for p in face.landmarks],
                 "confidence": round(face.confidence, 4)}
        if crops:
            from dfembed.model.gradcam import png_bytes

            entry["crop"] = _data_uri(png_bytes(face.crop))
        by_frame.setdefault(face.frame, []).append(entry)
    return [{"index": index, "time_s": frame_time(index, detected.fps), "faces": faces,
             "p_fake": max((f["p_fake"] for f in faces), default=None)} for index, faces in sorted(by_frame.items())]


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


def load_service(model: Path, svm: Path | None, config: ServeConfig, trust_pickle: bool = False) -> ScoringService:
    """Load the model once, check it, and start the detection workers.

    Raises:
        InputError: A missing or mismatched model or classifier.
        ConfigError: A detector that is not installed.
    """
    from dfembed.faces.detector import check_available

    loaded = load_inference_model(model, svm, _infer_config(config), trust_pickle)
    service_config = resolve_crop_config(loaded.crop_config, _infer_config(config), loaded.image_size)
    check_available(service_config.detector)
    identity = ModelIdentity(loaded.kind, str(loaded.record.get("backbone", "unknown")), loaded.image_size,
                             service_config.detector, file_sha256(_model_file(model)),
                             None if svm is None else file_sha256(svm))
    return ScoringService(loaded, identity, config)


def _model_file(model: Path) -> Path:
    from dfembed.model.contract import ONNX_NAME

    return model / ONNX_NAME if model.is_dir() else model
