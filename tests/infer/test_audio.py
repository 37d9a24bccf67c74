"""The audio branch of inference: tiles scored (with shifted views), fused with faces, extra CSV columns.

Generated videos: grey frames of 200 hold a face for the fake detector, frames of 10 none; each has a
soundtrack or not. The face and audio models are one B0 at 32 px with random weights, saved twice, and SVMs
fitted on its embeddings of crops and of tiles; the checks are relations (the fused column against the two
others), not accuracy.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from dfembed.audio.config import AudioConfig
from dfembed.audio.tiles import db_to_pixels, soundtrack_tiles
from dfembed.core.errors import InputError
from dfembed.infer.audio import AudioBranch, AudioResult, FusedScores, aggregate_tiles
from dfembed.infer.config import InferConfig
from dfembed.infer.submission import DACON, Matching, Submission, add_columns
from tests.audio.signals import sweep, tone, write_video

pytestmark = pytest.mark.slow

TILES = AudioConfig(audio_window=0.5, audio_hop=0.25, n_mels=32, n_fft=512)  # 32 × 32 tiles every 16 columns


def _mean_grey(images: np.ndarray) -> np.ndarray:
    """A stand-in scorer: P(fake) is the image's mean grey level / 255."""
    return images.reshape(len(images), -1).mean(axis=1) / 255.0


class _BrightDetector:
    """One face in the middle of every frame brighter than mid-grey, none in darker ones."""

    def detect(self, frames):  # noqa: ANN001, ANN201 - the Detector protocol
        from dfembed.faces.detector import Face

        return [[Face((16.0, 8.0, 48.0, 40.0), 0.99)] if frame.mean() > 100 else [] for frame in frames]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    test = tmp_path_factory.mktemp("av_test")
    write_video(test / "talk.mp4", 2.0, sweep(2.0, 48000), frame_value=200)  # faces and audio
    write_video(test / "mute.mp4", 1.0, None, frame_value=200)  # faces only
    write_video(test / "voice.mp4", 1.5, tone(1.5, 48000, 700.0), frame_value=10)  # audio only
    write_video(test / "dark_mute.mp4", 1.0, None, frame_value=10)  # neither
    import cv2

    cv2.imwrite(str(test / "still.png"), np.full((48, 64, 3), 200, np.uint8))  # an image: faces only
    return test


def test_tiles_and_shifted_views_are_averaged_per_tile(media: Path) -> None:
    track = soundtrack_tiles(media / "talk.mp4", TILES)
    plain = AudioBranch(_mean_grey, TILES, 32, InferConfig()).score_file(media / "talk.mp4")
    assert len(plain.tiles) == len(track.tiles) == 7  # 2 s: 129 columns, 32-column tiles at 0, 16, …, 96
    assert plain.tiles == pytest.approx([t.pixels.mean() / 255 for t in track.tiles])
    assert plain.starts == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5])
    shifted = AudioBranch(_mean_grey, TILES, 32, InferConfig(audio_tta="shift", audio_tta_shift=0.0625))
    result = shifted.score_file(media / "talk.mp4")
    # 0.0625 s = 4 columns: tile k (columns 16k…16k+31) also seen at 16k-4 and 16k+4 when they fit in 0…128-32

    def view(column: int) -> float:
        return db_to_pixels(track.mel.db[::-1, column:column + 32], TILES.audio_top_db).mean() / 255

    expected = [np.mean([view(c) for c in (16 * k, 16 * k - 4, 16 * k + 4) if 0 <= c <= 129 - 32]) for k in range(7)]
    assert result.tiles == pytest.approx(expected)


def test_files_without_a_soundtrack_say_why(media: Path) -> None:
    branch = AudioBranch(_mean_grey, TILES, 32, InferConfig())
    assert branch.score_file(media / "mute.mp4") == AudioResult(reason="no audio")
    assert branch.score_file(media / "still.png") == AudioResult(reason="not a video")


def test_tile_aggregation() -> None:
    assert aggregate_tiles([0.2, 0.4, 0.9], "mean") == pytest.approx(0.5)
    assert aggregate_tiles([0.2, 0.4, 0.9], "max") == 0.9
    with pytest.raises(ValueError, match="no tile score"):
        aggregate_tiles([], "mean")


