#!/usr/bin/env python
"""Benchmark of the crop stage's per-video path with every face detector, against a naive MTCNN loop.

In one run, on the 1080p DFDC sample videos, measures frames per second of

(a) the naive loop: every frame decoded with ``read()`` up to the last sample,
    ``MTCNN().detect_faces`` called on each sampled full-resolution frame, one at a time,
    and the largest face cropped (same margin and size as dfembed);
(b) one row per registered detector (``--detectors mtcnn,blazeface``): what ``crop_face.py``
    runs per video, ``dfembed.faces.extract.faces_from_media`` with the default
    :class:`~dfembed.faces.config.CropConfig` and ``detector=NAME`` (``grab()``/``retrieve()``
    sampling, DFDC-winner downscale, batched detection, largest face, crop);

and for each detector its recall at IoU >= 0.5 on dlib's 43 ground-truth face boxes, the
faces it keeps on ``dlib/dogs.jpg`` (none expected) and on ``insightface/t1.jpg`` (6
expected), every face kept with the detector's default confidence floor, plus the
resident memory after each of ``--repeat`` passes (it should stay flat). The passes of
the detectors are interleaved and the fastest pass of each counts, so that a busy spell
of shared cores does not favour one detector; the ratio within each pass (its paths are
timed seconds apart, so at a similar load) and their median are printed too. Prints a
table with each row's ratio to the ``mtcnn`` crop path, and the ratio of that path to (a). (c) times decoding alone, as the
crop path decodes (H.264: only the frames the samples need, :mod:`dfembed.faces.sampled`): no
detector's crop path can be faster; its control, in the same passes, decodes every frame up
to the last sample with OpenCV (``grab()``, the samples converted), as the crop path did before.

``--peer facenet-pytorch`` adds (d): the DFDC winner's detector, facenet-pytorch's MTCNN, on the
same crop path (the same sampled frames, the same downscale rule, MTCNN's thresholds, smallest
face and pyramid factor, largest face, crop), timed in the same passes. facenet-pytorch pins
torch 2.2 and NumPy < 2, so it runs in its own environment (``bench/requirements-peer.txt``,
``--peer-python``) as a worker (``bench/peer_facenet.py``); the frames go to it through a file in
``/dev/shm``, and the time of that exchange is measured and left out of its path's time. Usage::

    .venv/bin/python bench/crop_bench.py            # --frames 8 --no-naive for a quicker run
    python3 -m venv .peer-venv && .peer-venv/bin/pip install -r bench/requirements-peer.txt
    .venv/bin/python bench/crop_bench.py --peer facenet-pytorch
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
import statistics
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


def time_decode(videos: list[Path], n: int, config, plain: bool = False) -> tuple[int, int, float]:
    """Frames and seconds of decoding alone, as the crop path decodes (the ceiling of any detector's path).

    ``plain``: the control, every frame up to the last sample decoded by OpenCV (the path
    before :mod:`dfembed.faces.sampled`), timed in the same passes.
    """
    from dfembed.faces import media
    from dfembed.faces.extract import iter_frame_chunks

    fast = media.sampled_frames
    media.sampled_frames = (lambda *args: None) if plain else fast
    try:
        frames = 0
        start = time.perf_counter()
        for video in videos:
            frames += sum(len(chunk) for chunk in iter_frame_chunks(video, config))
        return frames, 0, time.perf_counter() - start
    finally:
        media.sampled_frames = fast


class PeerDetector:
    """facenet-pytorch's MTCNN behind dfembed's detector interface, run by ``bench/peer_facenet.py`` in its own
    environment: the same crop path (sampled decoding, the DFDC winner's downscale, largest face, crop) with the
    field's detector as the network. The exchange with the worker is timed and left out (:attr:`exchange`)."""

    name = "facenet-pytorch"

    def __init__(self, python: Path, config) -> None:
        import subprocess
        import tempfile

        from dfembed.faces.base import ResizingDetector

        if not python.exists():
            raise click.UsageError(f"--peer-python {python} does not exist; create it with: python3 -m venv "
                                   ".peer-venv && .peer-venv/bin/pip install -r bench/requirements-peer.txt")
        self._worker = subprocess.Popen([str(python), str(REPO / "bench" / "peer_facenet.py")], text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._folder = tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None)
        self.versions = self._ask({"config": {"thresholds": list(config.thresholds),
                                              "min_face_size": config.detector_min_face_size,
                                              "factor": config.scale_factor}})
        self.exchange = 0.0
        outer = self

        class _Resizing(ResizingDetector):
            label = "facenet-pytorch MTCNN"

            def detect_resized(self, images: list[np.ndarray]) -> list:
                return outer.detect_resized(images)

        self._resizing = _Resizing(config.batch_size)

    def detect(self, frames):  # noqa: ANN001, ANN201 - the Detector protocol
        return self._resizing.detect(frames)

    def detect_resized(self, images: list[np.ndarray]) -> list:
        from dfembed.faces.base import Face

        start = time.perf_counter()
        target = Path(self._folder.name) / "frames.npy"
        np.save(target, np.stack(images))
        answer = self._ask({"frames": str(target)})
        self.exchange += time.perf_counter() - start - answer["seconds"]
        return [[Face(box=tuple(f[:4]), confidence=f[4], landmarks=None) for f in faces] for faces in answer["faces"]]

    def _ask(self, request: dict) -> dict:
        import json

        self._worker.stdin.write(json.dumps(request) + "\n")
        self._worker.stdin.flush()
        line = self._worker.stdout.readline()
        if not line:
            raise click.ClickException("the facenet-pytorch worker ended; run bench/peer_facenet.py to see why")
        return json.loads(line)

    def close(self) -> None:
        self._worker.stdin.close()
        self._worker.wait(30)
        self._folder.cleanup()


def count_faces(path: Path, detect, config) -> int:
    """Faces kept in one image with ``config``'s filters (every face, the detector's default floor)."""
    from dfembed.faces.extract import choose_faces
    from dfembed.faces.media import read_image

    return len(choose_faces(detect([read_image(path)])[0], config))


@dataclasses.dataclass
class Row:
    """One detector's measurements: the best of its passes, memory after each pass, accuracy checks."""

    name: str
    frames: int = 0
    crops: int = 0
    seconds: list[float] = dataclasses.field(default_factory=list)
    rss: list[float] = dataclasses.field(default_factory=list)
    recall: tuple[int, int] = (0, 0)
    dogs: int | None = None
    t1: int | None = None

    @property
    def fps(self) -> float:
        return self.frames / min(self.seconds)


@click.command()
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), default=DEFAULT_DATA,
              show_default=True, help="The shared data folder (faces/ and dfdc_sample/).")
