"""Hostile exported models: huge claimed inputs, faulty outputs, graphs that fail in ONNX Runtime.

Each file is a tiny graph of ``tests/model/hostile_onnx.py`` whose misbehaviour, and so the
expected message, is known by construction.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from dfembed.core.errors import ConfigError, InputError
from tests.model.hostile_onnx import SIDE, hostile_onnx

pytest.importorskip("onnx", reason="the ONNX extra (pip install -e '.[onnx]') is not installed")
pytest.importorskip("onnxruntime", reason="the ONNX extra (pip install -e '.[onnx]') is not installed")

BLACK = np.zeros((2, SIDE, SIDE, 3), np.uint8)  # P(fake) 0 and embedding (0, 0, 0) for the plain graph


def _one_line(error: pytest.ExceptionInfo, path: Path) -> str:
    message = str(error.value)
    assert str(path) in message and "\n" not in message
    return message


def test_a_model_claiming_a_20000_pixel_input_is_refused_before_any_work(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from dfembed.model.exported import load_exported, read_exported

    path = hostile_onnx(tmp_path / "model.onnx", side=20000)
    began = time.perf_counter()
    with pytest.raises(InputError) as error:
        load_exported(path, provider="cpu")
    assert time.perf_counter() - began < 2.0
    assert ("its input side is 20000 pixels, above the limit of 1024 (set DFEMBED_MAX_INPUT_SIDE to raise it)"
            in _one_line(error, path))
    monkeypatch.setenv("DFEMBED_MAX_INPUT_SIDE", "20000")  # read when the model is checked, not at import
    assert read_exported(path).contract.image_size == 20000
    monkeypatch.setenv("DFEMBED_MAX_INPUT_SIDE", "huge")
    with pytest.raises(ConfigError, match="DFEMBED_MAX_INPUT_SIDE='huge' must be a positive number of pixels"):
        read_exported(path)


def test_an_embedding_wider_than_the_bound_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dfembed.model.exported import read_exported

    path = hostile_onnx(tmp_path / "model.onnx", width=9000)
    with pytest.raises(InputError) as error:
        read_exported(path)
    assert "its embedding width is 9000 values, above the limit of 8192 (set DFEMBED_MAX_EMBEDDING" in \
        _one_line(error, path)
    monkeypatch.setenv("DFEMBED_MAX_EMBEDDING", "10000")
    assert read_exported(path).contract.embedding_dim == 9000


@pytest.mark.parametrize(("options", "fragment"), [
    ({"batch": 1}, "its graph takes (1, 8, 8, 3), a fixed batch of 1; its dfembed metadata says (n, 8, 8, 3)"),
    ({"score_dims": ("n", 1)}, "its graph gives 'p_fake' of shape (n, 1), its dfembed metadata says (n,)"),
    ({"score_dims": ()}, "its graph gives 'p_fake' of shape (), its dfembed metadata says (n,)"),
])
def test_declared_shapes_must_be_the_contracts(tmp_path: Path, options: dict, fragment: str) -> None:
    from dfembed.model.exported import read_exported

    path = hostile_onnx(tmp_path / "model.onnx", **options)
    with pytest.raises(InputError) as error:
        read_exported(path)
    assert fragment in _one_line(error, path)


@pytest.mark.parametrize(("options", "fragment"), [
    ({"score_add": float("nan")}, "gave P(fake) = nan for a face crop"),
    ({"score_add": 8.0}, "gave P(fake) = 8 for a face crop"),  # a black crop's P(fake) is 0, plus 8
    ({"score_add": -0.5}, "gave P(fake) = -0.5 for a face crop"),
    ({"embedding_add": float("inf")}, "gave an embedding holding inf for a face crop"),
])
def test_faulty_outputs_name_the_model_as_faulty(tmp_path: Path, options: dict, fragment: str) -> None:
    from dfembed.model.exported import load_exported

    path = hostile_onnx(tmp_path / "model.onnx", **options)
    model = load_exported(path, provider="cpu")
    with pytest.raises(InputError) as error:
        model.predict(BLACK)
    message = _one_line(error, path)
    assert message.startswith(f"model {path} {fragment}") and message.endswith(": the model is faulty")


def test_a_graph_failing_at_run_time_is_one_line_naming_the_file(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    from dfembed.model.exported import load_exported

    path = hostile_onnx(tmp_path / "model.onnx", score_reshape=[7])  # 2 scores cannot become 7
    model = load_exported(path, provider="cpu")
    with pytest.raises(InputError) as error:
        model.predict(BLACK)
    message = _one_line(error, path)
    assert message.startswith(f"model file {path} failed on a batch of 2 face crops: ONNX Runtime: ")
    assert "running Reshape node" in message and "requested shape:{7}" in message
    assert "onnxruntime_src" not in message  # the C++ source location is left out
    assert "Reshape" not in capfd.readouterr().err  # ONNX Runtime's own log line is not printed as well


def test_a_graph_onnx_runtime_cannot_load_is_one_line_naming_the_file(tmp_path: Path) -> None:
    from dfembed.model.exported import load_exported

    path = hostile_onnx(tmp_path / "model.onnx", unknown_op=True)
    with pytest.raises(InputError) as error:
        load_exported(path, provider="cpu")
    assert _one_line(error, path).startswith(f"ONNX Runtime cannot load model file {path}: ")


def test_a_well_behaved_graph_still_scores(tmp_path: Path) -> None:
    from dfembed.model.exported import load_exported

    model = load_exported(hostile_onnx(tmp_path / "model.onnx", score_add=0.25), provider="cpu")
    scores, embeddings = model.predict(BLACK)
    np.testing.assert_allclose(scores, [0.25, 0.25])  # 0 for a black crop, plus 0.25
    np.testing.assert_array_equal(embeddings, np.zeros((2, 3), np.float32))


class _ConvertsTo:
    """Stands in for the Keras export model: its ``export`` writes a given hostile ONNX graph."""

    def __init__(self, **options: object) -> None:
        self.options = options

    def export(self, path: str, **_: object) -> None:
        hostile_onnx(Path(path), **self.options)


def test_an_export_that_loading_would_refuse_fails_at_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import onnx

    from dfembed.export import onnx_file
    from dfembed.model.contract import ExportContract

    monkeypatch.setattr(onnx_file, "require_converter", lambda: (onnx, None))  # tf2onnx itself is not needed here
    contract = ExportContract("onnx", SIDE, 3, "b0", "linear", {"real": 0, "fake": 1})
    written = onnx_file.write_onnx(_ConvertsTo(), tmp_path / "ok.onnx", contract)
    assert onnx.load(str(written)).metadata_props[0].key == "dfembed"
    monkeypatch.setenv("DFEMBED_MAX_INPUT_SIDE", "4")
    with pytest.raises(InputError, match="would be refused when loaded: .*its input side is 8 pixels, above the "
                                         "limit of 4"):
        onnx_file.write_onnx(_ConvertsTo(), tmp_path / "big.onnx", contract)
    monkeypatch.delenv("DFEMBED_MAX_INPUT_SIDE")
    with pytest.raises(InputError, match=r"'p_fake' of shape \(n, 1\), its dfembed metadata says \(n,\)"):
        onnx_file.write_onnx(_ConvertsTo(score_dims=("n", 1)), tmp_path / "shape.onnx", contract)
