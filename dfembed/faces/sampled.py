"""Decoding only what sampling needs: H.264 pictures that no sample depends on are never decoded.

Reading ``n`` sampled frames the plain way decodes every frame up to the last sample
(a video codec decodes a frame from the frames it references). Two kinds of frames
need not be decoded at all, and are not sent to the decoder here:

* *non-reference* pictures (``nal_ref_idc`` 0 in the slice's NAL header) that are not
  samples: no other frame is predicted from them (about half the frames of a typical
  H.264 stream);
* every picture of a closed group of pictures after the group's last sample in decode
  order: an IDR picture (NAL unit type 5) empties the decoder's reference buffer, so nothing
  after it depends on anything before it, and a picture refers only to pictures decoded
  before it; a group from one IDR picture to the next that holds no sample is skipped whole
  (a long video sampled sparsely decodes, per sample, from the IDR picture before it).

This module demuxes the packets (no decoding), orders their timestamps into display
indices, sends the decoder only the packets the samples need, and converts only the
samples to pixels. The frames are the ones a full decode gives, bit for bit (the tests
compare every sampled frame with OpenCV's), decoded with FFmpeg's frame threads.

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
#: The NAL unit type of an IDR picture's slice.
_IDR = 5


@dataclass(frozen=True)
class PacketPlan:
    """What to decode of one video.

    Attributes:
        display: Packet timestamp → display index (the frame's position in time order).
        skip: Timestamps of the packets not sent to the decoder.
    """

    display: dict[int, int]
    skip: frozenset[int]


def slice_header(packet: bytes | memoryview, length_size: int) -> int | None:
    """The NAL header byte of the first slice of an H.264 access unit in length-prefixed form.

    Args:
        packet: The packet's bytes: NAL units, each after a ``length_size``-byte big-endian length.
        length_size: Bytes of each length prefix (from the ``avcC`` extradata).

    Returns:
        The header byte (``nal_ref_idc`` in bits 5-6, the unit type in bits 0-4), ``None``
        when the packet holds no slice.
    """
    position = 0
    while position + length_size < len(packet):
        size = int.from_bytes(packet[position:position + length_size], "big")
        header = packet[position + length_size]
        if header & 0x1F in _SLICE_TYPES:
            return header
        position += length_size + size
    return None


def non_reference(packet: bytes, length_size: int) -> bool:
    """Whether an H.264 access unit is a non-reference picture (see :func:`slice_header`).

    Returns:
        ``True`` when its first slice NAL unit has ``nal_ref_idc`` 0; ``False`` when it is a
        reference, or no slice is found (decoded, to be safe).
    """
    return _non_reference(slice_header(packet, length_size))


def idr_picture(packet: bytes, length_size: int) -> bool:
    """Whether an H.264 access unit is an IDR picture: nothing after it refers to anything before it."""
    return _idr(slice_header(packet, length_size))


def _non_reference(header: int | None) -> bool:
    return header is not None and (header >> 5) & 0x3 == 0


def _idr(header: int | None) -> bool:
    return header is not None and header & 0x1F == _IDR


def plan_packets(timestamps: list[int | None], non_ref: list[bool], wanted: set[int],
                 idr: list[bool] | None = None) -> PacketPlan | None:
    """Display indices of the packets and which of them to skip; ``None`` when a timestamp is missing or repeated.

    Skipped: non-reference packets that are not samples, and in each group (from an IDR
    packet, in decode order, up to the next) every packet after its last sample in decode
    order (a picture refers only to pictures decoded before it), so all of a group without one.

    Args:
        timestamps: Each packet's presentation timestamp, in decode order.
        non_ref: Whether each packet is a non-reference picture.
        wanted: Display indices of the samples.
        idr: Whether each packet is an IDR picture (``None``: none is known to be).

    Returns:
        The plan, or ``None`` when the timestamps cannot order the frames.
    """
    if any(t is None for t in timestamps) or len(set(timestamps)) != len(timestamps):
        return None
    display = {t: index for index, t in enumerate(sorted(timestamps))}  # type: ignore[type-var]
    groups = _groups(idr or [False] * len(timestamps))
    last: dict[int, int] = {}  # group → decode position of its last sample: nothing after it is needed
    for position, (t, group) in enumerate(zip(timestamps, groups)):
        if display[t] in wanted:
            last[group] = position
    skip = frozenset(t for position, (t, no_ref, group) in enumerate(zip(timestamps, non_ref, groups))
                     if position > last.get(group, -1) or (no_ref and display[t] not in wanted))
    return PacketPlan(display, skip)  # type: ignore[arg-type]


def _groups(idr: list[bool]) -> list[int]:
    """Each packet's group: the count of IDR packets up to and including it (0 before the first)."""
    groups, count = [], 0
    for starts in idr:
        count += starts
        groups.append(count)
    return groups


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
    plan = plan_packets([pts for pts, _, _ in packets], [no_ref for _, no_ref, _ in packets], set(wanted),
                        [idr for _, _, idr in packets])
    if plan is None or not plan.skip:  # nothing to leave out: the plain way is as fast
        return None
    return _decode(av, path, plan, set(wanted))


def _demux(av: object, path: Path) -> list[tuple[int | None, bool, bool]] | None:
    """Each video packet's timestamp, whether it is a non-reference picture and whether an IDR picture,
    read without decoding; ``None`` for a stream this path does not take."""
    with av.open(str(path)) as container:  # type: ignore[attr-defined]
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        extradata = stream.codec_context.extradata or b""
        if stream.codec_context.name != "h264" or len(extradata) < 5 or extradata[0] != 1:
            return None  # not H.264 with avcC extradata (Annex B streams, other codecs)
        length_size = (extradata[4] & 0x3) + 1
        rows = []
        for packet in container.demux(stream):
            if packet.size:
                header = slice_header(memoryview(packet), length_size)  # read in place, not copied
                rows.append((packet.pts, _non_reference(header), _idr(header)))
        return rows


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
    log.debug("%s: %d frames sampled, %d frames not decoded", path, len(wanted), skipped)
