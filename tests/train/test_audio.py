"""train.py --modality audio: the audio defaults, tiles of generated videos end to end, the fusion weight.

One tiny run (B0 from random weights at 32 px on 32 × 32 tiles, batches of 4, three steps) is made
through the click command and shared by the module; the checks are contracts, not accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from dfembed.audio.config import AudioConfig
from dfembed.commands.train import train_command
from dfembed.core.errors import InputError
from dfembed.crop.audio_job import run_audio_crop
from dfembed.model.classifier import load_bundle
from dfembed.model.safe_bundle import sha256_file
from dfembed.train.audio import fit_fusion, refuse_face_crops
from dfembed.train.config import TrainConfig, resolve_train_config
from dfembed.train.crops import list_crops
from dfembed.train.face import refuse_audio_tiles
from tests.audio.signals import sweep, tone, write_video

pytestmark = pytest.mark.slow

#: 0.5 s tiles every 0.25 s of 32 bands: 32 × 32 tiles (0.5 s × 16000 / 250 columns); 2 s give 7 tiles.
TILES = AudioConfig(audio_only=True, audio_window=0.5, audio_hop=0.25, n_mels=32, n_fft=512)
FLAGS = ["--modality", "audio", "--backbone", "tiny", "--weights", "none", "--image-size", "32", "--batch-size", "4",
         "--epochs", "1",
         "--steps-per-epoch", "3", "--embedding-dim", "16", "--val-fraction", "0.3", "--workers", "1",
         "--no-tensorboard", "--seed", "1"]


def test_audio_defaults_sit_under_the_file_and_the_flags(tmp_path: Path) -> None:
    face = resolve_train_config(None, {})
    assert (face.backbone, face.image_size, face.flip_p) == ("b4", 380, 0.5)
    audio = resolve_train_config(None, {"modality": "audio"})
    assert (audio.backbone, audio.image_size, audio.flip_p, audio.noise_p, audio.jpeg_p, audio.blur_p) == \
        ("b0", 128, 0.0, 0.0, 0.0, 0.0)
    cfg = tmp_path / "t.yaml"
    cfg.write_text("modality: audio\nimage_size: 64\nbackbone: b1\n")
    from_file = resolve_train_config(cfg, {"backbone": "b2"})
    assert (from_file.modality, from_file.image_size, from_file.backbone) == ("audio", 64, "b2")


def test_audio_options_that_do_not_fit_are_refused() -> None:
    from dfembed.core.config import resolve_config
    from dfembed.core.errors import ConfigError

    with pytest.raises(ConfigError, match="temporal must be unset with --modality audio"):
        resolve_config(TrainConfig, None, {"modality": "audio", "temporal": 4})
    with pytest.raises(ConfigError, match="fuse_face_model must be unset unless --modality audio"):
        resolve_config(TrainConfig, None, {"fuse_face_model": ["m.h5", "s.pkl"]})
    with pytest.raises(ConfigError, match="freq_mask_width must be in"):
        resolve_config(TrainConfig, None, {"freq_mask_width": 2.0})


@pytest.fixture(scope="module")
def dst(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A crop folder: audio tiles of 4 real (tones) and 4 fake (sweeps) 2 s videos, and two face crops per video."""
    root = tmp_path_factory.mktemp("av")
    src, dst = root / "src", root / "dst"
    for i in range(4):
        write_video(src / "real" / f"r{i}.mp4", 2.0, tone(2.0, 48000, 300.0 + 200 * i))
        write_video(src / "fake" / f"f{i}.mp4", 2.0, sweep(2.0, 48000, 200.0 + 100 * i, 3000.0))
    assert run_audio_crop(src, dst, TILES).tiles_total == 56
    rows = ["source,label,group,frame_index,face_index,crop"]
    for label, prefix in (("real", "r"), ("fake", "f")):
        for i in range(4):
            for frame in (0, 5):
                crop = f"{label}/{prefix}{i}_mp4_f{frame:05d}_00.png"
                (dst / crop).parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(dst / crop), np.full((40, 40, 3), 200 if label == "fake" else 30, np.uint8))
                rows.append(f"{label}/{prefix}{i}.mp4,{label},{label}/{prefix}{i}.mp4,{frame},0,{crop}")
    (dst / "manifest.csv").write_text("\n".join(rows) + "\n")
    return dst


