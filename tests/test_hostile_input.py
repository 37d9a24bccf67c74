"""Hostile input through the real command line: one ``Error:`` line, exit status 1, no traceback, inputs unchanged.

Each case builds its inputs in a fresh folder and gives the ``dfembed`` arguments; every
case fails before any model is built (the model files here are stand-ins, which is also
how the tests know that a check came first).
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from dfembed.cli import main
from dfembed.core.lock import OutputLock
from dfembed.model.classifier import ClassifierBundle, EmbeddingSVM, save_bundle
from tests.support import REPO
from tests.train.trees import write_tree

Case = Callable[[Path], list[object]]
CASES: dict[str, Case] = {}
HELD: list[OutputLock] = []  # locks a case holds for "another job"; released after the command


def case(name: str) -> Callable[[Case], Case]:
    def register(build: Case) -> Case:
        CASES[name] = build
        return build

    return register


def _image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((40, 40, 3), 90, np.uint8))
    return path


def _deep_json(depth: int = 100_000) -> str:
    return "[" * depth + "]" * depth


# --- crop -----------------------------------------------------------------------------


@case("crop: SRC inside DST, with --force")
def _(tmp: Path) -> list[object]:
    _image(tmp / "dst" / "real" / "x_png_f00000_00.png")
    return ["crop", tmp / "dst" / "real", tmp / "dst", "--force"]


@case("crop: DST/real links outside DST, with --force")
def _(tmp: Path) -> list[object]:
    _image(tmp / "src" / "real" / "a.png")
    _image(tmp / "elsewhere" / "a_png_f00000_00.png")
    (tmp / "dst").mkdir()
    (tmp / "dst" / "real").symlink_to(tmp / "elsewhere")
    return ["crop", tmp / "src", tmp / "dst", "--force"]


@case("crop: metadata.json nested beyond the recursion limit")
def _(tmp: Path) -> list[object]:
    _image(tmp / "src" / "a.png")
    (tmp / "src" / "metadata.json").write_text('{"a.mp4": ' + _deep_json() + "}")
    return ["crop", tmp / "src", tmp / "dst"]


@case("crop: metadata.json with a non-string original")
def _(tmp: Path) -> list[object]:
    _image(tmp / "src" / "a.png")
    (tmp / "src" / "metadata.json").write_text(json.dumps({"a.mp4": {"label": "FAKE", "original": {"x": 1}}}))
    return ["crop", tmp / "src", tmp / "dst"]


@case("crop: metadata.json that is not UTF-8")
def _(tmp: Path) -> list[object]:
    _image(tmp / "src" / "a.png")
    (tmp / "src" / "metadata.json").write_bytes(b'{"caf\xe9.mp4": {"label": "REAL"}}')
    return ["crop", tmp / "src", tmp / "dst"]


@case("crop: a journal in DST that is not UTF-8")
def _(tmp: Path) -> list[object]:
    _image(tmp / "src" / "a.png")
    (tmp / "dst").mkdir()
    (tmp / "dst" / "dfembed-crop.json").write_text(json.dumps({"config": {}, "src": str(tmp / "src")}))
    (tmp / "dst" / "sources.csv").write_bytes(b"source,label,group,status,crops,detail\na\xff.png,,,cropped,1,\n")
    return ["crop", tmp / "src", tmp / "dst"]


@case("crop: DST cannot be created (its parent is a file)")
def _(tmp: Path) -> list[object]:
    _image(tmp / "src" / "a.png")
    (tmp / "file").write_text("not a folder")
    return ["crop", tmp / "src", tmp / "file" / "dst"]


@case("crop: a config file that is not UTF-8")
def _(tmp: Path) -> list[object]:
    _image(tmp / "src" / "a.png")
    (tmp / "c.yaml").write_bytes(b"group_regex: caf\xe9\n")
    return ["crop", tmp / "src", tmp / "dst", "--config", tmp / "c.yaml"]


@case("crop: a config file value of the wrong type")
def _(tmp: Path) -> list[object]:
    _image(tmp / "src" / "a.png")
    (tmp / "c.yaml").write_text("size: large\n")
    return ["crop", tmp / "src", tmp / "dst", "--config", tmp / "c.yaml"]


@case("crop: DST in use by another job")
def _(tmp: Path) -> list[object]:
    _image(tmp / "src" / "a.png")
    (tmp / "dst").mkdir()
    HELD.append(OutputLock(tmp / "dst" / ".dfembed-crop.lock", "the other job").acquire())
    return ["crop", tmp / "src", tmp / "dst"]


@case("crop: the disk is full")
def _(tmp: Path) -> list[object]:
    _image(tmp / "src" / "a.png")
    return ["crop", tmp / "src", tmp / "dst"]


@case("crop --audio-only: an audio report that is a link")
def _(tmp: Path) -> list[object]:
    (tmp / "src" / "real").mkdir(parents=True)
    (tmp / "src" / "real" / "a.mp4").write_bytes(b"a video, as far as the listing knows")
    (tmp / "dst" / "audio").mkdir(parents=True)
    (tmp / "elsewhere.csv").write_text("someone's file\n")
    (tmp / "dst" / "audio" / "audio_manifest.csv").symlink_to(tmp / "elsewhere.csv")
    return ["crop", tmp / "src", tmp / "dst", "--audio-only"]


@case("crop --audio-only: mel bands that cover no FFT bin")
def _(tmp: Path) -> list[object]:
    (tmp / "src" / "real").mkdir(parents=True)
    (tmp / "src" / "real" / "a.mp4").write_bytes(b"never read")
    return ["crop", tmp / "src", tmp / "dst", "--audio-only", "--n-mels", "128", "--n-fft", "256"]


@case("crop --audio-only: DST/audio in use by another job")
def _(tmp: Path) -> list[object]:
    (tmp / "src" / "real").mkdir(parents=True)
    (tmp / "src" / "real" / "a.mp4").write_bytes(b"never read")
    (tmp / "dst" / "audio").mkdir(parents=True)
    HELD.append(OutputLock(tmp / "dst" / "audio" / ".dfembed-audio.lock", "the other job").acquire())
    return ["crop", tmp / "src", tmp / "dst", "--audio-only"]


# --- train ----------------------------------------------------------------------------


def _tiny_data(tmp: Path) -> Path:
    return write_tree(tmp / "data", {"real": {"r1vid": 2, "r2vid": 2}, "fake": {"f1vid": 2, "f2vid": 2}})


_TINY = ["--backbone", "b0", "--image-size", "32", "--weights", "none", "--batch-size", "4", "--val-fraction", "0"]


@case("train: OUT_H5 and OUT_PKL are one file")
def _(tmp: Path) -> list[object]:
    return ["train", _tiny_data(tmp), tmp / "m.h5", tmp / "m.h5", *_TINY]


@case("train: OUT_H5 is the --weights file")
def _(tmp: Path) -> list[object]:
    (tmp / "w.h5").write_bytes(b"weights")
    return ["train", _tiny_data(tmp), tmp / "w.h5", tmp / "s.pkl", "--weights", tmp / "w.h5"]


@case("train: --resume with a state.json that is a list")
def _(tmp: Path) -> list[object]:
    (tmp / "m.run").mkdir()
    (tmp / "m.run" / "state.json").write_text("[]")
    return ["train", _tiny_data(tmp), tmp / "m.h5", tmp / "s.pkl", *_TINY, "--resume"]


@case("train: --resume with a truncated checkpoint")
def _(tmp: Path) -> list[object]:
    (tmp / "m.run").mkdir()
    (tmp / "m.run" / "epoch-001.keras").write_bytes(b"PK\x03\x04" + bytes(100))
    (tmp / "m.run" / "state.json").write_text(json.dumps({"epoch": 1, "checkpoint": "epoch-001.keras"}))
    return ["train", _tiny_data(tmp), tmp / "m.h5", tmp / "s.pkl", *_TINY, "--epochs", "2", "--resume"]


@case("train: a manifest.csv in DATA that is not UTF-8")
def _(tmp: Path) -> list[object]:
    data = _tiny_data(tmp)
    (data / "manifest.csv").write_bytes(b"crop,group\nreal/r1/r1vid-000-00.png,caf\xe9\n")
    return ["train", data, tmp / "m.h5", tmp / "s.pkl", *_TINY]


# --- infer and gallery ----------------------------------------------------------------


def _classifier(root: Path, model: Path | None) -> Path:
    """A real classifier bundle (svm.pkl + svm.npz) fitted for ``model`` (a stand-in file)."""
    x = np.random.default_rng(0).normal(size=(12, 8))
    svm = EmbeddingSVM(calibration_cv=2, random_state=0).fit(x, [0, 1] * 6)
    models = {} if model is None else {"model": model}
    return save_bundle(ClassifierBundle(svm, 8, "b0", 32), root / "svm.pkl", models=models)


def _infer_inputs(tmp: Path) -> tuple[Path, Path, Path]:
    _image(tmp / "test" / "a.png")
    model = tmp / "model.h5"
    model.write_bytes(b"a stand-in: loading it would fail")
    return tmp / "test", model, _classifier(tmp, model)


@case("infer: the output is MODEL_H5")
def _(tmp: Path) -> list[object]:
    test, model, svm = _infer_inputs(tmp)
    return ["infer", test, tmp / "sub.csv", model, svm, "--output", model, "--force"]


@case("infer: the output is an image of TEST, with --force")
def _(tmp: Path) -> list[object]:
    test, model, svm = _infer_inputs(tmp)
    return ["infer", test, tmp / "sub.csv", model, svm, "--output", test / "a.png", "--force"]


@case("infer: --force over a user's file that no record names")
def _(tmp: Path) -> list[object]:
    test, model, svm = _infer_inputs(tmp)
    (tmp / "thesis.tex").write_text("chapter 1\n")
    return ["infer", test, tmp / "sub.csv", model, svm, "--output", tmp / "thesis.tex", "--force"]


@case("infer: only a pickle, without --trust-pickle")
def _(tmp: Path) -> list[object]:
    test, model, svm = _infer_inputs(tmp)
    svm.with_suffix(".npz").unlink()
    return ["infer", test, tmp / "sub.csv", model, svm]


@case("infer: a damaged pickle, with --trust-pickle")
def _(tmp: Path) -> list[object]:
    test, model, svm = _infer_inputs(tmp)
    svm.with_suffix(".npz").unlink()
    data = bytearray(svm.read_bytes())
    data[len(data) // 3 :] = b"\xff" * (len(data) - len(data) // 3)
    svm.write_bytes(bytes(data))
    return ["infer", test, tmp / "sub.csv", model, svm, "--trust-pickle"]


@case("infer: a damaged safe classifier file")
def _(tmp: Path) -> list[object]:
    test, model, svm = _infer_inputs(tmp)
    npz = svm.with_suffix(".npz")
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0x5A
    npz.write_bytes(bytes(data))
    return ["infer", test, tmp / "sub.csv", model, svm]


@case("infer: a model the classifier was not fitted for")
def _(tmp: Path) -> list[object]:
    test, _, svm = _infer_inputs(tmp)
    (tmp / "other.h5").write_bytes(b"another model")
    return ["infer", test, tmp / "sub.csv", tmp / "other.h5", svm]


@case("infer: an unknown --crop-option (before the model loads)")
def _(tmp: Path) -> list[object]:
    test, model, svm = _infer_inputs(tmp)
    return ["infer", test, tmp / "sub.csv", model, svm, "--crop-option", "min_face=3"]


@case("infer: a template that is not UTF-8")
def _(tmp: Path) -> list[object]:
    test, model, svm = _infer_inputs(tmp)
    (tmp / "sub.csv").write_bytes(b"path,y\ncaf\xe9.png,0\n")
    return ["infer", test, tmp / "sub.csv", model, svm]


@case("infer: the output's folder cannot be created")
def _(tmp: Path) -> list[object]:
    test, model, svm = _infer_inputs(tmp)
    (tmp / "file").write_text("not a folder")
    return ["infer", test, tmp / "sub.csv", model, svm, "--output", tmp / "file" / "out.csv"]


@case("infer: a pickle payload is never unpickled")
def _(tmp: Path) -> list[object]:
    test, model, _ = _infer_inputs(tmp)
    (tmp / "svm.npz").unlink()
    (tmp / "svm.pkl").write_bytes(pickle.dumps(_Payload(tmp / "marker")))
    return ["infer", test, tmp / "sub.csv", model, tmp / "svm.pkl"]


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.write_text, (self.marker, "code ran"))


@case("gallery: OUT_PNG is MODEL_H5")
def _(tmp: Path) -> list[object]:
    _, model, svm = _infer_inputs(tmp)
    _image(tmp / "crops" / "real" / "a.png")
    return ["evaluate", "gallery", tmp / "crops", model, svm, model, "--force"]


# --- evaluate and demo ----------------------------------------------------------------


@case("evaluate: labels nested beyond the recursion limit")
def _(tmp: Path) -> list[object]:
    (tmp / "pred.csv").write_text("filename,label\na.mp4,0.5\n")
    (tmp / "metadata.json").write_text('{"a.mp4": ' + _deep_json() + "}")
    return ["evaluate", tmp / "pred.csv", tmp / "metadata.json"]


@case("evaluate: predictions that are not UTF-8")
def _(tmp: Path) -> list[object]:
    (tmp / "pred.csv").write_bytes(b"filename,label\ncaf\xe9.mp4,0.5\n")
    (tmp / "metadata.json").write_text(json.dumps({"a.mp4": {"label": "REAL"}}))
    return ["evaluate", tmp / "pred.csv", tmp / "metadata.json"]


@case("evaluate: an output is the labels file")
def _(tmp: Path) -> list[object]:
    (tmp / "pred.csv").write_text("filename,label\na.mp4,0.5\n")
    (tmp / "out").mkdir()
    (tmp / "out" / "metrics.json").write_text(json.dumps({"a.mp4": {"label": "REAL"}}))
    return ["evaluate", tmp / "pred.csv", tmp / "out" / "metrics.json", "--out", tmp / "out", "--force"]


@case("infer: an --audio-model file that does not exist (before the models load)")
def _(tmp: Path) -> list[object]:
    test, model, svm = _infer_inputs(tmp)
    return ["infer", test, tmp / "sub.csv", model, svm, "--audio-model", tmp / "audio.h5", svm]


@case("infer: --fuse weighted without a fusion weight (before the models load)")
def _(tmp: Path) -> list[object]:
    test, model, svm = _infer_inputs(tmp)
    audio = tmp / "audio.h5"
    audio.write_bytes(b"a stand-in audio model")
    return ["infer", test, tmp / "sub.csv", model, svm, "--audio-model", audio, svm, "--fuse", "weighted"]


@case("demo: OUT inside DATA")
def _(tmp: Path) -> list[object]:
    _image(tmp / "data" / "real" / "a.png")
    return ["demo", tmp / "data", tmp / "data" / "demo_out"]


def _full_disk(fd: int) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_gives_one_error_line(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = [str(a) for a in CASES[name](tmp_path)]
    before = _snapshot(tmp_path)
    if name == "crop: the disk is full":
        monkeypatch.setattr(os, "fsync", _full_disk)
    try:
        result = CliRunner().invoke(main, [*args, "-q"])
        after = _snapshot(tmp_path)
    finally:
        while HELD:
            HELD.pop().release()
    assert isinstance(result.exception, SystemExit), f"{name}: {result.exception!r}"
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and result.output.rstrip().endswith(errors[0]), result.output
    assert after == before, f"{name} changed its inputs"
    assert not (tmp_path / "marker").exists()


def test_the_messages_say_what_is_wrong_and_where(tmp_path: Path) -> None:
    """A few of the cases above, with what their one line must say."""
    expected = {
        "crop: SRC inside DST, with --force": "is inside DST",
        "crop: metadata.json nested beyond the recursion limit": "metadata.json: not a valid metadata.json (nested",
        "crop: the disk is full": ".dfembed-crop.lock: No space left on device (ENOSPC); free some space",
        "train: OUT_H5 and OUT_PKL are one file": "OUT_PKL",
        "train: --resume with a truncated checkpoint": "epoch-001.keras cannot be loaded",
        "infer: only a pickle, without --trust-pickle": "loading a pickle runs the code stored in it",
        "infer: the output is an image of TEST, with --force": "overlaps TEST",
        "infer: --force over a user's file that no record names": "thesis.tex: not written by dfembed",
        "infer: an unknown --crop-option (before the model loads)": "unknown option 'min_face'",
        "evaluate: an output is the labels file": "is the same file as the input LABELS",
        "crop --audio-only: an audio report that is a link": "audio_manifest.csv is a link",
        "crop --audio-only: mel bands that cover no FFT bin": "n_mels 128 is too many for n_fft 256",
        "infer: an --audio-model file that does not exist (before the models load)": "audio.h5 does not exist",
        "infer: --fuse weighted without a fusion weight (before the models load)": "audio.fusion.json does not exist",
    }
    for index, (name, fragment) in enumerate(expected.items()):
        folder = tmp_path / str(index)
        folder.mkdir()
        args = [str(a) for a in CASES[name](folder)]
        with pytest.MonkeyPatch.context() as patch:
            if name == "crop: the disk is full":
                patch.setattr(os, "fsync", _full_disk)
            result = CliRunner().invoke(main, [*args, "-q"])
        assert fragment in result.output, (name, result.output)


@pytest.mark.slow
def test_a_real_process_prints_one_line_and_a_traceback_only_with_verbose(tmp_path: Path) -> None:
    args = [str(a) for a in CASES["crop: SRC inside DST, with --force"](tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    quiet = subprocess.run([sys.executable, "-m", "dfembed", *args], cwd=REPO, env=env, capture_output=True, text=True)
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr
    assert quiet.stderr.strip().splitlines()[-1].startswith("Error: ")
    verbose = subprocess.run([sys.executable, "-m", "dfembed", *args, "-v"], cwd=REPO, env=env, capture_output=True,
                             text=True)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr
    assert verbose.stderr.strip().splitlines()[-1].startswith("Error: ")


def test_error_messages_of_the_environment_are_one_line_with_the_path() -> None:
    from dfembed.cli import error_message

    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/data/out/manifest.csv")
    assert error_message(full) == ("/data/out/manifest.csv: No space left on device (ENOSPC); free some space and run "
                                   "the same command again: finished work is kept")
    denied = PermissionError(errno.EACCES, "Permission denied", "/ro/x")
    assert error_message(denied).startswith("/ro/x: Permission denied (EACCES); choose a folder you may write to")
    moved = OSError(errno.EXDEV, "Invalid cross-device link", "/a", None, "/b")
    assert error_message(moved) == "/a -> /b: Invalid cross-device link (EXDEV)"
    try:
        b"ab\xe9".decode("utf-8")
    except UnicodeDecodeError as err:
        assert error_message(err).startswith("a file is not valid UTF-8 text (byte 0xe9 at position 2)")
    assert "nested too deeply" in error_message(RecursionError("maximum recursion depth exceeded"))
    assert error_message(MemoryError()).startswith("out of memory; use fewer --jobs")
    from dfembed.core.errors import InputError

    assert error_message(InputError("two\nlines")) == "two lines"


# === Hardening round: YAML bombs, exported models that claim too much or misbehave, report metrics,
# ground-truth boxes. Each case gives its arguments and a fragment its one line must hold; the inputs
# are generated here and every case ends in well under a second.

HARDENED: dict[str, Callable[[Path], tuple[list[object], str]]] = {}


def hardened(name: str) -> Callable[[Callable[[Path], tuple[list[object], str]]], Callable]:
    def register(build: Callable[[Path], tuple[list[object], str]]) -> Callable:
        HARDENED[name] = build
        return build

    return register


def _laughs(levels: int = 9, width: int = 9) -> str:
    """YAML of ``levels`` anchors, each ``width`` aliases of the one before (9 and 9: 9⁸ values in < 500 bytes)."""
    lines = ['a0: &a0 "lol"'] + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@hardened("crop: a --config YAML of 9 levels of 9 aliases")
def _(tmp: Path) -> tuple[list[object], str]:
    _image(tmp / "src" / "a.png")
    (tmp / "laughs.yaml").write_text(_laughs() + "margin: *a8\n")
    return (["crop", tmp / "src", tmp / "dst", "--config", tmp / "laughs.yaml"],
            "laughs.yaml is not valid: its aliases expand to more than 100000 values")


@hardened("crop: a --config YAML whose wrong-typed value is 5000 items long")
def _(tmp: Path) -> tuple[list[object], str]:
    _image(tmp / "src" / "a.png")
    (tmp / "long.yaml").write_text("margin: [" + ", ".join(["7"] * 5000) + "]\n")
    return (["crop", tmp / "src", tmp / "dst", "--config", tmp / "long.yaml"],
            "option 'margin': expected float, got [7, 7")


@hardened("detectors compare: a --crop-option value of nested aliases")
def _(tmp: Path) -> tuple[list[object], str]:
    _image(tmp / "src" / "a.png")
    flow = "[&a0 lol, " + ", ".join(f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)) + "]"
    return (["detectors", "compare", tmp / "src", tmp / "out", "--crop-option", f"margin={flow}"],
            "cannot read the value: its aliases expand to more than 100000 values")


def _hostile_model(tmp: Path, **options: object) -> tuple[Path, Path]:
    from tests.model.hostile_onnx import hostile_onnx

    _image(tmp / "test" / "a.png")
    return tmp / "test", hostile_onnx(tmp / "model.onnx", **options)


@hardened("infer: an exported model that claims a 20000x20000 input")
def _(tmp: Path) -> tuple[list[object], str]:
    pytest.importorskip("onnxruntime")
    test, model = _hostile_model(tmp, side=20000)
    return (["infer", test, tmp / "sub.csv", model],
            "its input side is 20000 pixels, above the limit of 1024 (set DFEMBED_MAX_INPUT_SIDE to raise it)")


@hardened("infer: an exported model ONNX Runtime cannot load")
def _(tmp: Path) -> tuple[list[object], str]:
    pytest.importorskip("onnxruntime")
    test, model = _hostile_model(tmp, unknown_op=True)
    return ["infer", test, tmp / "sub.csv", model], f"ONNX Runtime cannot load model file {model}: INVALID_GRAPH"


def _evaluation(tmp: Path, roc_auc: str) -> Path:
    """An evaluation folder whose metrics.json holds ``roc_auc`` as written (JSON text: 5.0, NaN, "high")."""
    (tmp / "eval").mkdir()
    (tmp / "eval" / "metrics.json").write_text('{"model": "m", "dataset": "d", "levels": {"video": {"roc_auc": '
                                               + roc_auc + "}}}")
    return tmp / "eval"


@hardened("evaluate report: a metrics.json with an ROC AUC of 5.0")
def _(tmp: Path) -> tuple[list[object], str]:
    return (["evaluate", "report", _evaluation(tmp, "5.0"), "--out", tmp / "r"],
            "metrics.json: levels.video.roc_auc is 5.0, not a number in [0, 1]")


@hardened("evaluate report: a metrics.json with an ROC AUC of NaN")
def _(tmp: Path) -> tuple[list[object], str]:
    return (["evaluate", "report", _evaluation(tmp, "NaN"), "--out", tmp / "r"],
            "metrics.json: levels.video.roc_auc is nan, not a number in [0, 1]")


@hardened("evaluate report: a metrics.json whose ROC AUC is a string")
def _(tmp: Path) -> tuple[list[object], str]:
    return (["evaluate", "report", _evaluation(tmp, '"high"'), "--out", tmp / "r"],
            "metrics.json: levels.video.roc_auc is 'high', not a number in [0, 1]")


@hardened("detectors compare: a --truth CSV with a NaN box")
def _(tmp: Path) -> tuple[list[object], str]:
    _image(tmp / "src" / "a.png")
    (tmp / "truth.csv").write_text("file,x1,y1,x2,y2\na.png,5,5,20,20\na.png,nan,5,20,20\n")
    return (["detectors", "compare", tmp / "src", tmp / "out", "--truth", tmp / "truth.csv"],
            "truth.csv, line 3: the box (x1=nan, y1=5, x2=20, y2=20) is not finite")


@hardened("detectors compare: a dlib --truth XML with an infinite box")
def _(tmp: Path) -> tuple[list[object], str]:
    _image(tmp / "src" / "a.png")
    (tmp / "truth.xml").write_text("<images><image file='a.png'><box top='5' left='5' width='inf' height='9'/>"
                                   "</image></images>")
    return (["detectors", "compare", tmp / "src", tmp / "out", "--truth", tmp / "truth.xml"],
            "truth.xml: box 1 of a.png: the box (left=5, top=5, width=inf, height=9) is not finite")


@pytest.mark.parametrize("name", list(HARDENED))
def test_hardened_cases_give_one_error_line_saying_what_is_wrong(name: str, tmp_path: Path) -> None:
    built, fragment = HARDENED[name](tmp_path)
    before = _snapshot(tmp_path)
    began = time.perf_counter()
    result = CliRunner().invoke(main, [*map(str, built), "-q"])
    assert time.perf_counter() - began < 5.0
    assert isinstance(result.exception, SystemExit), f"{name}: {result.exception!r}"
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and result.output.rstrip().endswith(errors[0]), result.output
    assert fragment in errors[0], (name, errors[0])
    assert len(errors[0]) < 600, errors[0]  # a user's value is shown in at most 200 characters
    assert _snapshot(tmp_path) == before, f"{name} changed its inputs"
