"""Magic bytes → format, on hand-written headers."""

from __future__ import annotations

import pytest

from dfembed.serve.sniff import sniff

HEADERS = {
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR": ("image", ".png"),
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00": ("image", ".jpg"),
    b"RIFF\x24\x00\x00\x00WEBPVP8 ": ("image", ".webp"),
    b"BM\x36\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00": ("image", ".bmp"),
    b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00": ("video", ".mp4"),
    b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00": ("video", ".mp4"),  # a QuickTime .mov
    b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81": ("video", ".mkv"),
    b"RIFF\x24\x00\x00\x00AVI LIST": ("video", ".avi"),
}


@pytest.mark.parametrize(("head", "expected"), HEADERS.items())
def test_each_supported_format_is_recognised_by_its_magic_bytes(head: bytes, expected: tuple[str, str]) -> None:
    found = sniff(head)
    assert found is not None and (found.kind, found.suffix) == expected


@pytest.mark.parametrize("head", [b"", b"hello, world\n", b"PK\x03\x04\x14\x00\x00\x00", b"RIFF\x00\x00\x00\x00WAVEfmt ",
                                  b"%PDF-1.7\n", b"GIF89a\x01\x00"])
def test_anything_else_is_not_media(head: bytes) -> None:
    assert sniff(head) is None
