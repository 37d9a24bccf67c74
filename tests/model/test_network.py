"""Embedding model: shapes, unit norm, weights files, HDF5/.keras round trips (fresh process)."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from dfembed.core.errors import ConfigError, InputError
from dfembed.model.losses import TripletSemiHardLoss
from dfembed.model.network import (
    ModelInfo,
    build_embedding_model,
    load_embedding_model,
    model_info,
    save_model,
)

SIZE, DIM = 48, 16

# Keras's legacy HDF5 writer converts variables with np.array(); NumPy 2 warns about it there.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@pytest.fixture(scope="module")
def model() -> keras.Model:
    """A B0 at a tiny size with random weights (nothing is downloaded)."""
    keras.utils.set_random_seed(0)
    net = build_embedding_model("b0", image_size=SIZE, weights="none", embedding_dim=DIM)
    net.compile(optimizer="sgd", loss=TripletSemiHardLoss())  # saved files must load without this loss
    return net


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """Four images in the 0..255 range the model takes."""
    return np.random.default_rng(0).uniform(0, 255, size=(4, SIZE, SIZE, 3)).astype(np.float32)


def _embed(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Run the model eagerly: for a handful of images this is faster than tracing ``predict``."""
    return keras.ops.convert_to_numpy(model(images, training=False))


def _temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if "dfembed-tmp" in p.name]


def test_embeddings_have_the_right_shape_and_unit_norm(model: keras.Model, images: np.ndarray) -> None:
    embeddings = _embed(model, images)
    assert embeddings.shape == (4, DIM)
    assert embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    assert model.input_shape == (None, SIZE, SIZE, 3)


def test_mixed_precision_still_gives_float32_unit_embeddings(images: np.ndarray) -> None:
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        net = build_embedding_model("b0", image_size=SIZE, weights="none", embedding_dim=DIM)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert net.get_layer("embedding_dense").compute_dtype == "float16"
    embeddings = _embed(net, images)
    assert embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-3)


def test_model_info_reads_back_the_build_options(model: keras.Model) -> None:
    assert model_info(model) == ModelInfo(backbone="b0", image_size=SIZE, embedding_dim=DIM)


