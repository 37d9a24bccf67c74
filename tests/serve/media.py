"""Uploads for the serve tests, written here (nothing downloaded): faces, no faces, broken and hostile files."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

from tests.region_model import face_image, write_video


def face_jpeg() -> bytes:
    return face_image().read_bytes()


def face_video(folder: Path, frames: int = 6) -> bytes:
    image = cv2.imread(str(face_image()))[..., ::-1]
    return write_video(image, folder / "face.mp4", frames=frames).read_bytes()


def png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


def grey_png() -> bytes:
    return png(np.full((200, 200, 3), 128, np.uint8))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_claiming(width: int, height: int, rows: int = 0) -> bytes:
    """A greyscale PNG whose header says ``width``×``height``; ``rows`` rows of zeros compressed (a bomb)."""
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    data = b"".join(compressor.compress(row) for _ in range(rows)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + header + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def tiny_frames_video(folder: Path, frames: int = 400, side: int = 8) -> bytes:
    path = folder / "tiny.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (side, side))
    for k in range(frames):
        writer.write(np.full((side, side, 3), k % 255, np.uint8))
    writer.release()
    return path.read_bytes()
