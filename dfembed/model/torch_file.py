"""Read a legacy PyTorch weights file (``torch.save`` before 1.6) with NumPy alone, running no code.

The file is a row of pickles followed by raw tensor storages:

1. a magic number, the protocol version (1001) and a dictionary of system facts;
2. the state dictionary, in which every tensor is ``torch._utils._rebuild_tensor_v2(storage,
   offset, size, stride, requires_grad, hooks)`` and every storage a *persistent id*
   ``("storage", torch.FloatStorage, key, location, numel, view)``;
3. the list of storage keys, in the order the storages follow;
4. per storage, its element count (little-endian int64) and its raw bytes.

A pickle can name any importable function and call it, so :class:`_TensorUnpickler` accepts
exactly the globals a tensor dictionary needs (``collections.OrderedDict``,
``torch._utils._rebuild_tensor_v2`` and the storage types, each replaced by a harmless local
stand-in) and refuses everything else with an :class:`~dfembed.core.errors.InputError`, so a
tampered file is an error before any of its code could run. ``pickle.load`` is never called on it.
"""

from __future__ import annotations

import collections
import os
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from dfembed.core.errors import InputError

_MAGIC = 0x1950A86A20F9469CFC6C
_PROTOCOL = 1001
#: Storage types → their NumPy dtype (little-endian, as the files say they are).
_STORAGES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ByteStorage": np.dtype("u1"),
}
#: Headers larger than this are refused (a state dictionary's pickle is a few hundred KB).
_MAX_HEADER = 64 << 20


@dataclass(frozen=True)
class _StorageType:
    """Stand-in for ``torch.FloatStorage`` and its siblings: only its dtype matters."""

    dtype: np.dtype


@dataclass(frozen=True)
class _StorageRef:
    """A persistent id: one storage of the file, not yet read."""

    key: str
    dtype: np.dtype
    numel: int


@dataclass(frozen=True)
class _TensorRef:
    """What ``_rebuild_tensor_v2`` would have built: a strided view of a storage."""

    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *_rest: Any) -> _TensorRef:
    """The stand-in for ``torch._utils._rebuild_tensor_v2``; checks its arguments' types."""
    ints = (offset, *size, *stride) if isinstance(size, tuple) and isinstance(stride, tuple) else None
    if not isinstance(storage, _StorageRef) or ints is None or not all(type(v) is int and v >= 0 for v in ints):
        raise pickle.UnpicklingError("a tensor record with arguments of the wrong kind")
    if len(size) != len(stride):
        raise pickle.UnpicklingError("a tensor record whose size and stride differ in length")
    return _TensorRef(storage, offset, tuple(size), tuple(stride))


