"""Inference stage: configuration, then end to end on the shared sample data with a tiny model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dfembed.core.config import resolve_config
from dfembed.core.errors import ConfigError
from dfembed.infer.config import InferConfig, parse_crop_options
from tests.support import shared_path

REPO = Path(__file__).resolve().parents[2]


def test_resources_yaml_equals_defaults() -> None:
    assert resolve_config(InferConfig, REPO / "dfembed" / "resources" / "inference.yaml") == InferConfig()


def test_crop_overrides_named_fields_win() -> None:
    config = InferConfig(frames_per_video=3, crop_options=("frames_per_video=9", "thresholds=[0.6, 0.7, 0.7]"))
    assert config.crop_overrides() == {"frames_per_video": 3, "thresholds": [0.6, 0.7, 0.7]}


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"clip": [0.9, 0.1]}, "clip must be"),
        ({"no_face_score": 1.5}, r"no_face_score must be in \[0, 1\], got 1.5"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"aggregate": "median"}, "not one of"),
        ({"crop_options": ["margin"]}, "not KEY=VALUE"),
        ({"detector": "yolo"}, "detector must be a registered face detector"),
    ],
)
def test_bad_options_rejected(overrides: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        resolve_config(InferConfig, None, overrides)


def test_parse_crop_options_reads_yaml_values() -> None:
    assert parse_crop_options(("min-face-size=20", "faces=all")) == {"min_face_size": 20, "faces": "all"}


def test_crop_config_from_training_then_overrides() -> None:
    from dfembed.faces.config import CropConfig
    from dfembed.infer.config import resolve_crop_config

    trained = {"size": 300, "faces": "largest", "margin": 0.2, "frames_per_video": 16, "retired_option": 1,
               "device": "GPU:3"}
    config = InferConfig(faces="all", crop_options=("min_face_size=40",))
    crop = resolve_crop_config(trained, config, image_size=64)
    assert (crop.size, crop.faces, crop.margin, crop.frames_per_video, crop.min_face_size) == (300, "all", 0.2, 16, 40)
    assert crop.device == CropConfig().device  # the training machine's device is not inherited
    assert resolve_crop_config(None, InferConfig(), image_size=64).size == 64  # unknown origin: model size


def test_the_detector_is_the_trained_one_unless_named() -> None:
    from dfembed.infer.config import resolve_crop_config

    trained = {"detector": "blazeface", "blazeface_model": "sparse"}
    assert resolve_crop_config(trained, InferConfig(), image_size=64).detector == "blazeface"
    other = resolve_crop_config(trained, InferConfig(detector="mtcnn"), image_size=64)
    assert (other.detector, other.blazeface_model) == ("mtcnn", "sparse")
    # a bundle from before detectors were named was cropped with MTCNN, the default
    assert resolve_crop_config({"size": 300}, InferConfig(), image_size=64).detector == "mtcnn"


def test_unknown_crop_override_is_named() -> None:
    from dfembed.infer.config import resolve_crop_config

    with pytest.raises(ConfigError, match="crop settings for inference.*unknown option 'min_face'"):
        resolve_crop_config(None, InferConfig(crop_options=("min_face=3",)), image_size=64)


# ---------------------------------------------------------------------------------------
# End to end through the CLI, with a tiny model made here (B0 at 64 px, random weights).

IMAGE_SIZE = 64
VIDEO = "videos/abofeumbvv.mp4"


def _fit_bundle(root: Path, model, image_size: int, name: str, model_file: Path):  # noqa: ANN001, ANN202
    import dataclasses

    import cv2
    import numpy as np

    from dfembed.faces.config import CropConfig
    from dfembed.faces.media import read_image
    from dfembed.model.classifier import ClassifierBundle, EmbeddingSVM, save_bundle

    crops = shared_path("dfdc_sample", "crops")
    real = sorted((crops / "real").glob("*.png"))[:6]
    fake = sorted((crops / "fake").glob("*.png"))[::8][:6]
    images = np.stack([cv2.resize(read_image(p), (IMAGE_SIZE, IMAGE_SIZE)) for p in real + fake])
    embeddings = np.asarray(model.predict_on_batch(images.astype("float32")))
    svm = EmbeddingSVM(random_state=0).fit(embeddings, [0] * len(real) + [1] * len(fake))
    # crops of 80 px are resized to the model's 64 px; 3 frames per video, every face
    crop = CropConfig(size=80, faces="all", frames_per_video=3)
    bundle = ClassifierBundle(svm, embeddings.shape[1], "b0", image_size, crop_config=dataclasses.asdict(crop))
    return save_bundle(bundle, root / name, models={"model": model_file})


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import keras

    from dfembed.model.network import build_embedding_model, save_model

    root = tmp_path_factory.mktemp("model")
    keras.utils.set_random_seed(0)
    model = build_embedding_model("b0", image_size=IMAGE_SIZE, weights="none")
    model_file = save_model(model, root / "model.h5")
    return {
        "model": model_file,
        "svm": _fit_bundle(root, model, IMAGE_SIZE, "svm.pkl", model_file),
        "svm_96": _fit_bundle(root, model, 96, "svm_96.pkl", model_file),
    }


@pytest.fixture(scope="module")
def test_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import shutil

    frames = shared_path("dfdc_sample", "frames")
    root = tmp_path_factory.mktemp("test")
    (root / "frames").mkdir()
    for name in ("real/abarnvbtwb-000.png", "fake/aagfhgtpmv-000.png", "fake/aapnvogymq-000.png"):
        shutil.copy(frames / name, root / "frames" / Path(name).name)
    shutil.copy(shared_path("faces", "dlib", "dogs.jpg"), root / "dogs.jpg")
    (root / "broken.jpg").write_text("not an image\n")
    (root / "videos").mkdir()
    (root / VIDEO).symlink_to(shared_path("dfdc_sample", VIDEO))
    return root


def _infer(*args: object):  # noqa: ANN202 - click's Result
    from click.testing import CliRunner

    from dfembed.commands.infer import infer_command

    return CliRunner().invoke(infer_command, [str(a) for a in args], catch_exceptions=False)


def _rows(path: Path) -> list[list[str]]:
    import csv

    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def _record(csv_path: Path) -> dict:
    import json

    return json.loads(csv_path.with_name(f"{csv_path.stem}.dfembed-infer.json").read_text())


@pytest.fixture(scope="module")
def new_csv(trained: dict[str, Path], test_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run that creates a new submission listing every media file under TEST."""
    out = tmp_path_factory.mktemp("new") / "submission.csv"
    result = _infer(test_dir, out, trained["model"], trained["svm"])
    assert result.exit_code == 0, result.output
    return out


