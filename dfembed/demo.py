"""``dfembed demo [DATA] OUT``: the whole pipeline on a small data set, in a few CPU minutes.

0. **Data**: without DATA, the embedded demo data set is made in ``OUT/data``
   (:mod:`dfembed.demo_data`: views and face swaps of two public-domain portraits, and four
   short clips); with DATA, the user's folder is read and nothing is written into it.
1. **Crop** the training images (``DATA/frames`` when it exists, else ``DATA``) with
   MTCNN into ``OUT/crops``.
2. **Train** a small EfficientNet-B0 embedding (random initial weights: nothing is
   downloaded) and the SVM for a few steps: ``OUT/model.h5``, ``OUT/svm.pkl``.
3. **Infer** on each test set — ``DATA/frames`` and ``DATA/videos`` when they exist,
   else ``DATA`` — into ``OUT/<set>_predictions.csv``.
4. **Evaluate** each prediction CSV against the labels its folder carries (a real/fake
   tree or a DFDC ``metadata.json``) into ``OUT/<set>_eval/``; a set without labels is
   predicted but not evaluated.
5. Draw ``OUT/gallery.png``: training crops with their label and the model's score.

The training images are also test images and the data show few people (the DFDC sample
one real identity; the embedded data two, and synthetic swaps), so the metrics check that the
pipeline runs end to end; they are not an accuracy estimate.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from dfembed.core.atomic import refuse_existing
from dfembed.core.config import check
from dfembed.core.errors import InputError
from dfembed.core.paths import check_separate, check_writable
from dfembed.core.provenance import write_provenance
from dfembed.train.config import TrainConfig  # plain dataclass: no Keras import

if TYPE_CHECKING:
    from dfembed.demo_data import DemoData

log = logging.getLogger(__name__)

T = TypeVar("T")

PROVENANCE_NAME = "dfembed-demo.json"
TRAIN_FOLDER = "frames"
TEST_FOLDERS = ("frames", "videos")
EMBEDDED_FOLDER = "data"


@dataclass(frozen=True)
class DemoConfig:
    """Small, CPU-friendly settings of ``dfembed demo``.

    Attributes:
        image_size: Side of the face crops and of the model input, in pixels.
        backbone: EfficientNet variant.
        weights: ``"none"`` (random, no download) or a local backbone weights file.
        embedding_dim: Width of the embedding.
        batch_size: Training batch (half real, half fake).
        epochs: Training epochs.
        steps_per_epoch: Batches per epoch. From random weights, the batch-normalisation
            statistics that inference uses need on the order of 150 steps (momentum
            0.99) before embeddings stop being nearly constant; fewer steps still run
            but give every face almost the same score.
        frames_per_video: Frames sampled from each video, for cropping and inference.
        seed: Seed of training (sampling, augmentation, weights, SVM folds).
        gallery_size: Crops shown in ``gallery.png`` (half real, half fake when possible).
    """

    image_size: int = 64
    backbone: str = "b0"
    weights: str = "none"
    embedding_dim: int = 64
    batch_size: int = 8
    epochs: int = 3
    steps_per_epoch: int = 50
    frames_per_video: int = 4
    seed: int = 0
    gallery_size: int = 24

    def __post_init__(self) -> None:
        for name in ("image_size", "epochs", "steps_per_epoch", "frames_per_video", "gallery_size"):
            check(getattr(self, name) >= 1, name, getattr(self, name), "at least 1")
        self.train_config()  # check the training settings now, not after minutes of cropping

    def train_config(self) -> TrainConfig:
        """The training settings these demo settings stand for.

        Raises:
            ValueError: A setting training rejects (e.g. an odd ``batch_size``).
        """
        return TrainConfig(
            backbone=self.backbone,
            image_size=self.image_size,
            weights=self.weights,
            embedding_dim=self.embedding_dim,
            batch_size=self.batch_size,
            epochs=self.epochs,
            steps_per_epoch=self.steps_per_epoch,
            seed=self.seed,
            val_fraction=0.0,  # one real identity in the sample: no split can hold both classes
            keep="last",
            tensorboard=False,
            svm_calibration_cv=2,
        )


@dataclass(frozen=True)
class DemoPlan:
    """What the demo runs on.

    Attributes:
        train: Folder cropped for training.
        test_sets: ``(name, folder)`` of each set to predict (and evaluate when labelled).
    """

    train: Path
    test_sets: tuple[tuple[str, Path], ...]


@dataclass
class DemoResult:
    """Where the demo wrote its outputs.

    Attributes:
        out: The output folder.
        model: The embedding model file.
        classifier: The SVM bundle.
        predictions: Set name → prediction CSV.
        evaluations: Set name → evaluation folder (labelled sets only).
        metrics: Set name → overall metrics (labelled sets only).
        gallery: The crop gallery PNG.
        data: The embedded data set made in ``OUT/data`` (``None`` with DATA).
        seconds: Stage name → wall time in seconds.
    """

    out: Path
    model: Path
    classifier: Path
    gallery: Path | None = None
    data: DemoData | None = None
    predictions: dict[str, Path] = field(default_factory=dict)
    evaluations: dict[str, Path] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def plan_demo(data: Path) -> DemoPlan:
    """Choose the training folder and the test sets in ``data``.

    Args:
        data: ``../shared/data/dfdc_sample`` or any folder of labelled media.

    Returns:
        ``frames/`` for training and ``frames/`` + ``videos/`` for testing when they
        exist, else ``data`` itself for both.

    Raises:
        InputError: ``data`` is not a folder.
    """
    if not data.is_dir():
        raise InputError(f"DATA {data} is not a folder")
    train = data / TRAIN_FOLDER if (data / TRAIN_FOLDER).is_dir() else data
    tests = tuple((name, data / name) for name in TEST_FOLDERS if (data / name).is_dir())
    return DemoPlan(train, tests or ((data.name or "data", data),))


def run_demo(data: Path | None, out: Path, config: DemoConfig, force: bool = False) -> DemoResult:
    """Run crop → train → infer → evaluate on ``data``, writing everything under ``out``.

    Args:
        data: The data folder (see :func:`plan_demo`), or ``None`` for the embedded demo
            data, made in ``out/data`` with the seed of ``config``.
        out: Output folder.
        config: The demo settings.
        force: Redo every stage, replacing the outputs of an earlier demo in ``out``.

    Returns:
        The output locations, metrics and stage timings.

    Raises:
        OutputExistsError: ``out`` holds an earlier demo and ``force`` is false.
        InputError: Unusable data (no faces, one class only, ...), or DATA and OUT overlap.
        OutputError: OUT cannot be written.
    """
    plan = None if data is None else _user_plan(data, out)
    _check_out(out, force)
    result = DemoResult(out, out / "model.h5", out / "svm.pkl")
    if plan is None:
        result.data = _timed(result, "data", lambda: _embedded_data(out, config))
        plan = plan_demo(result.data.folder)
    train = plan.train
    crops = _timed(result, "crop", lambda: _crop(train, out / "crops", config, force))
    _timed(result, "train", lambda: _train(crops, result.model, result.classifier, config, force))
    for name, folder in plan.test_sets:
        _test_set(name, folder, result, config, force)
    result.gallery = _timed(result, "gallery", lambda: _gallery(crops, result, config))
    _write_record(out, config, data, result)
    return result


def _user_plan(data: Path, out: Path) -> DemoPlan:
    plan = plan_demo(data)
    check_separate(data, "DATA", out, "OUT")  # the demo's crops, CSVs and models never go into the data
    return plan


def _check_out(out: Path, force: bool) -> None:
    refuse_existing([out / PROVENANCE_NAME], force, hint=f"and run the demo in {out} again")
    check_writable(out, "OUT")


def _timed(result: DemoResult, stage: str, step: Callable[[], T]) -> T:
    log.info("demo: %s", stage)
    start = time.perf_counter()
    value = step()
    result.seconds[stage] = round(time.perf_counter() - start, 1)
    log.info("demo: %s took %.1f s", stage, result.seconds[stage])
    return value


def _embedded_data(out: Path, config: DemoConfig) -> DemoData:
    from dfembed.demo_data import DemoDataConfig, write_demo_data

    return write_demo_data(out / EMBEDDED_FOLDER, DemoDataConfig(seed=config.seed))


def _crop(src: Path, dst: Path, config: DemoConfig, force: bool) -> Path:
    from dfembed.crop.job import run_crop
    from dfembed.faces.config import CropConfig

    crop_config = CropConfig(
        size=config.image_size, frames_per_video=config.frames_per_video, image_format="png"
    )
    summary = run_crop(src, dst, crop_config, force=force)
    if summary.crops_total == 0:
        raise InputError(f"no face found in {src}: nothing to train on")
    return dst


def _train(crops: Path, model: Path, classifier: Path, config: DemoConfig, force: bool) -> None:
    from dfembed.train.run import run_train

    run_train(crops, model, classifier, config.train_config(), force=force)


def _test_set(name: str, folder: Path, result: DemoResult, config: DemoConfig, force: bool) -> None:
    pred = result.out / f"{name}_predictions.csv"
    _timed(result, f"infer {name}", lambda: _infer(folder, pred, result, config, force))
    result.predictions[name] = pred
    _timed(result, f"evaluate {name}", lambda: _evaluate(pred, folder, result, name))


def _infer(folder: Path, pred: Path, result: DemoResult, config: DemoConfig, force: bool) -> None:
    from dfembed.infer.config import InferConfig
    from dfembed.infer.run import run_inference

    # No template: a SUB_CSV that never exists gives a new submission listing every file,
    # written over an earlier ``pred`` (atomically, with force) only once it is complete.
    no_template = result.out / "no-template" / pred.name
    infer_config = InferConfig(frames_per_video=config.frames_per_video)
    run_inference(folder, no_template, result.model, result.classifier, infer_config, output=pred, force=force)


def _evaluate(pred: Path, labels: Path, result: DemoResult, name: str) -> None:
    from dfembed.evaluate.labels import read_labels
    from dfembed.evaluate.run import run_evaluate

    try:
        label_set = read_labels(labels)
    except InputError as err:
        log.warning("%s is not evaluated: %s", pred, err)
        return
    out_dir = result.out / f"{name}_eval"
    evaluation = run_evaluate(pred, label_set, out_dir, force=True)  # _check_out guarded OUT
    result.evaluations[name] = out_dir
    result.metrics[name] = evaluation.metrics


def _gallery(crops: Path, result: DemoResult, config: DemoConfig) -> Path:
    from dfembed.evaluate.gallery import make_gallery

    return make_gallery(
        crops, result.model, result.classifier, result.out / "gallery.png",
        size=config.gallery_size, batch_size=config.batch_size, force=True,
    )  # fmt: skip


def _write_record(out: Path, config: DemoConfig, data: Path | None, result: DemoResult) -> None:
    skipped = ("metrics", "seconds", "data")
    outputs = {k: v for k, v in dataclasses.asdict(result).items() if k not in skipped}
    embedded = None if result.data is None else dataclasses.asdict(result.data)
    write_provenance(
        out / PROVENANCE_NAME, config, data=str(data) if data is not None else "embedded",
        embedded_data=embedded, outputs=outputs, metrics=result.metrics, seconds=result.seconds,
    )  # fmt: skip
