"""Crop listing, the leak-free split, and balanced, deterministic batches."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support import shared_path
from dfembed.train.augment import AugmentParams, Augmenter
from dfembed.crop.job import crop_file, crop_stems
from dfembed.train.batches import (
    BalancedBatches,
    Crop,
    CropImages,
    check_balanced_batch,
    check_disjoint,
    group_from_stem,
    list_crops,
    split_by_group,
)
from dfembed.core.errors import InputError
from dfembed.crop.sources import Source

AUGMENT = Augmenter(AugmentParams(image_size=32, noise_p=0.5, jpeg_p=0.5, blur_p=0.5, flip_p=0.5))


def _write_tree(root: Path, counts: dict[str, dict[str, int]]) -> Path:
    """Write small PNGs: ``counts[class][video]`` frames named ``<video>-<frame>-00.png``.

    Each image is filled with a value unique to it, so a batch's images can be traced.
    """
    value = 0
    for name, videos in counts.items():
        for video, frames in videos.items():
            folder = root / name / video[:2]  # a sub-folder: images may be at any depth
            folder.mkdir(parents=True, exist_ok=True)
            for frame in range(frames):
                value += 1
                cv2.imwrite(str(folder / f"{video}-{frame:03d}-00.png"), np.full((40, 30, 3), value, np.uint8))
    return root


def _crops(counts: dict[int, int]) -> list[Crop]:
    return [Crop(Path(f"{label}-{i}.png"), label, f"g{label}{i}") for label, n in counts.items() for i in range(n)]


@pytest.mark.parametrize(
    ("stem", "group"),
    [("abarnvbtwb-003-01", "abarnvbtwb"), ("abarnvbtwb-003", "abarnvbtwb"), ("id12-clip-7-000-00", "id12-clip-7"),
     ("portrait", "portrait"), ("v1_mp4_f00012_01", "v1_mp4"), ("a_b_mp4_0123abcd_f00300_00", "a_b_mp4_0123abcd")],
)
def test_group_from_stem_drops_frame_and_face_indices(stem: str, group: str) -> None:
    assert group_from_stem(stem) == group


def test_crop_face_names_group_by_source_without_a_manifest(tmp_path: Path) -> None:
    # Real crop names from the crop stage's own naming; "a b.mp4" is renamed, so its stem gets a hash.
    sources = [Source(tmp_path / rel, rel, rel.split("/")[0], "") for rel in ("real/v1.mp4", "fake/x/a b.mp4")]
    stems = crop_stems(sources)
    for source in sources:
        for frame, face in ((0, 0), (12, 0), (12, 1), (300, 0)):
            path = tmp_path / "data" / crop_file(stems[source.relative], frame, face, "png")
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), np.zeros((8, 8, 3), np.uint8))
    groups = {c.path.parent.name + "|" + c.group for c in list_crops(tmp_path / "data").crops}
    assert len(groups) == 2
    assert "real|v1_mp4" in groups
    assert any(g.startswith("x|a_b_mp4_") and len(g) == len("x|a_b_mp4_") + 8 for g in groups)


def test_lists_images_at_any_depth_with_labels_and_groups(tmp_path: Path) -> None:
    root = _write_tree(tmp_path, {"real": {"rvideo": 3}, "fake": {"fvideo": 2, "gvideo": 1}})
    crops = list_crops(root).crops
    assert Counter(c.label for c in crops) == {0: 3, 1: 3}
    assert {c.group for c in crops} == {"rvideo", "fvideo", "gvideo"}


def test_manifest_groups_win_over_file_names(tmp_path: Path) -> None:
    root = _write_tree(tmp_path, {"real": {"orig": 2}, "fake": {"deep": 2}})
    lines = ["source,label,group,crop"] + [
        f"x.mp4,{p.parent.parent.name},orig,{p.relative_to(root).as_posix()}" for p in sorted(root.rglob("*.png"))
    ]
    (root / "manifest.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert {c.group for c in list_crops(root).crops} == {"orig"}


def test_manifest_without_group_column_is_an_error(tmp_path: Path) -> None:
    root = _write_tree(tmp_path, {"real": {"a": 1}, "fake": {"b": 1}})
    (root / "manifest.csv").write_text("source,label,crop\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"manifest.csv: missing column\(s\) group"):
        list_crops(root)


def test_unreadable_crops_are_skipped_and_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = _write_tree(tmp_path, {"real": {"a": 2}, "fake": {"b": 2}})
    (root / "real" / "broken-000-00.png").write_bytes(b"this is not a PNG")
    (root / "fake" / "empty-000-00.jpg").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="dfembed"):
        crops = list_crops(root, workers=2)
    assert len(crops.crops) == 4
    assert sorted(p.name for p, _ in crops.unreadable) == ["broken-000-00.png", "empty-000-00.jpg"]
    assert "skipped 2 unreadable crop(s) of 6" in caplog.text


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: None, "does not exist"),
        (lambda root: (root / "real").mkdir(parents=True), "has no fake/ folder"),
        (lambda root: [(root / n).mkdir(parents=True) for n in ("real", "fake")], "holds no image"),
    ],
)
def test_missing_or_empty_class_folders_are_errors(tmp_path: Path, make, message: str) -> None:
    root = tmp_path / "data"
    make(root)
    with pytest.raises(InputError, match=message):
        list_crops(root)


def test_a_class_with_only_unreadable_files_is_an_error(tmp_path: Path) -> None:
    root = _write_tree(tmp_path, {"real": {"a": 2}})
    (root / "fake").mkdir()
    (root / "fake" / "x.png").write_bytes(b"junk")
    with pytest.raises(InputError, match=r"fake: no readable image \(1 unreadable"):
        list_crops(root)


def test_split_of_the_dfdc_sample_never_shares_a_video(tmp_path: Path) -> None:
    crops = list_crops(shared_path("dfdc_sample", "crops")).crops
    # The sample has one real video; give its frames two pseudo-groups so a split is possible.
    regrouped = [Crop(c.path, c.label, c.group + ("-a" if c.path.stem[-6:-3] < "006" else "-b"))
                 if c.label == 0 else c for c in crops]
    for seed in range(5):
        train, val = split_by_group(regrouped, 0.3, seed)
        assert {c.group for c in train}.isdisjoint({c.group for c in val})
        assert {c.label for c in train} == {c.label for c in val} == {0, 1}
        assert len(train) + len(val) == len(crops)
    assert split_by_group(regrouped, 0.3, 1) == split_by_group(regrouped, 0.3, 1)


def test_split_is_skipped_with_a_warning_when_a_class_has_one_group(caplog: pytest.LogCaptureFixture) -> None:
    crops = list_crops(shared_path("dfdc_sample", "crops")).crops  # one real video
    with caplog.at_level(logging.WARNING, logger="dfembed"):
        train, val = split_by_group(crops, 0.2, 0)
    assert (len(train), len(val)) == (len(crops), 0)
    assert "training without validation" in caplog.text


def test_zero_fraction_means_no_validation() -> None:
    crops = _crops({0: 4, 1: 4})
    assert split_by_group(crops, 0.0, 0) == (crops, [])


def test_shared_group_between_train_and_validation_is_an_error() -> None:
    train = [Crop(Path("a.png"), 0, "video1"), Crop(Path("b.png"), 1, "video2")]
    val = [Crop(Path("c.png"), 1, "video2")]
    with pytest.raises(InputError, match=r"share 1 group\(s\) \(e.g. video2\)"):
        check_disjoint(train, val)


@pytest.fixture(scope="module")
def uneven_tree(tmp_path_factory: pytest.TempPathFactory) -> list[Crop]:
    """14 real crops (pixel values 1..14) and 31 fake ones (15..45) in three videos."""
    root = _write_tree(tmp_path_factory.mktemp("uneven"), {"real": {"r": 14}, "fake": {"f": 10, "g": 10, "h": 11}})
    return list(list_crops(root).crops)


@pytest.mark.parametrize("batch_size", [4, 6, 10, 28])
def test_every_batch_is_half_real_half_fake_interleaved(uneven_tree: list[Crop], batch_size: int) -> None:
    batches = BalancedBatches(uneven_tree, batch_size, Augmenter(AugmentParams(image_size=32)), seed=1)
    assert len(batches) == -(-31 // (batch_size // 2))
    for epoch in range(2):
        batches.set_epoch(epoch)
        for index in range(len(batches)):
            images, labels = batches[index]
            assert images.shape == (batch_size, 32, 32, 3) and images.dtype == np.float32
            np.testing.assert_array_equal(labels, np.tile([0.0, 1.0], batch_size // 2))
            values = images[:, 0, 0, 0]
            assert (values[labels == 0] <= 14).all() and (values[labels == 1] >= 15).all()


def test_one_epoch_passes_once_over_the_larger_class(tmp_path: Path) -> None:
    root = _write_tree(tmp_path, {"real": {"r": 5}, "fake": {"f": 12}})
    crops = list_crops(root).crops
    batches = BalancedBatches(crops, 6, Augmenter(AugmentParams(image_size=32)), seed=3)
    assert len(batches) == 4  # ceil(12 fake / 3 per batch)
    seen = Counter()
    for index in range(len(batches)):
        images, labels = batches[index]
        seen.update(int(v) for v in images[labels == 1][:, 0, 0, 0])
    assert len(seen) == 12 and set(seen.values()) == {1}


def test_batches_are_deterministic_given_seed_epoch_and_index(tmp_path: Path) -> None:
    root = _write_tree(tmp_path, {"real": {"r": 7}, "fake": {"f": 9}})
    crops = list_crops(root).crops
    one = BalancedBatches(crops, 4, AUGMENT, seed=5)
    two = BalancedBatches(crops, 4, AUGMENT, seed=5)
    late = two.batch(1, 3)  # asked out of order, in another object
    np.testing.assert_array_equal(one.batch(1, 3)[0], late[0])
    two.set_epoch(1)
    np.testing.assert_array_equal(two[3][0], late[0])
    assert not np.array_equal(one.batch(0, 3)[0], late[0])
    assert not np.array_equal(BalancedBatches(crops, 4, AUGMENT, seed=6).batch(1, 3)[0], late[0])


def test_steps_per_epoch_sets_the_length_and_index_is_checked(tmp_path: Path) -> None:
    crops = list_crops(_write_tree(tmp_path, {"real": {"r": 2}, "fake": {"f": 2}})).crops
    batches = BalancedBatches(crops, 4, AUGMENT, steps_per_epoch=7)
    assert len(batches) == batches.num_batches == 7
    with pytest.raises(IndexError):
        batches[7]


@pytest.mark.parametrize(
    ("counts", "batch_size", "message"),
    [
        ({0: 11, 1: 49}, 28, r"needs 14 real and 14 fake, there are 11 real and 49 fake; use --batch-size 22 or less"),
        ({0: 1, 1: 9}, 4, r"there are 1 real and 9 fake; add images"),
        ({0: 9, 1: 9}, 5, r"batch size must be even and at least 4"),
        ({0: 9, 1: 9}, 2, r"batch size must be even and at least 4"),
    ],
)
def test_too_few_images_or_bad_batch_size(counts: dict[int, int], batch_size: int, message: str) -> None:
    with pytest.raises(InputError, match=message):
        check_balanced_batch(_crops(counts), batch_size)


def test_crop_images_are_resized_in_order_and_padded_without_augmentation(tmp_path: Path) -> None:
    crops = list_crops(_write_tree(tmp_path, {"real": {"r": 3}, "fake": {"f": 2}})).crops
    images = CropImages([c.path for c in crops], image_size=32, batch_size=2)
    batches = [images[i] for i in range(len(images))]
    assert [b.shape for b in batches] == [(2, 32, 32, 3)] * 3  # the last one padded
    values = np.concatenate(batches)[:, 0, 0, 0]
    expected = [cv2.imread(str(c.path))[0, 0, 0] for c in crops]
    np.testing.assert_array_equal(values, [*expected, expected[-1]])
