"""The training stage end to end on the DFDC sample crops: CLI run, resume, errors.

One short run (B0, random weights, 64 px, batches of 8, one epoch of two steps) is made
through the click command and shared by the module; the keep-best test continues its run folder
for a second epoch. The resume test kills a training subprocess after its first checkpoint and
continues it. The checks are contracts (files, shapes, probabilities, epochs, optimiser steps),
not accuracy.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from dfembed.commands.train import train_command
from dfembed.core.errors import ConfigError, InputError, OutputExistsError
from dfembed.model.classifier import check_compatible, load_bundle
from dfembed.model.network import model_info
from dfembed.train.config import TrainConfig
from dfembed.train.data import load_data, read_crop_config
from dfembed.train.devices import gpu_count, resolve_precision
from dfembed.train.outputs import resolve_outputs
from dfembed.train.run import run_train
from dfembed.train.run_folder import prepare_run_dir
from tests.support import shared_path

REPO = Path(__file__).resolve().parents[2]
CROP_CONFIG = {"size": 160, "margin": 0.3}
# The tests' small backbone (tests/tiny_backbone.py): these runs check what training writes and resumes.
SMALL = TrainConfig(
    backbone="tiny", image_size=64, weights="none", batch_size=8, epochs=1, steps_per_epoch=2,
    val_fraction=0.3, workers=2, embed_batch_size=32, tensorboard=False,
)
SMALL_FLAGS = [
    "--backbone", "tiny", "--image-size", "64", "--weights", "none", "--batch-size", "8", "--epochs", "1",
    "--steps-per-epoch", "2", "--val-fraction", "0.3", "--workers", "2", "--embed-batch-size", "32",
]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample crops linked into a crop-stage-like tree, plus one broken file.

    The sample's 11 real crops come from one video; the manifest gives frames 0-5 and
    6-10 different groups so that a split with both classes on both sides exists.
    """
    crops = shared_path("dfdc_sample", "crops")
    root = tmp_path_factory.mktemp("data")
    rows = ["source,label,group,crop"]
    for src in sorted(crops.rglob("*.png")):
        label = src.parent.name
        (root / label).mkdir(exist_ok=True)
        (root / label / src.name).symlink_to(src)
        video = src.stem.split("-")[0]
        group = f"{video}-{'a' if int(src.stem.split('-')[1]) < 6 else 'b'}" if label == "real" else video
        rows.append(f"{video}.mp4,{label},{group},{label}/{src.name}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (root / "fake" / "truncated-000-00.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "dfembed-crop.json").write_text(json.dumps({"config": CROP_CONFIG}), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def first_run(data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Train through the CLI into an existing folder (default file names inside it)."""
    out = tmp_path_factory.mktemp("out")
    result = CliRunner().invoke(train_command, [str(data), str(out), str(out), *SMALL_FLAGS, "--format", "keras", "-q"])
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.mark.slow
def test_cli_run_writes_model_bundle_keras_copy_and_record(first_run: tuple[Path, str]) -> None:
    out, output = first_run
    assert {p.name for p in out.iterdir()} >= {"model.h5", "svm.pkl", "model.keras", "model.dfembed-train.json", "model.run"}
    assert "1 unreadable skipped" in output
    record = json.loads((out / "model.dfembed-train.json").read_text(encoding="utf-8"))
    assert record["config"]["backbone"] == "tiny" and record["versions"]["keras"] == keras.__version__
    assert record["summary"]["n_unreadable"] == 1
    (epoch,) = record["summary"]["history"]
    assert set(epoch) >= {"loss", "val_auc", "val_log_loss", "val_accuracy"}


@pytest.mark.slow
def test_trained_model_and_bundle_give_probabilities(first_run: tuple[Path, str], data: Path) -> None:
    out, _ = first_run
    model = keras.models.load_model(out / "model.h5", compile=False)
    bundle = load_bundle(out / "svm.pkl")
    check_compatible(bundle, model_info(model))
    assert (bundle.backbone, bundle.image_size, bundle.embedding_dim) == ("tiny", 64, 512)
    assert bundle.crop_config == CROP_CONFIG and bundle.train_config["batch_size"] == 8
    images = np.random.default_rng(0).uniform(0, 255, (5, 64, 64, 3)).astype(np.float32)
    embeddings = model.predict(images, verbose=0)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-4)
    probabilities = bundle.classifier.predict_proba(embeddings)
    assert probabilities.shape == (5, 2)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-9)


@pytest.mark.slow
def test_resume_continues_a_killed_run_with_optimiser_state(data: Path, tmp_path: Path) -> None:
    """Kill a training process after its first checkpoint, then resume it for one more epoch."""
    command = [sys.executable, str(REPO / "train.py"), str(data), str(tmp_path / "model.h5"), str(tmp_path / "svm.pkl"),
               *SMALL_FLAGS, "--epochs", "50", "--val-fraction", "0", "--no-tensorboard", "-q"]
    state_file = tmp_path / "model.run" / "state.json"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 150
        while not state_file.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        process.kill()
        _, stderr = process.communicate()
    assert state_file.exists(), stderr.decode(errors="replace")[-2000:]
    done = json.loads(state_file.read_text(encoding="utf-8"))["epoch"]
    assert 1 <= done < 50 and not (tmp_path / "model.h5").exists()

    config = dataclasses.replace(SMALL, epochs=done + 1, val_fraction=0.0)
    summary = run_train(data, tmp_path / "model.h5", tmp_path / "svm.pkl", config, resume=True)
    assert (summary.initial_epoch, summary.epochs, len(summary.history)) == (done, done + 1, done + 1)
    checkpoint = tmp_path / "model.run" / f"epoch-{done + 1:03d}.keras"
    assert [p.name for p in (tmp_path / "model.run").glob("epoch-*.keras")] == [checkpoint.name]
    assert int(keras.models.load_model(checkpoint).optimizer.iterations) == (done + 1) * 2
    assert not list(tmp_path.rglob("*dfembed-tmp*"))  # a killed save's leftovers are removed
    assert (tmp_path / "model.h5").is_file() and (tmp_path / "svm.pkl").is_file()


@pytest.mark.slow
def test_resume_refuses_other_model_options(first_run: tuple[Path, str], data: Path, tmp_path: Path) -> None:
    out, _ = first_run
    shutil.copytree(out / "model.run", tmp_path / "model.run")
    config = dataclasses.replace(SMALL, epochs=2, image_size=96)
    with pytest.raises(ConfigError, match="image_size: checkpoint 64, now 96"):
        run_train(data, tmp_path / "model.h5", tmp_path / "svm.pkl", config, resume=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "message"),
    [({"seed": 1}, "another train/validation split: seed: checkpoint 0, now 1"),
     ({"val_fraction": 0.5}, "another train/validation split: val_fraction: checkpoint 0.3, now 0.5")],
)
def test_resume_refuses_another_split(
    first_run: tuple[Path, str], data: Path, tmp_path: Path, change: dict, message: str
) -> None:
    out, _ = first_run
    shutil.copytree(out / "model.run", tmp_path / "model.run")
    config = dataclasses.replace(SMALL, epochs=2, **change)
    with pytest.raises(ConfigError, match=message):
        run_train(data, tmp_path / "model.h5", tmp_path / "svm.pkl", config, resume=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "message"),
    [({"epochs": 2}, "decays to 0 at epoch 1"), ({"epochs": 1, "steps_per_epoch": 3}, "another steps_per_epoch")],
)
def test_resume_refuses_to_outrun_a_cosine_schedule(
    first_run: tuple[Path, str], data: Path, tmp_path: Path, change: dict, message: str
) -> None:
    out, _ = first_run
    shutil.copytree(out / "model.run", tmp_path / "model.run")
    state_file = tmp_path / "model.run" / "state.json"
    state = json.loads(state_file.read_text(encoding="utf-8"))
    state["config"]["schedule"] = "cosine"  # as a run made with --schedule cosine records it
    state_file.write_text(json.dumps(state), encoding="utf-8")
    config = dataclasses.replace(SMALL, schedule="cosine", **change)
    with pytest.raises(ConfigError, match=message):
        run_train(data, tmp_path / "model.h5", tmp_path / "svm.pkl", config, resume=True)


@pytest.mark.slow
def test_keep_best_writes_the_weights_of_the_best_epoch_named_in_the_state(
    first_run: tuple[Path, str], data: Path, tmp_path: Path
) -> None:
    out, _ = first_run
    shutil.copytree(out / "model.run", tmp_path / "model.run")  # epoch 1, validated, with its best weights
    config = dataclasses.replace(SMALL, epochs=2, keep="best")
    summary = run_train(data, tmp_path / "model.h5", tmp_path / "svm.pkl", config, resume=True)
    state = json.loads((tmp_path / "model.run" / "state.json").read_text(encoding="utf-8"))
    best = tmp_path / "model.run" / f"best-epoch-{summary.best_epoch:03d}.weights.h5"
    assert state["best_weights"] == best.name and state["best_epoch"] == summary.best_epoch in (1, 2)
    assert [p.name for p in (tmp_path / "model.run").glob("best-*")] == [best.name]  # older bests are removed
    kept = keras.models.load_model(tmp_path / "model.h5", compile=False)
    reference = keras.models.load_model(tmp_path / "model.h5", compile=False)
    reference.load_weights(best)
    last = keras.models.load_model(tmp_path / "model.run" / "epoch-002.keras", compile=False)
    for ours, expected in zip(kept.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(ours, expected)
    differs = any(not np.array_equal(a, b) for a, b in zip(kept.get_weights(), last.get_weights()))
    assert differs == (summary.best_epoch == 1)


@pytest.mark.slow
def test_existing_outputs_need_force(first_run: tuple[Path, str], data: Path) -> None:
    out, _ = first_run
    result = CliRunner().invoke(train_command, [str(data), str(out), str(out), *SMALL_FLAGS])
    assert result.exit_code == 1
    assert "model.h5" in result.output and "exist; use --force to replace them" in result.output


@pytest.mark.slow
def test_force_replaces_only_the_outputs_the_record_names_unchanged(first_run: tuple[Path, str], data: Path,
                                                                     tmp_path: Path) -> None:
    out, _ = first_run
    record = json.loads((out / "model.dfembed-train.json").read_text(encoding="utf-8"))
    assert {Path(name).name for name in record["outputs"]} == {"model.h5", "model.keras", "svm.pkl", "svm.npz"}
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("model.h5", "svm.pkl", "svm.npz"):  # a user's files where the outputs go, without a record
        (copy / name).write_bytes((out / name).read_bytes())
    result = CliRunner().invoke(train_command, [str(data), str(copy), str(copy), *SMALL_FLAGS, "--force"])
    assert result.exit_code == 1 and "not written by dfembed" in result.output
    assert (copy / "model.h5").read_bytes() == (out / "model.h5").read_bytes()


@pytest.mark.slow
def test_checkpoints_of_an_earlier_run_need_resume_or_force(first_run: tuple[Path, str], data: Path, tmp_path: Path) -> None:
    out, _ = first_run
    shutil.copytree(out / "model.run", tmp_path / "model.run")
    with pytest.raises(OutputExistsError, match="use --resume to continue it or --force to start over"):
        run_train(data, tmp_path / "model.h5", tmp_path / "svm.pkl", SMALL)


def test_resume_without_checkpoint_is_an_error(data: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nothing to resume"):
        run_train(data, tmp_path / "model.h5", tmp_path / "svm.pkl", SMALL, resume=True)


def test_missing_data_folder_is_reported_by_the_cli(tmp_path: Path) -> None:
    result = CliRunner().invoke(train_command, [str(tmp_path / "nope"), str(tmp_path / "m.h5"), str(tmp_path / "s.pkl")])
    assert result.exit_code == 1
    assert f"Error: data folder {tmp_path / 'nope'} does not exist" in result.output


def test_too_few_images_for_the_default_batch_suggests_a_smaller_one(tmp_path: Path) -> None:
    crops = shared_path("dfdc_sample", "crops")  # 11 real crops: a batch of 28 needs 14
    with pytest.raises(InputError, match=r"needs 14 real and 14 fake.*use --batch-size 22 or less"):
        run_train(crops, tmp_path / "m.h5", tmp_path / "s.pkl", dataclasses.replace(SMALL, batch_size=28))


def test_weights_file_of_another_network_is_rejected(data: Path, tmp_path: Path) -> None:
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    weights = tmp_path / "other.weights.h5"
    other.save_weights(weights)
    config = dataclasses.replace(SMALL, backbone="b0", image_size=32, weights=str(weights))
    with pytest.raises(InputError, match="does not match backbone efficientnetb0"):
        run_train(data, tmp_path / "m.h5", tmp_path / "s.pkl", config)
    assert not (tmp_path / "m.h5").exists()


def test_help_warns_that_the_pickle_runs_code() -> None:
    result = CliRunner().invoke(train_command, ["--help"])
    assert result.exit_code == 0
    assert "loading a pickle runs code" in " ".join(result.output.split())


def test_existing_folders_get_default_file_names_and_run_folder_beside_the_model(tmp_path: Path) -> None:
    paths = resolve_outputs(tmp_path, tmp_path, tmp_path, dataclasses.replace(SMALL, format="keras"), False, False)
    assert (paths.model, paths.classifier, paths.keras_model) == (
        tmp_path / "model.h5", tmp_path / "svm.pkl", tmp_path / "model.keras",
    )
    assert (paths.provenance, paths.run_dir) == (tmp_path / "model.dfembed-train.json", tmp_path / "model.run")
    with pytest.raises(ConfigError, match="must end in .h5 or .hdf5"):
        resolve_outputs(tmp_path, tmp_path / "model.keras", tmp_path, SMALL, False, False)


def test_force_starts_the_run_folder_over_and_resume_keeps_it(tmp_path: Path) -> None:
    run_dir = tmp_path / "model.run"
    run_dir.mkdir()
    kept = [run_dir / "state.json", run_dir / "epoch-003.keras", run_dir / "best-epoch-002.weights.h5",
            run_dir / "notes.txt"]
    for path in kept:
        path.write_text("x", encoding="utf-8")
    (run_dir / ".epoch-004.abc.dfembed-tmp.keras").write_text("half", encoding="utf-8")
    prepare_run_dir(run_dir, force=True, resume=True)
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(p.name for p in kept)
    prepare_run_dir(run_dir, force=True, resume=False)
    assert [p.name for p in run_dir.iterdir()] == ["notes.txt"]  # only files of a run are removed


def test_validation_tree_is_used_and_must_not_share_groups(data: Path, tmp_path: Path) -> None:
    val = tmp_path / "val"
    for label, video in (("real", "zzrealvideo"), ("fake", "zzfakevideo")):
        (val / label).mkdir(parents=True)
        for frame in range(2):
            (val / label / f"{video}-{frame:03d}-00.png").symlink_to(next((data / label).glob("*.png")))
    loaded = load_data(data, val, SMALL)
    assert {c.group for c in loaded.val} == {"zzrealvideo", "zzfakevideo"}
    assert len(loaded.train) == 60 and loaded.unreadable == 1
    (val / "real" / "abarnvbtwb-a-000-00.png").symlink_to(next((data / "real").glob("*.png")))
    with pytest.raises(InputError, match=r"share 1 group\(s\) \(e.g. abarnvbtwb-a\)"):
        load_data(data, val, SMALL)


def test_precision_auto_is_float32_without_a_gpu() -> None:
    if gpu_count() > 0:
        pytest.skip("a GPU is visible: auto means mixed_float16 here")
    assert resolve_precision("auto") == "float32"
    assert resolve_precision("mixed_bfloat16") == "mixed_bfloat16"


@pytest.mark.slow
def test_fit_sees_each_epochs_own_batches(data: Path) -> None:
    """``Model.fit`` with worker threads asks for batch i of epoch e only while epoch e runs."""
    from dfembed.train.augment import Augmenter, AugmentParams
    from dfembed.train.batches import BalancedBatches
    from dfembed.train.callbacks import EpochSeed
    from dfembed.train.crops import list_crops

    requests: list[tuple[object, int]] = []

    class Recording(BalancedBatches):
        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            requests.append((self.epoch, index))
            return super().__getitem__(index)

    class MarkEpochs(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            requests.append(("begin", epoch))

    batches = Recording(list_crops(data).crops, 4, Augmenter(AugmentParams(image_size=32)), steps_per_epoch=3, workers=2)
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(batches, epochs=3, callbacks=[EpochSeed(batches), MarkEpochs()], shuffle=False, verbose=0)
    first = requests.index(("begin", 0))
    current = None
    for kind, value in requests[first:]:
        if kind == "begin":
            current = value
        else:
            assert kind == current, requests
    assert {(e, i) for e, i in requests if e != "begin"} == {(e, i) for e in range(3) for i in range(3)}


def test_crop_record_gives_the_crop_configuration(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert read_crop_config(tmp_path) is None
    record = tmp_path / "dfembed-crop.json"
    record.write_text(json.dumps({"config": {"size": 380}, "status": "running"}), encoding="utf-8")
    with caplog.at_level("WARNING", logger="dfembed"):
        assert read_crop_config(tmp_path) == {"size": 380}
    assert "'running', not complete" in caplog.text
    record.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="dfembed-crop.json is not valid JSON"):
        read_crop_config(tmp_path)
