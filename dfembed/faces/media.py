"""Finding and reading media: still images and evenly sampled video frames.

Every reader returns RGB ``uint8`` arrays ``(H, W, 3)`` and raises :class:`MediaError`
(naming the file and the problem) for anything it cannot read, so that a batch job can
count the file as a failure and carry on.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from dfembed.core.bounds import FRAME_PIXELS, IMAGE_PIXELS
from dfembed.core.errors import InputError
from dfembed.core.walk import is_printable, printable
from dfembed.faces.sampled import sampled_frames

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
        message = f"{printable(str(self.path))}: {reason}" + (f" ({detail})" if detail else "")
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
        MediaError: The file is missing, empty, not a decodable image, or its header claims
            more pixels than :data:`~dfembed.core.bounds.IMAGE_PIXELS` (checked before decoding).
    """
    path = Path(path)
    data = _read_bytes(path)
    _check_image_size(path, data)
    # JPEG has neither alpha nor 16 bits, and IMREAD_COLOR applies its EXIF orientation.
    flags = cv2.IMREAD_COLOR if path.suffix.lower() in _JPEG_SUFFIXES else cv2.IMREAD_UNCHANGED
    try:
        image = cv2.imdecode(data, flags)
    except cv2.error as err:  # e.g. a header claiming more pixels than OpenCV's limit (a decompression bomb)
        raise MediaError(path, "not an image", f"OpenCV refused it: {_first_line(err)}") from err
    if image is None:
        raise MediaError(path, "not an image", "the content is not a decodable image")
    return to_rgb8(image, path)


def _check_image_size(path: Path, data: np.ndarray) -> None:
    """Refuse an image whose header claims too many pixels, before anything is decoded.

    Pillow reads only the header here; a format it does not know is left to OpenCV.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data.tobytes())) as header:
                width, height = header.size
    except Image.DecompressionBombError as err:
        raise MediaError(path, "too large", f"{_first_line(err)}; above the limit of {IMAGE_PIXELS.value():g} "
                                            f"pixels (set {IMAGE_PIXELS.env} to raise it)") from err
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        return
    reason = IMAGE_PIXELS.exceeded(width * height, f"its header claims {width}×{height}, which")
    if reason:
        raise MediaError(path, "too large", reason)


def _read_bytes(path: Path) -> np.ndarray:
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise MediaError(path, "unreadable", str(err.strerror or err)) from err
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

    An H.264 video in an MP4/MOV container is read by :mod:`dfembed.faces.sampled`: the
    frames that no other frame references are decoded only when they are samples (the
    samples are bit-identical to a full decode). Other videos are read with OpenCV: frames
    between the samples are skipped with ``grab()`` and only the samples are converted with
    ``retrieve()``. When the container reports no frame count, the frames
    are counted first. When it reports more frames than the stream holds, the samples
    past the real end are replaced, with a warning naming the file, by frames spread over
    the length the stream really has (read in a second pass), so ``n`` frames are still
    used when the video has them.

    Args:
        path: The video file (any name: one that OpenCV cannot take is opened through a
            temporary link).
        n: Number of frames to sample (>= 1).

    Yields:
        ``(frame_index, frame)`` with ``frame`` RGB ``uint8`` ``(H, W, 3)``.

    Raises:
        MediaError: The file is missing, empty, cannot be opened, or holds no frame.
    """
    path = Path(path)
    yielded: list[int] = []
    with opencv_name(path) as name:
        capture = _open_video(name, path)
        try:
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            if count <= 0:
                capture.release()
                count = _count_frames(name, path)
                capture = _open_video(name, path)
            wanted = sample_indices(count, n)
            yield from _fast_samples(path, count, wanted, yielded)
            done = set(yielded)
            rest = [i for i in wanted if i not in done]
            end = (yield from _read_samples(capture, path, rest, yielded)) if rest else None
        finally:
            capture.release()
        if end is not None and end > 0:
            log.warning("%s: the header says %d frames but the stream ends at frame %d; "
                        "sampling over the %d frames it holds", printable(str(path)), count, end, end)
            yield from _read_pass(name, path, resample(end, n, yielded), yielded)
    if not yielded:
        raise MediaError(path, "no frames", "no frame could be decoded; the video is truncated or corrupt")


