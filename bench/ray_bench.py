#!/usr/bin/env python
"""The crop job on Ray against the local engine, on this machine: what the Ray engine costs.

Runs ``run_crop`` over SRC (the DFDC sample's images and videos by default) three ways, each
into a fresh DST: ``--engine local`` in this process (one detector, the baseline),
``--engine local --jobs N``, and ``--engine ray`` with N workers on a local Ray cluster of N
CPUs (started once, before the timing; its start-up is printed apart). Prints seconds,
sources/s and crops of each, the ratio to the baseline, and whether each run gave the
baseline's manifest (sorted rows) and failures. On a single machine Ray can only add
overhead (actor start-up, each detector built in its worker, the object store); this is
that overhead, the per-node figure that docs/scale.md multiplies.

    .venv/bin/python bench/ray_bench.py                        # 2 workers, blazeface, the sample
    .venv/bin/python bench/ray_bench.py --workers 2 --detector mtcnn --src ../shared/data/dfdc_sample/videos
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import os
import tempfile
import time
from pathlib import Path

import click

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO.parent / "shared" / "data" / "dfdc_sample"


def manifest_rows(dst: Path, name: str) -> list[tuple[str, ...]]:
    """A report's rows (crop paths are relative to DST), sorted: the comparison a user would make."""
    path = dst / name
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return sorted(tuple(row) for row in rows[1:])


def crop_once(srcs: list[Path], root: Path, name: str, config) -> tuple[float, int, dict[str, list]]:  # noqa: ANN001
    """Crop every SRC into ``root/name/<src name>``; seconds, sources, and the reports' rows."""
    from dfembed.crop.job import run_crop

    start = time.perf_counter()
    sources, reports = 0, {}
    for src in srcs:
        dst = root / name / src.name
        summary = run_crop(src, dst, config)
        sources += summary.processed
        reports[src.name] = [manifest_rows(dst, "manifest.csv"), manifest_rows(dst, "failures.csv")]
    return time.perf_counter() - start, sources, reports


@click.command()
@click.option("--src", "srcs", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folders to crop [the DFDC sample's frames/ and videos/].")
@click.option("--workers", type=int, default=2, show_default=True, help="Local --jobs and Ray workers.")
@click.option("--detector", default="blazeface", show_default=True)
@click.option("--frames-per-video", type=int, default=32, show_default=True)
def main(srcs: tuple[Path, ...], workers: int, detector: str, frames_per_video: int) -> None:
    """Time the crop job locally and on a local Ray cluster (see the module's docstring)."""
    logging.basicConfig(level=logging.WARNING)
    from dfembed.core.cluster import import_ray
    from dfembed.faces.config import CropConfig

    folders = list(srcs) or [SAMPLE / "frames", SAMPLE / "videos"]
    base = CropConfig(detector=detector, frames_per_video=frames_per_video)
    ray = import_ray()
    click.echo(f"{os.cpu_count()} CPUs, load {os.getloadavg()}; {detector}, {frames_per_video} frames a video; "
               f"SRC {', '.join(str(f) for f in folders)}")
    start = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, configure_logging=False,
             object_store_memory=256 * 1024 * 1024)
    click.echo(f"local Ray cluster of {workers} CPUs started in {time.perf_counter() - start:.1f} s (not counted)")
    runs = [("local", base), (f"local --jobs {workers}", dataclasses.replace(base, jobs=workers)),
            (f"ray, {workers} workers", dataclasses.replace(base, engine="ray", ray_workers=workers))]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            results = [(label, *crop_once(folders, Path(tmp), f"run{k}", config))
                       for k, (label, config) in enumerate(runs)]
    finally:
        ray.shutdown()
    _print(results)


def _print(results: list[tuple[str, float, int, dict[str, list]]]) -> None:
    baseline_s, baseline_reports = results[0][1], results[0][3]
    click.echo(f"{'engine':<22} {'seconds':>8} {'sources/s':>10} {'crops':>6} {'vs local':>9}  "
               "same manifest and failures")
    for label, seconds, sources, reports in results:
        same = "yes" if reports == baseline_reports else "NO"
        crops = sum(len(manifest) for manifest, _ in reports.values())
        click.echo(f"{label:<22} {seconds:>8.1f} {sources / seconds:>10.2f} {crops:>6} {baseline_s / seconds:>8.2f}×"
                   f"  {same}")


if __name__ == "__main__":
    main()
