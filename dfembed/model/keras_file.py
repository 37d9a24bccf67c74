"""Loading a saved Keras model file with one-line errors (no pickle; Keras's safe mode)."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras

from dfembed.core.errors import InputError


def load_keras_file(path: str | os.PathLike[str], what: str, check: Callable[[keras.Model], Any]) -> keras.Model:
    """Load ``path`` uncompiled and check that it is the kind of model the caller needs.

    Args:
        path: A ``.keras``, ``.h5`` or ``.hdf5`` file.
        what: What messages call the file (``"model file"``, ``"temporal model"``).
        check: Raises :class:`~dfembed.core.errors.InputError` when the model is not of that kind.

    Returns:
        The model.

    Raises:
        InputError: The file is missing, not a loadable Keras model, or fails ``check``;
            the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist")
    try:
        model = keras.saving.load_model(path, compile=False)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as err:
        raise InputError(f"{what} {path} cannot be loaded (corrupt or not a Keras model): {err}") from err
    try:
        check(model)
    except InputError as err:
        raise InputError(f"{what} {path}: {err}") from err
    return model
