"""Face-box geometry on hand-built arrays (boxes are x1, y1, x2, y2 in pixels)."""

from __future__ import annotations

import numpy as np
import pytest

from dfembed.faces.geometry import (
    add_margin,
    crop_region,
    downscale_factor,
    face_crop,
    iou,
    make_square,
    to_source_pixels,
    xywh_to_xyxy,
)


def test_xywh_to_xyxy() -> None:
    # astronaut's mtcnn box 182,64,83,107 ends at 182+83, 64+107
    np.testing.assert_allclose(xywh_to_xyxy([182, 64, 83, 107]), [182, 64, 265, 171])
    np.testing.assert_allclose(xywh_to_xyxy([[0, 0, 1, 2], [5, 5, 5, 5]]), [[0, 0, 1, 2], [5, 5, 10, 10]])


@pytest.mark.parametrize(
    ("width", "height", "factor"),
    [(299, 100, 2.0), (300, 300, 1.0), (1000, 500, 1.0), (1001, 10, 0.5), (1900, 1080, 0.5),
     (1920, 1080, 0.33), (1080, 1920, 0.33), (200, 1200, 0.5)],
)
def test_downscale_rule_uses_the_wider_side(width: int, height: int, factor: float) -> None:
    assert downscale_factor(width, height) == factor


def test_boxes_and_landmarks_map_back_after_downscale() -> None:
    # a 1920x1080 frame is detected at x0.33: a box 33..66 there is 100..200 in the source
    np.testing.assert_allclose(to_source_pixels([33, 33, 66, 99], 0.33), [100, 100, 200, 300])
    np.testing.assert_allclose(to_source_pixels([[10, 20]], 2.0), [[5, 10]])


def test_margin_is_a_fraction_of_each_side() -> None:
    # width 100 -> 30 px left and right; height 50 -> 15 px top and bottom
    np.testing.assert_allclose(add_margin([10, 20, 110, 70], 0.3), [-20, 5, 140, 85])
    np.testing.assert_allclose(add_margin([10, 20, 110, 70], 0.0), [10, 20, 110, 70])


def test_make_square_keeps_centre_and_longer_side() -> None:
    np.testing.assert_allclose(make_square([0, 0, 100, 50]), [0, -25, 100, 75])
    np.testing.assert_allclose(make_square([[10, 0, 20, 40]]), [[-5, 0, 35, 40]])


def test_crop_region_pads_outside_the_image_with_black() -> None:
    image = np.arange(1, 101, dtype=np.uint8).reshape(10, 10)
    region = crop_region(image, np.array([-2, -2, 3, 3]))
    assert region.shape == (5, 5)
    assert (region[:2] == 0).all() and (region[:, :2] == 0).all()
    np.testing.assert_array_equal(region[2:, 2:], image[:3, :3])
    bottom_right = crop_region(image, np.array([8, 9, 12, 11]))
    np.testing.assert_array_equal(bottom_right[0, :2], image[9, 8:10])
    assert (bottom_right[1] == 0).all() and (bottom_right[:, 2:] == 0).all()


def test_crop_region_inside_is_a_plain_slice() -> None:
    image = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    np.testing.assert_array_equal(crop_region(image, np.array([4.4, 5.6, 10, 12])), image[6:12, 4:10])


def test_crop_region_rejects_empty_box() -> None:
    with pytest.raises(ValueError, match="no area"):
        crop_region(np.zeros((5, 5)), np.array([3, 3, 3, 4]))


def test_face_crop_is_square_of_size() -> None:
    image = np.zeros((100, 200, 3), dtype=np.uint8)
    image[40:60, 90:110] = 200  # the "face": box 90,40,110,60
    crop = face_crop(image, np.array([90, 40, 110, 60]), margin=0.5, size=40)
    assert crop.shape == (40, 40, 3) and crop.dtype == np.uint8
    # margin 0.5 of a 20 px box -> 40 px square, face in its middle half, resized x1
    assert (crop[12:28, 12:28] == 200).all()
    assert (crop[:8] == 0).all() and (crop[-8:] == 0).all()


def test_iou_values() -> None:
    a = np.array([[0, 0, 2, 1], [0, 0, 1, 1]])
    b = np.array([[1, 0, 3, 1], [0, 0, 2, 1], [5, 5, 6, 6]])
    # a0/b0 overlap 1 of union 3; a0 == b1; a1 inside b1 (1/2); nothing meets b2
    np.testing.assert_allclose(iou(a, b), [[1 / 3, 1, 0], [0, 0.5, 0]])
    assert iou([0, 0, 0, 0], [0, 0, 0, 0])[0, 0] == 0.0


def test_crop_matrix_matches_face_crop() -> None:
    from dfembed.faces.geometry import crop_matrix

    # box 10,20 → 110,120 with no margin: region 100 px, resized to 50 (s = 0.5): x' = (x - 10 + 0.5) * 0.5 - 0.5
    matrix = crop_matrix(np.array([10.0, 20.0, 110.0, 120.0]), 0.0, 50)
    np.testing.assert_allclose(matrix @ [60.0, 70.0, 1.0], [24.75, 24.75])
    # at the region's own size the crop is a shift: a marked source pixel lands where the matrix says
    image = np.zeros((200, 200, 3), np.uint8)
    image[77, 41] = 255
    box = np.array([30.0, 50.0, 90.0, 110.0])  # 60 px; margin 0.25 → 90 px square from (15, 35)
    crop = face_crop(image, box, 0.25, 90)
    x, y = crop_matrix(box, 0.25, 90) @ [41.0, 77.0, 1.0]
    assert crop[int(round(y)), int(round(x)), 0] == 255 and (x, y) == (26.0, 42.0)
