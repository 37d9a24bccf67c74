"""Balanced, deterministic training batches and plain embedding batches."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from dfembed.core.errors import InputError
from dfembed.train.augment import Augmenter, AugmentParams
from dfembed.train.batches import BalancedBatches, CropImages, check_balanced_batch
from dfembed.train.crops import Crop, list_crops
from tests.train.trees import crop_list, write_tree

AUGMENT = Augmenter(AugmentParams(image_size=32, noise_p=0.5, jpeg_p=0.5, blur_p=0.5, flip_p=0.5))


@pytest.fixture(scope="module")
def uneven_tree(tmp_path_factory: pytest.TempPathFactory) -> list[Crop]:
    """14 real crops (pixel values 1..14) and 31 fake ones (15..45) in three videos."""
    root = write_tree(tmp_path_factory.mktemp("uneven"), {"real": {"r": 14}, "fake": {"f": 10, "g": 10, "h": 11}})
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
    root = write_tree(tmp_path, {"real": {"r": 5}, "fake": {"f": 12}})
    crops = list_crops(root).crops
    batches = BalancedBatches(crops, 6, Augmenter(AugmentParams(image_size=32)), seed=3)
    assert len(batches) == 4  # ceil(12 fake / 3 per batch)
    seen = Counter()
    for index in range(len(batches)):
        images, labels = batches[index]
        seen.update(int(v) for v in images[labels == 1][:, 0, 0, 0])
    assert len(seen) == 12 and set(seen.values()) == {1}


def test_batches_are_deterministic_given_seed_epoch_and_index(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"real": {"r": 7}, "fake": {"f": 9}})
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
    crops = list_crops(write_tree(tmp_path, {"real": {"r": 2}, "fake": {"f": 2}})).crops
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
        check_balanced_batch(crop_list(counts), batch_size)


def test_crop_images_are_resized_in_order_and_padded_without_augmentation(tmp_path: Path) -> None:
    crops = list_crops(write_tree(tmp_path, {"real": {"r": 3}, "fake": {"f": 2}})).crops
    images = CropImages([c.path for c in crops], image_size=32, batch_size=2)
    batches = [images[i] for i in range(len(images))]
    assert [b.shape for b in batches] == [(2, 32, 32, 3)] * 3  # the last one padded
    values = np.concatenate(batches)[:, 0, 0, 0]
    expected = [cv2.imread(str(c.path))[0, 0, 0] for c in crops]
    np.testing.assert_array_equal(values, [*expected, expected[-1]])