def test_fused_scores_keep_the_modality_a_file_has() -> None:
    faces = {"a": 0.2, "b": 0.3, "c": None, "d": None}
    audio = {"a": 0.6, "b": None, "c": 0.8, "d": None}
    fused = FusedScores(faces, audio, {}, InferConfig(fuse="weighted", no_face_score=0.5), weight=0.25)
    assert [fused.score(k) for k in "abcd"] == pytest.approx([0.25 * 0.6 + 0.75 * 0.2, 0.3, 0.8, 0.5])
    assert [fused.source(k) for k in "abcd"] == ["fused", "face only", "audio only", "default"]
    matching = Matching(["a", None, "c"])
    assert fused.columns(matching) == {"face_score": ["0.200000", "", ""], "audio_score": ["0.600000", "", "0.800000"]}
    assert fused.record()["counts"] == {"fused": 1, "face only": 1, "audio only": 1, "default": 1}
    assert fused.record()["neither"] == ["d"]


def test_add_columns_appends_or_replaces() -> None:
    submission = Submission(DACON, ["path", "y", "note", "face_score"],
                            [{"path": "x.jpg", "y": "0.1", "note": "n", "face_score": "old"}])
    out = add_columns(submission, {"face_score": ["0.5"], "audio_score": [""]})
    assert out.fieldnames == ["path", "y", "note", "face_score", "audio_score"]
    assert out.rows == [{"path": "x.jpg", "y": "0.1", "note": "n", "face_score": "0.5", "audio_score": ""}]
    with pytest.raises(ValueError, match="own y column"):
        add_columns(submission, {"y": ["1"]})


# --- end to end, with real tiny models ---------------------------------------------------------


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, media: Path) -> dict[str, Path]:
    import keras

    from dfembed.audio.tiles import as_rgb
    from dfembed.faces.config import CropConfig
    from dfembed.model.classifier import ClassifierBundle, EmbeddingSVM, save_bundle
    from dfembed.model.network import build_embedding_model, save_model

    root = tmp_path_factory.mktemp("av_models")
    keras.utils.set_random_seed(0)
    out = {}
    # audio: tiles of a sweep (fake) and of a tone (real)
    audio = build_embedding_model("b0", image_size=32, weights="none", embedding_dim=8)
    out["audio_h5"] = save_model(audio, root / "audio.h5")
    tiles = [t.pixels for name in ("talk.mp4", "voice.mp4") for t in soundtrack_tiles(media / name, TILES).tiles]
    labels = [1] * 7 + [0] * (len(tiles) - 7)
    svm = EmbeddingSVM(random_state=0).fit(np.asarray(audio.predict_on_batch(as_rgb(tiles).astype("float32"))), labels)
    bundle = ClassifierBundle(svm, 8, "b0", 32, crop_config=TILES.tile_settings(), train_config={"modality": "audio"})
    out["audio_pkl"] = save_bundle(bundle, root / "audio.pkl", models={"model": out["audio_h5"]})
    # faces: the same network (saved again: a file of its own), random crops, half bright (fake), half dark
    face = audio
    out["face_h5"] = save_model(face, root / "face.h5")
    rng = np.random.default_rng(0)
    images = np.concatenate([rng.integers(150, 255, (6, 32, 32, 3)), rng.integers(0, 100, (6, 32, 32, 3))])
    svm = EmbeddingSVM(random_state=0).fit(np.asarray(face.predict_on_batch(images.astype("float32"))), [1] * 6 + [0] * 6)
    crop = dataclasses.asdict(CropConfig(size=32, frames_per_video=2, margin=0.0))
    out["face_pkl"] = save_bundle(ClassifierBundle(svm, 8, "b0", 32, crop_config=crop), root / "face.pkl",
                                  models={"model": out["face_h5"]})
    return out


def _infer(media: Path, out: Path, models: dict[str, Path], **options: object):  # noqa: ANN202
    from dfembed.infer.run import run_inference

    config = InferConfig(audio_model=(str(models["audio_h5"]), str(models["audio_pkl"])), **options)
    return run_inference(media, out, models["face_h5"], models["face_pkl"], config, detector=_BrightDetector())