def test_new_csv_has_every_file_filled_with_a_probability(new_csv: Path) -> None:
    rows = _rows(new_csv)
    assert rows[0] == ["path", "y"]  # images and videos mixed → Dacon layout
    assert [r[0] for r in rows[1:]] == [
        "broken.jpg", "dogs.jpg", "frames/aagfhgtpmv-000.png", "frames/aapnvogymq-000.png",
        "frames/abarnvbtwb-000.png", VIDEO,
    ]
    assert all(0.0 <= float(r[1]) <= 1.0 for r in rows[1:])


def test_no_face_and_unreadable_files_get_the_default_and_are_reported(new_csv: Path) -> None:
    values = dict(_rows(new_csv)[1:])
    assert values["dogs.jpg"] == "0.500000"
    assert values["broken.jpg"] == "0.500000"
    summary = _record(new_csv)["summary"]
    assert summary["no_face"] == ["dogs.jpg"]
    assert list(summary["unreadable"]) == ["broken.jpg"]
    assert summary["scored"] == 4


def _two_tone_video(path: Path, levels: list[tuple[int, int]]) -> Path:
    """An MJPG video whose frame k is grey ``levels[k][0]`` on its left half and ``levels[k][1]`` on its right."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 32))
    for left, right in levels:
        frame = np.zeros((32, 64, 3), dtype=np.uint8)
        frame[:, :32], frame[:, 32:] = left, right
        writer.write(frame)
    writer.release()
    return path


class _HalvesDetector:
    """One face in each half of a 64×32 frame, the right one larger (so it ranks first)."""

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, frames):  # noqa: ANN001, ANN201 - the Detector protocol
        from dfembed.faces.detector import Face

        self.calls += 1
        left = Face((4.0, 4.0, 28.0, 28.0), 0.99, np.zeros((5, 2)))
        right = Face((35.0, 3.0, 61.0, 29.0), 0.99, np.zeros((5, 2)))
        return [[left, right] for _ in frames]


def _mean_grey(images: np.ndarray) -> np.ndarray:
    """A stand-in scorer: P(fake) is the crop's mean grey level / 255."""
    return images.reshape(len(images), -1).mean(axis=1) / 255.0


