"""Reading and running an exported ONNX model, on small graphs built here with ``onnx.helper``.

The graph of :func:`_mean_model` stands in for an export: ``image`` uint8 → float / 255 →
``embedding`` = each channel's mean, ``p_fake`` = the mean of the three, so every output
is known by hand.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from dfembed.core.errors import ConfigError, InputError
from dfembed.model.contract import ExportContract

onnx = pytest.importorskip("onnx", reason="the ONNX extra (pip install -e '.[onnx]') is not installed")
pytest.importorskip("onnxruntime", reason="the ONNX extra (pip install -e '.[onnx]') is not installed")

SIZE = 8


def _mean_model(graph_size: int = SIZE, metadata_size: int | None = SIZE, input_type: int = 2) -> bytes:
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Cast", ["image"], ["pixels"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["pixels", "scale"], ["unit"]),
        helper.make_node("ReduceMean", ["unit"], ["embedding"], axes=[1, 2], keepdims=0),
        helper.make_node("ReduceMean", ["embedding"], ["p_fake"], axes=[1], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "mean",
        [helper.make_tensor_value_info("image", input_type, ["n", graph_size, graph_size, 3])],
        [helper.make_tensor_value_info("p_fake", TensorProto.FLOAT, ["n"]),
         helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor("scale", TensorProto.FLOAT, [], [255.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    if metadata_size is not None:
        contract = ExportContract("onnx", metadata_size, 3, "b0", "linear", {"real": 0, "fake": 1},
                                  {"size": 80, "detector": "blazeface"}, {"name": "blazeface"})
        entry = model.metadata_props.add()
        entry.key, entry.value = "dfembed", contract.dumps()
    return model.SerializeToString()


def _file(tmp_path: Path, data: bytes, name: str = "model.onnx") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _image(r: int, g: int, b: int) -> np.ndarray:
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = r, g, b
    return image


def test_a_valid_model_runs_and_says_how_its_crops_were_made(tmp_path: Path) -> None:
    from dfembed.model.exported import load_exported

    model = load_exported(_file(tmp_path, _mean_model()), provider="cpu")
    assert model.contract.crop_config == {"size": 80, "detector": "blazeface"}
    assert model.providers == ["CPUExecutionProvider"]
    p_fake, embedding = model.predict(np.stack([_image(255, 0, 51), _image(0, 0, 0)]))
    np.testing.assert_allclose(embedding, [[1.0, 0.0, 0.2], [0.0, 0.0, 0.0]], atol=1e-6)
    np.testing.assert_allclose(p_fake, [0.4, 0.0], atol=1e-6)
    assert p_fake.dtype == np.float64 and embedding.dtype == np.float32
    with pytest.raises(InputError, match=r"takes crops of 8x8x3, got shape \(1, 9, 9, 3\)"):
        model.predict(np.zeros((1, 9, 9, 3), np.uint8))


def test_an_export_folder_is_read_through_its_model_file(tmp_path: Path) -> None:
    from dfembed.model.exported import read_exported

    _file(tmp_path, _mean_model())
    assert read_exported(tmp_path).path == tmp_path / "model.onnx"


def _error(path: Path) -> str:
    from dfembed.model.exported import read_exported

    with pytest.raises(InputError) as caught:
        read_exported(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message
    return message


def test_a_file_that_is_not_onnx(tmp_path: Path) -> None:
    assert "not an ONNX model" in _error(_file(tmp_path, b"name,label\nclip.mp4,0.5\n" * 20, "notes.onnx"))


def test_an_empty_file(tmp_path: Path) -> None:
    assert "is empty" in _error(_file(tmp_path, b""))


def test_a_truncated_file(tmp_path: Path) -> None:
    data = _mean_model()
    for cut in (len(data) // 2, len(data) - 3):
        assert "truncated" in _error(_file(tmp_path, data[:cut]))


def test_an_onnx_model_without_dfembed_metadata(tmp_path: Path) -> None:
    assert "without dfembed's metadata" in _error(_file(tmp_path, _mean_model(metadata_size=None)))


def test_a_mismatched_crop_size(tmp_path: Path) -> None:
    message = _error(_file(tmp_path, _mean_model(graph_size=SIZE, metadata_size=16)))
    assert "mismatched crop size" in message and "(8, 8, 3)" in message and "16x16x3" in message


def test_a_float_input_is_not_the_contract(tmp_path: Path) -> None:
    assert "not one uint8 input" in _error(_file(tmp_path, _mean_model(input_type=1)))


def test_tensors_in_external_files_are_refused(tmp_path: Path) -> None:
    model = onnx.load_model_from_string(_mean_model())
    scale = model.graph.initializer[0]
    scale.ClearField("float_data")
    scale.data_location = onnx.TensorProto.EXTERNAL
    location = scale.external_data.add()
    location.key, location.value = "location", "../../etc/passwd"
    assert "external file" in _error(_file(tmp_path, model.SerializeToString()))


def test_a_file_that_its_record_does_not_describe(tmp_path: Path) -> None:
    data = _mean_model()
    path = _file(tmp_path, data)
    record = {"files": {"model.onnx": {"sha256": hashlib.sha256(data + b"x").hexdigest(), "bytes": len(data) + 1}}}
    (tmp_path / "dfembed-export.json").write_text(json.dumps(record))
    message = _error(path)
    assert "not the file that dfembed-export.json" in message and "truncated?" in message
    record["files"]["model.onnx"] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (tmp_path / "dfembed-export.json").write_text(json.dumps(record))
    from dfembed.model.exported import read_exported

    assert read_exported(path).sha256 == hashlib.sha256(data).hexdigest()


def test_folders_that_hold_no_onnx_export(tmp_path: Path) -> None:
    from dfembed.model.exported import onnx_path

    with pytest.raises(InputError, match="without model.onnx"):
        onnx_path(tmp_path)
    (tmp_path / "saved_model.pb").write_bytes(b"\0")
    with pytest.raises(InputError, match="SavedModel export, for TensorFlow Serving"):
        onnx_path(tmp_path)


def test_providers() -> None:
    from dfembed.model.exported import providers_for

    cpu_only = ["AzureExecutionProvider", "CPUExecutionProvider"]
    assert providers_for("auto", cpu_only) == ["CPUExecutionProvider"]
    assert providers_for("auto", ["CUDAExecutionProvider", *cpu_only]) == ["CUDAExecutionProvider",
                                                                           "CPUExecutionProvider"]
    assert providers_for("cpu", ["CUDAExecutionProvider", *cpu_only]) == ["CPUExecutionProvider"]
    with pytest.raises(ConfigError, match="no CUDA provider.*onnxruntime-gpu"):
        providers_for("cuda", cpu_only)


def test_without_onnxruntime_the_error_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dfembed.model.exported import load_exported

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ConfigError, match=r"onnxruntime.*pip install -e \"\.\[onnx\]\""):
        load_exported(_file(tmp_path, _mean_model()))
