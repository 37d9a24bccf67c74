"""The face region as a polygon, from FaceMesh's 468 points, the five landmarks or the box alone, and its mask.

With FaceMesh points (:mod:`dfembed.faces.facemesh`) the outline is Self-Blended Images'
own, from dense points: to the forehead, the face oval (:data:`~dfembed.faces.facemesh.FACE_OVAL`)
with its part above the eyes stretched upward by :data:`FOREHEAD_STRETCH` (the 81-point
hull, whose extra points lie on the hairline); to the brows, the jaw line and the brows
(:data:`~dfembed.faces.facemesh.JAW`, :data:`~dfembed.faces.facemesh.BROWS`: the 68-point hull).

The five points of a detector (eyes, nose, mouth corners) do not outline a face, so the
outline is drawn once in the frame of the five-point template
(:data:`~dfembed.faces.alignment.FIVE_POINT_TEMPLATE`, 112 px) and mapped onto each face:

* the lower half is a half ellipse from cheek to cheek through the chin, centred between
  the eyes (x 56, y 51.6), 41 px wide on each side and 63 px down (chin at y 114.6);
* the upper half is a flatter half ellipse over the brows (14 px up) or, with the
  forehead, 38 px up (to y 13.6) — the two outlines of Self-Blended Images' 68 and 81
  dense landmarks.

With landmarks, the template outline follows the face by the least-squares similarity
transform of the five points (position, size, roll). Without them (a detector without
landmarks, or a crop listed without them) it follows the box: :data:`TEMPLATE_BOX` is where
an MTCNN box lies in the template's frame, and the outline is scaled and moved from it onto
the box. Coordinates are ``(x, y)`` pixels; boxes are ``x1, y1, x2, y2``.
"""

from __future__ import annotations

import cv2
import numpy as np

from dfembed.faces.alignment import FIVE_POINT_TEMPLATE, apply_affine, similarity_transform
from dfembed.faces.facemesh import BROWS, FACE_OVAL, JAW, MESH_POINTS, five_from_mesh

#: Median MTCNN box in the template's frame, measured with dfembed's detector on 175 faces of
#: ``real_faces`` (portraits from 9 sources): each box mapped by its face's five-point similarity
#: transform. The outline lies inside it: MTCNN's box runs from the upper forehead to below the chin.
TEMPLATE_BOX = (12.6, 8.1, 97.2, 119.1)
_CENTRE = (56.0, 51.6)
_HALF_WIDTH = 41.0
_DOWN = 63.0
_UP_BROWS = 14.0
_UP_FOREHEAD = 38.0
#: How far the mesh's forehead is stretched, as a factor of its height above the eye line. Measured on
#: ``real_faces`` (MTCNN faces, mesh mapped into the template's frame by the five points): the oval's top
#: (point 10) lies 29 px above the eye line (median; y 22.5 against the eyes' 51.6), the 81-point outline's
#: forehead (``_UP_FOREHEAD``) 38 px: 38 / 29 = 1.3. The mesh's brows (y 38.8) and chin (117.4) already
#: match the outline's (37.6 and 114.6).
FOREHEAD_STRETCH = 1.3
_POINTS_PER_HALF = 24
_SHIFT = 4


def template_outline(forehead: bool) -> np.ndarray:
    """The face outline in the template's 112-pixel frame, a convex polygon ``(N, 2)``.

    Args:
        forehead: Reach up to the forehead (else to the brows).

    Returns:
        The vertices, clockwise in image coordinates (``y`` down).
    """
    cx, cy = _CENTRE
    up = _UP_FOREHEAD if forehead else _UP_BROWS
    lower = np.linspace(0.0, np.pi, _POINTS_PER_HALF, endpoint=False)
    upper = np.linspace(np.pi, 2.0 * np.pi, _POINTS_PER_HALF, endpoint=False)
    down = np.stack([cx + _HALF_WIDTH * np.cos(lower), cy + _DOWN * np.sin(lower)], axis=1)
    top = np.stack([cx + _HALF_WIDTH * np.cos(upper), cy + up * np.sin(upper)], axis=1)
    return np.concatenate([down, top])


