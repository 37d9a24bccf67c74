"""The end-to-end clip model (``train.py --temporal T``) at tiny sizes: clips, one short run, its outputs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from dfembed.core.errors import ConfigError, InputError
from dfembed.crop.videos import read_crop_videos
from dfembed.train.augment import Augmenter, AugmentParams
from dfembed.train.clips import ClipBatches, clip_videos
from dfembed.train.config import TrainConfig

BOX = "2,2,30,30"
SMALL = TrainConfig(backbone="tiny", image_size=32, weights="none", embedding_dim=8, batch_size=4, epochs=1,
                    steps_per_epoch=2, val_fraction=0.4, workers=1, tensorboard=False, temporal=2, embed_batch_size=8)


def _crop(path: Path, seed: int, bright_left: bool) -> None:
    """A 24×24 crop: noise, with the left (or right) half brighter, so a flip is visible."""
    image = np.random.default_rng(seed).integers(0, 80, (24, 24, 3)).astype(np.uint8)
    image[:, :12] += 150 if bright_left else 0
    image[:, 12:] += 0 if bright_left else 150
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)


def _folder(root: Path) -> Path:
    """Three real and three fake videos of 4 frames (frame 2 of each without a face), and a fake with one face."""
    rows = ["source,label,group,frame_index,face_index,x1,y1,x2,y2,crop"]
    videos = [(f"{label}/{label[0]}{i}.mp4", label, 4) for label in ("real", "fake") for i in range(3)]
    for n, (source, label, frames) in enumerate([*videos, ("fake/short.mp4", "fake", 1)]):
        for frame in range(frames):
            if frame == 2:
                continue  # no face: a gap on the timeline [0, 1, 3]
            crop = f"{label}/{Path(source).stem}_f{frame:05d}_00.png"
            _crop(root / crop, 10 * n + frame, bright_left=frame % 2 == 0)
            rows.append(f"{source},{label},{source},{frame},0,{BOX},{crop}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _folder(tmp_path_factory.mktemp("clips"))


def test_clips_are_balanced_deterministic_and_fill_gaps_with_the_nearest_face(data: Path) -> None:
    videos, short = clip_videos(data, read_crop_videos(data).videos, frames=3)
    assert short == ["fake/short.mp4"] and len(videos) == 6
    batches = ClipBatches(videos, frames=3, batch_size=4, augmenter=Augmenter(AugmentParams(image_size=16)), seed=3)
    inputs, labels = batches.batch(0, 1)
    assert inputs["clips"].shape == (4, 3, 16, 16, 3) and inputs["mask"].shape == (4, 3)
    np.testing.assert_array_equal(labels[:, 0], [0, 1, 0, 1])
    np.testing.assert_array_equal(inputs["mask"], [[True, True, True]] * 4)  # timeline [0, 1, 3]: no gap left
    again, _ = batches.batch(0, 1)
    np.testing.assert_array_equal(again["clips"], inputs["clips"])
    (video,) = [v for v in clip_videos(data, read_crop_videos(data).videos, frames=2)[0] if v.name == "real/r0.mp4"]
    assert [p.name for p in video.crops] == ["r0_f00000_00.png", "r0_f00001_00.png", "r0_f00003_00.png"]


def test_one_seed_per_clip_flips_all_its_frames_alike(data: Path) -> None:
    videos, _ = clip_videos(data, read_crop_videos(data).videos, frames=3)
    batches = ClipBatches(videos, 3, 2, Augmenter(AugmentParams(image_size=24, flip_p=0.5)), seed=0)
    for seed in range(6):
        clip, _ = batches.clip(videos[0], seed)
        # frames 0, 1, 3 were written bright left, right, right: a flip swaps all three or none
        left_bright = clip[:, :, :12].mean(axis=(1, 2, 3)) > clip[:, :, 12:].mean(axis=(1, 2, 3))
        assert left_bright.tolist() in ([True, False, False], [False, True, True])


@pytest.fixture(scope="module")
def trained(data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    from dfembed.commands.train import train_command

    out = tmp_path_factory.mktemp("out")
    flags = ["--backbone", "tiny", "--image-size", "32", "--weights", "none", "--embedding-dim", "8", "--batch-size",
             "4", "--epochs", "1", "--steps-per-epoch", "2", "--val-fraction", "0.4", "--workers", "1",
             "--embed-batch-size", "8", "--no-tensorboard", "--temporal", "2", "--temporal-network", "gru", "-q"]
    result = CliRunner().invoke(train_command, [str(data), str(out), str(out), *flags])
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.mark.slow
def test_a_short_run_writes_the_embedder_its_svm_and_the_sequence_model(trained: tuple[Path, str]) -> None:
    import keras

    from dfembed.infer.temporal import load_temporal_scorer
    from dfembed.model.classifier import check_compatible, load_bundle
    from dfembed.model.network import load_embedding_model, model_info

    out, output = trained
    assert "videos (" in output and "model.temporal.keras" in output
    embedder = load_embedding_model(out / "model.h5")
    check_compatible(load_bundle(out / "svm.pkl"), model_info(embedder))
    scorer = load_temporal_scorer(out / "model.temporal.keras", embedder)
    assert (scorer.spec.frames, scorer.spec.window, scorer.spec.min_faces) == (2, 1, 2)
    record = json.loads((out / "model.temporal.dfembed-temporal.json").read_text(encoding="utf-8"))
    assert record["embedder"]["embedding_dim"] == 8 and record["track"]["track"] == "iou"
    from dfembed.model.network import weights_digest

    assert record["embedder"]["weights_sha256"] == weights_digest(embedder)  # the embedder written as OUT_H5
    train_record = json.loads((out / "model.dfembed-train.json").read_text(encoding="utf-8"))
    assert train_record["clips"]["videos_left_out_short"] == ["fake/short.mp4"]
    summary = train_record["summary"]
    assert summary["n_train"] + summary["n_val"] == 6 and set(summary["history"][0]) >= {"loss", "val_auc"}
    checkpoint = keras.models.load_model(out / "model.run" / "epoch-001.keras", compile=True)
    assert int(checkpoint.optimizer.iterations) == 2  # one epoch of two steps, optimiser state saved


@pytest.mark.slow
def test_resume_refuses_another_sequence_network(trained: tuple[Path, str], data: Path, tmp_path: Path) -> None:
    import shutil

    from dfembed.train.run import run_train

    out, _ = trained
    shutil.copytree(out / "model.run", tmp_path / "model.run")
    config = dataclasses.replace(SMALL, epochs=2, temporal_network="lstm")
    with pytest.raises(ConfigError, match="temporal_network: checkpoint 'gru', now 'lstm'"):
        run_train(data, tmp_path / "model.h5", tmp_path / "svm.pkl", config, resume=True)


def test_clips_longer_than_the_tracks_are_an_error_that_suggests_a_shorter_one(data: Path, tmp_path: Path) -> None:
    from dfembed.train.run import run_train

    with pytest.raises(InputError, match=r"at least 4 faces.*0 real and 0 fake \(a smaller --temporal\?\)"):
        run_train(data, tmp_path / "m.h5", tmp_path / "s.pkl", dataclasses.replace(SMALL, temporal=4))
