"""Inference on an exported model (``inference.py TEST SUB_CSV MODEL.onnx``), one file, standard output.

The tiny pair and its ONNX export come from ``tests/conftest.py``; the same files are
scored with the exported model and with the Keras model and its classifier.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.support import shared_path

pytestmark = pytest.mark.slow
pytest.importorskip("onnxruntime", reason="the ONNX extra (pip install -e '.[onnx]') is not installed")

FRAMES = ("real/abarnvbtwb-000.png", "fake/aagfhgtpmv-000.png")
VIDEO = "videos/abofeumbvv.mp4"


def _infer(*args: object):  # noqa: ANN202 - click's Result
    from click.testing import CliRunner

    from dfembed.commands.infer import infer_command

    return CliRunner().invoke(infer_command, [str(a) for a in args])


def _values(text: str) -> dict[str, str]:
    rows = list(csv.reader(io.StringIO(text)))
    return dict(rows[1:])


@pytest.fixture(scope="module")
def test_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames = shared_path("dfdc_sample", "frames")
    root = tmp_path_factory.mktemp("test")
    for name in FRAMES:
        shutil.copy(frames / name, root / Path(name).name)
    (root / "broken.jpg").write_text("not an image\n")
    (root / "videos").mkdir()
    (root / VIDEO).symlink_to(shared_path("dfdc_sample", VIDEO))
    return root


@pytest.fixture(scope="module")
def runs(test_dir: Path, tiny_pair: dict[str, Path], tiny_onnx: Path,
         tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The same TEST scored with the ONNX file, the Keras pair, and the export folder to standard output."""
    out = tmp_path_factory.mktemp("out")
    onnx_run = _infer(test_dir, out / "onnx.csv", tiny_onnx / "model.onnx")
    keras_run = _infer(test_dir, out / "keras.csv", tiny_pair["model"], tiny_pair["linear"])
    stdout_run = _infer(test_dir, "-", tiny_onnx)
    for result in (onnx_run, keras_run, stdout_run):
        assert result.exit_code == 0, result.output
    return {"out": out, "stdout": stdout_run}


def test_the_exported_model_scores_as_the_keras_pair_does(runs: dict[str, object]) -> None:
    out = runs["out"]
    onnx_values = _values((out / "onnx.csv").read_text())
    keras_values = _values((out / "keras.csv").read_text())
    assert set(onnx_values) == {"abarnvbtwb-000.png", "aagfhgtpmv-000.png", "broken.jpg", VIDEO}
    assert onnx_values["broken.jpg"] == "0.500000"
    for key in ("abarnvbtwb-000.png", "aagfhgtpmv-000.png", VIDEO):
        assert abs(float(onnx_values[key]) - float(keras_values[key])) <= 1e-4 + 1e-6, key


def test_crop_settings_and_detector_come_from_the_export(runs: dict[str, object], tiny_onnx: Path) -> None:
    import hashlib

    record = json.loads((runs["out"] / "onnx.dfembed-infer.json").read_text())
    crop = record["crop_config"]
    assert (crop["size"], crop["faces"], crop["frames_per_video"], crop["detector"]) == (80, "all", 3, "mtcnn")
    model = record["model"]
    assert (model["kind"], model["providers"]) == ("onnx", ["CPUExecutionProvider"])
    assert model["sha256"] == hashlib.sha256((tiny_onnx / "model.onnx").read_bytes()).hexdigest()
    assert record["inputs"]["svm_pkl"] is None
    assert record["files"][VIDEO]["frames"] and len(set(record["files"][VIDEO]["frames"])) == 3


def test_dash_writes_the_same_csv_to_standard_output(runs: dict[str, object]) -> None:
    result = runs["stdout"]
    assert result.stdout == (runs["out"] / "onnx.csv").read_text()  # byte-identical: a second run, same values
    assert "wrote 4 rows to standard output" in result.stderr  # logs and the summary stay on standard error
    assert not list(Path.cwd().glob("-*"))  # no file named "-", no record


def test_one_file_without_a_csv_prints_its_score(runs: dict[str, object], test_dir: Path, tiny_onnx: Path) -> None:
    result = _infer(test_dir / "aagfhgtpmv-000.png", tiny_onnx / "model.onnx")
    assert result.exit_code == 0, result.output
    assert result.stdout == _values((runs["out"] / "onnx.csv").read_text())["aagfhgtpmv-000.png"] + "\n"


# ---------------------------------------------------------------------------------------
# Bad input: one line, exit status 1, before any face is detected


def _one_error_line(result, *fragments: str) -> None:  # noqa: ANN001 - click's Result
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_a_model_file_that_is_not_onnx(test_dir: Path, tmp_path: Path) -> None:
    fake = tmp_path / "model.onnx"
    fake.write_text("path,y\n" * 100)
    _one_error_line(_infer(test_dir, tmp_path / "sub.csv", fake), str(fake), "not an ONNX model")


