"""Ground-truth face boxes for the detector comparison: dlib's XML or a CSV, and recall against them.

Boxes are ``x1, y1, x2, y2`` in source-image pixels. Two formats are read:

* dlib's imglab XML (``../shared/data/faces/dlib/*.xml``)::

      <images><image file='2008_002079.jpg'>
        <box top='124' left='290' width='45' height='45'/>   <!-- ignore='1' boxes are left out -->
      </image></images>

* a CSV with a file column (``file``, ``path`` or ``filename``) and ``x1, y1, x2, y2``
  (or ``x, y, width, height``), one row per face; a row with empty box fields lists a
  file without faces.

Every box must be finite with ``x1 < x2`` and ``y1 < y2`` (a NaN or an infinite box is an
error naming the file and its line or box, never a face that no detector can find); once
its image is decoded, :func:`fit_to_image` clips a box partly outside the image and refuses
one wholly outside.

Keys are the files' paths as written; :func:`match_truth` pairs them with the compared
media by relative path, else by file name.
"""

from __future__ import annotations

import csv
import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

import numpy as np

from dfembed.core.errors import InputError
from dfembed.faces.geometry import iou, xywh_to_xyxy

log = logging.getLogger(__name__)

_KEYS = ("file", "path", "filename")


def read_truth(path: Path) -> dict[str, np.ndarray]:
    """Read ground-truth boxes from a dlib XML file or a CSV.

    Args:
        path: ``.xml`` (dlib imglab) or ``.csv``.

    Returns:
        File key → array ``(N, 4)`` of boxes ``x1, y1, x2, y2`` (``N`` may be 0).

    Raises:
        InputError: The file is missing, not parseable, lacks a needed field (named), or
            holds a box that is not finite or is empty or inverted (its line or box named).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"ground truth {path} does not exist")
    if path.suffix.lower() == ".xml":
        return _read_dlib_xml(path)
    if path.suffix.lower() == ".csv":
        return _read_csv(path)
    raise InputError(f"ground truth {path}: expected a dlib .xml file or a .csv of boxes")


def read_truths(paths: Iterable[Path]) -> dict[str, np.ndarray]:
    """Read several ground-truth files (:func:`read_truth`) into one mapping, joining the boxes of a repeated key."""
    joined: dict[str, np.ndarray] = {}
    for path in paths:
        for key, boxes in read_truth(path).items():
            joined[key] = np.concatenate([joined[key], boxes]) if key in joined else boxes
    return joined


def _read_dlib_xml(path: Path) -> dict[str, np.ndarray]:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise InputError(f"ground truth {path} is not valid XML: {err}") from err
    boxes: dict[str, list[list[float]]] = {}
    for image in root.iter("image"):
        name = image.get("file")
        if not name:
            raise InputError(f"ground truth {path}: an <image> has no file attribute")
        found = boxes.setdefault(name, [])
        for number, box in enumerate(image.iter("box"), start=1):
            if box.get("ignore") != "1":
                found.append(_xml_box(path, name, number, box))
    return {k: np.asarray(v, dtype=np.float64).reshape(-1, 4) for k, v in boxes.items()}


def _xml_box(path: Path, name: str, number: int, box: ET.Element) -> list[float]:
    fields = ("left", "top", "width", "height")
    try:
        values = [float(box.get(k, "")) for k in fields]
    except ValueError as err:
        raise InputError(f"ground truth {path}: a box of {name} lacks a number in left, top, width or height") from err
    return checked_box(values, fields, f"ground truth {path}: box {number} of {name}", corners=False)


def _read_csv(path: Path) -> dict[str, np.ndarray]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (UnicodeDecodeError, csv.Error) as err:
        raise InputError(f"ground truth {path} is not a readable UTF-8 CSV: {err}") from err
    columns = set(rows[0]) if rows else set()
    key = next((k for k in _KEYS if k in columns), None)
    corners = {"x1", "y1", "x2", "y2"} <= columns
    if key is None or not (corners or {"x", "y", "width", "height"} <= columns):
        raise InputError(f"ground truth {path}: expected a file column ({', '.join(_KEYS)}) and x1,y1,x2,y2 "
                         f"or x,y,width,height; found {sorted(columns)}")
    boxes: dict[str, list[list[float]]] = {}
    for line, row in enumerate(rows, start=2):
        found = boxes.setdefault(row[key], [])
        fields = ("x1", "y1", "x2", "y2") if corners else ("x", "y", "width", "height")
        if all(not (row[f] or "").strip() for f in fields):
            continue
        try:
            values = [float(row[f]) for f in fields]
        except (TypeError, ValueError) as err:
            raise InputError(f"ground truth {path}, line {line}: {fields} must be numbers") from err
        found.append(checked_box(values, fields, f"ground truth {path}, line {line}", corners))
    return {k: np.asarray(v, dtype=np.float64).reshape(-1, 4) for k, v in boxes.items()}


def checked_box(values: list[float], fields: tuple[str, ...], where: str, corners: bool = True) -> list[float]:
    """One ground-truth box as ``x1, y1, x2, y2``, checked to be finite and not empty or inverted.

    Args:
        values: The four numbers as the file gives them.
        fields: Their names in the file (for the message).
        where: The file and its line or box, for the message.
        corners: ``values`` are ``x1, y1, x2, y2``; else ``x, y, width, height``.

    Returns:
        The box's corners.

    Raises:
        InputError: A value is NaN or infinite, or ``x1 >= x2`` or ``y1 >= y2`` (a width or
            height of 0 or less).
    """
    given = ", ".join(f"{name}={value:g}" for name, value in zip(fields, values))
    if not all(np.isfinite(values)):
        raise InputError(f"{where}: the box ({given}) is not finite: every coordinate must be a number")
    box = values if corners else xywh_to_xyxy(values).tolist()
    if not (box[0] < box[2] and box[1] < box[3]):
        raise InputError(f"{where}: the box ({given}) is empty or inverted: x1 < x2 and y1 < y2 are needed "
                         "(a positive width and height)")
    return box


def fit_to_image(boxes: np.ndarray, width: int, height: int, where: str) -> np.ndarray:
    """Clip ground-truth boxes to their image; refuse a box wholly outside it.

    Args:
        boxes: ``(N, 4)`` boxes ``x1, y1, x2, y2`` in pixels.
        width: The decoded image's width.
        height: Its height.
        where: The ground-truth file(s) and the image, for the message.

    Returns:
        The boxes clipped to ``[0, width] x [0, height]``.

    Raises:
        InputError: A box has no area inside the image.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    clipped = np.clip(boxes, 0.0, [width, height, width, height])
    outside = (clipped[:, 2] <= clipped[:, 0]) | (clipped[:, 3] <= clipped[:, 1])
    if outside.any():
        box = ", ".join(f"{v:g}" for v in boxes[outside][0])
        raise InputError(f"{where}: the box ({box}) lies wholly outside the {width}x{height} image")
    moved = int((clipped != boxes).any(axis=1).sum())
    if moved:
        log.debug("%s: %d box(es) partly outside the %dx%d image, clipped to it", where, moved, width, height)
    return clipped


