#!/usr/bin/env python
"""Benchmark of the crop job on a folder of small images: one detector call per image against shared batches.

Copies ``--images`` same-size photos (250x250, from ``real_faces``) into a temporary folder
and crops it with ``dfembed.crop.job.run_crop`` in this process, per detector, twice per pass:
with ``batch_size`` 1 (the control: every image is its own detector call, as before images of
one size shared batches) and with ``--batch-size`` (default 8). Passes are interleaved; the
fastest of each counts and the per-pass ratios are printed. The two runs' manifests are
compared: MTCNN's numbers depend a little on how many images share a call, so a few boxes may
move by a pixel or two; the count of differing rows and the largest move are printed. Usage::

    .venv/bin/python bench/batch_bench.py [--images 200] [--repeat 3] [--detectors mtcnn,blazeface]
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import click
import cv2

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"


def small_images(data: Path, count: int, folder: Path) -> int:
    """Copy up to ``count`` 250x250 photos of ``real_faces`` into ``folder``; how many were copied."""
    copied = 0
    for path in sorted((data / "real_faces" / "images").rglob("*.jpg")):
        image = cv2.imread(str(path))
        if image is not None and image.shape == (250, 250, 3):
            shutil.copy(path, folder / f"{copied:05d}-{path.name}")
            copied += 1
            if copied == count:
                break
    return copied


def crop_once(src: Path, dst: Path, config, detector) -> float:  # noqa: ANN001 - CropConfig, Detector
    """Seconds of one run of the crop job (DST removed first)."""
    from dfembed.crop.job import run_crop

    shutil.rmtree(dst, ignore_errors=True)
    start = time.perf_counter()
    run_crop(src, dst, config, detector=detector)
    return time.perf_counter() - start


def compare(one: list[dict[str, str]], many: list[dict[str, str]]) -> str:
    """How the batched run's manifest differs from the control's: rows, differing rows, largest box move."""
    first, second = {r["crop"]: r for r in one}, {r["crop"]: r for r in many}
    shared = sorted(set(first) & set(second))
    differing = [k for k in shared if first[k] != second[k]]
    move = max((abs(float(first[k][c]) - float(second[k][c])) for k in differing for c in ("x1", "y1", "x2", "y2")),
               default=0.0)
    return (f"{len(one)} and {len(many)} rows, {len(set(first) ^ set(second))} crops in one only, {len(differing)} "
            f"differing (largest box move {move:.1f} px)")


@click.command()
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), default=DEFAULT_DATA,
              show_default=True, help="The shared data folder (real_faces/).")
@click.option("--images", type=int, default=200, show_default=True, help="Same-size images to crop.")
@click.option("--batch-size", type=int, default=8, show_default=True, help="The batched runs' batch size.")
@click.option("--repeat", type=int, default=3, show_default=True, help="Interleaved passes; the fastest counts.")
@click.option("--detectors", default="mtcnn,blazeface", show_default=True, help="Comma-separated detectors.")
def main(data: Path, images: int, batch_size: int, repeat: int, detectors: str) -> None:
    """Images/s of the crop job on small images: batch size 1 (control) against shared batches."""
    from dfembed.core.logs import setup_logging

    setup_logging(0, quiet=True)
    logging.getLogger("dfembed").setLevel(logging.ERROR)
    from dfembed.crop.manifest import MANIFEST_COLUMNS, read_rows
    from dfembed.faces.config import CropConfig
    from dfembed.faces.detector import build_detector

    with tempfile.TemporaryDirectory() as temp:
        src, out = Path(temp) / "src", Path(temp) / "out"
        src.mkdir()
        count = small_images(data, images, src)
        click.echo(f"machine: {platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} usable "
                   f"CPU cores, python {sys.version.split()[0]}, load average "
                   + " ".join(f"{v:.2f}" for v in os.getloadavg()))
        click.echo(f"{count} images of 250x250 from real_faces; batch size 1 (control) against {batch_size}")
        for name in [n.strip() for n in detectors.split(",") if n.strip()]:
            config = CropConfig(detector=name)
            detector = build_detector(config)
            alone = dataclasses.replace(config, batch_size=1)
            shared = dataclasses.replace(config, batch_size=batch_size)
            crop_once(src, out / "warm", alone, detector)
            times: dict[int, list[float]] = {1: [], batch_size: []}
            for _ in range(repeat):
                times[1].append(crop_once(src, out / "one", alone, detector))
                times[batch_size].append(crop_once(src, out / "many", shared, detector))
            same = compare(read_rows(out / "one" / "manifest.csv", MANIFEST_COLUMNS),
                           read_rows(out / "many" / "manifest.csv", MANIFEST_COLUMNS))
            ratios = [a / b for a, b in zip(times[1], times[batch_size])]
            click.echo(f"{name}: batch 1 {count / min(times[1]):.1f} images/s, batch {batch_size} "
                       f"{count / min(times[batch_size]):.1f} images/s: {min(times[1]) / min(times[batch_size]):.2f}x "
                       f"(per pass {', '.join(f'{r:.2f}x' for r in ratios)}, median {statistics.median(ratios):.2f}x); "
                       f"manifests: {same}")


if __name__ == "__main__":
    main()
