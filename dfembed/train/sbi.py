"""Self-Blended Images: a pseudo-fake made from one real face (Shiohara & Yamasaki, CVPR 2022).

Every function is pure: arrays in, arrays out, randomness only from the explicit
``numpy.random.Generator`` it is given (albumentations pipelines are built per call and
seeded from it), so the same generator state gives the same pseudo-fake on any thread.

:func:`self_blend` follows SBI's recipe (``src/utils/sbi.py`` and ``blend.py`` of
mapooon/SelfBlendedImages):

1. **Source and target** are copies of the face; one of the two, chosen with probability
   1/2, gets the colour transforms (RGB shift with p = 0.3, hue/saturation/value,
   brightness/contrast) and one frequency transform (downscale by 2 or 4 with nearest
   neighbours and back up bilinearly, or sharpen) — :func:`transform_copy`.
2. **Face mask**: the convex hull of the face outline
   (:mod:`dfembed.faces.regions`), up to the forehead with p = 0.75 and to the brows
   otherwise (SBI's 81 and 68 dense landmarks): from the face's 468 FaceMesh points when
   it has them (the oval stretched over the forehead, or jaw line and brows), else placed
   by the five landmarks or, without them, by the box — :func:`face_mask`.
3. **Small misalignment**: one random affine (translation ±3 % across, ±1.5 % down;
   scale 0.95 … 1/0.95) moves the source and the mask together; the mask alone is then
   deformed elastically (alpha 50, sigma 7 at 256 px) — :func:`misalign`.
4. **Blend mask**: resized to a random 192 … 256 px per side, blurred with an odd kernel
   of 5 … 25 px, eroded to where the blur is still 1, blurred again (odd kernel 5 … 25,
   sigma 5 … 45), normalised to a peak of 1 and resized back — :func:`blend_mask`.
5. **Blend**: ``blended = source * mask + target * (1 - mask)`` with the mask scaled by a
   ratio drawn from {0.25, 0.5, 0.75, 1, 1, 1} — :func:`blend`.

Where SBI's own numbers do nothing they were replaced: its hue/saturation/value shift of
±0.3 is below one step of a ``uint8`` image, so the copy's hue moves by up to ±5 (of
OpenCV's 180), its saturation by ±20 and its value by ±15 (of 255).
"""

from __future__ import annotations

import dataclasses

import albumentations as A
import cv2
import numpy as np

from dfembed.faces.facemesh import MESH_POINTS
from dfembed.faces.regions import box_outline, landmark_outline, mesh_outline, polygon_mask

BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)
FOREHEAD_P = 0.75
ELASTIC_SIZE = 256  # the mask is deformed at this side, so the deformation does not depend on the crop size
_MASK_SIDES = (192, 256)
_KERNELS = tuple(range(5, 26, 2))
_SECOND_SIGMA = (5, 45)


@dataclasses.dataclass(frozen=True, eq=False)  # arrays make == ambiguous
class SelfBlend:
    """A self-blended image and how it was made.

    Attributes:
        image: The pseudo-fake, RGB ``uint8`` ``(H, W, 3)``.
        mask: The blend mask ``(H, W)`` in ``[0, 1]`` (already scaled by ``ratio``): 1 is all source.
        ratio: The blend ratio drawn.
        transformed: ``"source"`` or ``"target"``: the copy that got the colour and frequency transforms.
    """

    image: np.ndarray
    mask: np.ndarray
    ratio: float
    transformed: str


def self_blend(
    image: np.ndarray, rng: np.random.Generator, landmarks: np.ndarray | None = None, box: np.ndarray | None = None
) -> SelfBlend:
    """Make a pseudo-fake from one real face crop (steps 1-5 of the module docstring).

    Args:
        image: The real face, RGB ``uint8`` ``(H, W, 3)``.
        rng: The generator every random choice is drawn from.
        landmarks: The face's FaceMesh points ``(468, 2)`` or five landmarks ``(5, 2)`` in
            ``image`` pixels, or ``None``.
        box: The face box ``x1, y1, x2, y2`` in ``image`` pixels, used when ``landmarks`` is ``None``.

    Returns:
        The :class:`SelfBlend`.

    Raises:
        ValueError: Neither landmarks nor a box, or an image that is not RGB ``uint8``.
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}")
    source, target, transformed = transform_copy(image, rng)
    mask = face_mask(image.shape[:2], rng, landmarks, box)
    source, mask = misalign(source, mask, rng)
    ratio = float(BLEND_RATIOS[int(rng.integers(len(BLEND_RATIOS)))])
    soft = blend_mask(mask, rng) * ratio
    return SelfBlend(blend(source, target, soft), soft, ratio, transformed)


def transform_copy(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
    """Source and target copies of ``image``, one of them colour- and frequency-transformed.

    Returns:
        ``(source, target, which)`` with ``which`` the transformed copy's name.
    """
    changed = frequency_transform(color_transform(image, rng), rng)
    if rng.random() < 0.5:
        return changed, image.copy(), "source"
    return image.copy(), changed, "target"


def color_transform(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """RGB shift (±20, p = 0.3), hue ±5 / saturation ±20 / value ±15, brightness and contrast ±0.1."""
    return A.Compose(
        [
            A.RGBShift((-20, 20), (-20, 20), (-20, 20), p=0.3),
            A.HueSaturationValue(hue_shift_limit=(-5, 5), sat_shift_limit=(-20, 20), val_shift_limit=(-15, 15), p=1),
            A.RandomBrightnessContrast(brightness_limit=(-0.1, 0.1), contrast_limit=(-0.1, 0.1), p=1),
        ],
        seed=_seed(rng),
    )(image=image)["image"]


def frequency_transform(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Either a downscale by 2 or 4 (nearest) and back up (bilinear), or a sharpen (alpha 0.2-0.5)."""
    if rng.random() < 0.5:
        factor = 1.0 / float(rng.choice([2, 4]))
        step = A.Downscale(scale_range=(factor, factor),
                           interpolation_pair={"downscale": cv2.INTER_NEAREST, "upscale": cv2.INTER_LINEAR}, p=1)
    else:
        step = A.Sharpen(alpha=(0.2, 0.5), lightness=(0.5, 1.0), p=1)
    return A.Compose([step], seed=_seed(rng))(image=image)["image"]


