#!/usr/bin/env python
"""Benchmark of the crop stage's detection path against a naive MTCNN loop.

In one run, on the 1080p DFDC sample videos, measures frames per second of

(a) the naive loop: every frame decoded with ``read()`` up to the last sample, and
    ``MTCNN().detect_faces`` called on each sampled full-resolution frame, one at a time;
(b) dfembed's path: ``iter_video_frames`` (``grab()``/``retrieve()``) and
    ``FaceDetector.detect`` (DFDC-winner downscale, frames of a video in one batch);

and the recall at IoU >= 0.5 of both on dlib's 43 ground-truth face boxes, plus the
resident memory of (b) after each of ``--repeat`` passes (it should stay flat).
Prints a table and the ratio (b)/(a). Usage::

    .venv/bin/python bench/crop_bench.py            # --frames 8 for a quicker run
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import click
import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"

log = logging.getLogger("crop_bench")


def dlib_truth(folder: Path) -> dict[str, np.ndarray]:
    """dlib's boxes ``x1, y1, x2, y2`` per image file (``ignore='1'`` left out)."""
    truth: dict[str, list[list[float]]] = {}
    for name in ("training.xml", "testing.xml"):
        for image in ET.parse(folder / name).getroot().iter("image"):
            for box in image.iter("box"):
                if box.get("ignore") != "1":
                    x, y, w, h = (float(box.get(k)) for k in ("left", "top", "width", "height"))
                    truth.setdefault(image.get("file"), []).append([x, y, x + w, y + h])
    return {k: np.asarray(v) for k, v in truth.items()}


def recall(truth: dict[str, np.ndarray], predict, folder: Path) -> tuple[int, int]:
    """Ground-truth boxes matched at IoU >= 0.5 by ``predict(image) -> (N, 4) boxes``."""
    from dfembed.geometry import iou
    from dfembed.media import read_image

    found = total = 0
    for name, boxes in truth.items():
        predicted = predict(read_image(folder / name))
        total += len(boxes)
        if len(predicted):
            found += int((iou(boxes, predicted).max(axis=1) >= 0.5).sum())
    return found, total


def naive_frames(path: Path, n: int) -> list[np.ndarray]:
    """Decode every frame with ``read()`` and keep ``n`` evenly spaced ones (the naive way)."""
    from dfembed.media import sample_indices

    capture = cv2.VideoCapture(str(path))
    wanted = set(sample_indices(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), n))
    frames, index = [], 0
    while index <= max(wanted):
        ok, frame = capture.read()
        if not ok:
            break
        if index in wanted:
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        index += 1
    capture.release()
    return frames


def rss_mib() -> float:
    """Resident memory of this process in MiB (Linux)."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def time_naive(videos: list[Path], n: int, mtcnn) -> tuple[int, float, float]:
    """Frames, decode seconds and detect seconds of the naive loop."""
    frames = decode = detect = 0.0
    for video in videos:
        start = time.perf_counter()
        images = naive_frames(video, n)
        decode += time.perf_counter() - start
        start = time.perf_counter()
        for image in images:
            mtcnn.detect_faces(image)
        detect += time.perf_counter() - start
        frames += len(images)
    return int(frames), decode, detect


def time_dfembed(videos: list[Path], n: int, detector) -> tuple[int, float, float]:
    """Frames, decode seconds and detect seconds of dfembed's path."""
    from dfembed.media import sample_video_frames

    frames = decode = detect = 0.0
    for video in videos:
        start = time.perf_counter()
        images = [f for _, f in sample_video_frames(video, n)]
        decode += time.perf_counter() - start
        start = time.perf_counter()
        detector.detect(images)
        detect += time.perf_counter() - start
        frames += len(images)
    return int(frames), decode, detect


@click.command()
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), default=DEFAULT_DATA,
              show_default=True, help="The shared data folder (faces/ and dfdc_sample/).")
@click.option("--frames", type=int, default=32, show_default=True, help="Frames sampled per video.")
@click.option("--repeat", type=int, default=2, show_default=True, help="Passes of (b) for the memory check.")
def main(data: Path, frames: int, repeat: int) -> None:
    """Frames/s and recall: naive MTCNN loop vs dfembed's crop path."""
    from dfembed.logs import setup_logging

    setup_logging(0, quiet=True)
    from mtcnn import MTCNN

    from dfembed.crop_config import CropConfig
    from dfembed.detector import FaceDetector
    from dfembed.faces import choose_faces
    from dfembed.geometry import xywh_to_xyxy

    videos = sorted((data / "dfdc_sample" / "videos").glob("*.mp4"))
    config = CropConfig(faces="all")
    naive, ours = MTCNN(), FaceDetector(config)
    warm = naive_frames(videos[0], 1)
    naive.detect_faces(warm[0]), ours.detect(warm)  # first calls build TensorFlow kernels

    a = time_naive(videos, frames, naive)
    rss = []
    for _ in range(repeat):
        b = time_dfembed(videos, frames, ours)
        rss.append(rss_mib())

    folder = data / "faces" / "dlib"
    truth = dlib_truth(folder)
    rec_a = recall(truth, lambda im: xywh_to_xyxy([d["box"] for d in naive.detect_faces(im)]).reshape(-1, 4),
                   folder)
    rec_b = recall(truth, lambda im: np.array([f.box for f in choose_faces(ours.detect([im])[0], config)])
                   .reshape(-1, 4), folder)
    _report(videos, frames, a, b, rec_a, rec_b, rss)


def _report(videos, frames, a, b, rec_a, rec_b, rss) -> None:
    def fps(result):
        n, decode, detect = result
        return n / (decode + detect), n / detect

    click.echo(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
               f"python {sys.version.split()[0]}")
    click.echo(f"videos: {', '.join(v.name for v in videos)} (1920x1080), {frames} frames each")
    click.echo(f"{'path':<34}{'frames':>7}{'frames/s':>10}{'detect-only f/s':>17}{'dlib recall':>13}")
    for name, result, rec in (("(a) naive MTCNN per full frame", a, rec_a), ("(b) dfembed crop path", b, rec_b)):
        total, detect_only = fps(result)
        click.echo(f"{name:<34}{result[0]:>7}{total:>10.2f}{detect_only:>17.2f}{f'{rec[0]}/{rec[1]}':>13}")
    click.echo(f"ratio (b)/(a): {fps(b)[0] / fps(a)[0]:.1f}x frames/s "
               f"({fps(b)[1] / fps(a)[1]:.1f}x detection only)")
    click.echo("RSS of (b) after each pass (MiB): " + ", ".join(f"{r:.0f}" for r in rss))


if __name__ == "__main__":
    main()
