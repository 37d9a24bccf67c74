"""A hand-set embedding model whose P(fake) depends on red pixels only, with its classifier; and a face image.

The "backbone" (named ``efficientnetb0`` so that it reads as a dfembed embedding model) is
one 8×8 convolution with stride 8 and two hand-set filters, then global average pooling:

* channel 0 = ReLU(mean R - mean G) of each 8×8 cell: 0 on grey, 255 on pure red;
* channel 1 = ReLU(mean G) of each cell: 128 on grey, 0 on pure red.

The SVM is fitted on grey images (real) against grey images with a red square (fake), so
P(fake) rises with channel 0 and falls with channel 1. For a crop with a red square, the
Grad-CAM channel weights are then positive for channel 0 and negative for channel 1:
``relu(a0 A0 + a1 A1)`` is positive on the square's cells and 0 elsewhere, so the map's
peak lies inside the square. Nothing is trained or downloaded.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

SIZE = 64
CELL = 8
#: The red square of a "fake" crop: rows, columns (aligned to the 8-px cells).
SQUARE = (slice(16, 32), slice(40, 56))


def crop(red: bool, seed: int) -> np.ndarray:
    """A grey 64×64 crop with a little noise, and the red square when ``red``."""
    rng = np.random.default_rng(seed)
    image = np.clip(128 + rng.normal(0, 4, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
    if red:
        image[SQUARE] = (255, 0, 0)
    return image


def build_model():  # noqa: ANN201 - keras imported lazily
    """The embedding model (see the module docstring); output: 2-d unit vectors."""
    import keras

    pixels = keras.Input((SIZE, SIZE, 3))
    conv = keras.layers.Conv2D(2, CELL, strides=CELL, activation="relu", name="features")
    backbone = keras.Model(pixels, keras.layers.GlobalAveragePooling2D(name="avg_pool")(conv(pixels)),
                           name="efficientnetb0")
    kernel = np.zeros((CELL, CELL, 3, 2), np.float32)
    kernel[:, :, 0, 0], kernel[:, :, 1, 0] = 1 / CELL**2, -1 / CELL**2
    kernel[:, :, 1, 1] = 1 / CELL**2
    conv.set_weights([kernel, np.zeros(2, np.float32)])
    images = keras.Input((SIZE, SIZE, 3), name="image")
    dense = keras.layers.Dense(2, name="embedding_dense")
    outputs = keras.layers.UnitNormalization(name="embedding")(dense(backbone(images)))
    dense.set_weights([np.eye(2, dtype=np.float32) / 255, np.array([0.0, 0.0], np.float32)])
    return keras.Model(images, outputs, name="dfembed_embedding")


def build_region_pair(root: Path, detector: str = "mtcnn") -> dict[str, Path]:
    """``region.h5`` and its classifier ``region.pkl`` (with the safe ``region.npz``) in ``root``.

    The bundle records crop settings of 64-px crops, 3 frames per video, every face.
    """
    from dfembed.faces.config import CropConfig
    from dfembed.model.classifier import ClassifierBundle, EmbeddingSVM, save_bundle
    from dfembed.model.network import save_model

    model = build_model()
    path = save_model(model, root / "region.h5")
    images = np.stack([crop(k % 2 == 1, k) for k in range(12)])
    labels = [k % 2 for k in range(12)]
    svm = EmbeddingSVM(kernel="linear", random_state=0).fit(model.predict(images, verbose=0), labels)
    config = dataclasses.asdict(CropConfig(size=SIZE, faces="all", frames_per_video=3, detector=detector))
    bundle = ClassifierBundle(svm, 2, "b0", SIZE, crop_config=config)
    return {"model": path, "svm": save_bundle(bundle, root / "region.pkl", models={"model": path})}


def face_image() -> Path:
    """A photograph of a face that ships with matplotlib (Grace Hopper, 512×600 JPEG)."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def write_video(image: np.ndarray, path: Path, frames: int = 6, fps: float = 5.0) -> Path:
    """An MP4 (mp4v) of ``frames`` copies of an RGB image, each shifted by a few pixels."""
    import cv2

    height, width = image.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for k in range(frames):
        writer.write(np.roll(image[..., ::-1], 2 * k, axis=1))
    writer.release()
    return path
