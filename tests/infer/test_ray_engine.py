"""Inference on Ray: the local run's rows, in TEST order, from detector and model workers; dying workers."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from dfembed.commands.infer import infer_command
from dfembed.faces.config import CropConfig
from dfembed.infer.config import InferConfig
from dfembed.infer.pipeline import FaceExtractor, score_files
from dfembed.infer.run import run_inference
from tests.fakes import BrightSquareDetector, MeanScorer, frame, video
from tests.support import shared_path

pytestmark = pytest.mark.slow

IMAGE_SIZE = 32
RAY = InferConfig(engine="ray", ray_workers=1, ray_model_workers=1, batch_size=4)


@pytest.fixture(scope="module")
def test_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Squares in images of two sizes, an image without one, a broken file, two videos (one without faces)."""
    root = tmp_path_factory.mktemp("ray_test") / "test"
    (root / "clips").mkdir(parents=True)
    for k in range(5):
        width = 80 if k < 3 else 90 + k  # three of one size: detected together, as locally
        cv2.imwrite(str(root / f"i{k}.png"), frame(width, 60, 4 + 3 * k, 6, 24 + 2 * k, k))
    cv2.imwrite(str(root / "noface.png"), frame(70, 50, 0, 0, 0, 7))
    (root / "broken.jpg").write_text("not an image\n")
    video(root / "clips" / "a.avi", 10, 30)
    writer = cv2.VideoWriter(str(root / "clips" / "dark.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for k in range(6):
        writer.write(frame(64, 48, 0, 0, 0, 40 + k))
    writer.release()
    return root


@pytest.fixture(scope="module")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny embedding model (B0 at 32 px, random weights) and its SVM, fitted on random images."""
    import keras

    from dfembed.model.classifier import ClassifierBundle, EmbeddingSVM, save_bundle
    from dfembed.model.network import build_embedding_model, save_model

    root = tmp_path_factory.mktemp("ray_model")
    keras.utils.set_random_seed(0)
    model = build_embedding_model("b0", image_size=IMAGE_SIZE, weights="none", embedding_dim=16)
    model_file = save_model(model, root / "model.h5")
    images = np.random.default_rng(0).integers(0, 256, (12, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)
    svm = EmbeddingSVM(random_state=0).fit(np.asarray(model.predict_on_batch(images)), [0] * 6 + [1] * 6)
    crop = CropConfig(size=40, frames_per_video=4, faces="all")
    bundle = ClassifierBundle(svm, 16, "b0", IMAGE_SIZE, crop_config=dataclasses.asdict(crop))
    return model_file, save_bundle(bundle, root / "svm.pkl", models={"model": model_file})


def _files(record: Path) -> dict:
    return json.loads(record.read_text())["files"]


def test_a_ray_run_writes_the_local_runs_rows_in_test_order(
    ray_session: object, test_dir: Path, model_files: tuple[Path, Path], tmp_path: Path
) -> None:
    model, svm = model_files
    local = run_inference(test_dir, tmp_path / "local.csv", model, svm, InferConfig(batch_size=4),
                          detector=BrightSquareDetector())
    ray = run_inference(test_dir, tmp_path / "ray.csv", model, svm, RAY, detector=BrightSquareDetector())
    assert local.output.read_text() == ray.output.read_text()
    assert _files(local.provenance) == _files(ray.provenance)  # every face's frame and score
    assert (ray.scored, ray.no_face, list(ray.unreadable)) == (6, ["clips/dark.avi", "noface.png"], ["broken.jpg"])
    record = json.loads(ray.provenance.read_text())
    assert record["config"]["engine"] == "ray"


def test_dead_workers_are_restarted_and_their_files_scored(
    ray_session: object, test_dir: Path, tmp_path: Path
) -> None:
    from dfembed.infer.ray_engine import score_files_ray

    markers = tmp_path / "markers"
    markers.mkdir()
    crop = CropConfig(size=40, frames_per_video=4, batch_size=2)
    paths = sorted(p for p in test_dir.rglob("*") if p.is_file())
    extractor = FaceExtractor(BrightSquareDetector(), crop, IMAGE_SIZE)
    local = score_files(paths, extractor, MeanScorer(embeddings=True), 4, embeddings=True, progress=False)
    detector = BrightSquareDetector(die_on={94: "once"}, markers=markers)  # i4.png
    ray = score_files_ray(paths, crop, IMAGE_SIZE, MeanScorer(embeddings=True, die_once=True, markers=markers),
                          detector, RAY, embeddings=True, progress=False)
    assert (markers / "died-94").exists() and (markers / "scorer-died").exists()
    assert [r.path for r in ray] == paths
    for one, two in zip(local, ray):
        assert (one.frames, one.scores, one.boxes, one.n_faces, one.error, one.sampled) == \
            (two.frames, two.scores, two.boxes, two.n_faces, two.error, two.sampled)
        assert np.array_equal(np.array(one.embeddings), np.array(two.embeddings))


def test_ray_workers_with_the_registered_detector_and_the_model_match_the_local_run(
    ray_session: object, model_files: tuple[Path, Path], tmp_path: Path
) -> None:
    frames = shared_path("dfdc_sample", "frames")
    test = tmp_path / "test"
    test.mkdir()
    for name in ("real/abarnvbtwb-000.png", "fake/aagfhgtpmv-000.png", "fake/aapnvogymq-000.png"):
        shutil.copy(frames / name, test)
    (test / "abofeumbvv.mp4").symlink_to(shared_path("dfdc_sample", "videos", "abofeumbvv.mp4"))
    model, svm = model_files
    args = [str(model), str(svm), "--detector", "blazeface", "--batch-size", "4", "-q"]
    one = CliRunner().invoke(infer_command, [str(test), str(tmp_path / "one.csv"), *args])
    two = CliRunner().invoke(infer_command, [str(test), str(tmp_path / "two.csv"), *args, "--engine", "ray"])
    assert one.exit_code == 0 and two.exit_code == 0, two.output
    assert (tmp_path / "one.csv").read_text() == (tmp_path / "two.csv").read_text()
    faces = _files(tmp_path / "two.dfembed-infer.json")["abofeumbvv.mp4"]["faces"]
    assert faces >= 3  # the video's four sampled frames were detected on the workers
