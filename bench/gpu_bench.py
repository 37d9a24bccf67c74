#!/usr/bin/env python
"""The GPU figures: EfficientNet-B4 @ 380 training and inference img/s, and the input pipeline's img/s.

Meant for one H100/H200-class GPU under ``KERAS_BACKEND=jax`` (``bench/gpu/run.sh`` prepares
such a machine and runs this), in one short run; ``--tiny`` runs the same code on a CPU
with B0 at 32 px (about 3 minutes on 2 cores), and ``--no-tensorflow`` makes any import of
TensorFlow fail, as it would there (``bash bench/gpu/run.sh --tiny`` does both). In one process:

* **pipeline**: :class:`dfembed.train.batches.BalancedBatches` with the default augmentation
  builds balanced batches from 380-px JPEG crops (``--data``, else generated ones) with
  ``--threads`` threads (0: the CPU count, at most 16, as ``train.py --workers 0``), as
  ``Model.fit`` runs it;
* **train**: ``Model.train_on_batch`` of the embedding network (random weights, the
  semi-hard triplet loss, SGD) on one batch already on the device, in ``float32``,
  ``mixed_float16`` and ``mixed_bfloat16``, at ``--batch-size`` (28, upstream's) and at the
  largest batch that fits: estimated from the device's peak memory at 28, rounded down to a
  multiple of 8, then run (and lowered by a quarter once if it does not fit);
* **inference**: ``predict_on_batch`` at ``--inference-batch`` (128).

Each timing is ``--steps`` calls after two untimed ones (the first compiles). Printed:
img/s, the ratio to float32 at the same batch (the baseline, measured in this run), the
ratio to its target — training ≥ 700 img/s in mixed precision (NVIDIA's published
TensorFlow 2 figure for B4 with AMP on one A100 is about 470 img/s), inference ≥ 2,200
img/s — and pipeline / best training rate (≥ 1.5×). Measurements run in order of
importance while ``--budget`` seconds last (the next one is skipped when the time its kind
took so far would overrun it); the JSON record (``--out``) is rewritten after each, so a
run cut short keeps what it measured.

    KERAS_BACKEND=jax python bench/gpu_bench.py --out gpu_bench.json          # on the GPU
    KERAS_BACKEND=jax python bench/gpu_bench.py --tiny --out /tmp/tiny.json   # CPU check
"""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click

log = logging.getLogger("gpu_bench")

TRAIN_TARGET = 700.0  # img/s, mixed precision, one H100/H200
INFERENCE_TARGET = 2200.0
PIPELINE_TARGET = 1.5  # × the model's best training rate
A100_REFERENCE = 470.0  # NVIDIA's published TF2 EfficientNet-B4 AMP training img/s on one A100 (not measured here)
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


@dataclasses.dataclass
class Settings:
    """What one run measures."""

    backbone: str
    image_size: int
    batch_size: int
    inference_batch: int
    steps: int
    pipeline_batches: int
    threads: int
    max_batch: int | None
    budget: float


@dataclasses.dataclass
class Record:
    """The results so far, written to ``--out`` after every measurement."""

    path: Path | None
    machine: dict[str, Any]
    settings: dict[str, Any]
    rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def add(self, **row: Any) -> dict[str, Any]:
        self.rows.append(row)
        self.save()
        return row

    def save(self) -> None:
        if self.path is not None:
            data = {"machine": self.machine, "settings": self.settings, "rows": self.rows,
                    "targets": {"train_mixed_img_s": TRAIN_TARGET, "inference_img_s": INFERENCE_TARGET,
                                "pipeline_over_model": PIPELINE_TARGET,
                                "a100_reference_img_s (published, not measured)": A100_REFERENCE}}
            partial = self.path.with_name(self.path.name + ".partial")
            partial.write_text(json.dumps(data, indent=2) + "\n")
            os.replace(partial, self.path)  # a run killed mid-write keeps the last whole record


