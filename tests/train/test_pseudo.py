"""Pseudo-fakes of real crops: face geometry from the manifest or the crop record, batches with self-blends."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from dfembed.core.errors import InputError
from dfembed.crop.manifest import CROP_BOX_COLUMNS, CROP_LANDMARK_COLUMNS, mesh_bytes
from dfembed.crop.naming import mesh_file
from dfembed.faces.alignment import template_points
from dfembed.faces.facemesh import FIVE_POINT_INDICES
from dfembed.faces.geometry import fit_size
from dfembed.train.augment import Augmenter, AugmentParams
from dfembed.train.batches import BalancedBatches, CropImages, check_balanced_batch
from dfembed.train.crops import Crop, list_crops, self_blend_crops
from dfembed.train.pseudo import CropGeometry, PseudoFakes, build_pseudo_fakes, central_box, read_crop_geometry
from tests.train.trees import crop_list

PLAIN = Augmenter(AugmentParams(image_size=32))


def _texture(seed: int, size: int = 48) -> np.ndarray:
    noise = np.random.default_rng(seed).uniform(0, 255, (size, size, 3)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 2) * 3 - 255, 0, 255).astype(np.uint8)


def _real_tree(root: Path, n: int, fakes: int = 0) -> Path:
    """``n`` textured real crops (48 px), ``fakes`` flat fake crops of value 250; no manifest."""
    for i in range(n):
        (root / "real").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "real" / f"v{i}-000-00.png"), _texture(i))
    for i in range(fakes):
        (root / "fake").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "fake" / f"f{i}-000-00.png"), np.full((48, 48, 3), 250, np.uint8))
    return root


def test_central_box_is_the_face_a_margin_leaves() -> None:
    x1, y1, x2, y2 = central_box(161, 0.3)
    assert (y2 - y1) == pytest.approx(161 / 1.6) and (x1 + x2) / 2 == pytest.approx(80.0)  # centre of pixels 0..160
    assert (x2 - x1) / (y2 - y1) == pytest.approx((97.2 - 12.6) / (119.1 - 8.1))


def test_geometry_from_manifest_columns_and_fallbacks(tmp_path: Path) -> None:
    root = _real_tree(tmp_path / "d", 3)
    points = np.arange(10, dtype=float).reshape(5, 2) + 20
    header = ["crop", *CROP_BOX_COLUMNS, *CROP_LANDMARK_COLUMNS]
    rows = [",".join(header),
            ",".join(["real/v0-000-00.png", "10", "12", "40", "44", *(f"{v}" for v in points.ravel())]),
            ",".join(["real/v1-000-00.png", "10", "12", "40", "44", *([""] * 10)])]  # a detector without landmarks
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    (root / "dfembed-crop.json").write_text(json.dumps({"config": {"size": 48, "margin": 0.25}}))
    paths = sorted((root / "real").iterdir())
    geometry, bare = read_crop_geometry(root, paths)
    assert bare == 1  # v2 is in no manifest row
    full, box_only, none = (geometry[p.resolve()] for p in paths)
    np.testing.assert_allclose(full.landmarks, points)
    assert box_only.landmarks is None and box_only.box == (10.0, 12.0, 40.0, 44.0)
    landmarks, box = none.scaled(96, (48, 48))  # resized to twice the file's size: the centred box of margin 0.25
    assert landmarks is None
    np.testing.assert_allclose(box, central_box(96, 0.25))
    scaled_points, _ = full.scaled(96, (48, 48))
    np.testing.assert_allclose(scaled_points, (points + 0.5) * 2 - 0.5)


def test_points_far_outside_the_crop_are_dropped_and_the_blend_still_has_a_mask(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = _real_tree(tmp_path / "d", 2)
    huge = ["1e30", "-1e30"] * 5
    header = ["crop", *CROP_BOX_COLUMNS, *CROP_LANDMARK_COLUMNS]
    rows = [",".join(header),
            ",".join(["real/v0-000-00.png", "10", "12", "40", "44", *huge]),  # damaged landmarks, a good box
            ",".join(["real/v1-000-00.png", "-9e20", "12", "40", "44", *huge])]  # and both damaged
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    (root / "dfembed-crop.json").write_text(json.dumps({"config": {"size": 48, "margin": 0.25}}))
    paths = sorted((root / "real").iterdir())
    with caplog.at_level("WARNING"):
        geometry, _ = read_crop_geometry(root, paths)
        pseudo = build_pseudo_fakes([(root, paths)], 48)
    assert "far outside their 48 px crop" in caplog.text
    first, second = (geometry[p.resolve()] for p in paths)
    assert first.landmarks is None and first.box == (10.0, 12.0, 40.0, 44.0)
    assert second.landmarks is None and second.box is None
    for index, path in enumerate(paths):  # a mask over the face, not an empty one (a real trained on as a fake)
        blend = pseudo.make(_texture(index), path, 1)
        assert blend.mask.max() > 0.5 and (blend.image != fit_size(_texture(index), 48)).any()


def test_aligned_crops_without_geometry_use_the_template(tmp_path: Path) -> None:
    root = _real_tree(tmp_path / "d", 1)
    (root / "dfembed-crop.json").write_text(json.dumps({"config": {"size": 48, "align": "similarity",
                                                                   "align_scale": 1.3}}))
    geometry, _ = read_crop_geometry(root, list((root / "real").iterdir()))
    (only,) = geometry.values()
    np.testing.assert_allclose(only.scaled(64, (48, 48))[0], template_points(64, 1.3))


def test_bare_crops_are_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = _real_tree(tmp_path / "d", 2)
    with caplog.at_level("WARNING"):
        pseudo = build_pseudo_fakes([(root, sorted((root / "real").iterdir()))], 32)
    assert "2 of 2 real crops" in caplog.text and "manifest.csv" in caplog.text
    blend = pseudo.make(_texture(0), root / "real" / "v0-000-00.png", 3)
    assert blend.image.shape == (32, 32, 3) and blend.mask.max() > 0


def test_self_blend_crops_keep_the_real_path_and_group() -> None:
    crops = crop_list({0: 3, 1: 2})
    made = self_blend_crops(crops, seed=1)
    assert [(c.path, c.group, c.label) for c in made] == [(c.path, c.group, 1) for c in crops if c.label == 0]
    assert len({c.blend_seed for c in made}) == 3 and made == self_blend_crops(crops, seed=1)
    assert [c.blend_seed for c in self_blend_crops(crops, seed=1, stream=5)] != [c.blend_seed for c in made]


@pytest.fixture(scope="module")
def reals_only(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Crop], PseudoFakes]:
    root = _real_tree(tmp_path_factory.mktemp("reals"), 6)
    crops = list(list_crops(root, fakes_optional=True).crops)
    return crops, build_pseudo_fakes([(root, [c.path for c in crops])], 32)


def test_without_fakes_every_fake_slot_is_a_self_blend_of_its_pair(reals_only: tuple[list[Crop], PseudoFakes]) -> None:
    crops, pseudo = reals_only
    batches = BalancedBatches(crops, 6, PLAIN, seed=2, pseudo=pseudo, pseudo_fraction=1.0)
    assert len(batches) == 2  # one pass over the 6 reals, 3 per batch
    images, labels = batches.batch(0, 1)
    np.testing.assert_array_equal(labels, [0, 1, 0, 1, 0, 1])
    reals, fakes = images[labels == 0].reshape(3, -1), images[labels == 1].reshape(3, -1)
    corr = np.corrcoef(np.concatenate([reals, fakes]))[:3, 3:]  # real i against fake j
    assert (np.diag(corr) > 0.6).all() and (corr[~np.eye(3, dtype=bool)] < 0.4).all()
    assert not any(np.array_equal(r, f) for r, f in zip(reals, fakes))
    np.testing.assert_array_equal(images, batches.batch(0, 1)[0])  # deterministic


def test_the_fraction_sets_how_many_fakes_are_blended(tmp_path: Path) -> None:
    root = _real_tree(tmp_path / "d", 8, fakes=4)
    crops = list(list_crops(root).crops)
    pseudo = build_pseudo_fakes([(root, [c.path for c in crops if c.label == 0])], 32)
    batches = BalancedBatches(crops, 8, PLAIN, seed=0, pseudo=pseudo, pseudo_fraction=0.5)
    for index in range(len(batches)):
        images, labels = batches[index]
        labelled = [bool((img == 250).all()) for img in images[labels == 1]]  # the flat fake crops
        assert sum(labelled) == 2  # 4 fake slots, round(0.5 * 4) of them self-blended


def test_fraction_lowers_the_fakes_a_batch_needs() -> None:
    crops = crop_list({0: 4, 1: 2})
    assert check_balanced_batch(crops, 8, pseudo_fraction=0.5) == 4
    with pytest.raises(InputError, match="needs 4 real and 3 fake"):
        check_balanced_batch(crops, 8, pseudo_fraction=0.25)


def test_embedding_batches_give_the_self_blend_of_a_pseudo_fake(reals_only: tuple[list[Crop], PseudoFakes]) -> None:
    crops, pseudo = reals_only
    made = self_blend_crops(crops[:2], seed=0)
    images = CropImages([c.path for c in [*crops[:2], *made]], 32, 4, blend_seeds=[None, None, *[c.blend_seed for c in made]],
                        pseudo=pseudo)[0]
    expected = pseudo.make(cv2.cvtColor(cv2.imread(str(made[0].path)), cv2.COLOR_BGR2RGB), made[0].path,
                           made[0].blend_seed).image
    np.testing.assert_array_equal(images[2], expected.astype(np.float32))
    assert not np.array_equal(images[0], images[2])
    with pytest.raises(ValueError, match="pseudo"):
        CropImages([crops[0].path], 32, 4, blend_seeds=[0])


def test_geometry_follows_the_files_own_size_per_axis() -> None:
    face = CropGeometry(np.array([[9.5, 4.5]] * 5), (0.0, 0.0, 19.0, 9.0))
    landmarks, box = face.scaled(40, (10, 20))  # a 20 x 10 file stretched to 40 x 40: x twice, y four times
    np.testing.assert_allclose(box, [0.5 * 2 - 0.5, 0.5 * 4 - 0.5, 19.5 * 2 - 0.5, 9.5 * 4 - 0.5])
    np.testing.assert_allclose(landmarks[0], [10 * 2 - 0.5, 5 * 4 - 0.5])


def test_replica_shares_keep_the_batch_self_blends(tmp_path: Path) -> None:
    root = _real_tree(tmp_path / "d", 8, fakes=4)
    crops = list(list_crops(root).crops)
    pseudo = build_pseudo_fakes([(root, [c.path for c in crops if c.label == 0])], 32)
    batches = BalancedBatches(crops, 8, PLAIN, seed=0, pseudo=pseudo, pseudo_fraction=0.5)
    for index in range(len(batches)):
        images, labels = batches.batch(0, index)
        shares = [batches.replica_batch(0, index, replica, 2) for replica in range(2)]
        np.testing.assert_array_equal(np.concatenate([s[0] for s in shares]), images)
        np.testing.assert_array_equal(np.concatenate([s[1] for s in shares]), labels)


def test_crops_with_a_mesh_blend_by_it_the_others_by_their_five_points(tmp_path: Path) -> None:
    root = _real_tree(tmp_path / "d", 2)
    points = np.arange(10, dtype=float).reshape(5, 2) * 2 + 14
    header = ["crop", *CROP_BOX_COLUMNS, *CROP_LANDMARK_COLUMNS]
    cells = ["8", "6", "40", "44", *(f"{v}" for v in points.ravel())]
    rows = [",".join(header), *(",".join([f"real/v{i}-000-00.png", *cells]) for i in range(2))]
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    mesh = np.random.default_rng(0).uniform(10, 38, (468, 2))  # a face's 468 points in the 48 px crop
    for indices, point in zip(FIVE_POINT_INDICES, points):
        mesh[list(indices)] = point
    target = root / mesh_file("real/v0-000-00.png")
    target.parent.mkdir(parents=True)
    target.write_bytes(mesh_bytes(mesh))
    paths = sorted((root / "real").iterdir())
    pseudo = build_pseudo_fakes([(root, paths)], 48)
    assert [pseudo.placed_by(p) for p in paths] == ["FaceMesh", "five points"]
    landmarks, _ = pseudo.geometry[paths[0].resolve()].scaled(48, (48, 48))
    np.testing.assert_allclose(landmarks, mesh, atol=1e-4)
    with_mesh, five = (pseudo.make(_texture(0), p, 7) for p in paths)  # one seed, one texture: only the mask differs
    assert with_mesh.mask.max() > 0 and five.mask.max() > 0
    assert not np.array_equal(with_mesh.mask, five.mask)
    target.unlink()  # the points were read once, with the manifest: blending reads no file
    np.testing.assert_array_equal(pseudo.make(_texture(0), paths[0], 7).mask, with_mesh.mask)
    target.write_bytes(b"\x93NUMPY damaged")
    with pytest.raises(InputError, match="not a FaceMesh points file"):
        build_pseudo_fakes([(root, paths)], 48)
