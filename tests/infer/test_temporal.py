"""``--aggregate temporal``: timelines and tracks from inference results, the too-short fallback, end to end."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from dfembed.infer.aggregate import mean
from dfembed.infer.pipeline import FileResult
from dfembed.infer.temporal import TemporalScorer, apply_temporal
from dfembed.model.sequence import SequenceSpec

A, B = (0.0, 0.0, 40.0, 40.0), (100.0, 0.0, 150.0, 50.0)  # two people; B is larger


class FacesCounted:
    """A stand-in sequence model: P(fake) of a sequence = its number of faces / 10."""

    def predict_on_batch(self, inputs: dict) -> np.ndarray:
        return inputs["mask"].sum(axis=1, keepdims=True) / 10.0


def _result(path: str = "v.mp4") -> FileResult:
    """Frames 0, 10, 20, 30 read; faces: B and A at 0, A only at 10, none at 20, B at 30."""
    result = FileResult(Path(path), sampled=[0, 10, 20, 30])
    for frame, box, value in ((0, B, 1.0), (0, A, 2.0), (10, A, 3.0), (30, B, 4.0)):
        result.frames.append(frame)
        result.boxes.append(box)
        result.scores.append(value / 10)
        result.embeddings.append(np.full(3, value, np.float32))
    return result


def test_timeline_follows_one_face_and_keeps_gaps() -> None:
    scorer = TemporalScorer(FacesCounted(), SequenceSpec(frames=4, min_faces=1), "iou", 0.2)
    embeddings, mask = scorer.timeline(_result())
    np.testing.assert_array_equal(mask, [True, False, False, True])  # B at 0 and 30; A at 10 is another person
    np.testing.assert_array_equal(embeddings[:, 0], [1.0, 0.0, 0.0, 4.0])
    largest = TemporalScorer(FacesCounted(), SequenceSpec(frames=4, min_faces=1), "largest", 0.2)
    np.testing.assert_array_equal(largest.timeline(_result())[1], [True, True, False, True])


def test_score_is_the_mean_over_windows_and_none_when_too_short() -> None:
    # windows of 2 with stride 1 over [B, gap, gap, B]: [B, gap] 1 face, [gap, gap] none (left out), [gap, B] 1 face
    windows = TemporalScorer(FacesCounted(), SequenceSpec(frames=2, window=1, min_faces=2), "iou", 0.2)
    assert windows.score(_result()) == pytest.approx(0.1)
    assert TemporalScorer(FacesCounted(), SequenceSpec(frames=2, min_faces=3), "iou", 0.2).score(_result()) is None


def test_too_short_files_fall_back_to_the_frame_rule_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    strict = TemporalScorer(FacesCounted(), SequenceSpec(frames=4, min_faces=3), "iou", 0.2)
    image = FileResult(Path("a.jpg"), frames=[0], scores=[0.7], sampled=[0], boxes=[A],
                       embeddings=[np.zeros(3, np.float32)])
    empty = FileResult(Path("none.mp4"), sampled=[0, 5])
    with caplog.at_level(logging.WARNING, logger="dfembed"):
        results = apply_temporal([_result(), image, empty], strict)
    assert [r.temporal_score for r in results] == [None, None, None]
    # v.mp4 has 2 tracked faces < 3: the mean of its frame scores, the per-frame maxima 0.2, 0.3, 0.4
    assert [r.score(mean, 0.5) for r in results] == [pytest.approx(0.3), 0.7, 0.5]
    assert "v.mp4: 2 tracked faces, fewer than the temporal model's 3" in caplog.text
    assert "1 images scored with the frame rule" in caplog.text
    assert "2 of 3 files were too short for the temporal model" in caplog.text
    lenient = TemporalScorer(FacesCounted(), SequenceSpec(frames=4, min_faces=2), "iou", 0.2)
    (scored,) = apply_temporal([_result()], lenient)
    assert scored.temporal_score == pytest.approx(0.2) and scored.score(mean, 0.5) == pytest.approx(0.2)


# ---------------------------------------------------------------------------------------
# End to end through run_inference: a fake detector and scorer, a real tiny temporal model.

DIM = 8


def _video(path: Path, levels: list[int]) -> Path:
    """An MJPG video whose frame k is grey ``levels[k]``."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 32))
    for level in levels:
        writer.write(np.full((32, 64, 3), level, np.uint8))
    writer.release()
    return path


class OneFace:
    """One confident face in every frame with a grey level of at least 60; none in darker frames."""

    def detect(self, frames):  # noqa: ANN001, ANN201 - the Detector protocol
        from dfembed.faces.detector import Face

        return [[Face((4.0, 4.0, 28.0, 28.0), 0.99, np.zeros((5, 2)))] if f.mean() >= 60 else [] for f in frames]