@click.option("--frames", type=int, default=32, show_default=True, help="Frames sampled per video.")
@click.option("--repeat", type=int, default=3, show_default=True,
              help="Passes of each detector's crop path, interleaved; the fastest counts, RSS after each.")
@click.option("--detectors", default="", help="Comma-separated detectors [default: every registered one].")
@click.option("--naive/--no-naive", default=True, show_default=True, help="Also time (a), the naive MTCNN loop.")
@click.option("--peer", type=click.Choice(["none", "facenet-pytorch"]), default="none", show_default=True,
              help="Also time the DFDC winner's detector (facenet-pytorch's MTCNN) on the same crop path.")
@click.option("--peer-python", type=click.Path(path_type=Path), default=REPO / ".peer-venv" / "bin" / "python",
              show_default=True, help="The Python of the peer's environment (bench/requirements-peer.txt).")
def main(data: Path, frames: int, repeat: int, detectors: str, naive: bool, peer: str, peer_python: Path) -> None:
    """Frames/s and recall: naive MTCNN loop vs dfembed's crop path with each detector."""
    from dfembed.core.logs import setup_logging

    setup_logging(0, quiet=True)
    from dfembed.faces.detector import build_detector, detector_names

    videos = sorted((data / "dfdc_sample" / "videos").glob("*.mp4"))
    names = [n.strip() for n in detectors.split(",") if n.strip()] or detector_names()
    built = {name: build_detector(_config(name, frames)) for name in names}
    if peer != "none":
        built[PeerDetector.name] = PeerDetector(peer_python, _config("mtcnn", frames))
        click.echo(f"peer: facenet-pytorch {built[PeerDetector.name].versions}")
    warm = naive_frames(videos[0], 8)  # a full batch: the first calls of each batch shape build kernels
    for detector in built.values():
        detector.detect(warm)  # first calls build TensorFlow kernels / allocate the interpreter
    rows = {name: Row(name) for name in built}
    decode = Row("decoding alone (no detector)")
    plain = Row("decoding every frame (control)")
    for _ in range(repeat):  # interleaved, so that a busy spell of the shared cores hits every detector
        for name, detector in built.items():
            exchange = getattr(detector, "exchange", 0.0)
            total, crops, seconds = time_dfembed(videos, frames, detector, _config(name, frames))
            seconds -= getattr(detector, "exchange", 0.0) - exchange  # the peer's file exchange is not its work
            row = rows[name]
            row.frames, row.crops = total, crops
            row.seconds.append(seconds)
            row.rss.append(rss_mib())
        decode.frames, _, seconds = time_decode(videos, frames, _config(names[0], frames))
        decode.seconds.append(seconds)
        plain.frames, _, seconds = time_decode(videos, frames, _config(names[0], frames), plain=True)
        plain.seconds.append(seconds)
    for name, detector in built.items():
        _accuracy(rows[name], detector, data / "faces")
        if isinstance(detector, PeerDetector):
            detector.close()
    baseline = _naive(videos, frames, data / "faces") if naive else None
    _report(videos, frames, baseline, list(rows.values()), decode)
    ratios = [own / new for own, new in zip(plain.seconds, decode.seconds)]
    click.echo(f"(c) sampled decoding vs {plain.name}: {plain.frames} frames at {plain.fps:.2f} frames/s; "
               f"{decode.fps / plain.fps:.2f}x (per pass " + ", ".join(f"{r:.2f}x" for r in ratios) + ")")


