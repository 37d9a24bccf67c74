"""Five-point face alignment: the standard template, the similarity transform onto it, the warp.

Coordinates are ``(x, y)`` pixels with the centre of pixel ``(i, j)`` at ``x = i, y = j``
(OpenCV's convention for ``warpAffine`` and ``resize``). An affine transform is a
``(2, 3)`` matrix ``M`` that maps a source point ``p`` to ``M[:, :2] @ p + M[:, 2]``.

The template is the five-point reference of ArcFace/InsightFace for a 112 × 112 face
(left eye, right eye, nose, mouth left, mouth right; "left" is the image's left), the one
DeepfakeBench aligns to. :func:`template_points` scales it to a crop of ``size`` pixels
and zooms out by ``scale`` around the crop's centre, as DeepfakeBench's ``img_align_crop``
does (``scale = 1.3``: the template occupies the central 1/1.3 of the crop).
"""

from __future__ import annotations

import numpy as np

from dfembed.faces.geometry import crop_region, resize

#: ArcFace's five-point template in a 112-pixel frame, in the order of the detector's landmarks.
FIVE_POINT_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)
TEMPLATE_SIZE = 112


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The least-squares similarity (rotation, uniform scale, translation) taking ``src`` onto ``dst``.

    Umeyama's method (1991), reflections excluded: the rotation is proper.

    Args:
        src: Points ``(N, 2)``, ``N >= 2``, not all equal.
        dst: Their targets ``(N, 2)``.

    Returns:
        The ``(2, 3)`` matrix.

    Raises:
        ValueError: Shapes differ, fewer than two points, or ``src`` has no spread.
    """
    src, dst = np.asarray(src, dtype=np.float64), np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"expected two (N, 2) point arrays with N >= 2, got {src.shape} and {dst.shape}")
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    variance = float((src_c**2).sum()) / len(src)
    if variance <= 1e-12:
        raise ValueError("the source points coincide: no similarity transform")
    u, singular, vt = np.linalg.svd(dst_c.T @ src_c / len(src))
    sign = np.diag([1.0, -1.0 if np.linalg.det(u) * np.linalg.det(vt) < 0 else 1.0])
    rotation = u @ sign @ vt
    scale = float(np.sum(singular * np.diag(sign))) / variance
    linear = scale * rotation
    return np.hstack([linear, (dst_mean - linear @ src_mean)[:, None]])


def template_points(size: int, scale: float) -> np.ndarray:
    """The five template points in a ``size``-pixel crop zoomed out by ``scale`` around its centre.

    Args:
        size: Side of the aligned crop in pixels.
        scale: ``>= 1`` (more context) or ``< 1`` (tighter); 1 is the bare template.

    Returns:
        Points ``(5, 2)``.
    """
    centre = size / 2.0
    points = FIVE_POINT_TEMPLATE * (size / TEMPLATE_SIZE)
    return centre + (points - centre) / scale


def alignment_matrix(landmarks: np.ndarray, size: int, scale: float) -> np.ndarray:
    """The transform from source pixels to an aligned ``size`` × ``size`` crop.

    Args:
        landmarks: The face's five points ``(5, 2)`` in source pixels.
        size: Side of the crop.
        scale: Zoom-out factor of the template (see :func:`template_points`).

    Returns:
        The ``(2, 3)`` matrix.
    """
    return similarity_transform(np.asarray(landmarks, dtype=np.float64).reshape(5, 2), template_points(size, scale))


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map points ``(..., 2)`` with a ``(2, 3)`` affine matrix."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a ``(2, 3)`` affine matrix."""
    linear = np.linalg.inv(matrix[:, :2])
    return np.hstack([linear, (-linear @ matrix[:, 2])[:, None]])


def affine_scale(matrix: np.ndarray) -> float:
    """The uniform scale of a similarity matrix (the square root of its determinant)."""
    return float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))


def warp_crop(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Cut the ``size`` × ``size`` crop that ``matrix`` maps the image onto; black beyond the border.

    A shrinking transform first resizes the region it reads with dfembed's one resize rule
    (area interpolation, :func:`dfembed.faces.geometry.resize`) so that the remaining
    rotation samples at about one source pixel per output pixel instead of aliasing.

    Args:
        image: Source ``(H, W, C)`` array.
        matrix: Source → crop transform, a similarity (``(2, 3)``).
        size: Side of the crop.

    Returns:
        Array ``(size, size, C)`` of the image's dtype.
    """
    import cv2

    scale = affine_scale(matrix)
    if scale < 1.0:
        region, to_region = _shrunk_region(image, matrix, size, scale)
        image, matrix = region, _compose(matrix, invert_affine(to_region))
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0)


def _shrunk_region(image: np.ndarray, matrix: np.ndarray, size: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The source region the crop reads, shrunk by ``scale``, and the source → region transform."""
    corners = apply_affine(invert_affine(matrix), np.array([[0, 0], [size, 0], [0, size], [size, size]], float))
    x1, y1 = np.floor(corners.min(axis=0)) - 1
    x2, y2 = np.ceil(corners.max(axis=0)) + 1
    region = crop_region(image, np.array([x1, y1, x2, y2]))
    height, width = region.shape[:2]
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    shrunk = resize(region, new_w, new_h)
    sx, sy = new_w / width, new_h / height
    # region pixel centre u = x - x1; resized centre (u + 0.5) * s - 0.5 (OpenCV's resize)
    to_region = np.array([[sx, 0.0, (0.5 - x1) * sx - 0.5], [0.0, sy, (0.5 - y1) * sy - 0.5]])
    return shrunk, to_region


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """``outer ∘ inner`` of two ``(2, 3)`` affine matrices."""
    bottom = [[0.0, 0.0, 1.0]]
    return (np.vstack([outer, bottom]) @ np.vstack([inner, bottom]))[:2]