def face_mask(
    shape: tuple[int, int], rng: np.random.Generator, landmarks: np.ndarray | None = None,
    box: np.ndarray | None = None,
) -> np.ndarray:
    """The face region: the outline's hull, to the forehead with p = 0.75, else to the brows.

    Args:
        shape: ``(height, width)`` of the image.
        rng: The generator.
        landmarks: FaceMesh points ``(468, 2)`` (the outline is theirs) or five landmarks
            ``(5, 2)`` (they place the outline) in pixels.
        box: ``x1, y1, x2, y2`` in pixels; places the outline without landmarks.

    Returns:
        ``float32`` mask of ``shape``, 1 inside.

    Raises:
        ValueError: Neither landmarks nor box, or landmarks that are neither 468 nor 5 points.
    """
    forehead = bool(rng.random() < FOREHEAD_P)
    points = None if landmarks is None else np.asarray(landmarks, dtype=np.float64)
    if points is not None and points.shape not in ((MESH_POINTS, 2), (5, 2)):
        raise ValueError(f"expected FaceMesh points ({MESH_POINTS}, 2) or five landmarks (5, 2), got {points.shape}")
    if points is not None and len(points) == MESH_POINTS:
        outline = mesh_outline(points, forehead)
    elif points is not None:
        outline = landmark_outline(points, forehead)
    elif box is not None:
        outline = box_outline(np.asarray(box, dtype=np.float64), forehead)
    else:
        raise ValueError("a face mask needs the face's landmarks or its box")
    return polygon_mask(shape, outline)


def misalign(source: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Move the source and the mask by one small random affine, then deform the mask elastically.

    Returns:
        ``(source, mask)``; the mask stays ``float32`` of the image's height and width.
    """
    affine = A.Compose([A.Affine(translate_percent={"x": (-0.03, 0.03), "y": (-0.015, 0.015)},
                                 scale=(0.95, 1 / 0.95), fit_output=False, p=1)], seed=_seed(rng))
    moved = affine(image=source, mask=mask)
    height, width = mask.shape
    working = cv2.resize(moved["mask"], (ELASTIC_SIZE, ELASTIC_SIZE), interpolation=cv2.INTER_LINEAR)
    elastic = A.Compose([A.ElasticTransform(alpha=50, sigma=7, p=1)], seed=_seed(rng))
    deformed = elastic(image=working, mask=working)["mask"]
    return moved["image"], cv2.resize(deformed, (width, height), interpolation=cv2.INTER_LINEAR)


def blend_mask(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Soften a face mask: resize, blur, erode, blur again, normalise (step 4 of the module docstring).

    A mask too thin to survive the erosion skips it; an empty mask stays empty.

    Args:
        mask: ``float32`` mask ``(H, W)`` in ``[0, 1]``.
        rng: The generator.

    Returns:
        ``float32`` ``(H, W)`` in ``[0, 1]`` with a peak of 1 (unless empty).
    """
    height, width = mask.shape
    side_h, side_w = (int(rng.integers(_MASK_SIDES[0], _MASK_SIDES[1] + 1)) for _ in range(2))
    small = cv2.resize(mask.astype(np.float32), (side_w, side_h), interpolation=cv2.INTER_LINEAR)
    first, second = (int(rng.choice(_KERNELS)) for _ in range(2))
    sigma = float(rng.integers(_SECOND_SIGMA[0], _SECOND_SIGMA[1] + 1))
    blurred = _normalised(cv2.GaussianBlur(small, (first, first), 0))
    eroded = np.where(blurred >= 1.0 - 1e-6, blurred, 0.0).astype(np.float32)
    if eroded.max() <= 0.0:
        eroded = blurred
    soft = _normalised(cv2.GaussianBlur(eroded, (second, second), sigma))
    return np.clip(cv2.resize(soft, (width, height), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


def blend(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``source * mask + target * (1 - mask)``, rounded to ``uint8``.

    Args:
        source: ``uint8`` ``(H, W, 3)``.
        target: ``uint8`` ``(H, W, 3)``.
        mask: ``(H, W)`` weights of the source in ``[0, 1]``.

    Returns:
        ``uint8`` ``(H, W, 3)``.
    """
    weight = np.asarray(mask, dtype=np.float32)[..., None]
    mixed = source.astype(np.float32) * weight + target.astype(np.float32) * (1.0 - weight)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def _normalised(mask: np.ndarray) -> np.ndarray:
    peak = float(mask.max())
    return mask / peak if peak > 0.0 else mask


def _seed(rng: np.random.Generator) -> int:
    """A seed for an albumentations pipeline, drawn from ``rng``."""
    return int(rng.integers(0, 2**31 - 1))
