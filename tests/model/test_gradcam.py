"""Grad-CAM of P(fake): the map peaks where the hand-set model sees the fake, and P(fake) is the scorer's."""

from __future__ import annotations

import numpy as np
import pytest

from tests.region_model import SIZE, SQUARE, build_region_pair, crop


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from dfembed.infer.scoring import load_checked

    pair = build_region_pair(tmp_path_factory.mktemp("region"))
    model, bundle, _ = load_checked(pair["model"], pair["svm"])
    return model, bundle


@pytest.mark.slow
def test_the_map_peaks_inside_the_red_square_that_makes_the_crop_fake(region) -> None:
    from dfembed.model.gradcam import from_bundle

    model, bundle = region
    maps, p_fake = from_bundle(model, bundle)(np.stack([crop(True, 100), crop(True, 101)]))
    assert maps.shape == (2, SIZE, SIZE) and maps.dtype == np.float32
    assert maps.min() >= 0.0 and maps.max() == pytest.approx(1.0)
    for cam in maps:
        row, col = np.unravel_index(cam.argmax(), cam.shape)
        assert SQUARE[0].start <= row < SQUARE[0].stop and SQUARE[1].start <= col < SQUARE[1].stop
        # far from the square (its cells' neighbours excluded) nothing pushes towards fake
        assert cam[:8, :24].max() == 0.0 and cam[48:, :].max() == 0.0


@pytest.mark.slow
def test_p_fake_is_the_classifiers(region) -> None:
    from dfembed.infer.scoring import FaceScorer
    from dfembed.model.gradcam import from_bundle

    model, bundle = region
    images = np.stack([crop(True, 7), crop(False, 8)])
    maps, p_fake = from_bundle(model, bundle)(images)
    expected = FaceScorer.from_bundle(model, bundle, batch_size=4)(images)
    np.testing.assert_allclose(p_fake, expected, atol=1e-5)
    assert p_fake[0] > 0.5 > p_fake[1]
    assert maps.shape == (2, SIZE, SIZE)


def test_overlay_is_the_crop_where_the_map_is_cold_blend_and_red_where_hot() -> None:
    from dfembed.model.gradcam import overlay

    image = np.full((4, 4, 3), 100, np.uint8)
    cam = np.zeros((4, 4), np.float32)
    cam[0, 0] = 1.0
    out = overlay(image, cam, alpha=0.5)
    # JET at 0 is dark blue (0, 0, 128); at 1 dark red (128, 0, 0): the blend is halfway to them
    np.testing.assert_allclose(out[3, 3], (50, 50, 114), atol=1)
    np.testing.assert_allclose(out[0, 0], (114, 50, 50), atol=1)


def test_a_model_without_a_registered_backbone_is_refused() -> None:
    import keras

    from dfembed.core.errors import InputError
    from dfembed.model.gradcam import GradCam

    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs))
    with pytest.raises(InputError, match="one backbone"):
        GradCam(model, None, 1)  # type: ignore[arg-type]
