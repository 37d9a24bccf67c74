"""A crop folder read as videos: each video's timeline of sampled frames and its one face track.

What the temporal stages (``dfembed temporal embed``, ``train.py --temporal``) read of the crop
stage's output. A *video* is

* a video source of the manifest (``source`` ``fake/abc.mp4``), its frames being the
  manifest's ``frame_index``; or
* the images ``<name>-<NNN>.<ext>`` of one folder (the ``dfdc_sample/frames`` layout of
  frames extracted from a video), frame ``NNN``; the video is called ``<folder>/<name>``.
  Other images are not frames of a video: they are counted and left out.

Its **timeline** is every frame the crop run sampled, in order, faces or not:

* for a video source, the frames :func:`~dfembed.faces.media.sample_indices` gives for
  the crop run's ``frames_per_video`` and the video's frame count, read from the source
  video (``src`` in ``dfembed-crop.json``) without decoding. When the source cannot be
  read, or the manifest holds frames outside that sample (another run's), only the
  frames with a face are known: the video is listed in ``CropVideos.partial``;
* for image frames, every image the crop run finished (``sources.csv``), with a face or
  without one (only the manifest's, without ``sources.csv``).

One face per frame follows the track policy of :mod:`dfembed.faces.track` (the
manifest's boxes, ``x1, y1, x2, y2``); a frame without a face of the track is a gap.
"""

from __future__ import annotations

import csv
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from dfembed.core.classes import label_of
from dfembed.core.errors import InputError
from dfembed.crop.manifest import MANIFEST_NAME, SOURCE_COLUMNS, SOURCES_NAME, Row, read_crop_record, read_rows
from dfembed.faces.media import MediaError, is_image, is_video, sample_indices, video_frame_count
from dfembed.faces.track import DEFAULT_MIN_IOU, follow_track

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("source", "label", "group", "frame_index", "face_index", "crop")
BOX_COLUMNS = ("x1", "y1", "x2", "y2")
_FRAME_NAME = re.compile(r"^(?P<name>.+)-(?P<frame>\d+)$")


@dataclass(frozen=True)
class VideoTrack:
    """One video of a crop folder: its timeline and the crop of its face track on each frame.

    Attributes:
        video: The source path (relative to SRC), or ``<folder>/<name>`` for image frames.
        label: 0 = real, 1 = fake, ``None`` unlabelled.
        group: The split unit (the crop stage's group: a fake shares its original's).
        frames: Frame indices of the timeline, increasing.
        crops: For each frame, the track's crop (relative to the crop folder), ``None`` at a gap.
    """

    video: str
    label: int | None
    group: str
    frames: tuple[int, ...]
    crops: tuple[str | None, ...]

    @property
    def faces(self) -> int:
        """Frames with a face of the track."""
        return sum(crop is not None for crop in self.crops)

    @property
    def mask(self) -> np.ndarray:
        """``(frames,)`` bool, true where the track has a face."""
        return np.array([crop is not None for crop in self.crops], dtype=bool)


@dataclass(frozen=True)
class CropVideos:
    """The videos of a crop folder, and what could not be made a video.

    Attributes:
        root: The crop folder.
        videos: Videos with at least one face, sorted by name.
        not_frames: Image sources that are no frame of a video (left out).
        no_face: Videos the crop run finished without any face (from ``sources.csv``).
        partial: Videos whose frames without a face are unknown (timeline of face frames only).
    """

    root: Path
    videos: tuple[VideoTrack, ...]
    not_frames: tuple[str, ...] = field(default=())
    no_face: tuple[str, ...] = field(default=())
    partial: tuple[str, ...] = field(default=())


def read_crop_videos(root: Path, track: str = "iou", min_iou: float = DEFAULT_MIN_IOU) -> CropVideos:
    """Read a crop folder's manifest as videos with one face track each.

    Args:
        root: A crop folder (``manifest.csv``; ``sources.csv`` and ``dfembed-crop.json`` when
            the crop stage wrote it).
        track: Track policy, ``"iou"`` or ``"largest"`` (see :mod:`dfembed.faces.track`).
        min_iou: Overlap that continues an ``"iou"`` track.

    Returns:
        The :class:`CropVideos`.

    Raises:
        InputError: No manifest, a manifest without the needed columns (the boxes, for
            ``"iou"``) or with a bad number, or no video in it.
    """
    root = Path(root)
    rows = _read_manifest(root, need_boxes=track == "iou")
    finished = read_rows(root / SOURCES_NAME, SOURCE_COLUMNS)
    units: dict[str, list[tuple[int, Row]]] = defaultdict(list)
    not_frames = set()
    for row in rows:
        unit = video_of(row["source"])
        if unit is None:
            not_frames.add(row["source"])
        else:
            units[unit[0]].append((unit[1] if unit[1] is not None else _int(row, "frame_index"), row))
    sampled, partial = _timelines(root, units, finished)
    videos = [_track(name, sampled[name], units[name], track, min_iou) for name in sorted(units)]
    no_face = sorted({u[0] for r in finished if (u := video_of(r["source"])) and u[0] not in units})
    if not videos:
        raise InputError(f"{root / MANIFEST_NAME}: no video or video frames (<name>-<NNN>.<ext>) among "
                         f"{len(rows)} crops ({len(not_frames)} images that are no video frame)")
    _log_notes(root, len(videos), not_frames, no_face, partial)
    return CropVideos(root, tuple(videos), tuple(sorted(not_frames)), tuple(no_face), tuple(sorted(partial)))