def _table(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as handle:
        return {row["path"]: row for row in csv.DictReader(handle)}


def test_every_file_gets_the_score_of_what_it_has(media: Path, models: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "sub.csv"
    _infer(media, out, models)
    with out.open(newline="") as handle:
        assert next(csv.reader(handle)) == ["path", "y", "face_score", "audio_score"]
    rows = _table(out)
    talk = rows["talk.mp4"]
    assert float(talk["y"]) == pytest.approx((float(talk["face_score"]) + float(talk["audio_score"])) / 2, abs=2e-6)
    assert rows["mute.mp4"]["audio_score"] == "" and rows["mute.mp4"]["y"] == rows["mute.mp4"]["face_score"]
    assert rows["still.png"]["audio_score"] == "" and rows["still.png"]["y"] == rows["still.png"]["face_score"]
    assert rows["voice.mp4"]["face_score"] == "" and rows["voice.mp4"]["y"] == rows["voice.mp4"]["audio_score"]
    assert rows["dark_mute.mp4"] == {"path": "dark_mute.mp4", "y": "0.500000", "face_score": "", "audio_score": ""}
    record = json.loads(out.with_name("sub.dfembed-infer.json").read_text())
    assert record["audio"]["counts"] == {"fused": 1, "face only": 2, "audio only": 1, "default": 1}
    assert record["audio"]["neither"] == ["dark_mute.mp4"]
    assert record["audio"]["no_audio"] == {"no audio": 2, "not a video": 1}
    assert len(record["files"]["talk.mp4"]["audio_tiles"]) == 7 and record["files"]["talk.mp4"]["scored_by"] == "fused"
    assert record["files"]["voice.mp4"]["score"] == pytest.approx(float(rows["voice.mp4"]["y"]), abs=1e-6)


def test_the_weighted_fusion(media: Path, models: dict[str, Path], tmp_path: Path) -> None:
    from dfembed.model.safe_bundle import sha256_file

    with pytest.raises(InputError, match="audio.fusion.json does not exist"):
        _infer(media, tmp_path / "w.csv", models, fuse="weighted")
    assert not (tmp_path / "w.csv").exists()
    fusion = models["audio_h5"].with_name("audio.fusion.json")
    fusion.write_text(json.dumps({"format": "dfembed-fusion", "weight": 0.25,
                                  "audio_model": {"sha256": sha256_file(models["audio_h5"])}}))
    try:
        _infer(media, tmp_path / "w.csv", models, fuse="weighted", audio_aggregate="max")
        rows = _table(tmp_path / "w.csv")
        talk = rows["talk.mp4"]
        expected = 0.25 * float(talk["audio_score"]) + 0.75 * float(talk["face_score"])
        assert float(talk["y"]) == pytest.approx(expected, abs=2e-6)
        record = json.loads((tmp_path / "w.dfembed-infer.json").read_text())
        assert float(talk["audio_score"]) == pytest.approx(max(record["files"]["talk.mp4"]["audio_tiles"]), abs=2e-6)
        assert rows["voice.mp4"]["y"] == rows["voice.mp4"]["audio_score"]  # one modality: no weight applies
        fusion.write_text(json.dumps({"format": "dfembed-fusion", "weight": 0.25, "audio_model": {"sha256": "0" * 64}}))
        with pytest.raises(InputError, match="fitted for another audio model"):
            _infer(media, tmp_path / "w2.csv", models, fuse="weighted")
    finally:
        fusion.unlink()


def test_models_given_in_the_wrong_place_are_refused(media: Path, models: dict[str, Path], tmp_path: Path) -> None:
    from dfembed.infer.run import run_inference

    swapped = InferConfig(audio_model=(str(models["face_h5"]), str(models["face_pkl"])))
    with pytest.raises(InputError, match="face.pkl is the classifier of a face model"):
        run_inference(media, tmp_path / "a.csv", models["face_h5"], models["face_pkl"], swapped,
                      detector=_BrightDetector())
    with pytest.raises(InputError, match="audio.pkl is the classifier of an audio model; give it with --audio-model"):
        run_inference(media, tmp_path / "b.csv", models["audio_h5"], models["audio_pkl"], InferConfig(),
                      detector=_BrightDetector())
    missing = InferConfig(audio_model=(str(tmp_path / "none.h5"), str(models["audio_pkl"])))
    with pytest.raises(InputError, match="--audio-model: .*none.h5 does not exist"):
        run_inference(media, tmp_path / "c.csv", models["face_h5"], models["face_pkl"], missing,
                      detector=_BrightDetector())
