"""The legacy PyTorch file reader: tensors come back exactly; any global beyond a tensor dictionary's is refused."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from dfembed.core.errors import InputError
from dfembed.model.torch_file import read_state_dict
from tests.torch_files import write_state_dict


def _tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"conv.weight": rng.normal(size=(4, 3, 3, 3)).astype(np.float32),
            "bn.num_batches_tracked": np.array(7, dtype=np.int64),
            "fc.bias": rng.normal(size=(5,)).astype(np.float32)}


def test_a_tensor_dictionary_reads_back_exactly(tmp_path: Path) -> None:
    tensors = _tensors()
    state = read_state_dict(write_state_dict(tmp_path / "w.pth", tensors))
    assert list(state) == list(tensors)
    for name, value in tensors.items():
        assert state[name].dtype == value.dtype and state[name].shape == value.shape
        np.testing.assert_array_equal(state[name], value)


@pytest.mark.parametrize("extra", [("os", "system"), ("builtins", "eval"), ("torch", "load"),
                                   ("torch._utils", "_rebuild_parameter")])
def test_a_file_with_an_extra_global_is_refused_before_it_runs(tmp_path: Path, extra: tuple[str, str]) -> None:
    path = write_state_dict(tmp_path / "tampered.pth", _tensors(), extra_global=extra)
    with pytest.raises(InputError, match=rf"tampered.pth is not a plain PyTorch tensor file: refused global "
                                         rf"{extra[0]}\.{extra[1]}"):
        read_state_dict(path)


def test_a_truncated_file_is_an_input_error(tmp_path: Path) -> None:
    path = write_state_dict(tmp_path / "w.pth", _tensors())
    path.write_bytes(path.read_bytes()[:-9])
    with pytest.raises(InputError, match="truncated|ends early"):
        read_state_dict(path)


def test_a_zip_format_file_is_named_as_not_this_format(tmp_path: Path) -> None:
    path = tmp_path / "new.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    with pytest.raises(InputError, match="new.pth is not a plain PyTorch tensor file: a zip-format file"):
        read_state_dict(path)


def test_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="absent.pth: cannot read it"):
        read_state_dict(tmp_path / "absent.pth")
