"""``dfembed temporal train`` on a hand-made embeddings folder: outputs, what is left out, determinism, resume."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dfembed.core.config import resolve_config
from dfembed.core.errors import ConfigError, InputError, OutputExistsError
from dfembed.core.provenance import write_provenance
from dfembed.temporal.config import EmbedConfig, TemporalConfig
from dfembed.temporal.run import run_train_temporal
from dfembed.temporal.store import IndexEntry, Timeline, index_text, timeline_file, write_timeline

REPO = Path(__file__).resolve().parents[2]
DIM = 4
SMALL = TemporalConfig(network="gru", frames=4, min_faces=3, units=4, epochs=2, batch_size=8, val_fraction=0.3,
                       dropout=0.0)


def _embeddings(root: Path, short: bool = True) -> Path:
    """Six real and six fake videos of 6 frames (one gap each), each its own group, plus a short and an unlabelled one.

    Fake faces drift along the first axis, real ones stay put.
    """
    rng = np.random.default_rng(0)
    entries = []
    specs = [(f"real/r{i}.mp4", 0, 6) for i in range(6)] + [(f"fake/f{i}.mp4", 1, 6) for i in range(6)]
    specs += [("fake/short.mp4", 1, 2)] if short else []
    specs += [("unlabeled/u.mp4", None, 6)]
    for video, label, frames in specs:
        values = rng.normal(size=(frames, DIM)).astype(np.float32) * 0.1
        values[:, 0] += np.arange(frames) * (0.5 if label == 1 else 0.0)
        mask = np.ones(frames, bool)
        mask[1] = False
        values[~mask] = 0.0
        entry = IndexEntry(video, label, video, frames, int(mask.sum()), timeline_file(video))
        write_timeline(root / entry.file, Timeline(values, mask, np.arange(frames) * 10))
        entries.append(entry)
    (root / "index.csv").write_text(index_text(entries), encoding="utf-8")
    write_provenance(root / "dfembed-embed.json", EmbedConfig(), status="complete", model="m.h5", model_sha256="ab" * 32,
                     image_size=32, embedding_dim=DIM, crop={"frames_per_video": 6}, data="crops")
    return root


@pytest.fixture(scope="module")
def embeddings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _embeddings(tmp_path_factory.mktemp("emb"))


@pytest.fixture(scope="module")
def trained(embeddings: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("out") / "t.keras"
    args = ["temporal", "train", str(embeddings), str(out), "--network", "gru", "--frames", "4", "--min-faces", "3",
            "--units", "4", "--epochs", "2", "--batch-size", "8", "--val-fraction", "0.3", "--dropout", "0", "-q"]
    from dfembed.cli import main

    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.mark.slow
def test_cli_writes_the_model_its_record_and_the_run_folder(trained: tuple[Path, str]) -> None:
    out, output = trained
    assert out.is_file() and (out.parent / "t.run" / "state.json").is_file()
    record = json.loads((out.parent / "t.dfembed-temporal.json").read_text(encoding="utf-8"))
    assert record["sequence"] == {"frames": 4, "window": None, "min_faces": 3}
    assert record["track"] == {"track": "iou", "min_iou": 0.2}
    assert record["embedder"]["model_sha256"] == "ab" * 32 and record["embedder"]["embedding_dim"] == DIM
    summary = record["summary"]
    assert summary["left_out"] == {"unlabelled": ["unlabeled/u.mp4"], "short": ["fake/short.mp4"], "empty": []}
    assert summary["n_train"] + summary["n_val"] == 12 and summary["n_val"] >= 2
    assert len(summary["history"]) == 2 and {"loss", "val_auc", "val_log_loss"} <= set(summary["history"][0])
    assert "1 too short" in output


@pytest.mark.slow
def test_the_same_command_gives_identical_predictions(embeddings: Path, tmp_path: Path) -> None:
    from dfembed.model.temporal import load_temporal_model, predict_sequences

    scores = []
    for name in ("a", "b"):
        run_train_temporal(embeddings, tmp_path / f"{name}.keras", SMALL)
        model = load_temporal_model(tmp_path / f"{name}.keras")
        batch = np.random.default_rng(5).normal(size=(6, 4, DIM)).astype(np.float32)
        scores.append(predict_sequences(model, batch, np.ones((6, 4), bool)))
    assert scores[0].tobytes() == scores[1].tobytes()


@pytest.mark.slow
def test_resume_continues_and_refuses_other_options_or_data(trained: tuple[Path, str], embeddings: Path,
                                                            tmp_path: Path) -> None:
    import shutil

    out, _ = trained
    shutil.copytree(out.parent / "t.run", tmp_path / "t.run")
    with pytest.raises(ConfigError, match="network: checkpoint 'gru', now 'lstm'"):
        run_train_temporal(embeddings, tmp_path / "t.keras", dataclasses.replace(SMALL, network="lstm", epochs=3),
                           resume=True)
    with pytest.raises(ConfigError, match="completed 2 epochs already"):
        run_train_temporal(embeddings, tmp_path / "t.keras", SMALL, resume=True)
    summary = run_train_temporal(embeddings, tmp_path / "t.keras", dataclasses.replace(SMALL, epochs=3), resume=True)
    assert (summary.initial_epoch, summary.epochs, len(summary.history)) == (2, 3, 3)
    other = _embeddings(tmp_path / "other", short=False)
    with pytest.raises(ConfigError, match="cannot resume on other embeddings"):
        run_train_temporal(other, tmp_path / "t.keras", dataclasses.replace(SMALL, epochs=4), resume=True, force=True)


@pytest.mark.slow
def test_existing_outputs_and_checkpoints_need_force(trained: tuple[Path, str], embeddings: Path) -> None:
    out, _ = trained
    with pytest.raises(OutputExistsError, match="use --force"):
        run_train_temporal(embeddings, out, SMALL)


def test_too_few_faces_for_both_classes_is_an_error_that_suggests_fewer(embeddings: Path, tmp_path: Path) -> None:
    # every video has 5 faces on its timeline (one gap in 6 frames)
    with pytest.raises(InputError, match=r"at least 6 faces; there are 0 real and 0 fake \(lower --min-faces\?\)"):
        run_train_temporal(embeddings, tmp_path / "t.keras", dataclasses.replace(SMALL, min_faces=6, frames=6))


def test_an_unfinished_embedding_job_is_refused(embeddings: Path, tmp_path: Path) -> None:
    import shutil

    copy = shutil.copytree(embeddings, tmp_path / "emb")
    write_provenance(copy / "dfembed-embed.json", EmbedConfig(), status="running")
    with pytest.raises(InputError, match="did not finish; run dfembed temporal embed again"):
        run_train_temporal(copy, tmp_path / "t.keras", SMALL)


def test_resources_yaml_equal_the_defaults() -> None:
    assert resolve_config(TemporalConfig, REPO / "dfembed" / "resources" / "temporal.yaml") == TemporalConfig()
    assert resolve_config(EmbedConfig, REPO / "dfembed" / "resources" / "embed.yaml") == EmbedConfig()


@pytest.mark.parametrize(("overrides", "fragment"), [({"network": "tcn"}, "not one of"),
                                                     ({"network": "transformer", "units": 6}, "divisible by heads"),
                                                     ({"frames": 0}, "frames must be at least 1")])
def test_bad_options_are_named(overrides: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        resolve_config(TemporalConfig, None, overrides)
