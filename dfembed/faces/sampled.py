"""Decoding only what sampling needs: H.264 frames that no other frame references are skipped.

Reading ``n`` sampled frames the plain way decodes every frame up to the last sample
(a video codec decodes a frame from the frames it references). But about half of the
frames of a typical H.264 stream are *non-reference* pictures (``nal_ref_idc`` 0 in the
slice's NAL header): no other frame is predicted from them, so a frame that is not a
sample and not a reference need not be decoded at all. This module demuxes the packets
(no decoding), orders their timestamps into display indices, sends the decoder every
reference packet and only the non-reference packets that are samples, and converts only
the samples to pixels. The frames are the ones a full decode gives, bit for bit (the
tests compare every sampled frame with OpenCV's), decoded with FFmpeg's frame threads.

It applies to H.264 in an MP4/MOV-style container (length-prefixed NAL units, ``avcC``
extradata) whose packets all carry a timestamp and whose packet count matches the count
the caller samples over; anything else (another codec, an AVI, a header that lies about
its length, PyAV missing) returns ``None`` and is read the plain way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: H.264 NAL unit types of a coded slice (non-IDR and IDR).
_SLICE_TYPES = (1, 5)


@dataclass(frozen=True)
class PacketPlan:
    """What to decode of one video.

    Attributes:
        display: Packet timestamp → display index (the frame's position in time order).
        skip: Timestamps of the packets not sent to the decoder.
    """

    display: dict[int, int]
    skip: frozenset[int]


def non_reference(packet: bytes, length_size: int) -> bool:
    """Whether an H.264 access unit in length-prefixed form is a non-reference picture.

    Args:
        packet: The packet's bytes: NAL units, each after a ``length_size``-byte big-endian length.
        length_size: Bytes of each length prefix (from the ``avcC`` extradata).

    Returns:
        ``True`` when its first slice NAL unit has ``nal_ref_idc`` 0; ``False`` when it is a
        reference, or no slice is found (decoded, to be safe).
    """
    position = 0
    while position + length_size < len(packet):
        size = int.from_bytes(packet[position:position + length_size], "big")
        header = packet[position + length_size]
        if header & 0x1F in _SLICE_TYPES:
            return (header >> 5) & 0x3 == 0
        position += length_size + size
    return False


def plan_packets(timestamps: list[int | None], non_ref: list[bool], wanted: set[int]) -> PacketPlan | None:
    """Display indices of the packets and which of them to skip; ``None`` when a timestamp is missing or repeated.

    Args:
        timestamps: Each packet's presentation timestamp, in decode order.
        non_ref: Whether each packet is a non-reference picture.
        wanted: Display indices of the samples.

    Returns:
        The plan, or ``None`` when the timestamps cannot order the frames.
    """
    if any(t is None for t in timestamps) or len(set(timestamps)) != len(timestamps):
        return None
    display = {t: index for index, t in enumerate(sorted(timestamps))}  # type: ignore[type-var]
    skip = frozenset(t for t, no_ref in zip(timestamps, non_ref) if no_ref and display[t] not in wanted)
    return PacketPlan(display, skip)  # type: ignore[arg-type]


def sampled_frames(path: Path, count: int, wanted: list[int]) -> Iterator[tuple[int, np.ndarray]] | None:
    """The ``wanted`` frames of an H.264 video, decoding only what they need; ``None`` when it does not apply.

    Args:
        path: The video file.
        count: The frame count the samples were drawn from (the header's).
        wanted: Sorted display indices to return.

    Returns:
        An iterator of ``(index, RGB uint8 frame)`` in index order (it may end early if the
        decoder returns a frame it cannot place; the caller reads the rest the plain way),
        or ``None`` when the fast path does not apply to this file.
    """
    try:
        import av
    except ImportError:
        return None
    try:
        packets = _demux(av, path)
    except (av.FFmpegError, OSError, ValueError, EOFError):
        return None
    if packets is None or len(packets) != count:
        return None
    plan = plan_packets([pts for pts, _ in packets], [no_ref for _, no_ref in packets], set(wanted))
    if plan is None or not plan.skip:  # nothing to leave out: the plain way is as fast
        return None
    return _decode(av, path, plan, set(wanted))


def _demux(av: object, path: Path) -> list[tuple[int | None, bool]] | None:
    """Each video packet's timestamp and whether it is a non-reference picture, read without decoding;
    ``None`` for a stream this path does not take."""
    with av.open(str(path)) as container:  # type: ignore[attr-defined]
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        extradata = stream.codec_context.extradata or b""
        if stream.codec_context.name != "h264" or len(extradata) < 5 or extradata[0] != 1:
            return None  # not H.264 with avcC extradata (Annex B streams, other codecs)
        length_size = (extradata[4] & 0x3) + 1
        return [(packet.pts, non_reference(bytes(packet), length_size))
                for packet in container.demux(stream) if packet.size]


def _decode(av: object, path: Path, plan: PacketPlan, wanted: set[int]) -> Iterator[tuple[int, np.ndarray]]:
    """Send the planned packets to a threaded decoder; yield the wanted frames as RGB in display order.

    FFmpeg converts straight to RGB: the same values as its BGR output with the channels swapped,
    in less time than BGR and a separate swap.

    A decoding error or a frame it cannot place ends the iterator early; the caller then
    reads the samples still missing the plain way, which reports the error as it always has.
    """
    remaining = set(wanted)
    skipped = 0
    try:
        with av.open(str(path)) as container:  # type: ignore[attr-defined]
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for packet in container.demux(stream):
                if packet.size and packet.pts in plan.skip:
                    skipped += 1
                    continue
                for frame in packet.decode():
                    index = plan.display.get(frame.pts)
                    if index is None:
                        return
                    if index in remaining:
                        remaining.discard(index)
                        yield index, frame.to_ndarray(format="rgb24")
                if not remaining:
                    break
    except (av.FFmpegError, OSError, ValueError, EOFError) as err:  # type: ignore[attr-defined]
        log.debug("%s: sampled decoding stopped (%s); reading the rest the plain way", path, err)
        return
    log.debug("%s: %d frames sampled, %d non-reference frames not decoded", path, len(wanted), skipped)