# frame k's faces score levels / 255: the frame's score is its brighter face
LEVELS = [(51, 204), (153, 102), (26, 230)]
FRAME_SCORES = [204 / 255, 153 / 255, 230 / 255]


@pytest.mark.parametrize(
    ("aggregate", "clip", "expected"),
    [("mean", None, sum(FRAME_SCORES) / 3), ("max", None, 230 / 255), ("max", (0.01, 0.85), 0.85)],
)
def test_faces_are_reduced_per_frame_then_aggregated_per_video(
    trained: dict[str, Path], tmp_path: Path, aggregate: str, clip: tuple[float, float] | None, expected: float
) -> None:
    from dfembed.infer.config import InferConfig
    from dfembed.infer.run import run_inference

    test = tmp_path / "test"
    test.mkdir()
    _two_tone_video(test / "clip.avi", LEVELS)
    out = tmp_path / "out.csv"
    config = InferConfig(frames_per_video=3, margin=0.0, faces="all", aggregate=aggregate, clip=clip)
    summary = run_inference(test, out, trained["model"], trained["svm"], config,
                            detector=_HalvesDetector(), scorer=_mean_grey)
    assert summary.scored == 1
    header, (key, value) = _rows(out)
    assert (header, key) == (["filename", "label"], "clip.avi")  # a video only: the DFDC layout
    assert float(value) == pytest.approx(expected, abs=0.01)  # MJPG may move a grey level by 1-2
    assert _record(out)["files"]["clip.avi"]["frames"] == [0, 0, 1, 1, 2, 2]


def test_crop_settings_come_from_the_bundle(new_csv: Path) -> None:
    crop = _record(new_csv)["crop_config"]
    assert (crop["size"], crop["faces"], crop["frames_per_video"]) == (80, "all", 3)


def test_dacon_template_subset_filled_in_order_with_hard_labels(
    trained: dict[str, Path], test_dir: Path, tmp_path: Path
) -> None:
    template = tmp_path / "sample_submission.csv"
    template.write_text(
        "id,path,y\n"
        "1,leaderboard/aapnvogymq-000.png,0\n"
        "2,leaderboard/dogs.jpg,0\n"
        "3,leaderboard/not_there.jpg,0\n"
        "4,leaderboard/abarnvbtwb-000.png,0\n"
    )
    result = _infer(test_dir, template, trained["model"], trained["svm"], "--hard-labels")
    assert result.exit_code == 0, result.output
    rows = _rows(tmp_path / "sample_submission_out.csv")
    assert rows[0] == ["id", "path", "y"]
    assert [r[:2] for r in rows[1:]] == [
        ["1", "leaderboard/aapnvogymq-000.png"], ["2", "leaderboard/dogs.jpg"],
        ["3", "leaderboard/not_there.jpg"], ["4", "leaderboard/abarnvbtwb-000.png"],
    ]
    assert all(r[2] in ("0", "1") for r in rows[1:])
    assert rows[2][2] == "0" and rows[3][2] == "0"  # defaults 0.5 are not > 0.5
    summary = _record(tmp_path / "sample_submission_out.csv")["summary"]
    assert summary["missing_rows"] == ["leaderboard/not_there.jpg"]
    assert VIDEO in summary["unmatched_files"]
    again = _infer(test_dir, template, trained["model"], trained["svm"])
    assert again.exit_code == 1 and "exists; use --force" in again.output
    forced = _infer(test_dir, template, trained["model"], trained["svm"], "--force")  # the CSV its record names
    assert forced.exit_code == 0, forced.output
    out = tmp_path / "sample_submission_out.csv"
    out.write_text(out.read_text() + "edited by hand\n")
    edited = _infer(test_dir, template, trained["model"], trained["svm"], "--force")
    assert edited.exit_code == 1 and "not written by dfembed" in edited.output


