"""Finding and reading media: still images and evenly sampled video frames.

Every reader returns RGB ``uint8`` arrays ``(H, W, 3)`` and raises :class:`MediaError`
(naming the file and the problem) for anything it cannot read, so that a batch job can
count the file as a failure and carry on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from dfembed.core.errors import InputError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm"})
_JPEG_SUFFIXES = frozenset({".jpg", ".jpeg"})


class MediaError(InputError):
    """A media file cannot be used.

    Attributes:
        path: The offending file.
        reason: A short category for reports (``"empty file"``, ``"not an image"``,
            ``"cannot open video"``, ``"no frames"``, ``"unreadable"``).
    """

    def __init__(self, path: str | os.PathLike[str], reason: str, detail: str = "") -> None:
        self.path = Path(path)
        self.reason = reason
        message = f"{self.path}: {reason}" + (f" ({detail})" if detail else "")
        super().__init__(message)


def is_image(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has an image suffix (jpg, jpeg, png, bmp, webp; any letter case)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def is_video(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has a video suffix (mp4, avi, mov, mkv, webm; any letter case)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def is_media(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an image or a video by its suffix."""
    return is_image(path) or is_video(path)


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as RGB ``uint8``.

    Grayscale is replicated to three channels, the alpha channel of RGBA is dropped and
    16-bit images are scaled to 8 bits. The file is read with NumPy and decoded from
    memory, so paths with any characters work.

    Args:
        path: The image file.

    Returns:
        Array ``(H, W, 3)`` of ``uint8``, RGB order.

    Raises:
        MediaError: The file is missing, empty or not a decodable image.
    """
    path = Path(path)
    data = _read_bytes(path)
    # JPEG has neither alpha nor 16 bits, and IMREAD_COLOR applies its EXIF orientation.
    flags = cv2.IMREAD_COLOR if path.suffix.lower() in _JPEG_SUFFIXES else cv2.IMREAD_UNCHANGED
    image = cv2.imdecode(data, flags)
    if image is None:
        raise MediaError(path, "not an image", "the content is not a decodable image")
    return to_rgb8(image, path)


def _read_bytes(path: Path) -> np.ndarray:
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise MediaError(path, "unreadable", str(err)) from err
    if data.size == 0:
        raise MediaError(path, "empty file", "0 bytes")
    return data


def to_rgb8(image: np.ndarray, path: str | os.PathLike[str] = "<array>") -> np.ndarray:
    """Convert an OpenCV-decoded array (gray, BGR, BGRA; 8 or 16 bit) to RGB ``uint8``.

    Args:
        image: Array as returned by ``cv2.imdecode(..., IMREAD_UNCHANGED)``.
        path: Used in error messages only.

    Returns:
        Array ``(H, W, 3)`` of ``uint8``.

    Raises:
        MediaError: The channel count or sample type is not supported.
    """
    if image.dtype == np.uint16:
        image = (image.astype(np.uint32) * 255 + 32767) // 65535
        image = image.astype(np.uint8)
    elif image.dtype != np.uint8:
        raise MediaError(path, "unsupported image", f"sample type {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    raise MediaError(path, "unsupported image", f"shape {image.shape}")


def video_frame_count(path: str | os.PathLike[str]) -> int:
    """The frame count that :func:`iter_video_frames` samples from: the header's, else counted.

    ``sample_indices(video_frame_count(path), n)`` are therefore the frames a crop run with
    ``frames_per_video = n`` tried to read first, found without decoding a frame when the
    header has a count.

    Args:
        path: The video file.

    Returns:
        The number of frames (> 0).

    Raises:
        MediaError: The file is missing or empty, cannot be opened, or holds no frame.
    """
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        raise MediaError(path, "empty file" if path.is_file() else "unreadable", "no video data")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise MediaError(path, "cannot open video", "not a video, or its container is truncated")
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if count <= 0:
            count = 0
            while capture.grab():
                count += 1
    finally:
        capture.release()
    if count <= 0:
        raise MediaError(path, "no frames", "the video stream holds no frame")
    return count


def sample_indices(frame_count: int, n: int) -> list[int]:
    """Indices of ``n`` frames spread evenly from the first to the last of ``frame_count``.

    Args:
        frame_count: Frames in the video (> 0).
        n: Frames wanted (> 0); all frames when ``n >= frame_count``.

    Returns:
        Sorted, distinct frame indices.
    """
    if n >= frame_count:
        return list(range(frame_count))
    return sorted({int(round(i)) for i in np.linspace(0, frame_count - 1, n)})


def iter_video_frames(path: str | os.PathLike[str], n: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``n`` frames sampled evenly over a video, one at a time (memory stays small).

    Frames between the samples are skipped with ``grab()`` and only the samples are
    converted with ``retrieve()``. When the container reports no frame count, the frames
    are counted first; when it reports more frames than the stream holds, the readable
    frames are used and a warning names the file.

    Args:
        path: The video file.
        n: Number of frames to sample (>= 1).

    Yields:
        ``(frame_index, frame)`` with ``frame`` RGB ``uint8`` ``(H, W, 3)``.

    Raises:
        MediaError: The file is missing, empty, cannot be opened, or holds no frame.
    """
    path = Path(path)
    capture = _open_video(path)
    try:
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if count <= 0:
            capture.release()
            count = _count_frames(path)
            capture = _open_video(path)
        yielded = yield from _read_samples(capture, path, sample_indices(count, n), count)
    finally:
        capture.release()
    if yielded == 0:
        raise MediaError(path, "no frames", "no frame could be decoded; the video is truncated or corrupt")


def sample_video_frames(path: str | os.PathLike[str], n: int) -> list[tuple[int, np.ndarray]]:
    """Return ``n`` frames sampled evenly over a video; see :func:`iter_video_frames`.

    Args:
        path: The video file.
        n: Number of frames to sample.

    Returns:
        List of ``(frame_index, RGB uint8 frame)``.

    Raises:
        MediaError: The video cannot be read or holds no frame.
    """
    return list(iter_video_frames(path, n))


def _open_video(path: Path) -> cv2.VideoCapture:
    _read_header(path)
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise MediaError(path, "cannot open video", "not a video, or its container is truncated")
    return capture


def _read_header(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError as err:
        raise MediaError(path, "unreadable", str(err)) from err
    if size == 0:
        raise MediaError(path, "empty file", "0 bytes")


def _count_frames(path: Path) -> int:
    capture = _open_video(path)
    count = 0
    while capture.grab():
        count += 1
    capture.release()
    if count == 0:
        raise MediaError(path, "no frames", "the video stream holds no frame")
    return count


def _read_samples(
    capture: cv2.VideoCapture, path: Path, wanted: list[int], count: int
) -> Iterator[tuple[int, np.ndarray]]:
    """Grab every frame up to the last wanted one, retrieve only the wanted ones."""
    wanted_set = set(wanted)
    yielded = 0
    for index in range(wanted[-1] + 1):
        if not capture.grab():
            log.warning("%s: the header says %d frames but the stream ends at frame %d", path, count, index)
            break
        if index in wanted_set:
            ok, frame = capture.retrieve()
            if ok and frame is not None:
                yielded += 1
                yield index, to_rgb8(frame, path)
    return yielded
