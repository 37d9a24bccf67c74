"""The exported graph's Keras model: a float32 rebuild of a mixed-precision model, the uint8 input."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mixed_model():  # noqa: ANN201 - a keras.Model
    import keras

    from dfembed.model.network import build_embedding_model

    keras.utils.set_random_seed(3)
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        return build_embedding_model("b0", image_size=32, weights="none", embedding_dim=8)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


@pytest.fixture(scope="module")
def rebuilt(mixed_model):  # noqa: ANN001, ANN201 - keras.Model
    from dfembed.export.graph import float32_copy

    return float32_copy(mixed_model)


def test_a_mixed_precision_model_is_rebuilt_in_float32_with_its_weights(mixed_model, rebuilt) -> None:  # noqa: ANN001
    import keras

    from dfembed.export.graph import FrozenNormalization, precision_of
    from dfembed.model.network import build_embedding_model

    assert precision_of(mixed_model) == "mixed_float16"
    copy = rebuilt
    assert precision_of(copy) == "float32"
    assert any(isinstance(layer, FrozenNormalization) for layer in copy.get_layer("efficientnetb0").layers)
    # independently: the same network built in float32 and given the mixed model's weights
    reference = build_embedding_model("b0", image_size=32, weights="none", embedding_dim=8)
    reference.set_weights(mixed_model.get_weights())
    images = np.random.default_rng(0).integers(0, 256, size=(4, 32, 32, 3)).astype(np.float32)
    expected = np.asarray(reference.predict_on_batch(images))
    np.testing.assert_allclose(np.asarray(copy.predict_on_batch(images)), expected, rtol=0, atol=1e-6)
    mixed = np.asarray(mixed_model.predict_on_batch(images), dtype=np.float64)
    assert np.abs(mixed - expected).max() > 1e-6  # float16 arithmetic did differ: the rebuild changed something
    assert keras.config.dtype_policy().name == "float32"


def test_the_export_model_takes_uint8_and_gives_the_two_outputs(rebuilt) -> None:  # noqa: ANN001
    from dfembed.export.graph import build_export_model
    from dfembed.model.classifier import EmbeddingSVM
    from dfembed.model.network import embed_images
    from dfembed.model.svm_params import CalibratedSVMParams

    embedder = rebuilt
    images = np.random.default_rng(1).integers(0, 256, size=(12, 32, 32, 3), dtype=np.uint8)
    embeddings = embed_images(embedder, images.astype(np.float32), batch_size=12)
    svm = EmbeddingSVM(random_state=0).fit(embeddings, [0, 1] * 6)
    model = build_export_model(embedder, CalibratedSVMParams.from_estimator(svm), fake_label=1)
    assert model.input.dtype == "uint8"
    outputs = model.predict_on_batch(images)
    np.testing.assert_allclose(outputs["embedding"], embeddings, rtol=0, atol=1e-6)
    np.testing.assert_allclose(outputs["p_fake"], svm.predict_proba(embeddings)[:, 1], rtol=0, atol=1e-6)
