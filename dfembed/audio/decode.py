"""Decoding a container's soundtrack with PyAV (which bundles FFmpeg): mono float32 at one rate.

No system ``ffmpeg`` is assumed: PyAV's wheels carry FFmpeg's libraries. The first audio
stream of the file is decoded packet by packet, mixed down to mono and resampled with
FFmpeg's resampler (libswresample) to the wanted rate. A file without an audio stream,
or whose soundtrack is silent, raises :class:`AudioError` with the reason ``no audio`` —
a fact about the file that a batch job lists, not a failure of the job.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from dfembed.core.bounds import AUDIO_SECONDS
from dfembed.core.errors import InputError
from dfembed.core.walk import printable

log = logging.getLogger(__name__)

NO_AUDIO = "no audio"
#: A soundtrack with more undecodable packets than this share is unreadable.
MAX_BAD_PACKETS = 0.5


class AudioError(InputError):
    """A file's soundtrack cannot be used.

    Attributes:
        path: The file.
        reason: A short category for reports: ``no audio`` (no audio stream, nothing decoded,
            or silence), ``empty file``, ``cannot open`` (not a container PyAV reads) or
            ``unreadable`` (decoding failed).
    """

    def __init__(self, path: str | os.PathLike[str], reason: str, detail: str = "") -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{printable(str(self.path))}: {reason}" + (f" ({detail})" if detail else ""))


def read_soundtrack(path: str | os.PathLike[str], sample_rate: int, silence_db: float = -60.0) -> np.ndarray:
    """The first soundtrack of a media file, mono, resampled to ``sample_rate``.

    The file is opened through a Python file object, so any file name works.

    Args:
        path: A video (or audio) container.
        sample_rate: Output rate in Hz.
        silence_db: A track whose peak magnitude is below this level (dB of full scale) is silent.

    Returns:
        Float32 samples ``(n,)``, nominally in [-1, 1].

    Raises:
        AudioError: ``no audio`` (no audio stream, no sample decoded, or a silent track),
            ``empty file``, ``cannot open`` or ``unreadable``.
    """
    import av

    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as err:
        raise AudioError(path, "unreadable", str(err.strerror or err)) from err
    if size == 0:
        raise AudioError(path, "empty file", "0 bytes")
    try:
        with open(path, "rb") as handle, av.open(handle, mode="r") as container:
            samples = _decode(container, path, sample_rate)
    except AudioError:
        raise
    except (av.FFmpegError, OSError, ValueError, EOFError) as err:
        raise AudioError(path, "cannot open", f"PyAV: {_first_line(err)}") from err
    return _checked(samples, path, silence_db)


def _decode(container: object, path: Path, sample_rate: int) -> np.ndarray:
    """Decode the first audio stream packet by packet; count (and tolerate a few) bad packets."""
    import av

    streams = list(container.streams.audio)  # type: ignore[attr-defined]
    if not streams:
        raise AudioError(path, NO_AUDIO, "the file has no audio stream")
    _check_declared_length(container, streams[0], path)
    limit = int(AUDIO_SECONDS.value() * sample_rate)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    chunks: list[np.ndarray] = []
    packets = bad = decoded = 0
    for packet in container.demux(streams[0]):  # type: ignore[attr-defined]
        packets += 1
        try:
            frames = packet.decode()
        except (av.FFmpegError, ValueError) as err:
            bad += 1
            log.debug("%s: skipping an undecodable audio packet: %s", printable(str(path)), _first_line(err))
            continue
        for frame in frames:
            new = [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
            chunks += new
            decoded += sum(chunk.size for chunk in new)
        if decoded > limit:  # the header understated the length
            raise AudioError(path, "too long", f"more than {limit / sample_rate:g} seconds decoded, the limit "
                                               f"(set {AUDIO_SECONDS.env} to raise it)")
    chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    if packets and bad > MAX_BAD_PACKETS * packets:
        raise AudioError(path, "unreadable", f"{bad} of {packets} audio packets could not be decoded")
    if bad:
        log.warning("%s: %d of %d audio packets could not be decoded and were skipped",
                    printable(str(path)), bad, packets)
    return np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)


def _check_declared_length(container: object, stream: object, path: Path) -> None:
    """Refuse a soundtrack whose header declares more than the limit, before it is decoded."""
    seconds = None
    if getattr(stream, "duration", None) and getattr(stream, "time_base", None):
        seconds = float(stream.duration * stream.time_base)  # type: ignore[attr-defined]
    elif getattr(container, "duration", None):
        seconds = container.duration / 1_000_000  # type: ignore[attr-defined]  # AV_TIME_BASE
    reason = AUDIO_SECONDS.exceeded(round(seconds, 1), "its declared length") if seconds else None
    if reason:
        raise AudioError(path, "too long", reason)


def _checked(samples: np.ndarray, path: Path, silence_db: float) -> np.ndarray:
    if samples.size == 0:
        raise AudioError(path, NO_AUDIO, "the audio stream holds no sample")
    if not np.all(np.isfinite(samples)):
        raise AudioError(path, "unreadable", "the decoded soundtrack holds non-finite samples")
    peak = float(np.max(np.abs(samples)))
    if peak <= 10.0 ** (silence_db / 20.0):
        detail = (f"the soundtrack is silent: its peak, {20.0 * np.log10(peak):.1f} dB, is below the "
                  f"{silence_db:g} dB floor" if peak > 0 else "the soundtrack is digital silence")
        raise AudioError(path, NO_AUDIO, detail)
    return samples


def _first_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:200] or type(err).__name__