def _config(name: str, frames: int):  # noqa: ANN202 - CropConfig, imported lazily
    from dfembed.faces.config import CropConfig

    # the peer has MTCNN's options (thresholds, smallest face, pyramid factor) and confidence floor
    return CropConfig(detector="mtcnn" if name == PeerDetector.name else name, frames_per_video=frames)


def _accuracy(row: Row, detector, faces: Path) -> None:
    """dlib recall, faces on dogs.jpg and on t1.jpg, every face kept with the detector's default floor."""
    from dfembed.faces.config import CropConfig
    from dfembed.faces.extract import choose_faces

    every_face = CropConfig(detector="mtcnn" if row.name == PeerDetector.name else row.name, faces="all")
    folder = faces / "dlib"
    row.recall = recall(dlib_truth(folder), lambda im: np.array(
        [f.box for f in choose_faces(detector.detect([im])[0], every_face)]).reshape(-1, 4), folder)
    row.dogs = count_faces(folder / "dogs.jpg", detector.detect, every_face)
    row.t1 = count_faces(faces / "insightface" / "t1.jpg", detector.detect, every_face)


def _naive(videos: list[Path], frames: int, faces: Path) -> Row:
    from mtcnn import MTCNN

    from dfembed.faces.config import CropConfig
    from dfembed.faces.geometry import xywh_to_xyxy

    mtcnn = MTCNN()
    mtcnn.detect_faces(naive_frames(videos[0], 1)[0])
    row = Row("(a) naive MTCNN per full frame")
    row.frames, row.crops, seconds = time_naive(videos, frames, mtcnn, CropConfig(frames_per_video=frames))
    row.seconds.append(seconds)
    folder = faces / "dlib"
    row.recall = recall(dlib_truth(folder), lambda im: xywh_to_xyxy(
        [d["box"] for d in mtcnn.detect_faces(im)]).reshape(-1, 4), folder)
    return row


def _report(videos: list[Path], frames: int, baseline: Row | None, rows: list[Row], decode: Row) -> None:
    click.echo(f"machine: {platform.processor() or platform.machine()}, "
               f"{len(os.sched_getaffinity(0))} usable CPU cores, python {sys.version.split()[0]}, "
               f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    click.echo(f"videos: {', '.join(v.name for v in videos)} (1920x1080), {frames} frames each")
    reference = next((r for r in rows if r.name == "mtcnn"), rows[0])
    click.echo(f"{'path (decode+detect+choose+crop)':<36}{'frames':>7}{'crops':>7}{'frames/s':>10}"
               f"{'vs ' + reference.name:>12}{'dlib recall':>13}{'dogs':>6}{'t1':>5}")
    for row in ([baseline] if baseline else []) + rows:
        label = row.name if row is baseline else f"(b) faces_from_media, {row.name}"
        dogs = "-" if row.dogs is None else str(row.dogs)
        t1 = "-" if row.t1 is None else str(row.t1)
        click.echo(f"{label:<36}{row.frames:>7}{row.crops:>7}{row.fps:>10.2f}{row.fps / reference.fps:>11.2f}x"
                   f"{f'{row.recall[0]}/{row.recall[1]}':>13}{dogs:>6}{t1:>5}")
    click.echo(f"{'(c) ' + decode.name:<36}{decode.frames:>7}{'-':>7}{decode.fps:>10.2f}"
               f"{decode.fps / reference.fps:>11.2f}x   (the ceiling of every crop path)")
    if baseline:
        click.echo(f"ratio {reference.name} crop path / naive loop: {reference.fps / baseline.fps:.1f}x frames/s")
    for row in rows + [decode]:
        if row is reference:
            continue
        ratios = [ref / own for ref, own in zip(reference.seconds, row.seconds)]  # same pass: similar load
        click.echo(f"per-pass ratio {row.name} / {reference.name}: " + ", ".join(f"{r:.2f}x" for r in ratios)
                   + f" (median {statistics.median(ratios):.2f}x)")
    peer = next((r for r in rows if r.name == PeerDetector.name), None)
    for row in rows if peer else []:
        if row is not peer:
            ratios = [ref / own for ref, own in zip(peer.seconds, row.seconds)]
            click.echo(f"per-pass ratio {row.name} / {peer.name}: " + ", ".join(f"{r:.2f}x" for r in ratios)
                       + f" (median {statistics.median(ratios):.2f}x; best passes {row.fps / peer.fps:.2f}x)")
    for row in rows:
        click.echo(f"RSS after each pass of {row.name} (MiB): " + ", ".join(f"{r:.0f}" for r in row.rss))


if __name__ == "__main__":
    main()
