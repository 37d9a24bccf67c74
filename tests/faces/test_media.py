"""Reading images and sampling video frames; bad files raise MediaError naming file and problem."""

from __future__ import annotations

import logging
import os
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from dfembed.faces.media import (
    MediaError,
    is_image,
    is_video,
    read_image,
    resample,
    sample_indices,
    sample_video_frames,
)
from tests.support import shared_path


def _write(path: Path, array: np.ndarray) -> Path:
    ok, data = cv2.imencode(path.suffix, array)
    assert ok
    path.write_bytes(data.tobytes())
    return path


def _video(path: Path, frames: int, fourcc: str = "MJPG") -> Path:
    """A small video whose frame i is uniformly grey with value 10 * i."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10, (64, 48))
    assert writer.isOpened(), f"OpenCV cannot write {path.suffix} here"
    for i in range(frames):
        writer.write(np.full((48, 64, 3), 10 * i, np.uint8))
    writer.release()
    return path


def test_suffixes_any_case() -> None:
    assert is_image("a/B.JPG") and is_image("x.WebP") and is_image("y.jpeg")
    assert is_video("v.MP4") and is_video("v.mkv") and is_video("v.webm")
    assert not is_image("v.mp4") and not is_video("notes.txt") and not is_image("metadata.json")


def test_colour_png_is_rgb(tmp_path: Path) -> None:
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 0] = 255  # blue in OpenCV's order
    image = read_image(_write(tmp_path / "blue.png", bgr))
    assert image.shape == (4, 5, 3) and image.dtype == np.uint8
    assert (image[..., 2] == 255).all() and (image[..., :2] == 0).all()


def test_gray_rgba_and_16bit(tmp_path: Path) -> None:
    gray = read_image(_write(tmp_path / "g.png", np.full((3, 3), 77, np.uint8)))
    assert gray.shape == (3, 3, 3) and (gray == 77).all()
    bgra = np.zeros((3, 3, 4), np.uint8)
    bgra[..., 1], bgra[..., 3] = 200, 0  # green, fully transparent
    rgba = read_image(_write(tmp_path / "a.png", bgra))
    assert rgba.shape == (3, 3, 3) and (rgba[..., 1] == 200).all()
    deep = np.zeros((2, 2), np.uint16)
    deep[0, 0], deep[0, 1], deep[1, 0] = 65535, 32896, 257  # -> 255, 128, 1
    image = read_image(_write(tmp_path / "d.png", deep))
    assert image.dtype == np.uint8
    assert [image[0, 0, 0], image[0, 1, 0], image[1, 0, 0], image[1, 1, 0]] == [255, 128, 1, 0]


def test_odd_path_characters(tmp_path: Path) -> None:
    folder = tmp_path / "dossier été #1"
    folder.mkdir()
    image = read_image(_write(folder / "visage (1) ü.jpg", np.full((8, 8, 3), 128, np.uint8)))
    assert image.shape == (8, 8, 3)


def test_rgba_shared_image() -> None:
    image = read_image(shared_path("faces", "face_recognition", "32bit.png"))
    assert image.shape == (1200, 626, 3) and image.dtype == np.uint8


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [("zero.jpg", b"", "empty file"), ("text.jpg", b"this is not a picture\n", "not an image"),
     ("zero.mp4", b"", "empty file"), ("text.mp4", b"not a video at all", "cannot open video")],
)
def test_bad_files_raise_media_error(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    reader = read_image if name.endswith(".jpg") else (lambda p: sample_video_frames(p, 2))
    with pytest.raises(MediaError) as info:
        reader(path)
    assert info.value.reason == reason
    assert str(path) in str(info.value)


def test_an_image_claiming_too_many_pixels_is_a_media_error(tmp_path: Path) -> None:
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)  # 10^10 pixels: a decompression bomb
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(100)))
                     + chunk(b"IEND", b""))
    with pytest.raises(MediaError, match="bomb.png: too large"):
        read_image(bomb)


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` × ``height`` RGB pixels, with almost no data behind it."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(100)))
            + chunk(b"IEND", b""))


def test_an_image_above_the_pixel_limit_is_refused_before_decoding(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    claim = tmp_path / "claim.png"
    claim.write_bytes(_png_header(12_000, 10_000))  # 120 Mpx: below OpenCV's own limit, above dfembed's
    with pytest.raises(MediaError, match=r"claim\.png: too large \(its header claims 12000×10000, which is 1.2e\+08 "
                                         r"pixels, above the limit of 1e\+08 \(set DFEMBED_MAX_IMAGE_PIXELS"):
        read_image(claim)
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), np.zeros((40, 50, 3), np.uint8))
    monkeypatch.setenv("DFEMBED_MAX_IMAGE_PIXELS", "1000")
    with pytest.raises(MediaError, match="small.png: too large"):
        read_image(small)
    monkeypatch.setenv("DFEMBED_MAX_IMAGE_PIXELS", "2000")
    assert read_image(small).shape == (40, 50, 3)


def test_a_video_whose_frames_are_above_the_limit_is_refused(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    video = _video(tmp_path / "v.avi", 4)
    monkeypatch.setenv("DFEMBED_MAX_FRAME_PIXELS", "1000")  # its frames are 64×48 = 3072 pixels
    with pytest.raises(MediaError, match=r"v\.avi: too large \(its frames are 64×48"):
        sample_video_frames(video, 2)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="unreadable"):
        read_image(tmp_path / "nope.png")


def test_sample_indices() -> None:
    assert sample_indices(300, 4) == [0, 100, 199, 299]
    assert sample_indices(3, 10) == [0, 1, 2]
    assert sample_indices(10, 1) == [0]


def test_video_frames_are_the_sampled_ones(tmp_path: Path) -> None:
    frames = sample_video_frames(_video(tmp_path / "v.avi", 20), 5)
    assert [i for i, _ in frames] == [0, 5, 10, 14, 19]
    for index, frame in frames:
        assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
        assert abs(frame.mean() - 10 * index) < 4  # MJPEG is lossy


def test_truncated_video_with_lying_frame_count(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = _video(tmp_path / "full.mkv", 20).read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with caplog.at_level(logging.WARNING, logger="dfembed.faces.media"):
        frames = sample_video_frames(cut, 5)
    indices = [i for i, _ in frames]
    assert len(set(indices)) == 5  # still five frames, all from the part the stream holds
    assert "stream ends" in caplog.text and "sampling over" in caplog.text


def _lying_avi(path: Path, frames: int, claimed: int) -> Path:
    """An MJPG AVI of ``frames`` frames (grey 10 * i) whose header claims ``claimed`` frames."""
    data = bytearray(_video(path, frames).read_bytes())
    for chunk, offset in ((b"avih", 16), (b"strh", 32)):  # dwTotalFrames, the stream's dwLength
        at = data.index(chunk) + 8 + offset
        assert struct.unpack_from("<I", data, at) == (frames,)
        struct.pack_into("<I", data, at, claimed)
    path.write_bytes(data)
    return path


def test_a_header_that_lies_about_its_frame_count_is_sampled_over_the_real_length(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    video = _lying_avi(tmp_path / "lie.avi", 20, claimed=80)
    with caplog.at_level(logging.WARNING, logger="dfembed.faces.media"):
        frames = sample_video_frames(video, 4)
    # over the claimed 80 the samples would be 0, 26, 53, 79: only frame 0 exists. Over the
    # real 20 they are 0, 6, 13, 19 (np.linspace(0, 19, 4) rounded); 0 is read already.
    assert [i for i, _ in frames] == [0, 6, 13, 19]
    for index, frame in frames:
        assert abs(frame.mean() - 10 * index) < 4
    assert "the header says 80 frames but the stream ends at frame 20" in caplog.text


def test_resample_completes_the_samples_already_taken() -> None:
    assert resample(20, 4, [0]) == [6, 13, 19]
    assert resample(150, 4, [0, 50, 99]) == [149]  # samples over 150: 0, 50, 99, 149
    # 50, 99 and 149 are new and one is needed: 99 is the farthest from 0, 66, 133 (33 frames; 50 and 149: 16)
    assert resample(150, 4, [0, 66, 133]) == [99]
    assert resample(3, 10, [0]) == [1, 2]
    assert resample(10, 2, [0, 9]) == []


def test_a_video_whose_name_is_not_utf8_is_read(tmp_path: Path) -> None:
    video = _video(tmp_path / "v.avi", 6)
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9.avi"))
    video.rename(odd)
    assert [i for i, _ in sample_video_frames(odd, 3)] == [0, 2, 5]


def test_truncated_shared_mp4(tmp_path: Path) -> None:
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(shared_path("dfdc_sample", "videos", "abqwwspghj.mp4").read_bytes()[:200_000])
    with pytest.raises(MediaError, match="cut.mp4: cannot open video"):
        sample_video_frames(cut, 4)


def test_1080p_sample() -> None:
    frames = sample_video_frames(shared_path("dfdc_sample", "videos", "abofeumbvv.mp4"), 3)
    assert [i for i, _ in frames] == [0, 150, 299]
    assert frames[0][1].shape == (1080, 1920, 3)
