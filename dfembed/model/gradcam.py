"""Grad-CAM of P(fake): where in a face crop the model and its SVM see the fake.

The embedding model is ``image → backbone (… → last feature map → global average pooling)
→ Dropout → Dense → UnitNormalization``; the calibrated SVM head
(:class:`~dfembed.model.svm_head.CalibratedSVMHead`) turns the embedding into P(fake).
:class:`GradCam` splits this chain at the backbone's last feature map ``A`` (``h × w × c``)
into two Keras models, ``image → A`` and ``A → P(fake)``, and computes the Grad-CAM map of
Selvaraju et al. (2017)::

    alpha_c = mean_ij dP/dA_ijc          cam_ij = relu(sum_c alpha_c A_ijc)

normalised to [0, 1] by its maximum and resized to the crop's size. The gradient is taken
with ``tf.GradientTape``: the package runs Keras on the TensorFlow backend.
:func:`overlay` blends a map over its crop as a JET heat map.
"""

from __future__ import annotations

from typing import Any

import cv2
import keras
import numpy as np
from keras import ops

from dfembed.core.errors import InputError
from dfembed.model.backbones import spec_for_layer
from dfembed.model.svm_head import CalibratedSVMHead
from dfembed.model.svm_params import CalibratedSVMParams


class GradCam:
    """Face crops → Grad-CAM maps of P(fake), and P(fake) itself (the same value as the scorer's).

    Args:
        model: A dfembed embedding model (:func:`~dfembed.model.network.build_embedding_model`).
        params: The fitted calibrated SVM (a bundle's classifier as
            :class:`~dfembed.model.svm_params.CalibratedSVMParams`).
        fake_label: The class label of FAKE (``bundle.class_mapping["fake"]``).

    Raises:
        InputError: The model has no registered backbone ending in global average pooling,
            or the SVM's kernel has no Keras head.
    """

    def __init__(self, model: keras.Model, params: CalibratedSVMParams, fake_label: int) -> None:
        backbone, feature_layer = _split_point(model)
        self.features = keras.Model(backbone.inputs, feature_layer.output, name="gradcam_features")
        self.head = _head_model(model, backbone, self.features.output_shape[1:], params, fake_label)
        self.image_size = int(model.input_shape[1])

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grad-CAM maps and P(fake) of face crops.

        Args:
            images: ``(n, s, s, 3)`` RGB crops (0..255) at the model's input size.

        Returns:
            ``(maps (n, s, s) float32 in [0, 1], p_fake (n,) float32)``; a crop whose map is
            zero everywhere (nothing pushes it towards fake) gets an all-zero map.
        """
        import tensorflow as tf

        if len(images) == 0:
            return np.zeros((0, self.image_size, self.image_size), np.float32), np.zeros((0,), np.float32)
        feature_maps = self.features(ops.convert_to_tensor(np.asarray(images, np.float32)), training=False)
        with tf.GradientTape() as tape:
            tape.watch(feature_maps)
            p_fake = self.head(feature_maps, training=False)
        grads = tape.gradient(p_fake, feature_maps)
        cams = _cam(np.asarray(feature_maps), np.asarray(grads))
        return np.stack([_resized(cam, self.image_size) for cam in cams]), np.asarray(p_fake, np.float32)


def _split_point(model: keras.Model) -> tuple[keras.Model, keras.layers.Layer]:
    """The backbone sub-model and its last layer with a 4-d output (the map global pooling averages)."""
    backbones = [layer for layer in model.layers if spec_for_layer(layer.name) is not None]
    if len(backbones) != 1 or not isinstance(backbones[0], keras.Model):
        raise InputError(f"model {model.name!r}: Grad-CAM needs a dfembed embedding model with one backbone")
    backbone = backbones[0]
    maps = [layer for layer in backbone.layers if len(layer.output.shape) == 4]
    last = backbone.layers[-1]
    if not maps or not isinstance(last, keras.layers.GlobalAveragePooling2D):
        raise InputError(f"backbone {backbone.name!r} does not end in global average pooling: no feature map "
                         "for Grad-CAM")
    return backbone, maps[-1]


def _head_model(model: keras.Model, backbone: keras.Model, map_shape: tuple[int, ...],
                params: CalibratedSVMParams, fake_label: int) -> keras.Model:
    """``feature map → P(fake)``: average pooling, the embedding model's layers after the backbone, the SVM head."""
    maps = keras.Input(shape=map_shape, name="feature_map")
    x = keras.layers.GlobalAveragePooling2D(name="gradcam_pool")(maps)
    after = model.layers[model.layers.index(backbone) + 1:]
    for layer in after:
        x = layer(x)
    return keras.Model(maps, CalibratedSVMHead(params, fake_label, name="svm_head")(x), name="gradcam_head")


def _cam(feature_maps: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """Grad-CAM of each item: channel weights = mean gradient; relu of the weighted sum; / its maximum."""
    weights = grads.mean(axis=(1, 2), keepdims=True)
    cams = np.maximum((weights * feature_maps).sum(axis=-1), 0.0)
    peaks = cams.max(axis=(1, 2), keepdims=True)
    return np.where(peaks > 0, cams / np.where(peaks > 0, peaks, 1.0), 0.0).astype(np.float32)


def _resized(cam: np.ndarray, size: int) -> np.ndarray:
    return np.clip(cv2.resize(cam, (size, size), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


def overlay(crop: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """A Grad-CAM map drawn over its crop: JET colours (blue = 0, red = 1) blended with ``alpha``.

    Args:
        crop: ``(h, w, 3)`` uint8 RGB.
        cam: ``(h', w')`` map in [0, 1] (resized to the crop when the sizes differ).
        alpha: Weight of the heat map.

    Returns:
        ``(h, w, 3)`` uint8 RGB.
    """
    if cam.shape != crop.shape[:2]:
        cam = cv2.resize(cam, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_LINEAR)
    heat = cv2.applyColorMap(np.uint8(np.clip(cam, 0.0, 1.0) * 255), cv2.COLORMAP_JET)[..., ::-1]
    return np.uint8(np.clip((1 - alpha) * crop.astype(np.float32) + alpha * heat, 0, 255))


def png_bytes(image: np.ndarray) -> bytes:
    """An RGB uint8 image encoded as PNG."""
    ok, data = cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]))
    if not ok:
        raise ValueError(f"cannot encode an image of shape {image.shape} as PNG")
    return data.tobytes()


def from_bundle(model: keras.Model, bundle: Any) -> GradCam:
    """The :class:`GradCam` of an embedding model and its classifier bundle (fitted SVM or its safe params).

    Raises:
        InputError: See :class:`GradCam`.
    """
    classifier = bundle.classifier
    params = classifier if isinstance(classifier, CalibratedSVMParams) else CalibratedSVMParams.from_estimator(
        classifier)
    return GradCam(model, params, int(bundle.class_mapping["fake"]))