def test_model_info_rejects_other_models() -> None:
    inputs = keras.Input((SIZE, SIZE, 3))
    other = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs))
    with pytest.raises(InputError, match="not a dfembed embedding model"):
        model_info(other)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("image_size", 16, "image size 16"), ("dropout", 1.0, "dropout"), ("embedding_dim", 0, "embedding size")],
)
def test_bad_options_are_config_errors(option: str, value: float, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_embedding_model("b0", **{"image_size": SIZE, "weights": "none", option: value})


def test_weights_file_loads_into_the_matching_backbone_only(model: keras.Model, tmp_path: Path) -> None:
    weights = tmp_path / "b0_backbone.weights.h5"
    model.get_layer("efficientnetb0").save_weights(weights)
    rebuilt = build_embedding_model("b0", image_size=64, weights=str(weights), embedding_dim=8)
    for ours, theirs in zip(model.get_layer("efficientnetb0").weights, rebuilt.get_layer("efficientnetb0").weights):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    with pytest.raises(InputError, match=r"b0_backbone\.weights\.h5 does not match backbone efficientnetb1"):
        build_embedding_model("b1", image_size=SIZE, weights=str(weights))


def _normalization_layer(model: keras.Model) -> keras.layers.Layer:
    layers = model.get_layer("efficientnetb0").layers
    return next(layer for layer in layers if isinstance(layer, keras.layers.Normalization))


def test_a_trained_embedding_model_as_weights_gives_all_its_weights(model: keras.Model, tmp_path: Path) -> None:
    path = save_model(model, tmp_path / "trained.h5")
    again = build_embedding_model("b0", image_size=SIZE, weights=str(path), embedding_dim=DIM)
    for ours, theirs in zip(again.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    with pytest.raises(InputError, match=rf"trained.h5 is a dfembed embedding model of b0, {SIZE} px, {DIM}-d; "
                                         rf"this run builds b0, {SIZE} px, 8-d"):
        build_embedding_model("b0", image_size=SIZE, weights=str(path), embedding_dim=8)


def test_imagenet_statistics_in_a_weights_file_normalise_by_the_stddev(tmp_path: Path, images: np.ndarray) -> None:
    """Keras's ImageNet files keep the stddev in the Normalization "variance" (tensorflow#49930).

    Built from such a file, the backbone must still compute the standard ImageNet input
    normalisation (x / 255 - mean) / std, as weights="imagenet" does.
    """
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    source = build_embedding_model("b0", image_size=SIZE, weights="none", embedding_dim=DIM)
    norm = _normalization_layer(source)
    norm.adapt_mean.assign(mean.astype(np.float32))
    norm.adapt_variance.assign(std.astype(np.float32))
    weights = tmp_path / "imagenet_like.weights.h5"
    source.get_layer("efficientnetb0").save_weights(weights)
    rebuilt = build_embedding_model("b0", image_size=SIZE, weights=str(weights))
    backbone, norm = rebuilt.get_layer("efficientnetb0"), _normalization_layer(rebuilt)
    normalised = _embed(keras.Model(backbone.input, norm.output), images)
    np.testing.assert_allclose(normalised, (images / 255.0 - mean) / std, rtol=1e-5, atol=1e-5)


def test_missing_or_corrupt_weights_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"weights file .*absent\.h5 does not exist"):
        build_embedding_model("b0", image_size=SIZE, weights=str(tmp_path / "absent.h5"))
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not an HDF5 file")
    with pytest.raises(InputError, match=r"junk\.h5 does not match backbone efficientnetb0"):
        build_embedding_model("b0", image_size=SIZE, weights=str(junk))


_FRESH_PROCESS = textwrap.dedent(
    """
    import sys, numpy as np, keras
    images = np.load(sys.argv[1])
    for path in sys.argv[2:]:
        model = keras.saving.load_model(path, compile=False)
        np.save(path + ".npy", keras.ops.convert_to_numpy(model(images, training=False)))
    assert not any(name.startswith("dfembed") for name in sys.modules), "dfembed was imported"
    """
)


@pytest.mark.slow
def test_saved_models_load_in_a_fresh_process_without_custom_objects(
    model: keras.Model, images: np.ndarray, tmp_path: Path
) -> None:
    """HDF5 (and .keras) files of a model compiled with dfembed's loss load in plain Keras."""
    paths = [save_model(model, tmp_path / "model.h5"), save_model(model, tmp_path / "model.keras", fmt="keras")]
    assert paths == [tmp_path / "model.h5", tmp_path / "model.keras"] and not _temp_files(tmp_path)
    np.save(tmp_path / "images.npy", images)
    script = [sys.executable, "-c", _FRESH_PROCESS, str(tmp_path / "images.npy"), *map(str, paths)]
    subprocess.run(script, check=True, timeout=180, cwd=tmp_path)
    expected = _embed(model, images)
    for path in paths:
        np.testing.assert_array_equal(np.load(f"{path}.npy"), expected, err_msg=path.name)


@pytest.mark.parametrize(("name", "fmt"), [("model.h5", "h5"), ("model.keras", "keras")])
def test_load_embedding_model_round_trip(
    model: keras.Model, images: np.ndarray, tmp_path: Path, name: str, fmt: str
) -> None:
    loaded = load_embedding_model(save_model(model, tmp_path / name, fmt=fmt))
    assert model_info(loaded) == model_info(model)
    np.testing.assert_array_equal(_embed(loaded, images), _embed(model, images))


def test_load_rejects_a_model_that_is_not_an_embedding_model(tmp_path: Path) -> None:
    inputs = keras.Input((SIZE, SIZE, 3))
    path = save_model(keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs)), tmp_path / "other.h5")
    with pytest.raises(InputError, match=r"other\.h5: .*not a dfembed embedding model"):
        load_embedding_model(path)


def test_h5_save_hides_keras_legacy_format_advice_only_while_saving(
    model: keras.Model, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    absl_level = logging.getLogger("absl").level
    with caplog.at_level(logging.WARNING):
        keras.saving.save_model(model, tmp_path / "plain.h5")
        assert any("legacy" in r.getMessage() for r in caplog.records)  # Keras does log it (through absl)
        caplog.clear()
        save_model(model, tmp_path / "model.h5")
    assert not [r.getMessage() for r in caplog.records if "legacy" in r.getMessage()]
    assert logging.getLogger("absl").level == absl_level


def test_save_rejects_a_suffix_that_does_not_fit_the_format(model: keras.Model, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"model\.h5: a 'keras' model needs a \.keras name"):
        save_model(model, tmp_path / "model.h5", fmt="keras")
    with pytest.raises(ConfigError, match="unknown model format 'onnx'"):
        save_model(model, tmp_path / "model.onnx", fmt="onnx")
    assert list(tmp_path.iterdir()) == []


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"model file .*absent\.h5 does not exist"):
        load_embedding_model(tmp_path / "absent.h5")
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(b"\x89HDF\r\n\x1a\n truncated")
    with pytest.raises(InputError, match=r"corrupt\.h5 cannot be loaded"):
        load_embedding_model(corrupt)


@pytest.mark.slow
def test_one_training_step_with_the_triplet_loss(images: np.ndarray) -> None:
    """The model and the loss train together (finite loss, weights change)."""
    keras.utils.set_random_seed(1)
    net = build_embedding_model("b0", image_size=SIZE, weights="none", embedding_dim=DIM)
    # Eager: tracing and compiling the step would cost more than the step itself.
    net.compile(optimizer=keras.optimizers.SGD(0.01), loss=TripletSemiHardLoss(margin=1.0), run_eagerly=True)
    before = net.get_layer("embedding_dense").kernel.numpy().copy()
    loss = net.train_on_batch(images, np.array([0, 1, 0, 1]))
    assert np.isfinite(loss)
    assert not np.array_equal(before, net.get_layer("embedding_dense").kernel.numpy())
