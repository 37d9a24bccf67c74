"""Legacy PyTorch tensor files written by hand (no torch needed), for the reader's tests.

:func:`write_state_dict` emits the same pickle opcodes ``torch.save`` (before 1.6) writes
for a dictionary of tensors; ``extra_global`` adds a call of another global, as a tampered
file would.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np

MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE = {np.dtype("float32"): "FloatStorage", np.dtype("int64"): "LongStorage"}


def _text(value: str) -> bytes:
    data = value.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def _tuple(items: list[bytes]) -> bytes:
    return b"(" + b"".join(items) + b"t"


def _tensor(index: int, array: np.ndarray) -> bytes:
    strides = [s // array.itemsize for s in array.strides]
    pid = _tuple([_text("storage"), b"ctorch\n" + _STORAGE[array.dtype].encode() + b"\n", _text(str(index)),
                  _text("cpu"), _int(array.size), b"N"])
    hooks = b"ccollections\nOrderedDict\n)R"
    args = _tuple([pid + b"Q", _int(0), _tuple([_int(n) for n in array.shape]), _tuple([_int(s) for s in strides]),
                   b"\x89", hooks])
    return b"ctorch._utils\n_rebuild_tensor_v2\n" + args + b"R"


def write_state_dict(path: Path, tensors: dict[str, np.ndarray], extra_global: tuple[str, str] | None = None) -> Path:
    """Write ``tensors`` (float32 or int64) as ``torch.save`` did; optionally with one more global called."""
    head = b"".join(pickle.dumps(v, protocol=2) for v in (MAGIC, 1001, {
        "protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}))
    items = b"".join(_text(name) + _tensor(i, np.array(a, order="C")) for i, (name, a) in enumerate(tensors.items()))
    if extra_global is not None:
        module, name = extra_global
        items += _text("payload") + f"c{module}\n{name}\n".encode() + _tuple([_text("echo tampered")]) + b"R"
    state = b"\x80\x02ccollections\nOrderedDict\n)R(" + items + b"u."
    body = head + state + pickle.dumps([str(i) for i in range(len(tensors))], protocol=2)
    for array in tensors.values():
        flat = np.array(array, order="C").reshape(-1)
        body += struct.pack("<q", flat.size) + flat.astype(flat.dtype.newbyteorder("<")).tobytes()
    path.write_bytes(body)
    return path
