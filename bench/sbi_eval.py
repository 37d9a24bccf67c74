#!/usr/bin/env python
"""Self-blended pseudo-fakes against the identity-learning baseline, on the labelled DFDC sample.

Two EfficientNet-B0 embeddings trained from random weights with the same size, batch and
steps, in one run:

* **baseline** — today's way: the DFDC sample crops (``dfdc_sample/frames``: 11 real frames
  of one person, 44 fake frames), labelled real and fake;
* **sbi** — ``--pseudo-fakes sbi`` on real faces only (``real_faces/images``, at most
  ``--per-source`` images of each of its 28 source folders, so LFW's 600 small images do
  not dominate): it never sees a fake.

Both are then evaluated on the labelled DFDC sample:

* **frames**: the 55 frames of ``dfdc_sample/frames`` (their largest face);
* **videos**: the 5 DFDC videos of those frames (video score = mean of its frames, labels
  from ``frames/metadata.json``: 1 real, 4 fake) and ``videos/street_real_crowd.mp4`` (real,
  ``--frames-per-video`` frames) — 2 real, 4 fake;

with ROC AUC and log loss, and the mean P(fake) of the real videos of ``real_faces/videos``
(its 4 ``.mp4`` files; unseen by both; lower is better). The baseline's frame figures are on its own training
frames (an upper bound for it); the sbi model has seen neither these people nor any fake.

Everything is written below ``--work`` (a temporary folder by default): crops, models,
predictions, evaluations and ``sbi_eval.json``. Nothing is downloaded; ``../shared/data`` is
read in place (the chosen real images are copied into the work folder, never the repository).

    .venv/bin/python bench/sbi_eval.py                                   # CPU: 128 px, 600 steps
    .venv/bin/python bench/sbi_eval.py --image-size 64 --steps 200       # a quick look
    .venv/bin/python bench/sbi_eval.py --image-size 380 --backbone b4 --weights imagenet \\
        --steps 5000 --batch-size 32 --per-source 1000                   # GPU-sized (downloads ImageNet weights)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import click

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DFEMBED_SHARED_DATA", REPO.parent / "shared" / "data"))
log = logging.getLogger("sbi_eval")


def choose_real_images(images: Path, per_source: int) -> list[Path]:
    """At most ``per_source`` images of each source folder, spread evenly over its sorted files."""
    from dfembed.faces.media import is_image

    chosen = []
    for source in sorted(p for p in images.iterdir() if p.is_dir()):
        files = sorted(p for p in source.rglob("*") if p.is_file() and is_image(p))
        step = max(1, len(files) // per_source)
        chosen += files[::step][:per_source]
    return chosen


def real_source_tree(images: list[Path], root: Path, base: Path) -> Path:
    """A labelled SRC tree ``root/real/<source>/...`` holding copies of the chosen images."""
    for path in images:
        target = root / "real" / path.relative_to(base)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return root


def crop(src: Path, dst: Path, size: int, faces: str, min_face_size: int) -> float:
    """Crop ``src`` into ``dst`` with dfembed's default geometry; returns the seconds taken."""
    from dfembed.crop.job import run_crop
    from dfembed.crop.presets import resolve_crop_options

    start = time.perf_counter()
    config = resolve_crop_options(None, {"size": size, "faces": faces, "min_face_size": min_face_size})
    summary = run_crop(src, dst, config)
    log.info("cropped %s: %d crops", src, summary.crops_total)
    return time.perf_counter() - start


def train(data: Path, out: Path, options: dict, pseudo: bool) -> float:
    """Train one model into ``out/model.h5`` and ``out/svm.pkl``; returns the seconds taken."""
    from dfembed.core.config import resolve_config
    from dfembed.train.config import TrainConfig
    from dfembed.train.run import run_train

    config = resolve_config(TrainConfig, None, {**options, "pseudo_fakes": "sbi" if pseudo else "none"})
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    run_train(data, out / "model.h5", out / "svm.pkl", config, force=True)
    return time.perf_counter() - start