@pytest.fixture(scope="module")
def face_model(tmp_path_factory: pytest.TempPathFactory, dst: Path) -> tuple[Path, Path]:
    """A face model of random weights with an SVM fitted on its embeddings of the face crops."""
    import keras

    from dfembed.faces.media import read_image
    from dfembed.model.classifier import ClassifierBundle, EmbeddingSVM, save_bundle
    from dfembed.model.network import build_embedding_model, save_model

    root = tmp_path_factory.mktemp("face")
    keras.utils.set_random_seed(0)
    model = build_embedding_model("tiny", image_size=32, weights="none", embedding_dim=8)
    model_file = save_model(model, root / "face.h5")
    crops = sorted(dst.glob("*/*_f0000*_00.png"))
    images = np.stack([cv2.resize(read_image(p), (32, 32)) for p in crops]).astype(np.float32)
    labels = [int(p.parent.name == "fake") for p in crops]
    svm = EmbeddingSVM(random_state=0).fit(np.asarray(model.predict_on_batch(images)), labels)
    save_bundle(ClassifierBundle(svm, 8, "tiny", 32), root / "face.pkl", models={"model": model_file})
    return model_file, root / "face.pkl"


@pytest.fixture(scope="module")
def run(dst: Path, face_model: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("audio_model")
    result = CliRunner().invoke(train_command, [str(dst / "audio"), str(out / "audio.h5"), str(out / "audio.pkl"),
                                                *FLAGS, "--fuse-face-model", *map(str, face_model), "-q"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "on 56 audio tiles" not in result.output and "audio tiles (" in result.output  # some are validation
    return out


def test_the_audio_bundle_carries_the_tile_settings(run: Path) -> None:
    bundle = load_bundle(run / "audio.pkl")
    assert bundle.crop_config == TILES.tile_settings()  # inference cuts tiles with them
    assert (bundle.backbone, bundle.image_size, bundle.embedding_dim) == ("tiny", 32, 16)
    assert bundle.train_config["modality"] == "audio" and bundle.train_config["flip_p"] == 0.0
    assert bundle.detector is None


def test_the_fusion_weight_is_fitted_on_the_validation_videos(run: Path, face_model: tuple[Path, Path]) -> None:
    record = json.loads((run / "audio.fusion.json").read_text())
    assert record["format"] == "dfembed-fusion" and 0.0 <= record["weight"] <= 1.0
    assert record["audio_model"]["sha256"] == sha256_file(run / "audio.h5")
    assert record["face_model"]["sha256"] == sha256_file(face_model[0])
    assert record["videos"] == len(record["scores"]) >= 2 and 1 <= record["fake_videos"] < record["videos"]
    losses = record["validation_log_loss"]
    assert losses["weighted"] <= min(losses["face"], losses["audio"], losses["mean"]) + 1e-12  # it is the minimum


def test_fit_fusion_with_perfect_faces_gives_the_faces_all_weight(run: Path, dst: Path, tmp_path: Path) -> None:
    """A face scorer that returns each crop's label makes w = 0 the only loss-free weight."""
    import keras

    from dfembed.train.split import split_by_group

    for name in ("face.h5", "face.pkl"):
        (tmp_path / name).write_bytes(b"recorded by name and SHA-256 only: the scorer is injected")
    config = TrainConfig(modality="audio", backbone="b0", image_size=32, embedding_dim=16, weights="none",
                         val_fraction=0.3, seed=1, fuse_face_model=(str(tmp_path / "face.h5"), str(tmp_path / "face.pkl")),
                         workers=1)
    _, val = split_by_group(list_crops(dst / "audio").crops, config.val_fraction, config.seed)

    class Perfect:
        image_size = 8

        def __call__(self, images: np.ndarray) -> np.ndarray:
            return (images.reshape(len(images), -1).mean(axis=1) > 100).astype(np.float64)  # fake crops are bright

    model = keras.models.load_model(run / "audio.h5", compile=False)
    bundle = load_bundle(run / "audio.pkl")
    target = tmp_path / "a.h5"
    target.write_bytes((run / "audio.h5").read_bytes())
    record = fit_fusion(model, bundle, val, dst / "audio", target, config, face_scorer=Perfect())
    assert record is not None and record["weight"] == 0.0
    assert record["validation_log_loss"]["face"] < 1e-12


def test_rerun_needs_force_for_the_fusion_file_too(run: Path, dst: Path, face_model: tuple[Path, Path]) -> None:
    (run / "other.fusion.json").write_text("{}")
    result = CliRunner().invoke(train_command, [str(dst / "audio"), str(run / "other.h5"), str(run / "other.pkl"),
                                                *FLAGS, "--fuse-face-model", *map(str, face_model)])
    assert result.exit_code == 1 and "other.fusion.json exists; use --force" in result.output


def test_a_face_folder_is_not_audio_and_tiles_are_not_faces(dst: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="holds face crops .*its audio tiles are in .*/audio"):
        refuse_face_crops(dst)
    with pytest.raises(InputError, match="holds audio tiles .*train them with --modality audio"):
        refuse_audio_tiles(dst / "audio")
