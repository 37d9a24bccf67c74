"""Writing the exported graph as a TensorFlow SavedModel, for TensorFlow Serving.

Keras 3's ``model.export(format="tf_saved_model")`` writes the graph with the signature
``serving_default`` (also ``serve``): input ``image`` uint8 ``(n, S, S, 3)``, outputs
``p_fake`` float32 ``(n,)`` and ``embedding`` float32 ``(n, D)`` — the ONNX file's contract.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SIGNATURE = "serving_default"


def write_saved_model(model: Any, folder: Path) -> Path:
    """Export ``model`` as a SavedModel into ``folder`` (the export's temporary folder).

    Args:
        model: The export model (:func:`dfembed.export.graph.build_export_model`).
        folder: An empty folder.

    Returns:
        ``folder``.
    """
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)  # TensorFlow's notes about untraced functions are not news here
    try:
        model.export(str(folder), format="tf_saved_model", verbose=False)
    finally:
        absl.setLevel(level)
    log.debug("wrote the SavedModel %s (signature %s)", folder, SIGNATURE)
    return folder


def load_signature(folder: Path) -> Any:
    """The ``serving_default`` function of a SavedModel (TensorFlow), for the export's check."""
    import tensorflow as tf

    return tf.saved_model.load(str(folder)).signatures[SIGNATURE]
