"""Pure face-box geometry on NumPy arrays.

Box convention everywhere in this module: ``x1, y1, x2, y2`` in pixels, ``x`` to the
right and ``y`` down, with ``(x1, y1)`` the top-left and ``(x2, y2)`` the bottom-right
corner. A box array has shape ``(4,)`` or ``(N, 4)``; landmarks have shape ``(..., 2)``
as ``(x, y)`` pairs. Nothing here reads or writes files.
"""

from __future__ import annotations

import cv2
import numpy as np


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """Convert ``x, y, width, height`` boxes to ``x1, y1, x2, y2`` (pixels).

    Args:
        boxes: Array ``(4,)`` or ``(N, 4)`` of ``x, y, w, h``.

    Returns:
        Float array of the same shape in ``x1, y1, x2, y2``.
    """
    out = np.asarray(boxes, dtype=np.float64).copy()
    out[..., 2] += out[..., 0]
    out[..., 3] += out[..., 1]
    return out


def downscale_factor(width: int, height: int) -> float:
    """Return the DFDC-winner resize factor applied to a frame before detection.

    The wider side decides: ``< 300`` px → ×2, ``≤ 1000`` → ×1, ``≤ 1900`` → ×0.5, larger
    → ×0.33. A 1920×1080 video frame is thus detected at 634×356.

    Args:
        width: Frame width in pixels.
        height: Frame height in pixels.

    Returns:
        The factor by which to resize the frame.
    """
    side = max(width, height)
    if side < 300:
        return 2.0
    if side <= 1000:
        return 1.0
    if side <= 1900:
        return 0.5
    return 0.33


def to_source_pixels(points: np.ndarray, factor: float) -> np.ndarray:
    """Map boxes (``x1, y1, x2, y2``) or landmarks (``x, y``) found on a resized image back.

    Args:
        points: Coordinates on the image resized by ``factor``.
        factor: The resize factor that was applied to the source image.

    Returns:
        Float coordinates in source-image pixels.
    """
    return np.asarray(points, dtype=np.float64) / factor


def add_margin(box: np.ndarray, margin: float) -> np.ndarray:
    """Grow a box ``x1, y1, x2, y2`` by ``margin`` × its width (height) on each side.

    Args:
        box: Array ``(4,)`` or ``(N, 4)`` in pixels.
        margin: Fraction of the width added left and right, of the height top and bottom.

    Returns:
        The enlarged boxes (float); a 100×50 box with margin 0.3 becomes 160×80.
    """
    box = np.asarray(box, dtype=np.float64)
    dx = (box[..., 2] - box[..., 0]) * margin
    dy = (box[..., 3] - box[..., 1]) * margin
    return np.stack([box[..., 0] - dx, box[..., 1] - dy, box[..., 2] + dx, box[..., 3] + dy], axis=-1)


def make_square(box: np.ndarray) -> np.ndarray:
    """Turn boxes ``x1, y1, x2, y2`` into squares with the same centre and the longer side.

    Args:
        box: Array ``(4,)`` or ``(N, 4)`` in pixels.

    Returns:
        Square boxes (float).
    """
    box = np.asarray(box, dtype=np.float64)
    cx = (box[..., 0] + box[..., 2]) / 2
    cy = (box[..., 1] + box[..., 3]) / 2
    half = np.maximum(box[..., 2] - box[..., 0], box[..., 3] - box[..., 1]) / 2
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=-1)