def landmark_outline(landmarks: np.ndarray, forehead: bool) -> np.ndarray:
    """The face outline on an image, placed by the face's five landmarks.

    Args:
        landmarks: ``(5, 2)``: left eye, right eye, nose, mouth left, mouth right (image pixels).
        forehead: As for :func:`template_outline`.

    Returns:
        Polygon ``(N, 2)`` in image pixels.

    Raises:
        ValueError: The landmarks are not five distinct points.
    """
    to_image = similarity_transform(FIVE_POINT_TEMPLATE, np.asarray(landmarks, dtype=np.float64).reshape(5, 2))
    return apply_affine(to_image, template_outline(forehead))


def mesh_outline(mesh: np.ndarray, forehead: bool) -> np.ndarray:
    """The face outline on an image, from the face's FaceMesh points.

    Args:
        mesh: ``(468, 2)`` points in image pixels.
        forehead: The oval with its forehead stretched upward (else the jaw line and brows).

    Returns:
        Polygon ``(N, 2)`` in image pixels (its convex hull is the region).

    Raises:
        ValueError: ``mesh`` is not ``(468, 2)``, or its eyes coincide.
    """
    mesh = np.asarray(mesh, dtype=np.float64)
    if mesh.shape != (MESH_POINTS, 2):
        raise ValueError(f"expected FaceMesh points ({MESH_POINTS}, 2), got {mesh.shape}")
    if not forehead:
        return mesh[list(JAW + BROWS)]
    left, right = five_from_mesh(mesh)[:2]
    across = right - left
    length = float(np.hypot(*across))
    if length <= 1e-9:
        raise ValueError("the mesh's eyes coincide: no up direction")
    up = np.array([across[1], -across[0]]) / length  # the eye line turned a quarter towards the top (y down)
    oval = mesh[list(FACE_OVAL)]
    height = np.clip((oval - (left + right) / 2.0) @ up, 0.0, None)
    return oval + (FOREHEAD_STRETCH - 1.0) * height[:, None] * up


def box_outline(box: np.ndarray, forehead: bool) -> np.ndarray:
    """The face outline on an image, placed by the face's box alone (no landmarks).

    Args:
        box: ``x1, y1, x2, y2`` in image pixels, with area.
        forehead: As for :func:`template_outline`.

    Returns:
        Polygon ``(N, 2)`` in image pixels: :data:`TEMPLATE_BOX` scaled and moved onto ``box``.

    Raises:
        ValueError: The box has no area.
    """
    x1, y1, x2, y2 = (float(v) for v in np.asarray(box, dtype=np.float64))
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"box {box!r} has no area")
    tx1, ty1, tx2, ty2 = TEMPLATE_BOX
    scale = np.array([(x2 - x1) / (tx2 - tx1), (y2 - y1) / (ty2 - ty1)])
    return (template_outline(forehead) - [tx1, ty1]) * scale + [x1, y1]


def polygon_mask(shape: tuple[int, int], polygon: np.ndarray) -> np.ndarray:
    """Fill the convex hull of a polygon: 1 inside, 0 outside.

    Args:
        shape: ``(height, width)`` of the mask.
        polygon: Vertices ``(N, 2)`` in pixels (parts outside the image are clipped).

    Returns:
        ``float32`` array of ``shape``.
    """
    mask = np.zeros(shape, dtype=np.float32)
    # fixed point with 4 fractional bits, so small crops keep the outline's sub-pixel position
    points = np.round(np.asarray(polygon, dtype=np.float64) * (1 << _SHIFT)).astype(np.int32)
    cv2.fillConvexPoly(mask, cv2.convexHull(points), 1.0, lineType=cv2.LINE_8, shift=_SHIFT)
    return mask