def infer(test: Path, out_csv: Path, model_dir: Path, frames_per_video: int) -> dict:
    """Score every medium of ``test`` (largest face, the same crop options for both models); the record."""
    from dfembed.infer.config import InferConfig
    from dfembed.infer.run import run_inference
    from dfembed.infer.submission import provenance_path

    config = InferConfig(faces="largest", frames_per_video=frames_per_video, aggregate="mean",
                         crop_options=("min_face_size=20",))
    run_inference(test, out_csv, model_dir / "model.h5", model_dir / "svm.pkl", config, force=True)
    return json.loads(provenance_path(out_csv).read_text())


def _video_score(entry: dict, no_face: float = 0.5) -> float:
    import numpy as np

    from dfembed.infer.aggregate import reduce_frames

    if not entry["face_scores"]:
        return no_face
    return float(np.mean(reduce_frames(entry["frames"], entry["face_scores"])))


def evaluate_model(name: str, model_dir: Path, work: Path, frames_per_video: int) -> dict:
    """Frame, video and unseen-real-video figures of one model."""
    from dfembed.evaluate.metrics import compute_metrics
    from dfembed.evaluate.run import run_evaluate

    frames_dir = SHARED / "dfdc_sample" / "frames"
    frames = infer(frames_dir, work / f"{name}_frames.csv", model_dir, frames_per_video)
    evaluation = run_evaluate(work / f"{name}_frames.csv", frames_dir, work / f"{name}_frames_eval", force=True)
    metadata = json.loads((frames_dir / "metadata.json").read_text())
    by_video: dict[str, list[float]] = {}
    for key, entry in frames["files"].items():
        if entry["face_scores"]:
            by_video.setdefault(Path(key).stem.rsplit("-", 1)[0], []).append(max(entry["face_scores"]))
    videos = {f"{v}.mp4": sum(s) / len(s) for v, s in by_video.items()}
    labels = {k: int(metadata[k]["label"] == "FAKE") for k in videos}
    street = infer(SHARED / "dfdc_sample" / "videos" / "street_real_crowd.mp4", work / f"{name}_street.csv",
                   model_dir, frames_per_video)
    videos["street_real_crowd.mp4"] = _video_score(street["files"]["street_real_crowd.mp4"])
    labels["street_real_crowd.mp4"] = 0  # a real video (dfdc_sample's README); not in its metadata.json
    names = sorted(videos)
    video_metrics = compute_metrics([labels[k] for k in names], [videos[k] for k in names])
    unseen = infer(SHARED / "real_faces" / "videos", work / f"{name}_real_videos.csv", model_dir, frames_per_video)
    unseen_scores = {k: _video_score(e) for k, e in unseen["files"].items()}
    return {
        "frames": {k: evaluation.levels["frame"][k] for k in ("roc_auc", "log_loss", "n", "n_real", "n_fake")},
        "videos": {k: video_metrics[k] for k in ("roc_auc", "log_loss", "n", "n_real", "n_fake")},
        "video_scores": videos,
        "unseen_real_videos_mean_p_fake": sum(unseen_scores.values()) / len(unseen_scores),
        "unseen_real_video_scores": unseen_scores,
    }


def _row(name: str, result: dict, seconds: float) -> str:
    f, v = result["frames"], result["videos"]
    return (f"| {name} | {f['roc_auc']:.3f} | {f['log_loss']:.3f} | {v['roc_auc']:.3f} | {v['log_loss']:.3f} | "
            f"{result['unseen_real_videos_mean_p_fake']:.3f} | {seconds:.0f} s |")