def crop_region(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Cut the pixels of box ``x1, y1, x2, y2`` out of ``image``, padding outside it with black.

    The box is rounded to whole pixels. The part inside the image is copied; the part
    beyond the border is filled with zeros, so the result always has the box's shape and
    the face stays where the box put it.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` array.
        box: One box in pixels.

    Returns:
        Array of shape ``(y2 - y1, x2 - x1, ...)`` after rounding.

    Raises:
        ValueError: The box has no area.
    """
    x1, y1, x2, y2 = (int(round(v)) for v in np.asarray(box, dtype=np.float64))
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"box {box!r} has no area")
    out = np.zeros((y2 - y1, x2 - x1) + image.shape[2:], dtype=image.dtype)
    height, width = image.shape[:2]
    sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
    if sx2 > sx1 and sy2 > sy1:
        out[sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = image[sy1:sy2, sx1:sx2]
    return out


def face_crop(image: np.ndarray, box: np.ndarray, margin: float, size: int) -> np.ndarray:
    """Crop a face: add margin, make square, pad at the border, resize to ``size`` × ``size``.

    Args:
        image: Source image ``(H, W, C)``.
        box: Face box ``x1, y1, x2, y2`` in source pixels.
        margin: Fraction of the box added on each side (see :func:`add_margin`).
        size: Side of the output in pixels.

    Returns:
        Array ``(size, size, C)`` of the image's dtype.
    """
    return fit_size(crop_region(image, make_square(add_margin(box, margin))), size)


def crop_matrix(box: np.ndarray, margin: float, size: int) -> np.ndarray:
    """The transform from source pixels to the crop :func:`face_crop` cuts for ``box``.

    Pixel centres sit on integer coordinates (OpenCV's convention): the crop's region is
    :func:`add_margin` then :func:`make_square`, rounded to whole pixels as
    :func:`crop_region` rounds it, then resized to ``size`` (``x' = (x - x1 + 0.5) * s - 0.5``).

    Args:
        box: Face box ``x1, y1, x2, y2`` in source pixels.
        margin: As for :func:`face_crop`.
        size: As for :func:`face_crop`.

    Returns:
        A ``(2, 3)`` matrix ``M``: a source point ``p`` lands at ``M[:, :2] @ p + M[:, 2]`` in the crop.

    Raises:
        ValueError: The region has no area.
    """
    region = make_square(add_margin(np.asarray(box, dtype=np.float64), margin))
    x1, y1, x2, y2 = (int(round(v)) for v in region)
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"box {box!r} has no area")
    sx, sy = size / (x2 - x1), size / (y2 - y1)
    return np.array([[sx, 0.0, (0.5 - x1) * sx - 0.5], [0.0, sy, (0.5 - y1) * sy - 0.5]])


def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize an image with dfembed's one rule: area interpolation when shrinking, linear when enlarging.

    Every resize of a face or a frame (detection downscale, crops, the model's input)
    goes through here, so training and inference see pixels made the same way.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` array.
        width: Output width in pixels.
        height: Output height in pixels.

    Returns:
        The resized array, or ``image`` itself when it already has that size.
    """
    old_height, old_width = image.shape[:2]
    if (old_width, old_height) == (width, height):
        return image
    shrinking = width * height < old_width * old_height
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def fit_size(image: np.ndarray, size: int) -> np.ndarray:
    """Resize a square crop to ``size`` × ``size`` (see :func:`resize`); unchanged if it fits."""
    return resize(image, size, size)


def box_area(box: np.ndarray) -> np.ndarray:
    """Area of boxes ``x1, y1, x2, y2`` in square pixels (0 for inverted boxes)."""
    box = np.asarray(box, dtype=np.float64)
    return np.clip(box[..., 2] - box[..., 0], 0, None) * np.clip(box[..., 3] - box[..., 1], 0, None)


def iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Intersection over union of every pair of boxes ``x1, y1, x2, y2``.

    Args:
        boxes_a: Array ``(N, 4)`` (or ``(4,)``) in pixels.
        boxes_b: Array ``(M, 4)`` (or ``(4,)``) in pixels.

    Returns:
        Array ``(N, M)`` of IoU values in ``[0, 1]``.
    """
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)[:, None, :]
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)[None, :, :]
    inter_w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    inter_h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = inter_w * inter_h
    union = box_area(a) + box_area(b) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
