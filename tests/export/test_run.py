"""``dfembed export`` end to end: parity with the Keras path on the DFDC sample crops, the record, bad input.

The tiny pair (``tests/tiny_models.py``: B0 at 64 px, random weights, SVMs fitted on the
60 sample crops) is exported through the command line; the exported files are run with
ONNX Runtime and TensorFlow directly, and compared with :class:`dfembed.infer.scoring.FaceScorer`
on the same crops — what ``inference.py … MODEL_H5 SVM_PKL`` computes. What does not depend
on the backbone (the RBF head, a failed export) uses the same pair on the tests' small backbone.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from dfembed.core.config import resolve_config
from dfembed.export.config import ExportConfig
from tests.support import REPO
from tests.tiny_models import CROP, EMBEDDING_DIM, IMAGE_SIZE, build_pair, export, sample_crops

pytestmark = pytest.mark.slow
onnxruntime = pytest.importorskip("onnxruntime", reason="the ONNX extra (pip install -e '.[onnx]') is not installed")
onnx = pytest.importorskip("onnx", reason="the ONNX extra (pip install -e '.[onnx]') is not installed")


def test_resources_yaml_equals_defaults() -> None:
    assert resolve_config(ExportConfig, REPO / "dfembed" / "resources" / "export.yaml") == ExportConfig()


def _keras_path(pair: dict[str, Path], kernel: str, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(fake) and embeddings as inference with MODEL_H5 SVM_PKL computes them."""
    from dfembed.infer.scoring import FaceScorer, load_checked

    model, bundle, _ = load_checked(pair["model"], pair[kernel])
    return FaceScorer.from_bundle(model, bundle, batch_size=32).scores_and_embeddings(images)


