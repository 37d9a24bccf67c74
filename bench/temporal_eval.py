#!/usr/bin/env python
"""Video-level AUC and log loss of the frame rules and the temporal models, from the same embedder, in one run.

Data (read from ``--data``, never copied into the repository): the labelled DFDC sample —
``dfdc_sample/frames`` as 5 short sequences (frames ``<video>-<NNN>.png``: 1 real, 4 fake),
``dfdc_sample/videos`` (2 fake videos and the real street video) — and, when present,
``real_faces/videos/*.mp4`` (real). The media are linked into one labelled tree (with the
DFDC ``metadata.json`` beside them, so a fake and its original share a group) and cropped
once with MTCNN (``--frames-per-video`` frames per video).

Protocol: the videos are split by group into ``--folds`` stratified folds. For each fold,
on the other folds' crops only:

1. the **embedder**: ``train.py`` at B0 (random initial weights, as the demo), and its SVM;
2. **mean** and **confident**: the SVM's scores of the held-out videos' frames (the largest
   face of each, what inference scores with the crop stage's default ``--faces largest``),
   aggregated as inference does;
3. **gru**, **lstm**, **transformer**: ``dfembed temporal embed`` with that embedder, then
   ``dfembed temporal train`` on the training videos (frozen embeddings), each held-out
   video scored as ``inference.py --aggregate temporal`` does (mean over its sequences;
   the mean frame rule for a video with too few faces);
4. **end-to-end**: ``train.py --temporal T`` starting from the fold's embedder
   (``--weights`` the embedder), scored by its own embedder and sequence model alike.

Every video is scored once, by the fold that held it out; metrics are over all videos.
Also printed: the seconds each model took to train, and the cost of an end-to-end training
step against a frame model's step at the same batch (about ``T``×).

    .venv/bin/python bench/temporal_eval.py                      # about 10 minutes on 2 CPU cores
    .venv/bin/python bench/temporal_eval.py --folds 2 --embedder-steps 60 --e2e-steps 20   # quicker

**The data are tiny** (a dozen videos, few identities): the figures check that the paths
work and compare them roughly; they are not accuracy estimates.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import click
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
NETWORKS = ("gru", "lstm", "transformer")
log = logging.getLogger("temporal_eval")


# --- the labelled video tree and its crops ------------------------------------------


def build_source(data: Path, root: Path) -> Path:
    """Link the labelled sample media into ``root/src`` (real/ and fake/), with the DFDC metadata beside them."""
    src = root / "src"
    sample = data / "dfdc_sample"
    for label in ("real", "fake"):
        folder = src / label / "frames"
        folder.mkdir(parents=True)
        shutil.copy(sample / "frames" / "metadata.json", folder / "metadata.json")  # a temp copy: groups
        for frame in sorted((sample / "frames" / label).glob("*.png")):
            (folder / frame.name).symlink_to(frame)
    metadata = json.loads((sample / "videos" / "metadata.json").read_text(encoding="utf-8"))
    for video in sorted((sample / "videos").glob("*.mp4")):
        entry = metadata.get(video.name)
        label = entry["label"].lower() if entry else "real"  # street_real_crowd.mp4 is a real street video
        folder = src / label / "dfdc"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / video.name).symlink_to(video)
        if not (folder / "metadata.json").exists():
            shutil.copy(sample / "videos" / "metadata.json", folder / "metadata.json")
    extra = data / "real_faces" / "videos"
    if extra.is_dir():
        (src / "real" / "real_faces").mkdir(parents=True)
        for video in sorted(extra.glob("*.mp4")):
            (src / "real" / "real_faces" / video.name).symlink_to(video)
    return src


def crop(src: Path, root: Path, size: int, frames_per_video: int) -> Path:
    from dfembed.crop.job import run_crop
    from dfembed.faces.config import CropConfig

    dst = root / "crops"
    run_crop(src, dst, CropConfig(size=size, frames_per_video=frames_per_video, image_format="png"))
    return dst


# --- folds ----------------------------------------------------------------------------


def folds_of(videos: list, k: int, seed: int) -> list[set[str]]:  # noqa: ANN001 - VideoTrack
    """Stratified folds of video names, whole groups at a time."""
    groups: dict[str, list] = {}
    for video in videos:
        groups.setdefault(video.group, []).append(video)
    rng = np.random.default_rng(seed)
    folds: list[set[str]] = [set() for _ in range(k)]
    for label in (0, 1):
        names = sorted(g for g, vs in groups.items() if vs[0].label == label)
        rng.shuffle(names)
        for n, group in enumerate(names):
            folds[n % k].update(v.video for v in groups[group])
    return folds


def fold_crops(crops: Path, keep: set[str], root: Path) -> Path:
    """A crop folder holding only the crops (linked) and manifest rows of the videos in ``keep``."""
    from dfembed.crop.videos import video_of

    root.mkdir(parents=True)
    for name in ("dfembed-crop.json",):
        shutil.copy(crops / name, root / name)
    for name in ("manifest.csv", "sources.csv"):
        with open(crops / name, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = [r for r in reader if (v := video_of(r["source"])) is not None and v[0] in keep]
            columns = reader.fieldnames or []
        with open(root / name, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        for row in rows if name == "manifest.csv" else []:
            (root / row["crop"]).parent.mkdir(parents=True, exist_ok=True)
            (root / row["crop"]).symlink_to((crops / row["crop"]).resolve())
    return root


def fold_embeddings(embeddings: Path, keep: set[str], root: Path) -> Path:
    """An embeddings folder listing only the videos in ``keep`` (their files linked)."""
    from dfembed.temporal.store import index_text, read_index

    root.mkdir(parents=True)
    shutil.copy(embeddings / "dfembed-embed.json", root / "dfembed-embed.json")
    (root / "videos").symlink_to((embeddings / "videos").resolve())
    entries = [e for e in read_index(embeddings) if e.video in keep]
    (root / "index.csv").write_text(index_text(entries), encoding="utf-8")
    return root


# --- scoring held-out videos ------------------------------------------------------------


def frame_rule_scores(embeddings: Path, train: set[str], test: set[str], seed: int) -> dict[str, dict[str, float]]:
    """Mean and confident aggregation of an SVM (fitted on the training videos' faces) on each test video."""
    from dfembed.infer.aggregate import confident, mean
    from dfembed.model.classifier import EmbeddingSVM
    from dfembed.temporal.store import read_index, read_timeline

    faces = {e.video: (read_timeline(embeddings / e.file), e.label) for e in read_index(embeddings)}
    x = np.concatenate([t.embeddings[t.mask] for v, (t, _) in faces.items() if v in train])
    y = np.concatenate([np.full(int(t.mask.sum()), lab) for v, (t, lab) in faces.items() if v in train])
    svm = EmbeddingSVM(random_state=seed).fit(x, y)
    out: dict[str, dict[str, float]] = {"mean": {}, "confident": {}}
    for video in test:
        timeline = faces[video][0]
        scores = svm.predict_proba(timeline.embeddings[timeline.mask])[:, 1]
        out["mean"][video], out["confident"][video] = mean(scores), confident(scores)
    return out


def sequence_scores(model_file: Path, embeddings: Path, test: set[str], fallback: dict[str, float]) -> dict[str, float]:
    """Each test video scored as ``--aggregate temporal`` does (the mean frame rule when too short)."""
    from dfembed.infer.temporal import load_temporal_scorer
    from dfembed.model.sequence import gather_sequences
    from dfembed.model.temporal import predict_sequences
    from dfembed.temporal.store import read_index, read_timeline

    scorer = load_temporal_scorer(model_file)
    out = {}
    for entry in (e for e in read_index(embeddings) if e.video in test):
        timeline = read_timeline(embeddings / entry.file)
        sequences, masks = gather_sequences(timeline.embeddings, timeline.mask, scorer.spec)
        if int(timeline.mask.sum()) < scorer.spec.min_faces or not len(sequences):
            out[entry.video] = fallback[entry.video]
        else:
            out[entry.video] = float(np.mean(predict_sequences(scorer.model, sequences, masks)))
    return out


# --- one fold ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Settings:
    """The sizes and lengths of one evaluation (see the command's options)."""

    image_size: int
    embedding_dim: int
    embedder_steps: int
    frames: int
    min_faces: int
    epochs: int
    e2e_frames: int
    e2e_steps: int
    seed: int


def train_embedder(crops: Path, out: Path, s: Settings) -> tuple[Path, float]:
    from dfembed.train.config import TrainConfig
    from dfembed.train.run import run_train

    config = TrainConfig(backbone="b0", image_size=s.image_size, weights="none", embedding_dim=s.embedding_dim,
                         batch_size=8, epochs=1, steps_per_epoch=s.embedder_steps, val_fraction=0.0, workers=2,
                         tensorboard=False, seed=s.seed)
    started = time.perf_counter()
    run_train(crops, out / "embedder.h5", out / "embedder.pkl", config)
    return out / "embedder.h5", time.perf_counter() - started


def train_sequence_model(embeddings: Path, out: Path, network: str, s: Settings) -> tuple[Path, float]:
    from dfembed.temporal.config import TemporalConfig
    from dfembed.temporal.run import run_train_temporal

    config = TemporalConfig(network=network, frames=s.frames, min_faces=s.min_faces, epochs=s.epochs, batch_size=8,
                            val_fraction=0.0, seed=s.seed, units=32, heads=4)
    started = time.perf_counter()
    run_train_temporal(embeddings, out / f"{network}.keras", config)
    return out / f"{network}.keras", time.perf_counter() - started


def train_end_to_end(crops: Path, embedder: Path, out: Path, s: Settings) -> tuple[Path, float]:
    from dfembed.train.config import TrainConfig
    from dfembed.train.run import run_train

    config = TrainConfig(backbone="b0", image_size=s.image_size, weights=str(embedder), embedding_dim=s.embedding_dim,
                         batch_size=4, epochs=1, steps_per_epoch=s.e2e_steps, val_fraction=0.0, workers=2,
                         tensorboard=False, seed=s.seed, temporal=s.e2e_frames, lr=0.001)
    started = time.perf_counter()
    run_train(crops, out / "e2e.h5", out / "e2e.pkl", config)
    return out / "e2e.h5", time.perf_counter() - started


def run_fold(crops: Path, train: set[str], test: set[str], work: Path, s: Settings
             ) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Every method's scores of the ``test`` videos, and each model's training seconds."""
    from dfembed.temporal.config import EmbedConfig
    from dfembed.temporal.embed import run_embed

    train_crops = fold_crops(crops, train, work / "crops")
    embedder, seconds = train_embedder(train_crops, work, s)
    timing = {"embedder": seconds}
    run_embed(crops, embedder, work / "emb", EmbedConfig())
    run_embed(crops, embedder, work / "emb_all", EmbedConfig(track="largest"))  # every face, as the frame rule sees
    scores = frame_rule_scores(work / "emb_all", train, test, s.seed)
    train_emb = fold_embeddings(work / "emb", train, work / "emb_train")
    for network in NETWORKS:
        model, timing[network] = train_sequence_model(train_emb, work, network, s)
        scores[network] = sequence_scores(model, work / "emb", test, scores["mean"])
    e2e, timing["end-to-end"] = train_end_to_end(train_crops, embedder, work, s)
    run_embed(crops, e2e, work / "emb_e2e", EmbedConfig())
    run_embed(crops, e2e, work / "emb_e2e_all", EmbedConfig(track="largest"))
    own = frame_rule_scores(work / "emb_e2e_all", train, test, s.seed)["mean"]
    scores["end-to-end"] = sequence_scores(work / "e2e.temporal.keras", work / "emb_e2e", test, own)
    return scores, timing


# --- the cost of an end-to-end step ----------------------------------------------------------


def _seconds_per_step(model, x, y, steps: int) -> float:  # noqa: ANN001 - a Keras model and its batch
    model.train_on_batch(x, y)  # traces the graph
    started = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return (time.perf_counter() - started) / steps


def step_cost(image_size: int, frames: int, batch: int, steps: int) -> dict[str, float]:
    """Seconds per training step: the frame model on ``batch`` and ``batch × frames`` images, the clip model on ``batch`` clips."""
    import keras

    from dfembed.model.losses import TripletSemiHardLoss
    from dfembed.model.network import build_embedding_model
    from dfembed.model.sequence import INPUT_CLIPS, INPUT_MASK
    from dfembed.model.temporal import build_clip_model, build_temporal_model

    rng = np.random.default_rng(0)
    frame = build_embedding_model("b0", image_size, "none", 64)
    frame.compile(optimizer="sgd", loss=TripletSemiHardLoss())
    clip = build_clip_model(build_embedding_model("b0", image_size, "none", 64), build_temporal_model("gru", 64),
                            frames)
    clip.compile(optimizer="sgd", loss="binary_crossentropy")
    out = {}
    for n in (batch, batch * frames):
        images = rng.uniform(0, 255, (n, image_size, image_size, 3)).astype("float32")
        out[f"frame x{n}"] = _seconds_per_step(frame, images, np.tile([0.0, 1.0], n // 2).astype("float32"), steps)
    clips = {INPUT_CLIPS: rng.uniform(0, 255, (batch, frames, image_size, image_size, 3)).astype("float32"),
             INPUT_MASK: np.ones((batch, frames), bool)}
    out[f"clip x{batch}"] = _seconds_per_step(clip, clips, np.tile([0.0, 1.0], batch // 2)[:, None], steps)
    keras.backend.clear_session()
    return out


def report_cost(cost: dict[str, float], image_size: int, frames: int, batch: int) -> None:
    frame, frames_t, clip = cost[f"frame x{batch}"], cost[f"frame x{batch * frames}"], cost[f"clip x{batch}"]
    click.echo(f"training step at {image_size} px (B0): frame model, batch {batch}: {frame:.3f} s; "
               f"batch {batch * frames}: {frames_t:.3f} s; clip model of {frames} frames, batch {batch}: {clip:.3f} s "
               f"= {clip / frame:.1f}× the frame step at the same batch, {clip / frames_t:.2f}× at the same images")


# --- main ----------------------------------------------------------------------------------


def report(labels: dict[str, int], scores: dict[str, dict[str, float]], timing: dict[str, list[float]]) -> None:
    from dfembed.evaluate.metrics import compute_metrics

    videos = sorted(labels)
    click.echo(f"{len(videos)} videos ({sum(labels.values())} fake); out-of-fold scores")
    click.echo(f"{'method':>12} {'ROC AUC':>8} {'log loss':>9} {'train s/fold':>13}")
    for method in ("mean", "confident", *NETWORKS, "end-to-end"):
        values = np.clip([scores[method][v] for v in videos], 0.0, 1.0)
        metrics = compute_metrics([labels[v] for v in videos], values)
        seconds = np.mean(timing[method]) if method in timing else np.mean(timing["embedder"])
        click.echo(f"{method:>12} {metrics['roc_auc']:>8.3f} {metrics['log_loss']:>9.3f} {seconds:>13.1f}")
    click.echo("(train s/fold of mean and confident: the embedder's; per-video scores below: "
               "mean, confident, " + ", ".join(NETWORKS) + ", end-to-end)")
    for video in videos:
        row = " ".join(f"{scores[m][video]:.3f}" for m in ("mean", "confident", *NETWORKS, "end-to-end"))
        click.echo(f"  {labels[video]} {video}: {row}")


@click.command()
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_DATA,
              show_default=True, help="The shared data folder (dfdc_sample/, optionally real_faces/).")
@click.option("--folds", type=click.IntRange(min=2), default=3, show_default=True)
@click.option("--image-size", type=int, default=64, show_default=True)
@click.option("--frames-per-video", type=int, default=16, show_default=True, help="Crop stage's frames per video.")
@click.option("--embedder-steps", type=int, default=150, show_default=True, help="Triplet steps of each embedder.")
@click.option("--frames", type=int, default=8, show_default=True, help="T of the frozen-embedding models.")
@click.option("--min-faces", type=int, default=4, show_default=True)
@click.option("--epochs", type=int, default=40, show_default=True, help="Epochs of the frozen-embedding models.")
@click.option("--e2e-frames", type=int, default=4, show_default=True, help="T of the end-to-end model.")
@click.option("--e2e-steps", type=int, default=40, show_default=True, help="Steps of the end-to-end model.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Work in this folder and keep it (default: a temporary folder).")
@click.option("--cost-steps", type=int, default=5, show_default=True, help="Timed steps of the cost comparison.")
@click.option("--cost-only", is_flag=True, help="Only measure the cost of an end-to-end step.")
def main(data: Path, folds: int, image_size: int, frames_per_video: int, embedder_steps: int, frames: int,
         min_faces: int, epochs: int, e2e_frames: int, e2e_steps: int, seed: int, keep: Path | None,
         cost_steps: int, cost_only: bool) -> None:
    """Compare mean, confident and the temporal models on the labelled sample videos."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from dfembed.crop.videos import read_crop_videos

    if cost_only:
        report_cost(step_cost(image_size, e2e_frames, 8, cost_steps), image_size, e2e_frames, 8)
        return
    if not (data / "dfdc_sample").is_dir():
        raise click.UsageError(f"--data {data} holds no dfdc_sample/ (the shared data folder beside the repository)")

    settings = Settings(image_size, 64, embedder_steps, frames, min_faces, epochs, e2e_frames, e2e_steps, seed)
    work = keep or Path(tempfile.mkdtemp(prefix="dfembed-temporal-eval-"))
    started = time.perf_counter()
    crops = crop(build_source(data, work), work, image_size, frames_per_video)
    videos = [v for v in read_crop_videos(crops).videos if v.label is not None]
    labels = {v.video: int(v.label) for v in videos}
    scores: dict[str, dict[str, float]] = {}
    timing: dict[str, list[float]] = {}
    for n, test in enumerate(folds_of(videos, folds, seed)):
        fold_scores, fold_timing = run_fold(crops, set(labels) - test, test, work / f"fold{n}", settings)
        for method, values in fold_scores.items():
            scores.setdefault(method, {}).update(values)
        for method, seconds in fold_timing.items():
            timing.setdefault(method, []).append(seconds)
    cost = step_cost(image_size, e2e_frames, 8, cost_steps)
    report(labels, scores, timing)
    report_cost(cost, image_size, e2e_frames, 8)
    click.echo(f"total {time.perf_counter() - started:.0f} s; work folder {work}")
    if keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