@click.command()
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Working folder [a new temporary folder].")
@click.option("--backbone", default="b0", show_default=True)
@click.option("--weights", default="none", show_default=True, help="none: random weights (nothing downloaded).")
@click.option("--image-size", type=int, default=128, show_default=True, help="Crop and model input side.")
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--steps", type=int, default=600, show_default=True, help="Training steps of each model.")
@click.option("--epochs", type=int, default=3, show_default=True, help="The steps are split over this many epochs.")
@click.option("--embedding-dim", type=int, default=64, show_default=True)
@click.option("--lr", type=float, default=0.01, show_default=True, help="SGD learning rate of both models.")
@click.option("--momentum", type=float, default=0.0, show_default=True, help="SGD momentum of both models.")
@click.option("--per-source", type=int, default=40, show_default=True, help="Real images per real_faces source.")
@click.option("--frames-per-video", type=int, default=16, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--only", type=click.Choice(["baseline", "sbi"]), default=None, help="Train and evaluate one model only.")
@click.option("--class-loss-weight", type=float, default=0.0, show_default=True,
              help="train.py --class-loss-weight of both models (the real/fake cross-entropy on the first axis).")
def main(work: Path | None, backbone: str, weights: str, image_size: int, batch_size: int, steps: int, epochs: int,
         embedding_dim: int, lr: float, momentum: float, per_source: int, frames_per_video: int, seed: int,
         only: str | None, class_loss_weight: float) -> None:
    """Train the baseline and the SBI model with the same budget and compare them on the DFDC sample."""
    from dfembed.core.logs import setup_logging

    setup_logging()
    if not (SHARED / "dfdc_sample").is_dir() or not (SHARED / "real_faces").is_dir():
        raise click.ClickException(f"needs {SHARED}/dfdc_sample and {SHARED}/real_faces")
    work = work or Path(tempfile.mkdtemp(prefix="dfembed-sbi-eval-"))
    work.mkdir(parents=True, exist_ok=True)
    options = {"backbone": backbone, "weights": weights, "image_size": image_size, "batch_size": batch_size,
               "epochs": epochs, "steps_per_epoch": max(1, steps // epochs), "embedding_dim": embedding_dim,
               "lr": lr, "momentum": momentum, "val_fraction": 0.0, "seed": seed, "tensorboard": False,
               "class_loss_weight": class_loss_weight}
    times = {}
    images = choose_real_images(SHARED / "real_faces" / "images", per_source)
    if only != "sbi":
        times["crop_dfdc"] = crop(SHARED / "dfdc_sample" / "frames", work / "dfdc_crops", image_size, "largest", 20)
    if only != "baseline":
        src = real_source_tree(images, work / "real_src", SHARED / "real_faces" / "images")
        times["crop_real"] = crop(src, work / "real_crops", image_size, "all", 40)
    results = {}
    for name, data, pseudo in (("baseline", work / "dfdc_crops", False), ("sbi", work / "real_crops", True)):
        if only not in (None, name):
            continue
        times[f"train_{name}"] = train(data, work / name, options, pseudo)
        results[name] = evaluate_model(name, work / name, work, frames_per_video)
    record = {"options": options, "per_source": per_source, "real_images": len(images), "times_s": times,
              "results": results, "load_average": os.getloadavg()}
    (work / "sbi_eval.json").write_text(json.dumps(record, indent=2) + "\n")
    click.echo(f"\n{len(images)} real images chosen; {backbone} @ {image_size} px, batch {batch_size}, "
               f"{options['steps_per_epoch'] * epochs} steps, SGD lr {lr} momentum {momentum}, seed {seed}, "
               f"class loss weight {class_loss_weight}, "
               f"weights {weights}; load average "
               f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    click.echo("| model | frames ROC AUC | frames log loss | videos ROC AUC | videos log loss | "
               "unseen real videos, mean P(fake) | training |")
    click.echo("| --- | --- | --- | --- | --- | --- | --- |")
    for name in results:
        click.echo(_row(name, results[name], times[f"train_{name}"]))
    click.echo(f"details: {work / 'sbi_eval.json'}")


if __name__ == "__main__":
    main()