def test_dfdc_template_with_options_through_the_cli(
    trained: dict[str, Path], test_dir: Path, tmp_path: Path
) -> None:
    template = tmp_path / "sample_submission.csv"
    template.write_text("filename,label\nabofeumbvv.mp4,0.5\nabqwwspghj.mp4,0.5\n")
    out = tmp_path / "scored.csv"
    result = _infer(test_dir / "videos", template, trained["model"], trained["svm"], "--output", out,
                    "--aggregate", "max", "--clip", "0.01", "0.99", "--tta", "flip")
    assert result.exit_code == 0, result.output
    rows = _rows(out)
    assert rows[0] == ["filename", "label"]
    assert [r[0] for r in rows[1:]] == ["abofeumbvv.mp4", "abqwwspghj.mp4"]
    assert 0.01 <= float(rows[1][1]) <= 0.99
    assert rows[2][1] == "0.500000"  # listed, but not in TEST
    record = _record(out)
    assert (record["config"]["aggregate"], record["config"]["clip"], record["config"]["tta"]) == ("max", [0.01, 0.99], "flip")


def test_mismatched_svm_fails_before_any_detection(trained: dict[str, Path], test_dir: Path, tmp_path: Path) -> None:
    from dfembed.core.errors import InputError
    from dfembed.infer.config import InferConfig
    from dfembed.infer.run import run_inference

    detector = _HalvesDetector()
    out = tmp_path / "out.csv"
    with pytest.raises(InputError, match="model/SVM mismatch.*image size: model 64, SVM 96"):
        run_inference(test_dir, out, trained["model"], trained["svm_96"], InferConfig(), detector=detector)
    assert detector.calls == 0 and not out.exists()
    result = _infer(test_dir, out, trained["model"], trained["svm_96"])  # the CLI says it in one line
    assert result.exit_code == 1 and "model/SVM mismatch" in result.output


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("name,score\na.jpg,0\n", "not a known submission format"),
        ("path,y\ndogs.jpg,0,1\n", "line 2: 3 fields"),
        ("path,y\nelsewhere.jpg,0\n", "none of the 1 rows"),
    ],
)
def test_bad_csv_is_a_clear_error(
    trained: dict[str, Path], test_dir: Path, tmp_path: Path, text: str, fragment: str
) -> None:
    template = tmp_path / "sub.csv"
    template.write_text(text)
    result = _infer(test_dir, template, trained["model"], trained["svm"])
    assert result.exit_code == 1
    assert fragment in result.output
    assert not (tmp_path / "sub_out.csv").exists()


# ---------------------------------------------------------------------------------------
# The overlapped pipeline with a fake extractor and scorer (no TensorFlow).


class _FakeExtractor:
    """File ``i`` has ``counts[i]`` faces, each filled with the value ``i``; optionally fails."""

    def __init__(self, counts: list[int], fail_at: int | None = None) -> None:
        self.counts = counts
        self.fail_at = fail_at

    def read(self, paths):  # noqa: ANN001, ANN201 - duck-typed FaceExtractor
        from dfembed.infer.pipeline import MediaFrames

        for index, _ in enumerate(paths):
            if index == self.fail_at:
                raise RuntimeError("reader broke")
            yield MediaFrames(index, [])

    def detect(self, items):  # noqa: ANN001, ANN201
        import numpy as np

        from dfembed.infer.pipeline import FileFaces

        for item in items:
            n = self.counts[item.index]
            yield FileFaces(item.index, np.arange(n), np.full((n, 2, 2, 3), item.index, dtype=np.uint8))