class _TensorUnpickler(pickle.Unpickler):
    """An unpickler that knows a tensor dictionary's few globals and refuses all others."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGES:
            return _StorageType(_STORAGES[name])
        raise pickle.UnpicklingError(f"refused global {module}.{name}: not part of a tensor dictionary")

    def persistent_load(self, pid: Any) -> _StorageRef:
        ok = (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)
              and isinstance(pid[2], str) and type(pid[4]) is int and pid[4] >= 0)
        if not ok:
            raise pickle.UnpicklingError("a storage reference of an unknown form")
        return _StorageRef(pid[2], pid[1].dtype, pid[4])


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The tensors of a legacy PyTorch state dictionary file, as NumPy arrays.

    Args:
        path: A ``.pth`` file written by ``torch.save(state_dict)`` before PyTorch 1.6.

    Returns:
        Tensor name → array, in the file's order (copies: they do not keep the file open).

    Raises:
        InputError: The file is missing, not in this format, truncated, or names a global that
            a tensor dictionary does not need (its code is never run).
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            state, keys = _read_header(handle)
            storages = _read_storages(handle, keys, _storage_refs(state), size)
    except OSError as err:
        raise InputError(f"weights file {path}: cannot read it ({err.strerror or err})") from err
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            struct.error, MemoryError, RecursionError) as err:
        raise InputError(f"weights file {path} is not a plain PyTorch tensor file: {str(err)[:200]}") from err
    return {name: _view(tensor, storages[tensor.storage.key]) for name, tensor in state.items()}


def _read_header(handle: BinaryIO) -> tuple[dict[str, _TensorRef], list[str]]:
    """The three leading pickles, the state dictionary and the storage keys."""
    if handle.read(4) == b"PK\x03\x04":
        raise ValueError("a zip-format file (torch.save since PyTorch 1.6); only the legacy format is read")
    handle.seek(0)
    if _load(handle) != _MAGIC:
        raise ValueError("no legacy PyTorch magic number (a zip-format or other file)")
    if _load(handle) != _PROTOCOL:
        raise ValueError("an unknown PyTorch protocol version")
    info = _load(handle)
    if not isinstance(info, dict) or info.get("little_endian") is not True:
        raise ValueError("not a little-endian file")
    state, keys = _load(handle), _load(handle)
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, _TensorRef)
                                              for k, v in state.items()):
        raise ValueError("the file holds something other than a dictionary of tensors")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) or len(set(keys)) != len(keys):
        raise ValueError("a malformed list of storage keys")
    return state, keys


def _load(handle: BinaryIO) -> Any:
    start = handle.tell()
    value = _TensorUnpickler(handle).load()
    if handle.tell() - start > _MAX_HEADER:
        raise ValueError("a header larger than any tensor dictionary's")
    return value


def _storage_refs(state: dict[str, _TensorRef]) -> dict[str, _StorageRef]:
    refs: dict[str, _StorageRef] = {}
    for tensor in state.values():
        known = refs.setdefault(tensor.storage.key, tensor.storage)
        if known != tensor.storage:
            raise ValueError(f"storage {tensor.storage.key} is described twice, differently")
    return refs


def _read_storages(handle: BinaryIO, keys: list[str], refs: dict[str, _StorageRef], size: int) -> dict[str, np.ndarray]:
    """Each storage's array, read in the file's order and checked against its record and the file's size."""
    if set(refs) - set(keys):
        raise ValueError("a tensor refers to a storage the file does not hold")
    storages: dict[str, np.ndarray] = {}
    for key in keys:
        ref = refs.get(key)
        (numel,) = struct.unpack("<q", _exact(handle, 8))
        if ref is None or numel != ref.numel:
            raise ValueError(f"storage {key}: its element count does not match its record")
        nbytes = numel * ref.dtype.itemsize
        if handle.tell() + nbytes > size:
            raise ValueError(f"storage {key} runs past the end of the file (truncated)")
        storages[key] = np.frombuffer(_exact(handle, nbytes), dtype=ref.dtype)
    return storages


def _exact(handle: BinaryIO, count: int) -> bytes:
    data = handle.read(count)
    if len(data) != count:
        raise ValueError("the file ends early (truncated)")
    return data


def _view(tensor: _TensorRef, storage: np.ndarray) -> np.ndarray:
    """The tensor's strided view of its storage, bounds-checked, as a native-order copy."""
    shape, stride = tensor.shape, tensor.stride
    last = tensor.offset + sum((n - 1) * s for n, s in zip(shape, stride, strict=True) if n > 0)
    if any(n == 0 for n in shape):
        return np.zeros(shape, dtype=storage.dtype.newbyteorder("="))
    if last >= storage.size:
        raise InputError(f"a tensor of shape {shape} reaches past its storage of {storage.size} elements")
    if not shape:
        return np.array(storage[tensor.offset], dtype=storage.dtype.newbyteorder("="))
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(storage[tensor.offset:], shape=shape,
                                           strides=tuple(s * item for s in stride), writeable=False)
    return np.array(view, dtype=storage.dtype.newbyteorder("="), copy=True)
