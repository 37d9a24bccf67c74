"""Writing the exported graph as one ONNX file, with dfembed's contract in its metadata.

Keras 3's ``model.export(format="onnx")`` converts the graph (through tf2onnx under the
TensorFlow backend); the file is then read back with ``onnx``, given the contract
(``metadata_props["dfembed"]``) and a description, checked with ``onnx.checker`` and
against the contract and bounds that loading it checks
(:func:`dfembed.model.exported.check_graph`: input side and embedding width within their
caps, ``image`` uint8 ``(n, S, S, 3)``, ``p_fake`` ``(n,)``, ``embedding`` ``(n, D)``), and
written in its place; an export that loading would refuse fails here, not where it is used.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dfembed.core.errors import ConfigError, InputError
from dfembed.model.contract import METADATA_KEY, ExportContract
from dfembed.model.exported import INSTALL_HINT, check_graph

log = logging.getLogger(__name__)

#: tf2onnx notes, on the root logger, that it leaves float64 matrix products as they are (the SVM's, on purpose).
_ROOT_NOISE = ("For now, onnxruntime only support float32 type for Gemm rewriter",)


def require_converter() -> tuple[Any, Any]:
    """The ``onnx`` and ``tf2onnx`` modules an ONNX export needs.

    Raises:
        ConfigError: One is not installed; the message says how to install it.
    """
    try:
        import onnx
        import tf2onnx
    except ImportError as err:
        raise ConfigError(f"--format onnx needs tf2onnx and onnx ({err.name or err} is missing): "
                          f"{INSTALL_HINT}") from err
    return onnx, tf2onnx


def max_opset() -> int:
    """The newest ONNX opset the installed tf2onnx writes."""
    from tf2onnx import constants

    return max(constants.OPSET_TO_IR_VERSION)


class _DropRootNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_ROOT_NOISE)


@contextlib.contextmanager
def _quiet_converter() -> Iterator[None]:
    """tf2onnx logs every step at INFO and warns about NumPy 2 names; keep warnings that matter."""
    converter_log = logging.getLogger("tf2onnx")
    level, noise = converter_log.level, _DropRootNoise()
    converter_log.setLevel(logging.WARNING)
    logging.getLogger().addFilter(noise)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        converter_log.setLevel(level)
        logging.getLogger().removeFilter(noise)


def write_onnx(model: Any, path: Path, contract: ExportContract, opset: int | None = None) -> Path:
    """Export ``model`` to ``path`` and store ``contract`` in the file's metadata.

    Args:
        model: The export model (:func:`dfembed.export.graph.build_export_model`).
        path: The ``.onnx`` file to write (inside the export's temporary folder).
        contract: What the file promises.
        opset: ONNX opset; ``None``: tf2onnx's default.

    Returns:
        ``path``.

    Raises:
        ConfigError: tf2onnx/onnx are missing, or the opset is newer than tf2onnx writes.
        InputError: The converted graph breaks the contract, or the model's input side or
            embedding width is beyond its cap (``DFEMBED_MAX_INPUT_SIDE``, ``DFEMBED_MAX_EMBEDDING``).
    """
    onnx, _ = require_converter()
    if opset is not None and opset > max_opset():
        raise ConfigError(f"opset {opset}: this tf2onnx writes ONNX opsets up to {max_opset()}")
    with _quiet_converter():
        model.export(str(path), format="onnx", verbose=False, opset_version=opset)
    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, contract.dumps()
    proto.doc_string = (f"dfembed deepfake detector: image uint8 RGB (n, {contract.image_size}, {contract.image_size}, "
                        f"3), 0..255 -> p_fake (n,) P(fake), embedding (n, {contract.embedding_dim})")
    onnx.checker.check_model(proto)
    try:
        check_graph(path, proto, contract)
    except InputError as err:
        raise InputError(f"the exported ONNX graph would be refused when loaded: {err}") from err
    onnx.save(proto, str(path))
    log.debug("wrote %s (ONNX opset %s)", path, ", ".join(str(o.version) for o in proto.opset_import))
    return path
