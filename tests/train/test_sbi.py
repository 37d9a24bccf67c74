"""Self-blended images on hand-built faces: blend identity, the mask's place, determinism, faces without landmarks."""

from __future__ import annotations

import numpy as np
import pytest

from dfembed.faces.alignment import FIVE_POINT_TEMPLATE
from dfembed.faces.facemesh import five_from_mesh
from dfembed.faces.regions import TEMPLATE_BOX, polygon_mask
from dfembed.train.pseudo import central_box
from dfembed.train.sbi import (
    BLEND_RATIOS,
    blend,
    blend_mask,
    color_transform,
    face_mask,
    frequency_transform,
    self_blend,
    transform_copy,
)
from tests.meshes import ASTRONAUT_FIVE, astronaut

SIZE = 128


def _textured(seed: int = 0) -> np.ndarray:
    """A smooth random RGB texture (so downscaling keeps it recognisable)."""
    import cv2

    noise = np.random.default_rng(seed).uniform(0, 255, (SIZE, SIZE, 3)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 3) * 3 - 255, 0, 255).astype(np.uint8)


def _template_landmarks(box: np.ndarray) -> np.ndarray:
    """The five template points placed so that TEMPLATE_BOX lands on ``box`` (axis-aligned scale)."""
    tx1, ty1, tx2, ty2 = TEMPLATE_BOX
    scale = np.array([(box[2] - box[0]) / (tx2 - tx1), (box[3] - box[1]) / (ty2 - ty1)])
    return (FIVE_POINT_TEMPLATE - [tx1, ty1]) * scale + box[:2]


BOX = central_box(SIZE, 0.3)  # the face box a default (margin 0.3) crop holds


def test_blend_is_the_source_inside_the_target_outside_and_linear_between() -> None:
    source = np.full((1, 3, 3), 200, np.uint8)
    target = np.full((1, 3, 3), 50, np.uint8)
    mask = np.array([[1.0, 0.0, 0.25]])
    # 200 * 0.25 + 50 * 0.75 = 87.5 → 88 (round half to even)
    np.testing.assert_array_equal(blend(source, target, mask)[0, :, 0], [200, 50, 88])


def test_outside_the_mask_the_pseudo_fake_is_the_real_when_the_source_was_transformed() -> None:
    image = _textured()
    seeds = [s for s in range(40) if self_blend(image, np.random.default_rng(s), box=BOX).transformed == "source"]
    assert seeds, "half of the draws transform the source"
    fake = self_blend(image, np.random.default_rng(seeds[0]), box=BOX)
    outside = fake.mask == 0.0
    assert outside.mean() > 0.3
    np.testing.assert_array_equal(fake.image[outside], image[outside])
    assert np.abs(fake.image[fake.mask > 0.9].astype(int) - image[fake.mask > 0.9]).mean() > 1.0


def test_at_ratio_one_the_mask_peaks_at_one() -> None:
    image = _textured(1)
    blends = [self_blend(image, np.random.default_rng(s), box=BOX) for s in range(12)]
    assert {b.ratio for b in blends} <= set(BLEND_RATIOS) and len({b.ratio for b in blends}) > 1
    for b in blends:
        assert b.mask.max() == pytest.approx(b.ratio, rel=0.01) and b.mask.min() >= 0.0


def test_the_mask_lies_inside_the_face_box_and_its_soft_edge_inside_the_crop() -> None:
    rng = np.random.default_rng(3)
    for _ in range(8):
        hard = face_mask((SIZE, SIZE), rng, landmarks=_template_landmarks(BOX))
        ys, xs = np.nonzero(hard)
        assert xs.min() >= BOX[0] - 1 and xs.max() <= BOX[2] + 1 and ys.min() >= BOX[1] - 1 and ys.max() <= BOX[3] + 1
    image = _textured(2)
    for seed in range(8):
        soft = self_blend(image, np.random.default_rng(seed), landmarks=_template_landmarks(BOX)).mask
        border = np.concatenate([soft[0], soft[-1], soft[:, 0], soft[:, -1]])
        assert border.max() < 0.01  # with the default margin the blend boundary stays in the crop
        ys, xs = np.nonzero(soft > 0.5 * soft.max())
        np.testing.assert_allclose([xs.mean(), ys.mean()], [(BOX[0] + BOX[2]) / 2, (BOX[1] + BOX[3]) / 2], atol=12)


