#!/usr/bin/env python
"""Training throughput: the input pipeline alone vs the model's training step alone.

For each ``backbone@size`` (B0@224 and B4@380 by default), in one run:

* **pipeline**: :class:`dfembed.train.batches.BalancedBatches` with the default augmentation
  (noise, JPEG, blur, flip at TrainConfig's probabilities) builds batches from the crops
  in ``--data``. Batches are built by ``--workers`` threads, as ``Model.fit`` does with
  the same ``workers`` option (Keras's ordered enqueuer maps batch indices over a thread
  pool), with OpenCV single-threaded as during training; the single-thread rate is
  printed too.
* **model**: ``Model.train_on_batch`` of the embedding network (random weights: speed
  does not depend on them) with the semi-hard triplet loss and SGD, on one fixed batch,
  after one untimed step that traces the graph.

Prints images/s of each and the ratio pipeline / model; the pipeline should be at
least 3× faster, so that it never starves the model.

    .venv/bin/python bench/train_bench.py                    # b0@224 and b4@380
    .venv/bin/python bench/train_bench.py --configs b0@224 --model-steps 5
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "dfdc_sample" / "crops"
log = logging.getLogger("train_bench")


def _parse_configs(text: str) -> list[tuple[str, int]]:
    pairs = []
    for item in text.split(","):
        backbone, _, size = item.strip().partition("@")
        if not size.isdigit():
            raise click.BadParameter(f"expected BACKBONE@SIZE such as b4@380, got {item!r}")
        pairs.append((backbone, int(size)))
    return pairs


def pipeline_rate(crops, image_size: int, batch_size: int, batches: int, workers: int) -> float:  # noqa: ANN001
    """Images/s of balanced, augmented batches built by ``workers`` threads."""
    from dfembed.train.augment import Augmenter, AugmentParams
    from dfembed.train.batches import BalancedBatches, opencv_threads
    from dfembed.train.config import TrainConfig

    params = AugmentParams.from_config(TrainConfig(image_size=image_size))
    data = BalancedBatches(crops, batch_size, Augmenter(params), seed=0, steps_per_epoch=batches)
    with opencv_threads(1):  # as run_train does
        data[0]  # warm-up: thread-local pipelines, file cache
        start = time.perf_counter()
        if workers <= 1:
            for index in range(batches):
                data[index]
        else:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(data.__getitem__, range(batches)))
        return batches * batch_size / (time.perf_counter() - start)


def model_rate(backbone: str, image_size: int, batch_size: int, steps: int, precision: str) -> float:
    """Images/s of the embedding network's training step (after one tracing step)."""
    import keras
    import numpy as np

    from dfembed.model.losses import TripletSemiHardLoss
    from dfembed.model.network import build_embedding_model

    keras.config.set_dtype_policy(precision)
    model = build_embedding_model(backbone=backbone, image_size=image_size, weights="none")
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=TripletSemiHardLoss())
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch_size, image_size, image_size, 3)).astype("float32")
    labels = np.tile([0.0, 1.0], batch_size // 2).astype("float32")
    model.train_on_batch(images, labels)  # traces the graph
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(images, labels)
    seconds = time.perf_counter() - start
    keras.config.set_dtype_policy("float32")
    return steps * batch_size / seconds


@click.command()
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), default=DEFAULT_DATA,
              show_default=True, help="Crop tree with real/ and fake/.")
@click.option("--configs", default="b0@224,b4@380", show_default=True, help="Comma-separated BACKBONE@SIZE.")
@click.option("--batch-size", type=int, default=8, show_default=True, help="Balanced batch size (even).")
@click.option("--pipeline-batches", type=int, default=20, show_default=True, help="Timed pipeline batches.")
@click.option("--model-steps", type=int, default=3, show_default=True, help="Timed training steps.")
@click.option("--workers", type=int, default=0, show_default=True, help="Pipeline threads; 0: CPU count, at most 16.")
@click.option("--precision", default="float32", show_default=True,
              help="Keras dtype policy of the model (mixed_float16 on a GPU).")
def main(data: Path, configs: str, batch_size: int, pipeline_batches: int, model_steps: int,
         workers: int, precision: str) -> None:
    """Measure and print pipeline and model images/s and their ratio."""
    logging.basicConfig(level=logging.WARNING)
    import keras

    from dfembed.train.batches import resolve_workers
    from dfembed.train.crops import list_crops

    workers = resolve_workers(workers)
    crops = list_crops(data, workers=workers).crops
    click.echo(f"backend {keras.backend.backend()}, {os.cpu_count()} CPUs, {workers} pipeline threads, "
               f"batch {batch_size}, {len(crops)} crops from {data}")
    click.echo(f"{'config':>8} {'pipeline 1 thread':>18} {'pipeline':>10} {'model step':>11} {'ratio':>7}")
    for backbone, size in _parse_configs(configs):
        single = pipeline_rate(crops, size, batch_size, pipeline_batches, 1)
        parallel = pipeline_rate(crops, size, batch_size, pipeline_batches, workers)
        model = model_rate(backbone, size, batch_size, model_steps, precision)
        click.echo(f"{backbone}@{size:<4} {single:>14.1f} img/s {parallel:>6.1f} img/s "
                   f"{model:>7.2f} img/s {parallel / model:>6.1f}×")


if __name__ == "__main__":
    main()