def video_of(source: str) -> tuple[str, int | None] | None:
    """The video a source belongs to, and its frame number when the source is an image frame.

    Returns:
        ``(source, None)`` for a video, ``("<folder>/<name>", NNN)`` for an image
        ``<name>-<NNN>.<ext>``, ``None`` for any other source.
    """
    if is_video(source):
        return source, None
    path = PurePosixPath(source)
    match = _FRAME_NAME.match(path.stem) if is_image(source) else None
    if match is None:
        return None
    return (path.parent / match["name"]).as_posix().removeprefix("./"), int(match["frame"])


def _read_manifest(root: Path, need_boxes: bool) -> list[Row]:
    manifest = root / MANIFEST_NAME
    if not manifest.is_file():
        raise InputError(f"{root} holds no {MANIFEST_NAME}: give a crop folder made by crop_face.py")
    with open(manifest, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        rows = list(reader)
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise InputError(f"{manifest}: missing column(s) {', '.join(missing)}")
    if need_boxes and not set(BOX_COLUMNS) <= columns:
        raise InputError(f"{manifest}: the IoU face track needs the box columns {', '.join(BOX_COLUMNS)}; "
                         "use --track largest for a manifest without boxes")
    return rows


def _timelines(
    root: Path, units: dict[str, list[tuple[int, Row]]], finished: list[Row]
) -> tuple[dict[str, list[int]], set[str]]:
    """Each video's sampled frames; the videos whose frames without a face are unknown."""
    record = read_crop_record(root) or {}
    src = Path(record["src"]) if isinstance(record.get("src"), str) else None
    per_video = (record.get("config") or {}).get("frames_per_video") if isinstance(record.get("config"), dict) else None
    journal: dict[str, set[int]] = defaultdict(set)
    for row in finished:
        unit = video_of(row["source"])
        if unit is not None and unit[1] is not None:
            journal[unit[0]].add(unit[1])
    sampled, partial = {}, set()
    for name, entries in units.items():
        seen = {frame for frame, _ in entries}
        if is_video(name):
            frames = _video_frames(src, name, per_video, seen)
        else:
            frames = sorted(seen | journal[name]) if journal[name] else None
        if frames is None:
            partial.add(name)
            frames = sorted(seen)
        sampled[name] = frames
    return sampled, partial


def _video_frames(src: Path | None, source: str, per_video: object, seen: set[int]) -> list[int] | None:
    """The crop run's sample of a video's frames, ``None`` when it cannot be recovered."""
    if src is None or not isinstance(per_video, int) or per_video < 1:
        return None
    try:
        frames = sample_indices(video_frame_count(src / source), per_video)
    except MediaError as err:
        log.debug("cannot read the frame count of %s: %s", source, err)
        return None
    return frames if seen <= set(frames) else None


def _track(name: str, frames: list[int], entries: list[tuple[int, Row]], track: str, min_iou: float) -> VideoTrack:
    by_frame: dict[int, list[Row]] = defaultdict(list)
    for frame, row in entries:
        by_frame[frame].append(row)
    candidates = [sorted(by_frame.get(f, []), key=lambda r: _int(r, "face_index")) for f in frames]
    boxes = [[_box(r) for r in rows] if track == "iou" else _rank_boxes(rows) for rows in candidates]
    chosen = follow_track(boxes, track, min_iou)
    crops = tuple(rows[k]["crop"] if k is not None else None for rows, k in zip(candidates, chosen))
    first = entries[0][1]
    return VideoTrack(name, label_of(first["label"]), first["group"], tuple(frames), crops)


def _rank_boxes(rows: list[Row]) -> list[list[float]]:
    """Stand-in boxes whose areas follow the face index (0 = largest), for ``"largest"`` without boxes."""
    return [[0.0, 0.0, float(len(rows) - k), 1.0] for k in range(len(rows))]


def _box(row: Row) -> list[float]:
    try:
        return [float(row[c]) for c in BOX_COLUMNS]
    except ValueError as err:
        raise InputError(f"manifest row of {row['crop']!r}: a box value is not a number ({err})") from err


def _int(row: Row, column: str) -> int:
    try:
        return int(row[column])
    except ValueError as err:
        raise InputError(f"manifest row of {row['crop']!r}: {column} {row[column]!r} is not an integer") from err


def _log_notes(root: Path, n: int, not_frames: set[str], no_face: list[str], partial: set[str]) -> None:
    log.info("%s: %d videos", root, n)
    if not_frames:
        log.warning("%d images in %s are no video frame (<name>-<NNN>.<ext>) and are left out, e.g. %s",
                    len(not_frames), root, sorted(not_frames)[:3])
    if no_face:
        log.warning("%d videos have no face at all and are left out, e.g. %s", len(no_face), no_face[:3])
    if partial:
        log.warning("%d videos: their sampled frames could not be recovered (source video not found, or no "
                    "sources.csv), so frames without a face are missing from their timeline, e.g. %s",
                    len(partial), sorted(partial)[:3])