def _onnx_outputs(model_file: Path, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    session = onnxruntime.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    p_fake, embedding = session.run(["p_fake", "embedding"], {"image": images})
    return p_fake, embedding


@pytest.fixture(scope="module")
def small_pair(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny pair's model and classifiers on the tests' small backbone (``tests/tiny_backbone.py``)."""
    return build_pair(tmp_path_factory.mktemp("small_pair"), backbone="tiny")


@pytest.fixture(scope="module")
def rbf_onnx(small_pair: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(small_pair["model"], small_pair["rbf"], tmp_path_factory.mktemp("rbf") / "out")


@pytest.fixture(scope="module")
def saved_model(tiny_pair: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(tiny_pair["model"], tiny_pair["linear"], tmp_path_factory.mktemp("sm") / "out",
                  "--format", "savedmodel")


@pytest.mark.shared_data
@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_onnx_p_fake_and_embeddings_equal_the_keras_path_on_the_sample_crops(
    tiny_pair: dict[str, Path], small_pair: dict[str, Path], tiny_onnx: Path, rbf_onnx: Path, kernel: str
) -> None:
    images, labels = sample_crops()
    expected_p, expected_e = _keras_path(tiny_pair if kernel == "linear" else small_pair, kernel, images)
    assert np.std(expected_p) > 0.05  # the crops get different scores: the comparison means something
    p_fake, embedding = _onnx_outputs((tiny_onnx if kernel == "linear" else rbf_onnx) / "model.onnx", images)
    assert p_fake.shape == (len(labels),) and embedding.shape == (len(labels), EMBEDDING_DIM)
    np.testing.assert_allclose(p_fake, expected_p, rtol=0, atol=1e-4)
    np.testing.assert_allclose(embedding, expected_e, rtol=0, atol=1e-4)


@pytest.mark.shared_data
def test_savedmodel_signature_gives_the_same_p_fake_and_embeddings(tiny_pair: dict[str, Path],
                                                                  saved_model: Path) -> None:
    import tensorflow as tf

    images, _ = sample_crops()
    expected_p, expected_e = _keras_path(tiny_pair, "linear", images)
    signature = tf.saved_model.load(str(saved_model)).signatures["serving_default"]
    assert signature.structured_input_signature[1]["image"].dtype == tf.uint8
    outputs = signature(image=tf.constant(images))
    np.testing.assert_allclose(outputs["p_fake"].numpy(), expected_p, rtol=0, atol=1e-4)
    np.testing.assert_allclose(outputs["embedding"].numpy(), expected_e, rtol=0, atol=1e-4)


def test_the_graph_takes_uint8_crops_of_the_training_size_and_a_batch_of_any_length(tiny_onnx: Path) -> None:
    model = onnx.load(str(tiny_onnx / "model.onnx"))
    (image,) = model.graph.input
    dims = image.type.tensor_type.shape.dim
    assert image.name == "image" and image.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert [d.dim_value for d in dims[1:]] == [IMAGE_SIZE, IMAGE_SIZE, 3] and not dims[0].HasField("dim_value")
    assert sorted(o.name for o in model.graph.output) == ["embedding", "p_fake"]
    for n in (1, 5):  # batches of other lengths than the check's
        p_fake, embedding = _onnx_outputs(tiny_onnx / "model.onnx", np.zeros((n, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8))
        assert p_fake.shape == (n,) and embedding.shape == (n, EMBEDDING_DIM)


def test_the_record_describes_the_contract_and_the_files(tiny_onnx: Path, tiny_pair: dict[str, Path]) -> None:
    record = json.loads((tiny_onnx / "dfembed-export.json").read_text())
    assert record["input"]["shape"] == [None, IMAGE_SIZE, IMAGE_SIZE, 3]
    assert (record["input"]["dtype"], record["input"]["channel_order"], record["input"]["value_range"]) == (
        "uint8", "RGB", [0, 255])
    assert record["input"]["resize_inside"] is False
    assert record["class_mapping"] == {"real": 0, "fake": 1}
    assert {k: record["crop_config"][k] for k in CROP} == CROP and record["crop_config"]["detector"] == "mtcnn"
    assert {"tensorflow", "keras", "tf2onnx", "onnx"} <= set(record["versions"])
    onnx_bytes = (tiny_onnx / "model.onnx").read_bytes()
    assert record["files"] == {"model.onnx": {"sha256": hashlib.sha256(onnx_bytes).hexdigest(),
                                              "bytes": len(onnx_bytes)}}
    assert record["inputs"]["model_h5"]["sha256"] == hashlib.sha256(tiny_pair["model"].read_bytes()).hexdigest()
    assert record["verification"]["p_fake"] <= 1e-4 and record["verification"]["images"] == 8
    # the model file carries the same contract, so it is enough on its own
    metadata = {p.key: p.value for p in onnx.load(str(tiny_onnx / "model.onnx")).metadata_props}
    embedded = json.loads(metadata["dfembed"])
    assert {k: embedded[k] for k in ("input", "outputs", "class_mapping", "crop_config", "model")} == {
        k: record[k] for k in ("input", "outputs", "class_mapping", "crop_config", "model")}


def test_savedmodel_record_lists_every_file(saved_model: Path) -> None:
    record = json.loads((saved_model / "dfembed-export.json").read_text())
    files = {p.relative_to(saved_model).as_posix() for p in saved_model.rglob("*") if p.is_file()}
    assert set(record["files"]) == files - {"dfembed-export.json"}
    assert "saved_model.pb" in files and record["model_format"] == "savedmodel"


# ---------------------------------------------------------------------------------------
# Bad input and existing outputs: one line, exit status 1, nothing replaced or left behind


def _run(*args: object):  # noqa: ANN202 - click's Result
    from click.testing import CliRunner

    from dfembed.commands.export import export_command

    return CliRunner().invoke(export_command, [str(a) for a in args])


def _one_error_line(result, *fragments: str) -> str:  # noqa: ANN001 - click's Result
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_an_existing_out_needs_force(tiny_pair: dict[str, Path], tiny_onnx: Path) -> None:
    before = _tree(tiny_onnx)
    _one_error_line(_run(tiny_pair["model"], tiny_pair["linear"], tiny_onnx), str(tiny_onnx), "--force")
    assert _tree(tiny_onnx) == before


def test_force_replaces_only_an_export_folder(tiny_pair: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "mine"
    (out / "sub").mkdir(parents=True)
    (out / "sub" / "notes.txt").write_text("my notes\n")
    _one_error_line(_run(tiny_pair["model"], tiny_pair["linear"], out, "--force"), "not an earlier export",
                    "sub/notes.txt")
    assert (out / "sub" / "notes.txt").read_text() == "my notes\n"


def test_force_deletes_no_file_a_forged_record_lists_without_its_hash(tiny_pair: dict[str, Path],
                                                                     tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("chapter 1\n")
    (out / "dfembed-export.json").write_text(json.dumps({"files": {"thesis.tex": {"sha256": "x"}}}))
    _one_error_line(_run(tiny_pair["model"], tiny_pair["linear"], out, "--force"), "not an earlier export",
                    "thesis.tex")
    assert (out / "thesis.tex").read_text() == "chapter 1\n"


def test_force_replaces_an_export_whose_record_names_every_file_with_its_hash(
    tiny_pair: dict[str, Path], tiny_onnx: Path, tmp_path: Path
) -> None:
    import shutil

    out = Path(shutil.copytree(tiny_onnx, tmp_path / "out"))
    edited = out / "model.onnx"
    edited.write_bytes(edited.read_bytes() + b"edited")  # no longer what the record names
    _one_error_line(_run(tiny_pair["model"], tiny_pair["linear"], out, "--force"), "model.onnx")
    assert edited.read_bytes().endswith(b"edited")


def test_a_failed_export_leaves_the_earlier_one_untouched_and_no_temporary_files(
    small_pair: dict[str, Path], rbf_onnx: Path, tmp_path: Path
) -> None:
    import shutil

    out = Path(shutil.copytree(rbf_onnx, tmp_path / "out"))  # an earlier export, which --force may replace
    before = _tree(out)
    stale = tmp_path / ".out.k1ll3d00.dfembed-tmp"  # what a killed export leaves: removed by the next one
    stale.mkdir()
    (stale / "model.onnx").write_bytes(b"half")
    # a tolerance no float32 graph meets: the check fails after the new model was written, before it replaces OUT
    result = _run(small_pair["model"], small_pair["linear"], out, "--force", "--tolerance", "1e-15")
    _one_error_line(result, "differs from the Keras model", "nothing was written")
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folder, no lock file


def test_out_may_not_hold_an_input(tiny_pair: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    inside = tmp_path / "out"
    inside.mkdir()
    model = Path(shutil.copy(tiny_pair["model"], inside / "model.h5"))
    _one_error_line(_run(model, tiny_pair["linear"], inside, "--force"), "lies inside OUT")
    assert model.is_file()


def test_out_must_be_a_folder(tiny_pair: dict[str, Path], tmp_path: Path) -> None:
    _one_error_line(_run(tiny_pair["model"], tiny_pair["linear"], tmp_path / "model.onnx"), "must be a folder")


def test_a_classifier_of_another_model_is_refused(tiny_pair: dict[str, Path], tmp_path: Path) -> None:
    other = tmp_path / "other.h5"
    other.write_bytes(tiny_pair["model"].read_bytes() + b"\0")
    _one_error_line(_run(other, tiny_pair["linear"], tmp_path / "out"), str(other), "not the model")
    assert not (tmp_path / "out").exists()


def test_an_svm_kernel_that_cannot_be_exported_is_named(tiny_pair: dict[str, Path], tmp_path: Path) -> None:
    """A pickled bundle around a polynomial-kernel SVC (dfembed trains linear and rbf only)."""
    import joblib
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    from dfembed.model.classifier import ClassifierBundle, EmbeddingSVM

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, EMBEDDING_DIM)), np.array([0, 1] * 10)
    svm = EmbeddingSVM(kernel="linear").fit(x, y)
    svm.kernel = "poly"
    svm.calibrated_ = CalibratedClassifierCV(SVC(kernel="poly"), method="sigmoid", cv=3).fit(x, y)
    poly = tmp_path / "poly.pkl"
    joblib.dump(ClassifierBundle(svm, EMBEDDING_DIM, "b0", IMAGE_SIZE), poly)
    # its pickle is loaded only when trusted, as in inference
    _one_error_line(_run(tiny_pair["model"], poly, tmp_path / "out"), "--trust-pickle")
    _one_error_line(_run(tiny_pair["model"], poly, tmp_path / "out", "--trust-pickle"), str(poly), "'poly' kernel",
                    "linear or rbf")


def test_without_the_converter_the_error_says_how_to_install_it(
    tiny_pair: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # "import tf2onnx" raises ImportError
    _one_error_line(_run(tiny_pair["model"], tiny_pair["linear"], tmp_path / "out"), "tf2onnx", "[onnx]")