def _fast_samples(path: Path, count: int, wanted: list[int], yielded: list[int]) -> Iterator[tuple[int, np.ndarray]]:
    """The samples that :func:`~dfembed.faces.sampled.sampled_frames` decodes (H.264: only the frames they
    need), appended to ``yielded``; nothing when it does not apply to this file."""
    frames = sampled_frames(path, count, wanted)
    for index, frame in frames or ():  # already RGB uint8
        yielded.append(index)
        yield index, frame


def resample(length: int, n: int, taken: list[int]) -> list[int]:
    """Frame indices that complete ``taken`` to ``n`` frames spread over a video of ``length`` frames.

    Used when a header claimed more frames than the stream holds: ``taken`` are the samples
    already read (all below ``length``); the others come from an even sampling of the real
    length, each chosen as far as possible from the frames already taken when more of them
    are available than needed.

    Args:
        length: Frames the stream really holds.
        n: Frames wanted in all.
        taken: Indices already read.

    Returns:
        Sorted new indices, none in ``taken``.
    """
    have = set(taken)
    candidates = [i for i in sample_indices(length, n) if i not in have]
    chosen: list[int] = []
    for _ in range(max(0, min(n, length) - len(have))):
        if not candidates:
            break
        best = max(candidates, key=lambda i: min((abs(i - t) for t in have), default=length))
        candidates.remove(best)
        have.add(best)
        chosen.append(best)
    return sorted(chosen)


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


@contextlib.contextmanager
def opencv_name(path: Path) -> Iterator[str]:
    """A file name for OpenCV: ``path`` itself, or a temporary link to it when its name is
    not valid UTF-8 (OpenCV cannot take such a name; ``cv2.VideoCapture`` even crashes)."""
    name = str(path)
    if is_printable(name):
        yield name
        return
    with tempfile.TemporaryDirectory(prefix="dfembed-video-") as folder:
        alias = Path(folder) / f"video{path.suffix.encode('ascii', 'replace').decode()}"
        alias.symlink_to(path.absolute())
        yield str(alias)


def _read_pass(name: str, path: Path, wanted: list[int], yielded: list[int]) -> Iterator[tuple[int, np.ndarray]]:
    """One decoding pass over ``wanted``; returns where the stream ended early, else ``None``."""
    if not wanted:
        return None
    capture = _open_video(name, path)
    try:
        return (yield from _read_samples(capture, path, wanted, yielded))
    finally:
        capture.release()


def _open_video(name: str, path: Path) -> cv2.VideoCapture:
    _read_header(path)
    capture = cv2.VideoCapture(name)
    if not capture.isOpened():
        raise MediaError(path, "cannot open video", "not a video, or its container is truncated")
    width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    reason = FRAME_PIXELS.exceeded(width * height, f"its frames are {width}×{height}, which")
    if reason:
        capture.release()
        raise MediaError(path, "too large", reason)
    return capture


def _read_header(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError as err:
        raise MediaError(path, "unreadable", str(err.strerror or err)) from err
    if size == 0:
        raise MediaError(path, "empty file", "0 bytes")


def _count_frames(name: str, path: Path) -> int:
    capture = _open_video(name, path)
    count = 0
    while capture.grab():
        count += 1
    capture.release()
    if count == 0:
        raise MediaError(path, "no frames", "the video stream holds no frame")
    return count


def _read_samples(
    capture: cv2.VideoCapture, path: Path, wanted: list[int], yielded: list[int]
) -> Iterator[tuple[int, np.ndarray]]:
    """Grab every frame up to the last wanted one, retrieve only the wanted ones (appended to
    ``yielded``); return the index at which the stream ended before the last wanted frame, else ``None``."""
    wanted_set = set(wanted)
    for index in range(wanted[-1] + 1):
        try:
            if not capture.grab():
                return index
            ok, frame = capture.retrieve() if index in wanted_set else (False, None)
        except cv2.error as err:
            raise MediaError(path, "unreadable", f"OpenCV failed at frame {index}: {_first_line(err)}") from err
        if ok and frame is not None:
            yielded.append(index)
            yield index, to_rgb8(frame, path)
    return None


def _first_line(err: Exception) -> str:
    return " ".join(str(err).split())[:200]
