#!/usr/bin/env python
"""Benchmark of decoding the sampled frames of a video: what the crop path does against decoding every frame.

For each video and each sample count (``--frames``, default 32 and 8), in interleaved passes
(``--repeat``; the fastest of each counts, the per-pass ratios are printed), times
``dfembed.faces.media.sample_video_frames`` as the crop path runs it (H.264: only the frames the
samples need, :mod:`dfembed.faces.sampled`) and its control, every frame up to the last sample
decoded by OpenCV (``grab()``, only the samples converted), and checks that both give the same
frame indices and pixels.

Videos: the 1080p DFDC sample videos, and a long video this script encodes at run time into a
temporary folder (``--long-seconds`` of 1280x720 at 25 frames/s, from the first sample video's
frames played back and forth, libx264 ``veryfast`` with its default group of 250 pictures and
B-frames): where the samples are further apart than a group of pictures, whole groups are skipped.
Usage::

    .venv/bin/python bench/decode_bench.py [--frames 32,8] [--repeat 3] [--long-seconds 120]
"""

from __future__ import annotations

import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import click
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"


def encode_long(source: Path, target: Path, seconds: int) -> int:
    """Encode ``seconds`` of 1280x720 H.264 from ``source``'s frames, played back and forth; the frame count."""
    import av
    import cv2

    with av.open(str(source)) as container:
        frames = [cv2.resize(f.to_ndarray(format="rgb24"), (1280, 720), interpolation=cv2.INTER_AREA)
                  for f in container.decode(video=0)]
    loop = frames + frames[-2:0:-1]
    count = seconds * 25
    with av.open(str(target), mode="w") as out:
        stream = out.add_stream("libx264", rate=25, options={"preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        for index in range(count):
            for packet in stream.encode(av.VideoFrame.from_ndarray(loop[index % len(loop)], format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return count


def decode(video: Path, n: int, plain: bool) -> tuple[list[tuple[int, np.ndarray]], float]:
    """The samples and the seconds to decode them, as the crop path does or (``plain``) every frame with OpenCV."""
    from dfembed.faces import media

    fast = media.sampled_frames
    media.sampled_frames = (lambda *args: None) if plain else fast
    try:
        start = time.perf_counter()
        frames = media.sample_video_frames(video, n)
        return frames, time.perf_counter() - start
    finally:
        media.sampled_frames = fast


def same(first: list[tuple[int, np.ndarray]], second: list[tuple[int, np.ndarray]]) -> bool:
    """The same frame indices and pixels."""
    return [i for i, _ in first] == [i for i, _ in second] and all(
        np.array_equal(a, b) for (_, a), (_, b) in zip(first, second))


def measure(videos: list[Path], n: int, repeat: int) -> tuple[int, list[float], list[float], bool]:
    """Frames, seconds per pass of the crop path's decoding and of the control, and whether they agree."""
    sampled, control, agree, frames = [], [], True, 0
    for _ in range(repeat):
        seconds_fast = seconds_plain = 0.0
        frames = 0
        for video in videos:
            fast, seconds = decode(video, n, plain=False)
            seconds_fast += seconds
            plain, seconds = decode(video, n, plain=True)
            seconds_plain += seconds
            agree = agree and same(fast, plain)
            frames += len(fast)
        sampled.append(seconds_fast)
        control.append(seconds_plain)
    return frames, sampled, control, agree


@click.command()
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), default=DEFAULT_DATA,
              show_default=True, help="The shared data folder (dfdc_sample/videos).")
@click.option("--frames", default="32,8", show_default=True, help="Comma-separated sample counts per video.")
@click.option("--repeat", type=int, default=3, show_default=True, help="Interleaved passes; the fastest counts.")
@click.option("--long-seconds", type=int, default=120, show_default=True,
              help="Length of the generated long video (0: none).")
def main(data: Path, frames: str, repeat: int, long_seconds: int) -> None:
    """Frames/s of sampled decoding against decoding every frame, on the sample videos and a long one."""
    logging.basicConfig(level=logging.WARNING)
    videos = sorted((data / "dfdc_sample" / "videos").glob("*.mp4"))
    counts = [int(n) for n in frames.split(",") if n.strip()]
    with tempfile.TemporaryDirectory() as temp:
        sets = {"DFDC sample (3 videos, 1080p, 300/300/105 frames)": videos}
        if long_seconds:
            long_video = Path(temp) / "long.mp4"
            total = encode_long(videos[0], long_video, long_seconds)
            sets[f"generated long video (720p, {total} frames)"] = [long_video]
        click.echo(f"machine: {platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} usable "
                   f"CPU cores, python {sys.version.split()[0]}, load average "
                   + " ".join(f"{v:.2f}" for v in os.getloadavg()))
        for name, chosen in sets.items():
            for n in counts:
                total, sampled, control, agree = measure(chosen, n, repeat)
                ratios = [c / s for s, c in zip(sampled, control)]
                click.echo(f"{name}, {n} samples each: sampled {total / min(sampled):.1f} frames/s, control "
                           f"{total / min(control):.1f} frames/s: {min(control) / min(sampled):.2f}x (per pass "
                           + ", ".join(f"{r:.2f}x" for r in ratios) + f", median {statistics.median(ratios):.2f}x); "
                           f"identical frames: {agree}")


if __name__ == "__main__":
    main()