def test_same_seed_same_pseudo_fake_other_seed_another() -> None:
    image = _textured(4)
    original = image.copy()
    first = self_blend(image, np.random.default_rng(11), landmarks=_template_landmarks(BOX))
    again = self_blend(image, np.random.default_rng(11), landmarks=_template_landmarks(BOX))
    other = self_blend(image, np.random.default_rng(12), landmarks=_template_landmarks(BOX))
    np.testing.assert_array_equal(first.image, again.image)
    np.testing.assert_array_equal(first.mask, again.mask)
    assert not np.array_equal(first.image, other.image)
    np.testing.assert_array_equal(image, original)  # the real crop is left as it was


def test_a_face_without_landmarks_is_placed_by_its_box_and_one_without_either_is_refused() -> None:
    rng = np.random.default_rng(0)
    by_box = face_mask((SIZE, SIZE), rng, box=BOX)
    ys, xs = np.nonzero(by_box)
    assert BOX[0] - 1 <= xs.min() and xs.max() <= BOX[2] + 1 and BOX[1] - 1 <= ys.min() and ys.max() <= BOX[3] + 1
    with pytest.raises(ValueError, match="landmarks or its box"):
        face_mask((SIZE, SIZE), rng)
    with pytest.raises(ValueError, match="RGB uint8"):
        self_blend(np.zeros((8, 8), np.uint8), rng, box=BOX)


def test_blend_mask_keeps_a_thin_mask_and_an_empty_one_empty() -> None:
    thin = np.zeros((64, 64), np.float32)
    thin[30:32, 10:50] = 1.0  # two pixels high: the erosion would remove it
    soft = blend_mask(thin, np.random.default_rng(0))
    assert soft.max() > 0.9 and soft[31, 30] > 0.5
    assert blend_mask(np.zeros((64, 64), np.float32), np.random.default_rng(0)).max() == 0.0


def test_one_copy_is_transformed_the_other_is_the_image() -> None:
    image = _textured(5)
    for seed in range(6):
        source, target, which = transform_copy(image, np.random.default_rng(seed))
        kept, changed = (target, source) if which == "source" else (source, target)
        np.testing.assert_array_equal(kept, image)
        assert changed.shape == image.shape and changed.dtype == np.uint8 and not np.array_equal(changed, image)


def test_colour_and_frequency_transforms_keep_the_face_recognisable() -> None:
    image = _textured(6)
    for seed in range(6):
        rng = np.random.default_rng(seed)
        for changed in (color_transform(image, rng), frequency_transform(image, rng)):
            corr = np.corrcoef(changed.astype(float).ravel(), image.astype(float).ravel())[0, 1]
            assert changed.shape == image.shape and corr > 0.8


def test_misalign_moves_the_source_and_the_mask_together_by_a_small_shift() -> None:
    from dfembed.train.sbi import misalign

    source = np.zeros((SIZE, SIZE, 3), np.uint8)
    source[40:90, 30:100] = 255
    mask = (source[..., 0] > 0).astype(np.float32)
    for seed in range(6):
        moved, moved_mask = misalign(source, mask, np.random.default_rng(seed))
        bright, inside = moved[..., 0] > 127, moved_mask > 0.5
        assert (bright & inside).sum() / (bright | inside).sum() > 0.8  # the elastic step only ripples the edge
        ys, xs = np.nonzero(bright)
        # ±3 % across, ±1.5 % down, scale 0.95-1.05 about the centre: the square's centre (64.5, 64.5) moves little
        assert abs(xs.mean() - 64.5) < 0.03 * SIZE + 2 and abs(ys.mean() - 64.5) < 0.015 * SIZE + 2


@pytest.mark.parametrize("source", ["mtcnn", "mesh"])
def test_a_mesh_mask_covers_the_five_point_hull(source: str) -> None:
    image, mesh = astronaut()
    five = ASTRONAUT_FIVE if source == "mtcnn" else five_from_mesh(mesh)
    hull = polygon_mask(image.shape[:2], five)
    reaches = set()
    for seed in range(8):  # both outlines: to the forehead (p = 0.75) and to the brows
        mask = face_mask(image.shape[:2], np.random.default_rng(seed), mesh)
        assert (hull * mask).sum() >= 0.99 * hull.sum()
        reaches.add(int(np.nonzero(mask.any(axis=1))[0][0]))  # the mask's top row
    assert len(reaches) == 2  # the forehead outline reaches higher than the brows


def test_a_self_blend_takes_mesh_points_seeded() -> None:
    image, mesh = astronaut()
    crop, points = image[40:200, 150:300], mesh - [150, 40]
    first = self_blend(crop, np.random.default_rng(5), points)
    np.testing.assert_array_equal(first.image, self_blend(crop, np.random.default_rng(5), points).image)
    assert first.mask.shape == crop.shape[:2] and first.mask.max() > 0
    with pytest.raises(ValueError, match="expected"):
        self_blend(crop, np.random.default_rng(5), points[:7])