def test_a_truncated_export(test_dir: Path, tiny_onnx: Path, tmp_path: Path) -> None:
    cut = Path(shutil.copytree(tiny_onnx, tmp_path / "export"))
    data = (cut / "model.onnx").read_bytes()
    (cut / "model.onnx").write_bytes(data[: len(data) * 2 // 3])
    _one_error_line(_infer(test_dir, tmp_path / "sub.csv", cut), str(cut / "model.onnx"), "truncated?")
    assert not (tmp_path / "sub.csv").exists()


def test_an_onnx_model_without_dfembed_metadata(test_dir: Path, tiny_onnx: Path, tmp_path: Path) -> None:
    import onnx

    model = onnx.load(str(tiny_onnx / "model.onnx"))
    del model.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(model, str(bare))
    _one_error_line(_infer(test_dir, tmp_path / "sub.csv", bare), str(bare), "without dfembed's metadata")


@pytest.mark.parametrize(("arguments", "fragment"), [
    (("{test}", "{onnx}"), "is a folder: give SUB_CSV"),
    (("{test}", "{sub}", "{onnx}", "{svm}"), "give no SVM_PKL"),
    (("{test}", "{sub}", "{model}"), "give its classifier SVM_PKL"),
    (("{test}", "{sub}", "{onnx}", "--aggregate", "temporal", "--temporal-model", "{model}"), "Keras model"),
])
def test_misplaced_models(arguments: tuple[str, ...], fragment: str, test_dir: Path, tiny_pair: dict[str, Path],
                          tiny_onnx: Path, tmp_path: Path) -> None:
    names = {"test": test_dir, "sub": tmp_path / "sub.csv", "onnx": tiny_onnx / "model.onnx",
             "svm": tiny_pair["linear"], "model": tiny_pair["model"]}
    _one_error_line(_infer(*(a.format(**names) for a in arguments)), fragment)
    assert not (tmp_path / "sub.csv").exists()


def test_the_output_may_not_be_the_exported_model(test_dir: Path, tiny_onnx: Path, tmp_path: Path) -> None:
    export = Path(shutil.copytree(tiny_onnx, tmp_path / "export"))
    before = (export / "model.onnx").read_bytes()
    _one_error_line(_infer(test_dir, "-", export, "--output", export / "model.onnx", "--force"), "the exported model")
    assert (export / "model.onnx").read_bytes() == before


def test_the_cuda_provider_when_onnxruntime_has_none(test_dir: Path, tiny_onnx: Path, tmp_path: Path) -> None:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has a CUDA provider")
    _one_error_line(_infer(test_dir, tmp_path / "sub.csv", tiny_onnx, "--onnx-provider", "cuda"), "onnxruntime-gpu")


def test_without_onnxruntime_the_error_says_how_to_install_it(
    test_dir: Path, tiny_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    _one_error_line(_infer(test_dir, tmp_path / "sub.csv", tiny_onnx), "onnxruntime", "[onnx]")


class _TopLeft:
    """A stand-in exported model: P(fake) is the top-left pixel's red value / 255; it counts its calls."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict(self, images):  # noqa: ANN001, ANN201
        self.calls.append(len(images))
        return images[:, 0, 0, 0] / 255.0, images[:, 0, :, 0].astype("float32")


def test_the_scorer_batches_and_averages_the_mirror_image() -> None:
    import numpy as np

    from dfembed.infer.models import ExportedScorer

    images = np.zeros((5, 4, 4, 3), np.uint8)
    images[:, 0, 0, 0] = [0, 51, 102, 153, 204]  # top left
    images[:, 0, 3, 0] = 255  # top right: the mirror image's top left
    model = _TopLeft()
    np.testing.assert_allclose(ExportedScorer(model, batch_size=2)(images), [0, 0.2, 0.4, 0.6, 0.8])
    assert model.calls == [2, 2, 1]
    scores, embeddings = ExportedScorer(model, batch_size=8, tta="flip").scores_and_embeddings(images)
    np.testing.assert_allclose(scores, [0.5, 0.6, 0.7, 0.8, 0.9])
    np.testing.assert_array_equal(embeddings[:, 0], images[:, 0, 0, 0])  # the crops as given, not mirrored


def test_an_exported_model_pickles_as_its_file_for_ray_workers(tiny_onnx: Path, tmp_path: Path) -> None:
    import pickle

    import numpy as np

    from dfembed.core.errors import InputError
    from dfembed.model.exported import load_exported

    folder = shutil.copytree(tiny_onnx, tmp_path / "export")
    model = load_exported(folder, "cpu", 1)
    crops = np.random.default_rng(0).integers(0, 256, (3, *(model.contract.image_size,) * 2, 3), dtype=np.uint8)
    blob = pickle.dumps(model)
    assert len(blob) < 2000  # the file's name and options, not the network
    again = pickle.loads(blob)
    assert (again.provider, again.threads, again.sha256) == ("cpu", 1, model.sha256)
    np.testing.assert_array_equal(again.predict(crops)[0], model.predict(crops)[0])
    model.sha256 = "0" * 64  # as if the driver had loaded another export than the one now at this path
    with pytest.raises(InputError, match="model.onnx has changed since it was loaded"):
        pickle.loads(pickle.dumps(model))
