#!/usr/bin/env python
"""Benchmark of the crop stage's per-video path against a naive MTCNN loop.

In one run, on the 1080p DFDC sample videos, measures frames per second of

(a) the naive loop: every frame decoded with ``read()`` up to the last sample,
    ``MTCNN().detect_faces`` called on each sampled full-resolution frame, one at a time,
    and the largest face cropped (same margin and size as dfembed);
(b) what ``crop_face.py`` runs per video: ``dfembed.faces.extract.faces_from_media`` with the
    default :class:`~dfembed.faces.config.CropConfig` (``grab()``/``retrieve()`` sampling,
    DFDC-winner downscale, batched detection, largest face, crop);

and the recall at IoU >= 0.5 of both detectors on dlib's 43 ground-truth face boxes
(every face kept), plus the resident memory after each of ``--repeat`` passes of (b)
(it should stay flat). Prints a table and the ratio (b)/(a). Usage::

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
    from dfembed.faces.geometry import iou
    from dfembed.faces.media import read_image

    found = total = 0
    for name, boxes in truth.items():
        predicted = predict(read_image(folder / name))
        total += len(boxes)
        if len(predicted):
            found += int((iou(boxes, predicted).max(axis=1) >= 0.5).sum())
    return found, total


def naive_frames(path: Path, n: int) -> list[np.ndarray]:
    """Decode every frame with ``read()`` and keep ``n`` evenly spaced ones (the naive way)."""
    from dfembed.faces.media import sample_indices

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


def time_naive(videos: list[Path], n: int, mtcnn, config) -> tuple[int, int, float]:
    """Frames, crops and seconds of the naive loop (decode, detect, largest face, crop)."""
    from dfembed.faces.geometry import face_crop, xywh_to_xyxy

    frames = crops = 0
    start = time.perf_counter()
    for video in videos:
        for image in naive_frames(video, n):
            faces = mtcnn.detect_faces(image)
            frames += 1
            if faces:
                largest = max(faces, key=lambda f: f["box"][2] * f["box"][3])
                face_crop(image, xywh_to_xyxy(np.asarray(largest["box"], dtype=np.float64)), config.margin,
                          config.size)
                crops += 1
    return frames, crops, time.perf_counter() - start


def time_dfembed(videos: list[Path], n: int, detector, config) -> tuple[int, int, float]:
    """Frames, crops and seconds of ``faces_from_media`` (what ``crop_face.py`` runs per video)."""
    from dfembed.faces.extract import faces_from_media
    from dfembed.faces.media import sample_indices

    frames = crops = 0
    start = time.perf_counter()
    for video in videos:
        crops += len(faces_from_media(video, detector, config))
    seconds = time.perf_counter() - start
    for video in videos:
        capture = cv2.VideoCapture(str(video))
        frames += len(sample_indices(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), n))
        capture.release()
    return frames, crops, seconds


@click.command()
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), default=DEFAULT_DATA,
              show_default=True, help="The shared data folder (faces/ and dfdc_sample/).")
@click.option("--frames", type=int, default=32, show_default=True, help="Frames sampled per video.")
@click.option("--repeat", type=int, default=2, show_default=True, help="Passes of (b) for the memory check.")
def main(data: Path, frames: int, repeat: int) -> None:
    """Frames/s and recall: naive MTCNN loop vs dfembed's crop path."""
    from dfembed.core.logs import setup_logging

    setup_logging(0, quiet=True)
    from mtcnn import MTCNN

    from dfembed.faces.config import CropConfig
    from dfembed.faces.detector import FaceDetector
    from dfembed.faces.extract import choose_faces
    from dfembed.faces.geometry import xywh_to_xyxy

    videos = sorted((data / "dfdc_sample" / "videos").glob("*.mp4"))
    config = CropConfig(frames_per_video=frames)
    every_face = CropConfig(faces="all")
    naive, ours = MTCNN(), FaceDetector(config)
    warm = naive_frames(videos[0], 1)
    naive.detect_faces(warm[0]), ours.detect(warm)  # first calls build TensorFlow kernels

    a = time_naive(videos, frames, naive, config)
    rss = []
    for _ in range(repeat):
        b = time_dfembed(videos, frames, ours, config)
        rss.append(rss_mib())

    folder = data / "faces" / "dlib"
    truth = dlib_truth(folder)
    rec_a = recall(truth, lambda im: xywh_to_xyxy([d["box"] for d in naive.detect_faces(im)]).reshape(-1, 4),
                   folder)
    rec_b = recall(truth, lambda im: np.array([f.box for f in choose_faces(ours.detect([im])[0], every_face)])
                   .reshape(-1, 4), folder)
    _report(videos, frames, a, b, rec_a, rec_b, rss)


def _report(videos, frames, a, b, rec_a, rec_b, rss) -> None:
    click.echo(f"machine: {platform.processor() or platform.machine()}, "
               f"{len(os.sched_getaffinity(0))} usable CPU cores, python {sys.version.split()[0]}")
    click.echo(f"videos: {', '.join(v.name for v in videos)} (1920x1080), {frames} frames each")
    click.echo(f"{'path (decode+detect+choose+crop)':<36}{'frames':>7}{'crops':>7}{'frames/s':>10}"
               f"{'dlib recall':>13}")
    for name, result, rec in (("(a) naive MTCNN per full frame", a, rec_a), ("(b) faces_from_media", b, rec_b)):
        total, crops, seconds = result
        click.echo(f"{name:<36}{total:>7}{crops:>7}{total / seconds:>10.2f}{f'{rec[0]}/{rec[1]}':>13}")
    click.echo(f"ratio (b)/(a): {(b[0] / b[2]) / (a[0] / a[2]):.1f}x frames/s")
    click.echo("RSS after each pass of (b) (MiB): " + ", ".join(f"{r:.0f}" for r in rss))


if __name__ == "__main__":
    main()