def match_truth(truth: Mapping[str, np.ndarray], relatives: Iterable[str]) -> dict[str, np.ndarray]:
    """Pair ground-truth keys with media files: same relative path, else the same file name.

    Args:
        truth: Key → boxes, from :func:`read_truth`.
        relatives: The media files' POSIX paths relative to SRC.

    Returns:
        Relative path → boxes, for the files that have ground truth.

    Raises:
        InputError: A key's file name matches several files and its path tells none apart.
    """
    relatives = list(relatives)
    by_name: dict[str, list[str]] = {}
    for relative in relatives:
        by_name.setdefault(PurePosixPath(relative).name, []).append(relative)
    matched: dict[str, np.ndarray] = {}
    for key, boxes in truth.items():
        key_posix = PurePosixPath(key.replace("\\", "/")).as_posix()
        if key_posix in relatives:
            matched[key_posix] = boxes
            continue
        candidates = by_name.get(PurePosixPath(key_posix).name, [])
        if len(candidates) > 1:
            raise InputError(f"ground-truth file {key!r} matches several files: {', '.join(candidates)}")
        if candidates:
            matched[candidates[0]] = boxes
    return matched


def count_matched(truth: np.ndarray, boxes: np.ndarray, threshold: float) -> int:
    """How many ground-truth boxes some detected box overlaps with IoU >= ``threshold``.

    Args:
        truth: ``(N, 4)`` ground-truth boxes.
        boxes: ``(M, 4)`` detected boxes.
        threshold: The IoU that counts as found.

    Returns:
        The number of found ground-truth boxes (0 to ``N``).
    """
    truth = np.asarray(truth, dtype=np.float64).reshape(-1, 4)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not len(truth) or not len(boxes):
        return 0
    return int((iou(truth, boxes).max(axis=1) >= threshold).sum())
