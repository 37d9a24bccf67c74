"""An exported ONNX model, checked and run on ONNX Runtime: face crops → P(fake) and embeddings.

:func:`load_exported` reads the file once, checks it and runs exactly those bytes:

1. it must parse as an ONNX model with a graph (else: not an ONNX model, or truncated);
2. it must hold dfembed's contract in its metadata (:mod:`dfembed.model.contract`);
3. its input side ``S`` and embedding width ``D`` must be within :data:`MAX_INPUT_SIDE`
   and :data:`MAX_EMBEDDING` (a file of a few bytes can claim a 20000×20000 input, which
   every crop would be resized to);
4. its graph must take ``image`` uint8 ``(n, S, S, 3)`` with ``S`` the contract's image
   size and give ``p_fake`` ``(n,)`` and ``embedding`` ``(n, D)`` (a crop size that does not
   match is an error, never a silent resize);
5. no tensor may live in an external data file (the model is one file, and loading it
   reads no other file);
6. when ``dfembed-export.json`` lies beside it and describes a file of its name, the
   SHA-256 must match (a damaged, truncated or replaced model is an error).

Loading an ONNX model runs no Python code: the file is a protobuf of operators and
tensors, parsed by ``onnx`` and executed by ONNX Runtime's kernels. What the runtime gives
back is checked too: an error of ONNX Runtime (at loading or on a batch) is an
:class:`~dfembed.core.errors.InputError` naming the file, and P(fake) and the embeddings
must be finite and of the promised shapes, P(fake) in [0, 1] (:mod:`dfembed.model.outputs`).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dfembed.core.bounds import Bound
from dfembed.core.errors import ConfigError, InputError
from dfembed.model.contract import (
    EMBEDDING_OUTPUT,
    INPUT_NAME,
    METADATA_KEY,
    ONNX_NAME,
    RECORD_NAME,
    SCORE_OUTPUT,
    ExportContract,
)
from dfembed.model.outputs import check_embeddings, check_p_fake

log = logging.getLogger(__name__)

#: ONNX files are protobufs, which cannot exceed 2 GiB.
MAX_BYTES = 2 << 30
#: Side of an exported model's square input crops (every face crop is resized to it: at 1024 px
#: a batch of 32 crops is 100 MB of uint8; the largest EfficientNet, B7, takes 600).
MAX_INPUT_SIDE = Bound("DFEMBED_MAX_INPUT_SIDE", 1024, "pixels")
#: Width of an exported model's embedding (dfembed's backbones give 1280 to 2560).
MAX_EMBEDDING = Bound("DFEMBED_MAX_EMBEDDING", 8192, "values")
PROVIDERS = ("auto", "cpu", "cuda")
INSTALL_HINT = 'pip install -e ".[onnx]" (or: pip install onnx onnxruntime; onnxruntime-gpu for CUDA)'
_CUDA = "CUDAExecutionProvider"
_CPU = "CPUExecutionProvider"
_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : ")
_ORT_SOURCE = re.compile(r"/\S+\.(?:h|cc|cpp|cu):\d+ (?:[\w:~<>]+\([^()]*\) )?")  # file:line and function
_UINT8 = 2  # onnx.TensorProto.UINT8
_FLOAT = 1  # onnx.TensorProto.FLOAT


def require_onnx_runtime() -> tuple[Any, Any]:
    """The ``onnx`` and ``onnxruntime`` modules.

    Raises:
        ConfigError: One of them is not installed; the message says how to install them.
    """
    try:
        import onnx
        import onnxruntime
    except ImportError as err:
        raise ConfigError(f"running an exported ONNX model needs onnx and onnxruntime ({err.name or err} is "
                          f"missing): {INSTALL_HINT}") from err
    return onnx, onnxruntime


def onnx_path(path: str | os.PathLike[str]) -> Path:
    """The ONNX file of ``path``: the file itself, or ``model.onnx`` in an export folder.

    Raises:
        InputError: It does not exist, or is a folder without ``model.onnx`` (a SavedModel
            export is for TensorFlow Serving, and the message says so).
    """
    path = Path(path)
    if path.is_dir():
        if (path / ONNX_NAME).is_file():
            return path / ONNX_NAME
        if (path / "saved_model.pb").is_file():
            raise InputError(f"{path} is a SavedModel export, for TensorFlow Serving; dfembed runs the ONNX export "
                             f"(dfembed export MODEL_H5 SVM_PKL OUT --format onnx)")
        raise InputError(f"{path} is a folder without {ONNX_NAME}: not a dfembed ONNX export")
    if not path.is_file():
        raise InputError(f"model file {path} does not exist")
    return path


@dataclass(frozen=True)
class ExportedFile:
    """An exported ONNX model's bytes, read and checked (steps 1–5 of the module docstring).

    Attributes:
        path: The file.
        data: Its content (what the runtime loads).
        contract: Its contract.
        sha256: The SHA-256 of ``data``.
    """

    path: Path
    data: bytes
    contract: ExportContract
    sha256: str


def read_exported(path: str | os.PathLike[str]) -> ExportedFile:
    """Read an exported ONNX model and check it.

    Args:
        path: The ``.onnx`` file or its export folder.

    Returns:
        The checked file.

    Raises:
        InputError: It is missing, empty, too large, not ONNX, truncated or damaged, has no
            dfembed metadata, an input side or embedding width beyond its bound, a graph that
            does not fit it (crop size, outputs), or tensors in external files; the message
            names the file.
        ConfigError: ``onnx``/``onnxruntime`` are not installed, or a bound's environment
            variable is not a positive number.
    """
    onnx, _ = require_onnx_runtime()
    path = onnx_path(path)
    data = _read_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    _check_record(path, len(data), digest)
    proto = _parse(onnx, path, data)
    contract = _contract_of(path, proto)
    check_graph(path, proto, contract)
    _check_no_external_data(path, proto.graph)
    return ExportedFile(path, data, contract, digest)


def _read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size == 0:
            raise InputError(f"model file {path} is empty")
        if size > MAX_BYTES:
            raise InputError(f"model file {path} is {size} bytes, more than an ONNX file can hold")
        return path.read_bytes()
    except OSError as err:
        raise InputError(f"cannot read model file {path}: {err.strerror or err}") from err


def _check_record(path: Path, size: int, digest: str) -> None:
    """Compare the file with what ``dfembed-export.json`` beside it recorded, when it records this file."""
    record_file = path.with_name(RECORD_NAME)
    if not record_file.is_file():
        return
    try:
        files = json.loads(record_file.read_text(encoding="utf-8")).get("files", {})
        entry = files.get(path.name) if isinstance(files, dict) else None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError, AttributeError) as err:
        raise InputError(f"{record_file} beside model {path} cannot be read: {err}") from err
    if not isinstance(entry, dict):
        log.debug("%s does not describe %s; not comparing", record_file, path.name)
        return
    if entry.get("sha256") != digest:
        recorded = entry.get("bytes")
        sizes = f"; it is {size} bytes, the export wrote {recorded} (truncated?)" if recorded != size else ""
        raise InputError(f"model file {path} is not the file that {record_file.name} beside it describes (SHA-256 "
                         f"{digest[:12]}…, recorded {str(entry.get('sha256'))[:12]}…){sizes}: it was damaged or "
                         "replaced; export it again or restore it")


def _parse(onnx: Any, path: Path, data: bytes) -> Any:
    from google.protobuf.message import DecodeError

    try:
        proto = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as err:
        raise InputError(f"model file {path} is not an ONNX model, or is truncated or damaged "
                         f"(it does not parse: {str(err)[:200]})") from err
    if proto.ir_version < 1 or not proto.graph.node:
        raise InputError(f"model file {path} is not an ONNX model (no graph in it)")
    return proto


def _contract_of(path: Path, proto: Any) -> ExportContract:
    entries = {entry.key: entry.value for entry in proto.metadata_props}
    if METADATA_KEY not in entries:
        raise InputError(f"model file {path} is an ONNX model without dfembed's metadata (not written by dfembed "
                         "export, or truncated): dfembed needs its input contract and crop settings")
    try:
        data = json.loads(entries[METADATA_KEY])
    except (ValueError, RecursionError) as err:
        raise InputError(f"model file {path}: its dfembed metadata is not valid JSON ({str(err)[:200]})") from err
    return ExportContract.from_json(data, f"model file {path}")


def _dims(value_info: Any) -> tuple[Any, ...]:
    shape = value_info.type.tensor_type.shape
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in shape.dim)


def _shown_dims(dims: tuple[Any, ...]) -> str:
    """A declared shape as the messages write it: ``(n, 8, 8, 3)``, ``n`` for a free dimension."""
    return "(" + ", ".join("n" if d is None else str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def check_graph(path: Path, proto: Any, contract: ExportContract) -> None:
    """Check an ONNX graph against its contract and the bounds, before anything runs it.

    The contract's input side and embedding width must be within :data:`MAX_INPUT_SIDE` and
    :data:`MAX_EMBEDDING` (read now, so their environment variables apply); the graph must take
    one uint8 ``image`` of shape ``(n, S, S, 3)`` (any batch) and give float32 ``p_fake`` ``(n,)``
    and ``embedding`` ``(n, D)``.

    Args:
        path: The model file, for the messages.
        proto: The parsed ``onnx.ModelProto``.
        contract: Its contract.

    Raises:
        InputError: A bound is exceeded or the graph does not keep the contract; names the file.
        ConfigError: A bound's environment variable is not a positive number.
    """
    _check_bounds(path, contract)
    _check_input(path, proto.graph, contract.image_size)
    _check_outputs(path, proto.graph, contract.embedding_dim)


def _check_bounds(path: Path, contract: ExportContract) -> None:
    for bound, amount, what in ((MAX_INPUT_SIDE, contract.image_size, "its input side"),
                                (MAX_EMBEDDING, contract.embedding_dim, "its embedding width")):
        reason = bound.exceeded(amount, what)
        if reason:
            raise InputError(f"model file {path}: {reason}")


def _check_input(path: Path, graph: Any, size: int) -> None:
    initializers = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if [i.name for i in inputs] != [INPUT_NAME] or inputs[0].type.tensor_type.elem_type != _UINT8:
        raise InputError(f"model file {path}: its graph takes {[i.name for i in inputs]}, not one uint8 input "
                         f"{INPUT_NAME!r} as its dfembed metadata says")
    dims = _dims(inputs[0])
    if len(dims) != 4 or dims[1:] != (size, size, 3):
        raise InputError(f"model file {path}: mismatched crop size — its graph takes crops of shape {dims[1:]}, its "
                         f"dfembed metadata says {size}x{size}x3")
    if dims[0] is not None:
        raise InputError(f"model file {path}: its graph takes {_shown_dims(dims)}, a fixed batch of {dims[0]}; its "
                         f"dfembed metadata says (n, {size}, {size}, 3) for any number of crops n")


def _check_outputs(path: Path, graph: Any, width: int) -> None:
    outputs = {o.name: o for o in graph.output}
    if set(outputs) != {SCORE_OUTPUT, EMBEDDING_OUTPUT} or any(
            o.type.tensor_type.elem_type != _FLOAT for o in outputs.values()):
        raise InputError(f"model file {path}: its graph gives {sorted(outputs)}, not float32 {SCORE_OUTPUT!r} and "
                         f"{EMBEDDING_OUTPUT!r}")
    embedding = _dims(outputs[EMBEDDING_OUTPUT])
    if embedding[-1:] != (width,):
        raise InputError(f"model file {path}: its graph gives embeddings of width {embedding[-1:]}, its dfembed "
                         f"metadata says {width}")
    for name, dims, expected in ((SCORE_OUTPUT, _dims(outputs[SCORE_OUTPUT]), (None,)),
                                 (EMBEDDING_OUTPUT, embedding, (None, width))):
        if dims != expected:
            raise InputError(f"model file {path}: its graph gives {name!r} of shape {_shown_dims(dims)}, its dfembed "
                             f"metadata says {_shown_dims(expected)}")


def _check_no_external_data(path: Path, graph: Any) -> None:
    """Refuse tensors stored outside the file (anywhere in the graph and its subgraphs)."""
    for tensor in _tensors(graph):
        if tensor.data_location == 1:  # onnx.TensorProto.EXTERNAL
            raise InputError(f"model file {path}: tensor {tensor.name!r} is stored in an external file; dfembed "
                             "runs only self-contained ONNX files (loading one reads no other file)")


def _tensors(graph: Any) -> Any:
    yield from graph.initializer
    yield from (sparse.values for sparse in graph.sparse_initializer)
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for sub in attribute.graphs:
                yield from _tensors(sub)


def providers_for(choice: str, available: list[str]) -> list[str]:
    """ONNX Runtime execution providers for ``--onnx-provider``.

    Args:
        choice: ``"auto"`` (CUDA when onnxruntime has it, else CPU), ``"cpu"`` or ``"cuda"``.
        available: ``onnxruntime.get_available_providers()``.

    Returns:
        The providers, in order of preference (CPU always last, as the fallback).

    Raises:
        ConfigError: ``"cuda"`` without a CUDA provider, or an unknown choice.
    """
    if choice not in PROVIDERS:
        raise ConfigError(f"unknown ONNX Runtime provider {choice!r}; choose one of {', '.join(PROVIDERS)}")
    if choice == "cuda" and _CUDA not in available:
        raise ConfigError(f"this onnxruntime has no CUDA provider (it has {', '.join(available)}): install "
                          "onnxruntime-gpu in place of onnxruntime, or use --onnx-provider cpu")
    if choice == "cpu" or _CUDA not in available:
        return [_CPU]
    return [_CUDA, _CPU]


class ExportedModel:
    """An exported model on ONNX Runtime: uint8 crops → P(fake) and embeddings.

    It pickles as its file and options, not its session: a Ray worker that unpickles it loads
    the same file (checked by SHA-256) on its own devices.

    Args:
        exported: The checked file.
        session: An ``onnxruntime.InferenceSession`` on its bytes.
        provider: The provider choice it was loaded with (``auto``, ``cpu``, ``cuda``).
        threads: Its threads per operator on the CPU (``None``: ONNX Runtime's default).
    """

    def __init__(self, exported: ExportedFile, session: Any, provider: str = "auto", threads: int | None = None) -> None:
        self.path = exported.path
        self.contract = exported.contract
        self.sha256 = exported.sha256
        self.session = session
        self.providers = list(session.get_providers())
        self.provider = provider
        self.threads = threads

    def __reduce__(self) -> tuple[Any, tuple[str, str, int | None, str]]:
        return _load_same, (str(self.path), self.provider, self.threads, self.sha256)

    def predict(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the model on a batch of crops.

        Args:
            images: ``(n, S, S, 3)`` RGB crops at the contract's size, 0..255.

        Returns:
            ``(P(fake) (n,) float64, embeddings (n, D) float32)``.

        Raises:
            InputError: The crops are not ``(n, S, S, 3)`` at the model's size; ONNX Runtime
                fails on them (the message names the file and gives the runtime's first line);
                or the model is faulty: a P(fake) that is not a number in [0, 1], an embedding
                that is not finite, or outputs of other shapes.
        """
        size, width = self.contract.image_size, self.contract.embedding_dim
        if images.ndim != 4 or images.shape[1:] != (size, size, 3):
            raise InputError(f"model {self.path} takes crops of {size}x{size}x3, got shape {images.shape}")
        if len(images) == 0:
            return np.zeros(0), np.zeros((0, width), np.float32)
        feed = {INPUT_NAME: np.ascontiguousarray(images, dtype=np.uint8)}
        try:
            scores, embeddings = self.session.run([SCORE_OUTPUT, EMBEDDING_OUTPUT], feed)
        except runtime_errors() as err:
            raise InputError(f"model file {self.path} failed on a batch of {len(images)} face crops: ONNX Runtime: "
                             f"{first_line(err)}") from err
        return (check_p_fake(scores, str(self.path), len(images)),
                check_embeddings(embeddings, str(self.path), (len(images), width)))


def load_exported(path: str | os.PathLike[str], provider: str = "auto", threads: int | None = None) -> ExportedModel:
    """Read, check and load an exported ONNX model on ONNX Runtime.

    The session's worker threads sleep when idle instead of spinning (ONNX Runtime's
    default): inference decodes and detects on other threads at the same time, and
    spinning threads take the cores those need (measured slower on a shared 2-core CPU).

    Args:
        path: The ``.onnx`` file or its export folder.
        provider: ``"auto"`` (CUDA when present, else CPU), ``"cpu"`` or ``"cuda"``.
        threads: Threads of each operator on the CPU; ``None``: ONNX Runtime's default
            (one per physical core).

    Returns:
        The model.

    Raises:
        InputError: The file is not a valid dfembed ONNX export (see :func:`read_exported`)
            or ONNX Runtime cannot load it.
        ConfigError: onnx/onnxruntime are missing, or ``"cuda"`` is not available.
    """
    _, ort = require_onnx_runtime()
    exported = read_exported(path)
    providers = providers_for(provider, list(ort.get_available_providers()))
    options = ort.SessionOptions()
    # fatal only: the CPU provider's notes about unused initializers are noise, and an error is raised
    # as well as logged, so it reaches the user once, as dfembed's one line
    options.log_severity_level = 4
    options.intra_op_num_threads = threads or 0
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(exported.data, sess_options=options, providers=providers)
    except runtime_errors() as err:
        raise InputError(f"ONNX Runtime cannot load model file {exported.path}: {first_line(err)}") from err
    model = ExportedModel(exported, session, provider, threads)
    log.info("exported model %s: %s, %d px, %d-d embeddings, %s SVM; ONNX Runtime on %s", exported.path,
             exported.contract.backbone, exported.contract.image_size, exported.contract.embedding_dim,
             exported.contract.kernel, ", ".join(model.providers))
    return model


def runtime_errors() -> tuple[type[Exception], ...]:
    """The exceptions ONNX Runtime raises: its own (pybind classes derived from ``Exception`` only,
    such as ``Fail`` and ``InvalidArgument``) and the ``RuntimeError``/``ValueError`` of its Python layer."""
    state = importlib.import_module("onnxruntime.capi.onnxruntime_pybind11_state")
    own = tuple(v for v in vars(state).values() if isinstance(v, type) and issubclass(v, Exception))
    return (*own, RuntimeError, ValueError)


def first_line(err: BaseException) -> str:
    """The first line of an ONNX Runtime error without its code prefix and C++ source locations (≤ 300 characters).

    ``[ONNXRuntimeError] : 1 : FAIL : … Status Message: /onnxruntime_src/…/reshape_helper.h:91
    onnxruntime::ReshapeHelper::ReshapeHelper(…) input_shape_size == …`` reads
    ``FAIL : … Status Message: input_shape_size == …``.
    """
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = _ORT_PREFIX.sub("", lines[0]) if lines else type(err).__name__
    return _ORT_SOURCE.sub("", text)[:300]


def _load_same(path: str, provider: str, threads: int | None, sha256: str) -> ExportedModel:
    """An unpickled :class:`ExportedModel`: its file loaded again, refused if it has changed since."""
    model = load_exported(path, provider, threads)
    if model.sha256 != sha256:
        raise InputError(f"model file {path} has changed since it was loaded (its SHA-256 differs): "
                         "a worker must see the same file as the driver")
    return model
