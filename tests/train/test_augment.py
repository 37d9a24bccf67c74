"""Training augmentation: sizes, seeds, each transform's effect, thread safety."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from dfembed.train.augment import Augmenter, AugmentParams
from dfembed.train.config import TrainConfig


def _image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth colour gradient plus texture, uint8 RGB (something JPEG and blur visibly change)."""
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=-1)
    texture = np.random.default_rng(seed).integers(0, 60, (height, width, 3))
    return np.clip(base + texture, 0, 255).astype(np.uint8)


ALL_ON = AugmentParams(image_size=48, noise_p=1.0, jpeg_p=1.0, blur_p=1.0, flip_p=0.5)


@pytest.mark.parametrize("shape", [(30, 40), (48, 48), (120, 90)])
def test_output_is_uint8_square_of_image_size(shape: tuple[int, int]) -> None:
    out = Augmenter(ALL_ON)(_image(*shape), seed=3)
    assert out.shape == (48, 48, 3)
    assert out.dtype == np.uint8


def test_same_seed_same_image_other_seed_other_image() -> None:
    augment = Augmenter(ALL_ON)
    image = _image(64, 64)
    first, again, other = augment(image, 11), augment(image, 11), augment(image, 12)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_all_probabilities_zero_only_resizes_like_inference() -> None:
    image = _image(100, 100)
    out = Augmenter(AugmentParams(image_size=48))(image, seed=0)
    # shrinking uses area interpolation, as dfembed.faces.geometry.fit_size does
    np.testing.assert_array_equal(out, cv2.resize(image, (48, 48), interpolation=cv2.INTER_AREA))
    small = _image(20, 20)
    np.testing.assert_array_equal(
        Augmenter(AugmentParams(image_size=48))(small, seed=0), cv2.resize(small, (48, 48), interpolation=cv2.INTER_LINEAR)
    )


def test_flip_with_probability_one_mirrors_the_image() -> None:
    image = _image(48, 48)
    out = Augmenter(AugmentParams(image_size=48, flip_p=1.0))(image, seed=5)
    np.testing.assert_array_equal(out, image[:, ::-1])


def test_noise_has_the_requested_standard_deviation() -> None:
    gray = np.full((64, 64, 3), 128, dtype=np.uint8)  # far from 0 and 255: no clipping
    params = AugmentParams(image_size=64, noise_p=1.0, noise_std=(0.05, 0.05))
    diff = Augmenter(params)(gray, seed=1).astype(np.float64) - 128.0
    assert diff.std() == pytest.approx(0.05 * 255, rel=0.15)


def test_jpeg_with_probability_one_matches_opencv_at_that_quality() -> None:
    image = _image(64, 64)
    params = AugmentParams(image_size=64, jpeg_p=1.0, jpeg_quality=(10, 10))
    out = Augmenter(params)(image, seed=2)
    # OpenCV's encoder takes BGR: the RGB image is what a JPEG file of it decodes back to.
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 10])
    assert ok
    expected = cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.abs(out.astype(int) - expected.astype(int)).mean() < 1.0
    assert np.abs(out.astype(int) - image.astype(int)).mean() > 2.0


def test_blur_smooths_the_image() -> None:
    image = _image(64, 64)
    params = AugmentParams(image_size=64, blur_p=1.0, blur_sigma=(1.5, 1.5))
    out = Augmenter(params)(image, seed=4)
    assert np.abs(np.diff(out.astype(int), axis=1)).mean() < 0.6 * np.abs(np.diff(image.astype(int), axis=1)).mean()


def test_threads_give_the_same_images_as_one_thread() -> None:
    augment = Augmenter(ALL_ON)
    images = [_image(50 + i, 60, seed=i) for i in range(16)]
    sequential = [augment(img, seed) for seed, img in enumerate(images)]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda pair: augment(pair[1], pair[0]), enumerate(images)))
    for one, other in zip(sequential, parallel):
        np.testing.assert_array_equal(one, other)


def test_params_come_from_the_training_config() -> None:
    config = TrainConfig(image_size=96, noise_p=0.1, jpeg_quality=(50, 90), blur_p=0.2, flip_p=0.0)
    params = AugmentParams.from_config(config)
    assert (params.image_size, params.noise_p, params.jpeg_quality, params.blur_p, params.flip_p) == (
        96, 0.1, (50, 90), 0.2, 0.0,
    )
