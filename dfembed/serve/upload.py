"""Receiving an upload: the multipart field ``file`` streamed in chunks to a private folder, counted as it comes.

The size limit is counted on the bytes received, not read from ``Content-Length``; the
format is sniffed from the first bytes (:mod:`dfembed.serve.sniff`) and the file named
with the suffix the readers expect. Each upload gets its own folder (mode 0700) under the
service's temporary folder; :func:`discard` removes it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dfembed.serve.sniff import HEAD_BYTES, Sniffed, sniff

#: The multipart form field that holds the media file.
FIELD = "file"


class UploadRefused(Exception):
    """An upload the service does not take.

    Attributes:
        status: The HTTP status to answer with (400, 413, 415).
        message: One line for the client (no server path).
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Upload:
    """A received upload.

    Attributes:
        path: The file, in its private folder.
        media: Its sniffed format.
        size: Bytes received.
    """

    path: Path
    media: Sniffed
    size: int


class _FileSink:
    """Multipart callbacks that write the ``file`` part's bytes to ``target``, refusing more than ``limit``."""

    def __init__(self, target: Path, limit: int) -> None:
        self.target = target
        self.limit = limit
        self.size = 0
        self.found = False
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self._writing = False
        self._handle: Any = None

    def callbacks(self) -> dict[str, Any]:
        return {"on_part_begin": self._begin, "on_header_field": self._header_field,
                "on_header_value": self._header_value, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_done, "on_part_data": self._data, "on_part_end": self._end}

    def _begin(self) -> None:
        self._headers, self._writing = {}, False

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def _headers_done(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if options.get(b"name") == FIELD.encode() and not self.found:
            self.found = self._writing = True
            self._handle = self.target.open("wb")

    def _data(self, data: bytes, start: int, end: int) -> None:
        if not self._writing:
            return
        self.size += end - start
        if self.size > self.limit:
            raise UploadRefused(413, f"the upload is larger than the limit of {self.limit / 2**20:.3g} MiB")
        self._handle.write(data[start:end])

    def _end(self) -> None:
        if self._writing:
            self._handle.close()
            self._writing = False

    def close(self) -> None:
        if self._handle is not None and not self._handle.closed:
            self._handle.close()


def new_folder(root: Path) -> Path:
    """A private folder (mode 0700) for one upload under ``root``."""
    return Path(tempfile.mkdtemp(prefix="upload-", dir=root))


async def receive(content_type: str, chunks: AsyncIterator[bytes], folder: Path, limit: int) -> Upload:
    """Stream the multipart field ``file`` into ``folder`` and sniff its format.

    Args:
        content_type: The request's ``Content-Type`` (``multipart/form-data; boundary=…``).
        chunks: The request body as it arrives.
        folder: The upload's private folder.
        limit: Largest file accepted, bytes.

    Returns:
        The upload, named ``upload<suffix>`` after its format.

    Raises:
        UploadRefused: 400 not a multipart upload with a ``file`` field (or an empty one),
            413 over ``limit``, 415 not an image or video.
    """
    from python_multipart.multipart import MultipartParser, parse_options_header

    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data" or not options.get(b"boundary"):
        raise UploadRefused(400, f"send the media file as multipart/form-data in the field {FIELD!r}")
    sink = _FileSink(folder / "upload.bin", limit)
    parser = MultipartParser(options[b"boundary"], sink.callbacks())
    try:
        async for chunk in chunks:
            parser.write(chunk)
        parser.finalize()
    except ValueError as err:  # python-multipart's parse errors
        raise UploadRefused(400, "the multipart body is malformed") from err
    finally:
        sink.close()
    if not sink.found or sink.size == 0:
        raise UploadRefused(400, f"no file in the multipart field {FIELD!r}" if not sink.found else "the file is empty")
    return _named(sink.target, sink.size)


def _named(path: Path, size: int) -> Upload:
    with path.open("rb") as handle:
        media = sniff(handle.read(HEAD_BYTES))
    if media is None:
        raise UploadRefused(415, "the file is not an image (PNG, JPEG, WebP, BMP) or a video (MP4, MOV, MKV, WebM, "
                                 "AVI) by its content")
    return Upload(path.rename(path.with_name("upload" + media.suffix)), media, size)


def discard(folder: Path) -> None:
    """Remove an upload's folder and everything in it."""
    shutil.rmtree(folder, ignore_errors=True)