class Budget:
    """Seconds left, and how long each kind of measurement took so far (its first one compiled)."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self.took: dict[str, float] = {}

    def allows(self, kind: str) -> bool:
        return time.monotonic() + self.took.get(kind, 0.0) * 1.2 < self.end

    def note(self, kind: str, seconds: float) -> None:
        self.took[kind] = max(self.took.get(kind, 0.0), seconds)


# --- the input pipeline --------------------------------------------------------------------


def synthetic_crops(folder: Path, count: int, size: int) -> Path:
    """``count`` real and ``count`` fake 380-px-like JPEG face-sized images (smooth noise), quality 95."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    for label in ("real", "fake"):
        (folder / label).mkdir(parents=True, exist_ok=True)
        for k in range(count):
            noise = rng.normal(128, 60, (size // 8, size // 8, 3)).astype(np.float32)
            image = cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
            image += rng.normal(0, 8, image.shape).astype(np.float32)  # detail, so JPEG has work to do
            cv2.imwrite(str(folder / label / f"{label}{k:03d}.jpg"), np.clip(image, 0, 255).astype(np.uint8),
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
    return folder


def pipeline_rate(data: Path, settings: Settings, threads: int) -> float:
    """Images/s of balanced, augmented batches built by ``threads`` threads (OpenCV single-threaded)."""
    from dfembed.train.augment import Augmenter, AugmentParams
    from dfembed.train.batches import BalancedBatches, opencv_threads
    from dfembed.train.config import TrainConfig
    from dfembed.train.crops import list_crops

    crops = list_crops(data, workers=threads).crops
    params = AugmentParams.from_config(TrainConfig(image_size=settings.image_size))
    batches = BalancedBatches(crops, settings.batch_size, Augmenter(params), seed=0,
                              steps_per_epoch=settings.pipeline_batches + 1)
    with opencv_threads(1), ThreadPoolExecutor(threads) as pool:
        list(pool.map(batches.__getitem__, range(min(threads, len(batches)))))  # warm-up: thread-local pipelines
        start = time.perf_counter()
        list(pool.map(batches.__getitem__, range(1, settings.pipeline_batches + 1)))
        return settings.pipeline_batches * settings.batch_size / (time.perf_counter() - start)


# --- the model -----------------------------------------------------------------------------


def build_model(settings: Settings, precision: str) -> Any:
    """The embedding network under ``precision``, compiled as ``train.py`` compiles it."""
    import keras

    from dfembed.model.losses import TripletSemiHardLoss
    from dfembed.model.network import build_embedding_model

    keras.config.set_dtype_policy(precision)
    keras.utils.set_random_seed(0)
    model = build_embedding_model(backbone=settings.backbone, image_size=settings.image_size, weights="none")
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=TripletSemiHardLoss())
    keras.config.set_dtype_policy("float32")
    return model


def device_batch(settings: Settings, batch: int) -> tuple[Any, Any]:
    """A random batch (0..255 pixels, alternating labels) placed on the first device."""
    import jax
    import numpy as np

    rng = np.random.default_rng(batch)
    images = rng.uniform(0, 255, (batch, settings.image_size, settings.image_size, 3)).astype(np.float32)
    labels = np.tile([0.0, 1.0], batch // 2).astype(np.float32)
    return jax.device_put(images), jax.device_put(labels)


def timed(call: Any, steps: int) -> tuple[float, float]:
    """Seconds of the two untimed calls (the first compiles) and of ``steps`` timed calls."""
    start = time.perf_counter()
    call()
    call()
    warm = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        call()
    return warm, time.perf_counter() - start


def train_rate(model: Any, settings: Settings, batch: int) -> tuple[float, float]:
    """Training img/s at ``batch`` and the seconds its compilation and warm-up took."""
    import numpy as np

    images, labels = device_batch(settings, batch)
    warm, seconds = timed(lambda: float(np.asarray(model.train_on_batch(images, labels))), settings.steps)
    return settings.steps * batch / seconds, warm


def inference_rate(model: Any, settings: Settings) -> tuple[float, float]:
    """Inference img/s at ``--inference-batch`` and the seconds its compilation and warm-up took."""
    import numpy as np

    images, _ = device_batch(settings, settings.inference_batch)
    warm, seconds = timed(lambda: np.asarray(model.predict_on_batch(images)), settings.steps)
    return settings.steps * settings.inference_batch / seconds, warm


def memory() -> dict[str, int] | None:
    """The first device's memory statistics (bytes in use, peak, limit), or ``None`` (a CPU)."""
    import jax

    stats = jax.devices()[0].memory_stats()
    return {k: int(stats[k]) for k in ("bytes_in_use", "peak_bytes_in_use", "bytes_limit") if k in stats} \
        if stats else None


def largest_batch(before: dict[str, int] | None, after: dict[str, int] | None, batch: int,
                  fallback: int | None) -> int | None:
    """The largest batch estimated to fit: the limit's 90 % over the memory one image took at ``batch``."""
    if not before or not after or "bytes_limit" not in after:
        return fallback
    per_image = max(1.0, (after["peak_bytes_in_use"] - before["bytes_in_use"]) / batch)
    room = 0.9 * after["bytes_limit"] - before["bytes_in_use"]
    estimate = int(room / per_image) // 8 * 8
    return max(8, min(estimate, fallback or 2048))


def is_out_of_memory(err: BaseException) -> bool:
    text = str(err)
    return "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower()


# --- the run -------------------------------------------------------------------------------


def measure(settings: Settings, data: Path | None, record: Record) -> None:
    """Every measurement, most important first, while the budget lasts."""
    budget = Budget(settings.budget)
    _pipeline(settings, data, record)
    models: dict[str, Any] = {}
    estimates: dict[str, int | None] = {}
    plan = [("train", "mixed_bfloat16"), ("train", "float32"), ("train", "mixed_float16"),
            ("inference", "mixed_bfloat16"), ("largest", "mixed_bfloat16"), ("largest", "mixed_float16"),
            ("inference", "mixed_float16"), ("inference", "float32"), ("largest", "float32")]
    for kind, precision in plan:
        if not budget.allows(kind):
            record.add(kind=kind, precision=precision, status="not measured: time budget")
            continue
        start = time.monotonic()
        if precision not in models:
            models[precision] = build_model(settings, precision)
        _one(kind, precision, models[precision], settings, record, estimates)
        budget.note(kind, time.monotonic() - start)
        if kind == "largest":  # its activations are the largest: free the model's compiled state
            models.pop(precision, None)
            gc.collect()


def _pipeline(settings: Settings, data: Path | None, record: Record) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = data or synthetic_crops(Path(tmp) / "crops", 64, settings.image_size)
        for threads in sorted({1, settings.threads}):
            rate = pipeline_rate(folder, settings, threads)
            record.add(kind="pipeline", threads=threads, batch=settings.batch_size, img_per_s=round(rate, 1),
                       status="measured",
                       data=str(data) if data else f"generated {settings.image_size}-px JPEG crops")


def _one(kind: str, precision: str, model: Any, settings: Settings, record: Record,
         estimates: dict[str, int | None]) -> None:
    if kind == "inference":
        rate, warm = inference_rate(model, settings)
        record.add(kind=kind, precision=precision, batch=settings.inference_batch, img_per_s=round(rate, 1),
                   compile_and_warmup_s=round(warm, 1), status="measured")
        return
    if kind == "train":
        before = memory()
        rate, warm = train_rate(model, settings, settings.batch_size)
        estimates[precision] = largest_batch(before, memory(), settings.batch_size, settings.max_batch)
        if precision == "mixed_float16" and estimates.get("mixed_bfloat16"):
            # The device's peak is the process's: after float32 ran it no longer shows float16's
            # needs, which are bfloat16's (the same widths).
            estimates[precision] = estimates["mixed_bfloat16"]
        record.add(kind=kind, precision=precision, batch=settings.batch_size, img_per_s=round(rate, 1),
                   compile_and_warmup_s=round(warm, 1), memory=memory(), status="measured")
        return
    _largest(precision, model, settings, record, estimates.get(precision, settings.max_batch))


def _largest(precision: str, model: Any, settings: Settings, record: Record, batch: int | None) -> None:
    if batch is None:
        record.add(kind="largest", precision=precision,
                   status="not measured: no memory statistics on this device (give --max-batch)")
        return
    attempts = [batch, max(8, batch * 3 // 4 // 8 * 8)]
    for number, attempt in enumerate(attempts):
        try:
            rate, warm = train_rate(model, settings, attempt)
        except Exception as err:  # noqa: BLE001 - XLA reports out of memory as a runtime error
            if not is_out_of_memory(err) or number == len(attempts) - 1:
                record.add(kind="largest", precision=precision, batch=attempt, status=f"failed: {str(err)[:300]}")
                return
            gc.collect()
            continue
        record.add(kind="largest", precision=precision, batch=attempt, img_per_s=round(rate, 1),
                   compile_and_warmup_s=round(warm, 1), status="measured")
        return


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import jax
    import keras

    if keras.backend.backend() != "jax":
        raise click.UsageError(f"the GPU figures are measured under KERAS_BACKEND=jax, not {keras.backend.backend()}")
    device = jax.devices()[0]
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"device": getattr(device, "device_kind", str(device)), "platform": device.platform,
            "devices": len(jax.devices()), "cpus": os.cpu_count(), "load_average": load,
            "jax": jax.__version__, "keras": keras.__version__, "keras_backend": keras.backend.backend(),
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def report(record: Record) -> list[str]:
    """The table: img/s, the ratio to float32 at the same batch, the ratio to the target."""
    rows = record.rows
    baseline = {(r["kind"], r.get("batch")): r["img_per_s"] for r in rows
                if r.get("precision") == "float32" and "img_per_s" in r}
    best_train = max((r["img_per_s"] for r in rows if r["kind"] in ("train", "largest") and "img_per_s" in r),
                     default=None)
    lines = [f"{'measurement':<34} {'img/s':>9} {'vs float32':>11} {'vs target':>10}"]
    for row in rows:
        name = f"{row['kind']} {row.get('precision', '')} batch {row.get('batch', '-')}".strip()
        if row["kind"] == "pipeline":
            name = f"pipeline {row['threads']} thread(s) batch {row['batch']}"
        if "img_per_s" not in row:
            lines.append(f"{name:<34} {row['status']}")
            continue
        lines.append(f"{name:<34} {row['img_per_s']:>9.1f} {_ratio(row, baseline):>11} "
                     f"{_target(row, best_train):>10}")
    return lines


def verdicts(record: Record) -> list[str]:
    """One line per target: met or not, and for a slow input pipeline what would fix it."""
    rows = [r for r in record.rows if "img_per_s" in r]
    train = [r for r in rows if r["kind"] in ("train", "largest")]
    mixed = max((r["img_per_s"] for r in train if r["precision"].startswith("mixed")), default=None)
    inference = max((r["img_per_s"] for r in rows if r["kind"] == "inference"), default=None)
    lines = [_verdict("training, mixed precision", mixed, TRAIN_TARGET, "img/s"),
             _verdict("inference", inference, INFERENCE_TARGET, "img/s")]
    pipeline = max((r for r in rows if r["kind"] == "pipeline"), key=lambda r: r["img_per_s"], default=None)
    best = max((r["img_per_s"] for r in train), default=None)
    if pipeline is None or best is None:
        return [*lines, "pipeline / model: not measured"]
    ratio = pipeline["img_per_s"] / best
    lines.append(_verdict(f"pipeline / model ({pipeline['threads']} thread(s))", ratio, PIPELINE_TARGET, "×"))
    if ratio < PIPELINE_TARGET:
        single = next((r["img_per_s"] for r in rows if r["kind"] == "pipeline" and r["threads"] == 1), None)
        need = f"about {PIPELINE_TARGET * best / single:.0f} threads at the 1-thread rate" if single else "more threads"
        lines.append(f"  the input pipeline would be the bottleneck: it needs {need}; fixes: decode the JPEG crops "
                     "on the GPU (nvJPEG / DALI), keep decoded uint8 crops in memory or on local disk, or spread "
                     "batch building over more cores (train.py --workers)")
    return lines


def _verdict(name: str, value: float | None, target: float, unit: str) -> str:
    if value is None:
        return f"{name}: not measured"
    state = "met" if value >= target else "NOT met"
    return f"{name}: {value:,.1f} {unit} (target >= {target:,g} {unit}): {state}"


def block_tensorflow() -> None:
    """Make ``import tensorflow`` fail in this process, as on a GPU machine whose Python has none."""

    class _NoTensorflow:
        def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
            if name.split(".")[0] == "tensorflow":
                raise ImportError(f"{name} is blocked by --no-tensorflow: the GPU machine has no TensorFlow")

    sys.meta_path.insert(0, _NoTensorflow())


def _ratio(row: dict[str, Any], baseline: dict[tuple[str, Any], float]) -> str:
    base = baseline.get((row["kind"], row.get("batch")))
    return f"{row['img_per_s'] / base:.2f}×" if base and row["kind"] != "pipeline" else "-"


def _target(row: dict[str, Any], best_train: float | None) -> str:
    if row["kind"] == "pipeline":
        return f"{row['img_per_s'] / best_train / PIPELINE_TARGET:.2f}×" if best_train else "-"
    if row["kind"] == "inference":
        return f"{row['img_per_s'] / INFERENCE_TARGET:.2f}×"
    if row.get("precision", "").startswith("mixed"):
        return f"{row['img_per_s'] / TRAIN_TARGET:.2f}×"
    return "-"


@click.command()
@click.option("--backbone", default="b4", show_default=True)
@click.option("--image-size", type=int, default=380, show_default=True)
@click.option("--batch-size", type=int, default=28, show_default=True, help="Training batch (upstream's 28).")
@click.option("--inference-batch", type=int, default=128, show_default=True)
@click.option("--steps", type=int, default=20, show_default=True, help="Timed calls per measurement.")
@click.option("--pipeline-batches", type=int, default=60, show_default=True)
@click.option("--threads", type=int, default=0, show_default=True, help="Pipeline threads; 0: CPU count, at most 16.")
@click.option("--max-batch", type=int, default=None, help="Largest batch to try (the estimate's cap; needed on a CPU).")
@click.option("--budget", type=float, default=380.0, show_default=True, help="Seconds for all measurements.")
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Crop tree with real/ and fake/ for the pipeline [generated 380-px JPEG crops].")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="JSON record.")
@click.option("--tiny", is_flag=True, help="B0 at 32 px, batch 8, 16 for inference, 2 steps: a CPU check.")
@click.option("--no-tensorflow", is_flag=True, help="Fail on any import of TensorFlow (as on the GPU machine).")
def main(backbone: str, image_size: int, batch_size: int, inference_batch: int, steps: int, pipeline_batches: int,
         threads: int, max_batch: int | None, budget: float, data: Path | None, out: Path | None, tiny: bool,
         no_tensorflow: bool) -> None:
    """Measure and print the GPU figures (see the module's docstring)."""
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("KERAS_BACKEND", "jax")  # the figures are JAX's; device_batch puts arrays with jax
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # peak memory is measured, OOM is retried
    if no_tensorflow:
        block_tensorflow()
    from dfembed.train.batches import resolve_workers

    if tiny:
        backbone, image_size, batch_size, inference_batch, steps, pipeline_batches = "b0", 32, 8, 16, 2, 4
        max_batch = max_batch or 16
    settings = Settings(backbone, image_size, batch_size, inference_batch, steps, pipeline_batches,
                        resolve_workers(threads), max_batch, budget)
    record = Record(out, machine(), dataclasses.asdict(settings))
    click.echo(f"{record.machine['device']} ({record.machine['platform']}), {record.machine['cpus']} CPUs, "
               f"load {record.machine['load_average']}, Keras {record.machine['keras']} on "
               f"{record.machine['keras_backend']}; {backbone}@{image_size}")
    measure(settings, data, record)
    for line in [*report(record), *verdicts(record)]:
        click.echo(line)


if __name__ == "__main__":
    main()
