"""The face outline from FaceMesh points, five landmarks or a box, on hand-built points; its filled mask."""

from __future__ import annotations

import numpy as np
import pytest

from dfembed.faces.alignment import FIVE_POINT_TEMPLATE
from dfembed.faces.facemesh import BROWS, FACE_OVAL, FIVE_POINT_INDICES, JAW
from dfembed.faces.regions import (
    FOREHEAD_STRETCH,
    TEMPLATE_BOX,
    box_outline,
    landmark_outline,
    mesh_outline,
    polygon_mask,
    template_outline,
)


@pytest.mark.parametrize(("forehead", "top"), [(False, 51.6 - 14.0), (True, 51.6 - 38.0)])
def test_template_outline_extent(forehead: bool, top: float) -> None:
    outline = template_outline(forehead)
    # centre (56, 51.6): 41 px to each side, 63 px down to the chin, 14 or 38 px up
    np.testing.assert_allclose(outline.min(axis=0), [56 - 41, top], atol=0.3)
    np.testing.assert_allclose(outline.max(axis=0), [56 + 41, 51.6 + 63], atol=0.3)


def test_outline_follows_the_landmarks() -> None:
    np.testing.assert_allclose(landmark_outline(FIVE_POINT_TEMPLATE, True), template_outline(True), atol=1e-9)
    # the same face twice as large and 100 px to the right: the outline scales and moves with it
    moved = FIVE_POINT_TEMPLATE * 2 + [100.0, 0.0]
    np.testing.assert_allclose(landmark_outline(moved, False), template_outline(False) * 2 + [100.0, 0.0], atol=1e-9)


def test_outline_follows_the_box() -> None:
    np.testing.assert_allclose(box_outline(np.array(TEMPLATE_BOX), True), template_outline(True), atol=1e-9)
    tx1, ty1, tx2, ty2 = TEMPLATE_BOX
    box = np.array([0.0, 0.0, (tx2 - tx1) * 2, (ty2 - ty1) * 3])  # the template box stretched 2 x 3, at the origin
    expected = (template_outline(False) - [tx1, ty1]) * [2.0, 3.0]
    np.testing.assert_allclose(box_outline(box, False), expected, atol=1e-9)


def test_outline_lies_inside_the_template_box() -> None:
    # MTCNN's box runs from the upper forehead to below the chin: the outline stays inside it
    outline = template_outline(True)
    tx1, ty1, tx2, ty2 = TEMPLATE_BOX
    assert outline[:, 0].min() > tx1 and outline[:, 0].max() < tx2
    assert outline[:, 1].min() > ty1 and outline[:, 1].max() < ty2


def test_box_outline_rejects_an_empty_box() -> None:
    with pytest.raises(ValueError, match="no area"):
        box_outline(np.array([5.0, 5.0, 5.0, 9.0]), False)


def test_polygon_mask_fills_the_hull_including_its_edges() -> None:
    square = np.array([[2.0, 2.0], [6.0, 2.0], [6.0, 6.0], [2.0, 6.0], [4.0, 4.0]])  # an inner point too
    mask = polygon_mask((10, 12), square)
    assert mask.dtype == np.float32 and mask.shape == (10, 12)
    assert mask.sum() == 25 and mask[2:7, 2:7].min() == 1.0  # pixels 2..6 in x and y


def test_polygon_mask_clips_to_the_image() -> None:
    mask = polygon_mask((8, 8), np.array([[-20.0, -20.0], [4.0, -20.0], [4.0, 3.0], [-20.0, 3.0]]))
    assert mask.sum() == 5 * 4  # x 0..4, y 0..3


def _hand_mesh() -> np.ndarray:
    """A 468-point mesh: eyes level at y 50 (x 40 and 70), forehead top (10) at (55, 20), chin (152) at (55, 110)."""
    mesh = np.full((468, 2), [55.0, 60.0])
    for indices, point in zip(FIVE_POINT_INDICES, [(40, 50), (70, 50), (55, 65), (45, 80), (65, 80)]):
        mesh[list(indices)] = point
    mesh[10], mesh[152], mesh[234], mesh[454] = (55, 20), (55, 110), (25, 60), (85, 60)
    return mesh


def test_mesh_outline_stretches_the_forehead_only() -> None:
    mesh = _hand_mesh()
    outline = mesh_outline(mesh, forehead=True)
    assert len(outline) == len(FACE_OVAL)
    top = outline[FACE_OVAL.index(10)]
    np.testing.assert_allclose(top, [55, 50 - 30 * FOREHEAD_STRETCH])  # 30 px above the eyes, stretched
    for index in (152, 234, 454):  # below the eye line: unchanged
        np.testing.assert_allclose(outline[FACE_OVAL.index(index)], mesh[index])
    np.testing.assert_allclose(mesh_outline(mesh, forehead=False), mesh[list(JAW + BROWS)])


def test_mesh_outline_follows_the_roll() -> None:
    mesh = _hand_mesh()
    turn = np.array([[0.0, -1.0], [1.0, 0.0]])  # a quarter turn
    np.testing.assert_allclose(mesh_outline(mesh @ turn.T, True), mesh_outline(mesh, True) @ turn.T, atol=1e-9)
    with pytest.raises(ValueError, match="468"):
        mesh_outline(mesh[:100], True)
