"""Five-point alignment on hand-built points and images (points are (x, y), pixel centres on integers)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dfembed.faces.alignment import (
    FIVE_POINT_TEMPLATE,
    alignment_matrix,
    apply_affine,
    invert_affine,
    similarity_transform,
    template_points,
    warp_crop,
)


def _similarity(angle_deg: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    a = math.radians(angle_deg)
    linear = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return np.hstack([linear, np.array(shift)[:, None]])


def test_similarity_transform_recovers_a_known_similarity() -> None:
    truth = _similarity(30.0, 2.0, (5.0, -3.0))
    moved = FIVE_POINT_TEMPLATE @ truth[:, :2].T + truth[:, 2]
    np.testing.assert_allclose(similarity_transform(FIVE_POINT_TEMPLATE, moved), truth, atol=1e-9)


def test_similarity_transform_never_reflects() -> None:
    mirrored = FIVE_POINT_TEMPLATE * [-1.0, 1.0]  # a mirror image has no proper rotation onto the template
    matrix = similarity_transform(mirrored, FIVE_POINT_TEMPLATE)
    assert np.linalg.det(matrix[:, :2]) > 0


def test_similarity_transform_rejects_coinciding_points() -> None:
    with pytest.raises(ValueError, match="coincide"):
        similarity_transform(np.ones((5, 2)), FIVE_POINT_TEMPLATE)


def test_template_points_zoom_out_around_the_centre() -> None:
    np.testing.assert_allclose(template_points(112, 1.0), FIVE_POINT_TEMPLATE)
    # 256 px, scale 1.3: centre 128 + (x * 256 / 112 - 128) / 1.3; left eye x = 38.2946
    expected_x = 128 + (38.2946 * 256 / 112 - 128) / 1.3
    assert template_points(256, 1.3)[0, 0] == pytest.approx(expected_x)


def test_alignment_maps_the_landmarks_onto_the_template() -> None:
    landmarks = apply_affine(_similarity(-15.0, 3.0, (200.0, 90.0)), FIVE_POINT_TEMPLATE)
    matrix = alignment_matrix(landmarks, 256, 1.3)
    np.testing.assert_allclose(apply_affine(matrix, landmarks), template_points(256, 1.3), atol=1e-9)
    np.testing.assert_allclose(apply_affine(invert_affine(matrix), template_points(256, 1.3)), landmarks, atol=1e-9)


@pytest.mark.parametrize("scale", [2.0, 0.25])  # enlarging, and shrinking (resized first, then rotated)
def test_warp_puts_a_bright_spot_where_the_matrix_maps_it(scale: float) -> None:
    image = np.zeros((400, 400, 3), np.uint8)
    image[96:105, 196:205] = 255  # a 9-px square centred on (200, 100)
    matrix = _similarity(20.0, scale, (0.0, 0.0))
    target = np.array([32.0, 32.0])
    matrix[:, 2] = target - matrix[:, :2] @ [200.0, 100.0]  # (200, 100) → (32, 32)
    crop = warp_crop(image, matrix, 64).astype(float)[..., 0]
    ys, xs = np.nonzero(crop > 0)
    centroid = np.array([np.average(xs, weights=crop[ys, xs]), np.average(ys, weights=crop[ys, xs])])
    np.testing.assert_allclose(centroid, target, atol=0.6)
    assert crop.shape == (64, 64)


def test_warp_fills_beyond_the_border_with_black() -> None:
    image = np.full((50, 50, 3), 200, np.uint8)
    matrix = np.array([[1.0, 0.0, 30.0], [0.0, 1.0, 30.0]])  # the image's top-left corner lands at (30, 30)
    crop = warp_crop(image, matrix, 60)
    assert crop[:29, :29].max() == 0 and crop[31:, 31:].min() == 200
