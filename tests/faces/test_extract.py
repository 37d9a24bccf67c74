"""Cutting one face: by its box, or aligned on its five landmarks; crop-pixel landmarks and box."""

from __future__ import annotations

import numpy as np

from dfembed.faces.alignment import FIVE_POINT_TEMPLATE, template_points
from dfembed.faces.config import CropConfig
from dfembed.faces.detector import Face
from dfembed.faces.extract import FaceCrop, crops_from_frames, cut_face

FRAME = np.zeros((300, 400, 3), np.uint8)
# a face: the template twice as large, its top-left at (100, 50); its box around it
LANDMARKS = FIVE_POINT_TEMPLATE * 2 + [100.0, 50.0]
FACE = Face((120.0, 60.0, 300.0, 290.0), 0.99, LANDMARKS)


def test_box_cut_transform_maps_the_box_into_the_crop() -> None:
    config = CropConfig(size=100, margin=0.0)
    image, matrix = cut_face(FRAME, FACE, config)
    crop = FaceCrop(0, 0, image, FACE, matrix)
    # box 180 x 230 → square 230 around its centre (210, 175): x from 95 to 325, y 60..290; scale 100/230
    s = 100 / 230
    np.testing.assert_allclose(crop.crop_box, [(120 - 95 + 0.5) * s - 0.5, -0.5 + 0.5 * s, (300 - 95 + 0.5) * s - 0.5,
                                               (230 + 0.5) * s - 0.5])
    np.testing.assert_allclose(crop.crop_landmarks, (LANDMARKS - [95.0, 60.0] + 0.5) * s - 0.5)


def test_similarity_cut_puts_the_landmarks_on_the_template() -> None:
    config = CropConfig(size=128, align="similarity", align_scale=1.3)
    image, matrix = cut_face(FRAME, FACE, config)
    assert image.shape == (128, 128, 3)
    np.testing.assert_allclose(FaceCrop(0, 0, image, FACE, matrix).crop_landmarks, template_points(128, 1.3),
                               atol=1e-9)


def test_a_face_without_landmarks_is_cut_by_its_box_even_when_aligning() -> None:
    bare = Face(FACE.box, 0.99, None)
    aligned, matrix = cut_face(FRAME, bare, CropConfig(size=100, align="similarity", margin=0.0))
    boxed, box_matrix = cut_face(FRAME, bare, CropConfig(size=100, margin=0.0))
    np.testing.assert_array_equal(aligned, boxed)
    np.testing.assert_allclose(matrix, box_matrix)
    assert FaceCrop(0, 0, aligned, bare, matrix).crop_landmarks is None


class _OneFace:
    def detect(self, frames: list[np.ndarray]) -> list[list[Face]]:
        return [[FACE] for _ in frames]


def test_crops_carry_their_transform() -> None:
    crops = crops_from_frames([(7, FRAME)], _OneFace(), CropConfig(size=64, align="similarity"))
    assert len(crops) == 1 and crops[0].frame_index == 7
    np.testing.assert_allclose(crops[0].crop_landmarks, template_points(64, 1.3), atol=1e-9)