def grey_scorer(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(fake) = mean grey / 255; the embedding: that value in every component."""
    grey = images.reshape(len(images), -1).mean(axis=1) / 255.0
    return grey, np.repeat(grey[:, None], DIM, axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A B0 frame model with an SVM bundle (needed by the checks), and a GRU sequence model with its record."""
    import keras

    from dfembed.faces.config import CropConfig
    from dfembed.model.classifier import ClassifierBundle, EmbeddingSVM, save_bundle
    from dfembed.model.network import build_embedding_model, save_model
    from dfembed.model.temporal import build_temporal_model, record_path, save_temporal_model

    root = tmp_path_factory.mktemp("models")
    keras.utils.set_random_seed(0)
    model = save_model(build_embedding_model("b0", image_size=32, weights="none", embedding_dim=DIM), root / "m.h5")
    svm = EmbeddingSVM(random_state=0).fit(np.random.default_rng(0).normal(size=(8, DIM)), [0, 1] * 4)
    crop = CropConfig(size=32, margin=0.0, frames_per_video=6)
    bundle = save_bundle(ClassifierBundle(svm, DIM, "b0", 32, crop_config=crop.__dict__), root / "svm.pkl",
                         models={"model": model})
    temporal = save_temporal_model(build_temporal_model("gru", DIM, units=4), root / "t.keras")
    record = {"sequence": {"frames": 4, "window": None, "min_faces": 3}, "track": {"track": "iou", "min_iou": 0.2},
              "embedder": {"weights_sha256": None, "embedding_dim": DIM}, "crop": {"frames_per_video": 6}}
    record_path(temporal).write_text(json.dumps(record), encoding="utf-8")
    return {"model": model, "svm": bundle, "temporal": temporal}


def test_videos_are_scored_by_the_temporal_model_and_short_ones_by_the_frame_rule(
    models: dict[str, Path], tmp_path: Path
) -> None:
    from dfembed.infer.config import InferConfig
    from dfembed.infer.run import run_inference
    from dfembed.model.temporal import load_temporal_model, predict_sequences

    test = tmp_path / "test"
    test.mkdir()
    _video(test / "long.avi", [80, 20, 120, 160, 200, 240])  # 6 frames read; frame 1 has no face
    _video(test / "short.avi", [80, 20, 20, 20, 20, 100])  # two faces only
    config = InferConfig(aggregate="temporal", temporal_model=str(models["temporal"]), temporal_fallback="mean")
    summary = run_inference(test, tmp_path / "out.csv", models["model"], models["svm"], config,
                            detector=OneFace(), scorer=grey_scorer)
    values = {row.split(",")[0]: float(row.split(",")[1])
              for row in (tmp_path / "out.csv").read_text().splitlines()[1:]}
    # long.avi: 6 entries, T = 4 evenly → positions 0, 2, 3, 5 (linspace 0, 1.67, 3.33, 5): all faces
    greys = np.array([80, 120, 160, 240], np.float32) / 255.0  # MJPG may move a grey level by 1-2
    expected = predict_sequences(load_temporal_model(models["temporal"]), np.repeat(greys[None, :, None], DIM, 2),
                                 np.ones((1, 4), bool))[0]
    assert values["long.avi"] == pytest.approx(expected, abs=2e-3)
    assert values["short.avi"] == pytest.approx((80 + 100) / 2 / 255, abs=0.01)
    assert summary.scored == 2
    record = json.loads((tmp_path / "out.dfembed-infer.json").read_text())
    assert {k: f["temporal"] for k, f in record["files"].items()} == {"long.avi": True, "short.avi": False}
    assert record["config"]["aggregate"] == "temporal"


def test_cli_errors_for_a_missing_model_or_record(models: dict[str, Path], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from dfembed.commands.infer import infer_command

    _video(tmp_path / "v.avi", [80, 90])
    base = [str(tmp_path / "v.avi"), str(tmp_path / "sub.csv"), str(models["model"]), str(models["svm"])]
    result = CliRunner().invoke(infer_command, [*base, "--aggregate", "temporal"])
    assert result.exit_code == 1 and "temporal_model must be a .keras sequence model with --aggregate temporal" in \
        result.output
    alone = tmp_path / "alone.keras"
    alone.write_bytes(models["temporal"].read_bytes())
    result = CliRunner().invoke(infer_command, [*base, "--aggregate", "temporal", "--temporal-model", str(alone)])
    assert result.exit_code == 1 and "has no record alone.dfembed-temporal.json beside it" in result.output
    assert not (tmp_path / "sub.csv").exists()
