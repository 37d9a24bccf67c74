"""Short generated media for the audio tests: sine sweeps, tones and silence muxed with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

av = __import__("pytest").importorskip("av", reason="the audio tests need PyAV (pip install -e '.[audio]')")


def sweep(seconds: float, rate: int, start_hz: float = 200.0, end_hz: float = 4000.0, level: float = 0.5) -> np.ndarray:
    """A logarithmic sine sweep from ``start_hz`` to ``end_hz``, float32 mono."""
    t = np.arange(round(seconds * rate)) / rate
    ratio = np.log(end_hz / start_hz)
    phase = 2 * np.pi * start_hz * seconds / ratio * (np.exp(t / seconds * ratio) - 1.0)
    return (level * np.sin(phase)).astype(np.float32)


def tone(seconds: float, rate: int, hz: float, level: float = 0.5) -> np.ndarray:
    """A pure tone, float32 mono."""
    t = np.arange(round(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def write_video(path: Path, seconds: float, audio: np.ndarray | None, rate: int = 48000, channels: int = 1,
                fps: int = 10, size: tuple[int, int] = (64, 48), container: str = "mp4",
                frame_value: int | None = None) -> Path:
    """Write a tiny MPEG-4 video of ``seconds`` with an AAC soundtrack (``audio`` samples at ``rate``), or none.

    The frames are a moving gradient, or grey ``frame_value`` everywhere; ``channels`` 2 writes the
    same signal on both channels.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", format=container) as out:
        video = out.add_stream("mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        sound = None
        if audio is not None:
            sound = out.add_stream("aac", rate=rate, layout="mono" if channels == 1 else "stereo")
        _write_frames(out, video, seconds, fps, size, frame_value)
        if sound is not None:
            _write_audio(out, sound, audio, rate, channels)
    return path


def _write_frames(out: object, video: object, seconds: float, fps: int, size: tuple[int, int],
                  value: int | None) -> None:
    width, height = size
    for index in range(round(seconds * fps)):
        ramp = (np.arange(width)[None, :] * 4 + index * 8 + np.arange(height)[:, None]) % 256
        if value is not None:
            ramp = np.full((height, width), value)
        frame = av.VideoFrame.from_ndarray(np.repeat(ramp[..., None], 3, axis=2).astype(np.uint8), format="rgb24")
        for packet in video.encode(frame):
            out.mux(packet)
    for packet in video.encode(None):
        out.mux(packet)


def _write_audio(out: object, sound: object, audio: np.ndarray, rate: int, channels: int) -> None:
    block = 1024
    for start in range(0, len(audio), block):
        chunk = np.asarray(audio[start : start + block], dtype=np.float32)
        planes = np.repeat(chunk[None, :], channels, axis=0)
        frame = av.AudioFrame.from_ndarray(planes, format="fltp", layout="mono" if channels == 1 else "stereo")
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        for packet in sound.encode(frame):
            out.mux(packet)
    for packet in sound.encode(None):
        out.mux(packet)