def test_score_files_batches_faces_across_files() -> None:
    from dfembed.infer.pipeline import score_files

    calls: list[int] = []

    def scorer(images):  # noqa: ANN001, ANN202
        calls.append(len(images))
        return images[:, 0, 0, 0] / 10.0

    paths = [Path(f"f{i}.jpg") for i in range(4)]
    results = score_files(paths, _FakeExtractor([3, 5, 0, 7]), scorer, batch_size=4, progress=False)
    assert calls == [4, 4, 4, 3]  # 15 faces of four files in batches of 4
    assert [r.scores for r in results] == [[0.0] * 3, [0.1] * 5, [], [0.3] * 7]
    assert [r.frames for r in results] == [[0, 1, 2], [0, 1, 2, 3, 4], [], list(range(7))]
    assert [r.n_faces for r in results] == [3, 5, 0, 7]


def test_score_files_reraises_a_producer_error() -> None:
    from dfembed.infer.pipeline import score_files

    paths = [Path(f"f{i}.jpg") for i in range(5)]
    with pytest.raises(RuntimeError, match="reader broke"):
        score_files(paths, _FakeExtractor([1] * 5, fail_at=2), lambda x: x[:, 0, 0, 0] * 0.0, progress=False)


class _BoxDetector:
    """Stands in for FaceDetector: one confident 40×40 face in the top-left corner of every frame."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def detect(self, frames):  # noqa: ANN001, ANN201
        import numpy as np

        from dfembed.faces.detector import Face

        self.calls.append(len(frames))
        return [[Face((5.0, 5.0, 45.0, 45.0), 0.99, np.zeros((5, 2)))] for _ in frames]


def test_extractor_groups_images_and_keeps_video_frame_indices() -> None:
    import numpy as np

    from dfembed.faces.config import CropConfig
    from dfembed.infer.pipeline import FaceExtractor, MediaFrames

    frame = np.zeros((60, 80, 3), dtype=np.uint8)
    other = np.zeros((70, 80, 3), dtype=np.uint8)
    items = [
        MediaFrames(0, [(0, frame)], image=True),
        MediaFrames(1, [(0, frame)], image=True),
        MediaFrames(2, [(0, other)], image=True),  # another size: a new group
        MediaFrames(3, [(10, frame), (20, frame)], last=False),  # a video in chunks of 2 frames
        MediaFrames(3, [(30, frame)], last=True),  # its last chunk holds one frame: still a video
        MediaFrames(4, [], error="broken"),
    ]
    detector = _BoxDetector()
    extractor = FaceExtractor(detector, CropConfig(size=48, batch_size=2), image_size=32)
    out = list(extractor.detect(items))
    assert detector.calls == [2, 1, 2, 1]
    assert [(o.index, o.frames.tolist(), o.last, o.error) for o in out] == [
        (0, [0], True, None), (1, [0], True, None), (2, [0], True, None),
        (3, [10, 20], False, None), (3, [30], True, None), (4, [], True, "broken"),
    ]
    assert all(o.images.shape[1:] == (32, 32, 3) for o in out)


def test_extractor_groups_short_clips_with_images_and_keeps_their_frames() -> None:
    import numpy as np

    from dfembed.faces.config import CropConfig
    from dfembed.infer.pipeline import FaceExtractor, MediaFrames

    frame = np.zeros((60, 80, 3), dtype=np.uint8)
    items = [
        MediaFrames(0, [(0, frame), (7, frame)], whole=True),  # a clip sampled in one chunk
        MediaFrames(1, [(0, frame)], image=True, whole=True),
        MediaFrames(2, [(3, frame), (9, frame)], whole=True),  # would make 5 frames: the next group
        MediaFrames(3, [(1, frame), (2, frame)], last=False),  # a longer video: alone, chunk by chunk
        MediaFrames(3, [(4, frame)], last=True),
    ]
    detector = _BoxDetector()
    extractor = FaceExtractor(detector, CropConfig(size=48, batch_size=4), image_size=32)
    out = list(extractor.detect(items))
    assert detector.calls == [3, 2, 2, 1]
    assert [(o.index, o.frames.tolist(), o.sampled, o.last) for o in out] == [
        (0, [0, 7], (0, 7), True), (1, [0], (), True), (2, [3, 9], (3, 9), True),
        (3, [1, 2], (1, 2), False), (3, [4], (4,), True),
    ]


class _LeftPixelModel:
    """Embeds an image as its top-left pixel; records every batch it is given."""

    def __init__(self) -> None:
        self.batches: list[np.ndarray] = []

    def predict_on_batch(self, batch: np.ndarray) -> np.ndarray:
        self.batches.append(batch.copy())
        return batch[:, 0, 0, :]


class _TenthClassifier:
    """P(label 1) = embedding / 10, columns in the order of ``classes_``."""

    classes_ = np.array([0, 1])

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = x[:, 0] / 10.0
        return np.stack([1.0 - p, p], axis=1)


def _pixels() -> np.ndarray:
    """Three 1x2 single-channel "images" with (left, right) pixels (1, 3), (2, 6), (4, 0)."""
    return np.array([[1, 3], [2, 6], [4, 0]], dtype=np.uint8).reshape(3, 1, 2, 1)


@pytest.mark.parametrize(
    ("fake_label", "tta", "expected"),
    [
        (1, "none", [0.1, 0.2, 0.4]),  # left pixel / 10
        (0, "none", [0.9, 0.8, 0.6]),  # FAKE is label 0: the other column, 1 - left / 10
        (1, "flip", [0.2, 0.4, 0.2]),  # mean of left and right pixel / 10: (1+3)/20, (2+6)/20, (4+0)/20
    ],
)
def test_face_scorer_from_bundle(fake_label: int, tta: str, expected: list[float]) -> None:
    from types import SimpleNamespace

    from dfembed.infer.scoring import FaceScorer

    model = _LeftPixelModel()
    bundle = SimpleNamespace(classifier=_TenthClassifier(), class_mapping={"fake": fake_label, "real": 1 - fake_label})
    scores = FaceScorer.from_bundle(model, bundle, batch_size=2, tta=tta)(_pixels())
    np.testing.assert_allclose(scores, expected)
    assert all(batch.shape == (2, 1, 2, 1) for batch in model.batches)  # 3 faces: two full batches
    assert not model.batches[1][1].any()  # the second batch's last row is zero padding


def test_face_scorer_from_bundle_without_the_fake_label() -> None:
    from types import SimpleNamespace

    from dfembed.core.errors import InputError
    from dfembed.infer.scoring import FaceScorer

    bundle = SimpleNamespace(classifier=_TenthClassifier(), class_mapping={"fake": 7})
    with pytest.raises(InputError, match="do not include the FAKE label 7"):
        FaceScorer.from_bundle(_LeftPixelModel(), bundle, batch_size=2)


class _CentreFace:
    """One face in the middle of every frame."""

    def detect(self, frames):  # noqa: ANN001, ANN201 - the Detector protocol
        from dfembed.faces.detector import Face

        height, width = frames[0].shape[:2]
        return [[Face((width / 4, height / 4, 3 * width / 4, 3 * height / 4), 0.99, None)] for _ in frames]


def test_a_data_sets_split_is_inferred_and_evaluated_per_frame_and_video(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    from dfembed.evaluate.config import EvaluateConfig
    from dfembed.evaluate.run import run_evaluate
    from dfembed.infer.config import InferConfig
    from dfembed.infer.run import run_inference
    from tests.crop.trees import ffpp_tree

    root = ffpp_tree(tmp_path / "ffpp", videos=True, methods=("Deepfakes",))
    out = tmp_path / "ffpp_test.csv"
    config = InferConfig(layout="ffpp", split="test", methods=("Deepfakes",), frames_per_video=2, aggregate="mean")
    summary = run_inference(root, out, trained["model"], trained["svm"], config, detector=_CentreFace(),
                            scorer=_mean_grey)
    keys = [row[0] for row in _rows(out)[1:]]
    assert summary.rows == 12 and not any(k.startswith(("original_sequences/youtube/c23/videos/071",
                                                         "manipulated_sequences/Deepfakes/c23/videos/071")) for k in keys)
    evaluation = run_evaluate(out, root, config=EvaluateConfig(split="test", methods=("Deepfakes",)))
    levels = evaluation.levels
    assert (levels["frame"]["n"], levels["video_mean"]["n"], levels["video"]["n"]) == (24, 12, 12)
    assert levels["frame"]["roc_auc"] == 1.0 and evaluation.record["methods"]["Deepfakes"]["video"]["roc_auc"] == 1.0
