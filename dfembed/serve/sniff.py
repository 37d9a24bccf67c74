"""What an upload is, from its first bytes (never from its name or its Content-Type)."""

from __future__ import annotations

from dataclasses import dataclass

#: Bytes needed to tell every supported format apart.
HEAD_BYTES = 16


@dataclass(frozen=True)
class Sniffed:
    """A recognised upload.

    Attributes:
        kind: ``"image"`` or ``"video"``.
        format: The format's short name (``png``, ``mp4``…).
        suffix: The suffix the readers know it by (they choose a decoder by suffix).
    """

    kind: str
    format: str
    suffix: str


def sniff(head: bytes) -> Sniffed | None:
    """The format of a file from its magic bytes.

    PNG, JPEG, WebP, BMP images; MP4/MOV (an ISO ``ftyp`` box), Matroska/WebM (EBML) and
    AVI (RIFF ``AVI ``) videos.

    Args:
        head: The file's first bytes (at least :data:`HEAD_BYTES` for every format).

    Returns:
        The format, or ``None`` for anything else.
    """
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("image", "png", ".png")
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("image", "jpeg", ".jpg")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed("image", "webp", ".webp")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Sniffed("video", "avi", ".avi")
    if head.startswith(b"BM") and len(head) >= 14:
        return Sniffed("image", "bmp", ".bmp")
    if head[4:8] == b"ftyp":
        return Sniffed("video", "mp4", ".mp4")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Sniffed("video", "matroska", ".mkv")
    return None
