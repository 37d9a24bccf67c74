"""``dfembed detectors compare SRC OUT``: every detector on the same images and videos, side by side.

Order of work in :func:`run_compare`: the inputs (SRC, the ground truth, the face-free
images) and the outputs are checked, then each detector is built (one that cannot be
built is recorded, not fatal) and warmed up on the first frame; then, file by file, the
file is decoded once, its ground-truth boxes are clipped to it (a box wholly outside it is an
error), every detector runs on its frames (:mod:`dfembed.detectors.compare`),
and its overlay and crop strip are drawn (:mod:`dfembed.detectors.draw`). The tables
(:mod:`dfembed.detectors.report`) and ``dfembed-detectors.json`` (configuration, versions,
each detector's record, unreadable files) are written at the end. Memory holds one file's
sampled frames at a time.

Outputs in OUT: ``detectors.csv``, ``detectors.md``, ``files.csv``, ``overlays/*.png``,
``strips/*.png``, ``dfembed-detectors.json``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from dfembed.core.atomic import atomic_write_text, refuse_existing
from dfembed.core.errors import ConfigError, DfembedError, InputError
from dfembed.core.provenance import write_provenance
from dfembed.detectors.compare import IMAGE, NEGATIVE, VIDEO, DetectorSummary, FileRun, run_detector, summarise
from dfembed.detectors.config import CompareConfig
from dfembed.detectors.draw import draw_overlay, draw_strip
from dfembed.detectors.report import (
    FILE_COLUMNS,
    FILES_NAME,
    MARKDOWN_NAME,
    SUMMARY_COLUMNS,
    SUMMARY_NAME,
    file_row,
    markdown_table,
    summary_row,
    write_csv,
)
from dfembed.detectors.truth import fit_to_image, match_truth, read_truths
from dfembed.faces.config import CropConfig
from dfembed.faces.detector import Detector, build_detector, detector_record, detector_spec
from dfembed.faces.media import MediaError, is_image, is_media, iter_video_frames, read_image

log = logging.getLogger(__name__)

PROVENANCE_NAME = "dfembed-detectors.json"
OVERLAYS, STRIPS = "overlays", "strips"


@dataclasses.dataclass(frozen=True)
class MediaFile:
    """A file to compare on: its key (path relative to SRC), path and kind."""

    key: str
    path: Path
    kind: str


@dataclasses.dataclass(frozen=True)
class Comparison:
    """What :func:`run_compare` wrote.

    Attributes:
        out: The output folder.
        summaries: One per detector, in the comparison's order.
        runs: Every detector's run on every readable file.
        unreadable: File key → why it could not be decoded.
        pictures: Overlay and strip PNGs written.
    """

    out: Path
    summaries: tuple[DetectorSummary, ...]
    runs: tuple[FileRun, ...]
    unreadable: dict[str, str]
    pictures: int


def run_compare(
    src: Path, out: Path, config: CompareConfig, truth: Sequence[Path] = (), negatives: Sequence[Path] = (),
    force: bool = False, detectors: Mapping[str, Detector] | None = None,
) -> Comparison:
    """Compare face detectors on the images and videos of ``src``.

    Args:
        src: A folder of images and videos (any depth; hidden files skipped) or one file.
        out: The output folder.
        config: The comparison's options.
        truth: Ground-truth files (dlib XML or CSV, :func:`~dfembed.detectors.truth.read_truth`);
            the boxes of a file named in several are joined.
        negatives: Face-free images (files or folders): every face kept there is a false positive.
        force: Replace the outputs of an earlier comparison in ``out``.
        detectors: Built detectors by name, instead of building ``config.names()``.

    Returns:
        The :class:`Comparison`.

    Raises:
        InputError: SRC or a negative is missing or holds no medium, the ground truth is unreadable or
            holds a box that is not finite, empty or inverted, or (when its image is decoded) wholly
            outside its image.
        OutputExistsError: ``out`` holds a comparison and ``force`` is false.
        ConfigError: None of the detectors could be built (each one's reason is named).
    """
    files = _inputs(Path(src), negatives)
    boxes = match_truth(read_truths(truth), [f.key for f in files]) if truth else {}
    if truth:
        log.info("ground truth for %d of %d files", len(boxes), len(files))
    _prepare(Path(out), force)
    names = list(detectors) if detectors is not None else config.names()
    crop = {name: config.crop_config(name) for name in names}
    built, errors = _build(names, crop, detectors)
    if not built:
        raise ConfigError("no face detector could be built: " + "; ".join(f"{n}: {e}" for n, e in errors.items()))
    truth_name = f"ground truth {', '.join(map(str, truth))}"
    runs, unreadable, pictures = _measure(files, built, crop, config, Path(out), _Truth(boxes, truth_name))
    reference = config.reference_name(names)
    by_file = {r.file: r for r in runs if r.detector == reference}
    summaries = tuple(
        summarise(name, _versions(crop[name]), [r for r in runs if r.detector == name], by_file, boxes,
                  config.iou_threshold, errors.get(name))
        for name in names
    )
    _write(Path(out), summaries, runs, reference, config)
    write_provenance(Path(out) / PROVENANCE_NAME, config, src=str(src), truth=[str(t) for t in truth],
                     negatives=[str(n) for n in negatives], reference=reference,
                     detectors={n: detector_record(crop[n]) for n in names}, build_errors=errors,
                     unreadable=unreadable, summaries=[dataclasses.asdict(s) for s in summaries])
    return Comparison(Path(out), summaries, tuple(runs), unreadable, pictures)


def list_media(root: Path, kind: str) -> list[MediaFile]:
    """The images and videos of a folder (any depth, hidden files skipped) or a single file, sorted.

    Args:
        root: A folder or a media file.
        kind: ``NEGATIVE`` marks every file face-free; else images are ``image``, videos ``video``.

    Raises:
        InputError: ``root`` is missing or holds no image or video.
    """
    if not root.exists():
        raise InputError(f"{root} does not exist")
    if root.is_file():
        paths = [(root.name, root)]
    else:
        paths = [(p.relative_to(root).as_posix(), p) for p in sorted(root.rglob("*"))
                 if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)]
    media = [MediaFile(key, path, kind if kind == NEGATIVE else (IMAGE if is_image(path) else VIDEO))
             for key, path in paths if is_media(path)]
    if not media:
        raise InputError(f"{root}: no image or video files found")
    if kind == NEGATIVE and any(m.kind == NEGATIVE and not is_image(m.path) for m in media):
        raise InputError(f"{root}: face-free inputs must be images")
    return media


def _inputs(src: Path, negatives: Sequence[Path]) -> list[MediaFile]:
    files = list_media(src, IMAGE)
    base = src if src.is_dir() else src.parent
    by_path = {f.path.resolve(): i for i, f in enumerate(files)}
    for root in negatives:
        for item in list_media(Path(root), NEGATIVE):
            resolved = item.path.resolve()
            key = resolved.relative_to(base.resolve()).as_posix() if resolved.is_relative_to(base.resolve()) \
                else str(item.path)
            if resolved in by_path:  # a face-free image of SRC: compared once, as a negative
                files[by_path[resolved]] = MediaFile(files[by_path[resolved]].key, item.path, NEGATIVE)
            else:
                files.append(MediaFile(key, item.path, NEGATIVE))
    return files


def _prepare(out: Path, force: bool) -> None:
    reports = [out / n for n in (SUMMARY_NAME, MARKDOWN_NAME, FILES_NAME, PROVENANCE_NAME)]
    refuse_existing(reports, force, hint=f"or choose another OUT than {out}")
    out.mkdir(parents=True, exist_ok=True)
    for folder in (OVERLAYS, STRIPS):  # with --force: no picture of an earlier comparison stays beside ours
        for old in (out / folder).glob("*.png"):
            old.unlink()


def _build(
    names: list[str], crop: Mapping[str, CropConfig], given: Mapping[str, Detector] | None
) -> tuple[dict[str, Detector], dict[str, str]]:
    if given is not None:
        return dict(given), {}
    built, errors = {}, {}
    for name in names:
        try:
            built[name] = build_detector(crop[name])
        except DfembedError as err:  # e.g. its package is missing: the others are still compared
            log.warning("cannot build the %s detector: %s", name, err)
            errors[name] = str(err)
    return built, errors


@dataclasses.dataclass(frozen=True)
class _Truth:
    """Ground-truth boxes by file key, clipped to each image as it is decoded, and their files' name for messages."""

    boxes: dict[str, np.ndarray]
    name: str

    def fit(self, item: MediaFile, frames: list[np.ndarray]) -> None:
        """Clip the boxes of an image (not a video) to its decoded size; refuse a box wholly outside it."""
        if item.kind != VIDEO and item.key in self.boxes:
            height, width = frames[0].shape[:2]
            self.boxes[item.key] = fit_to_image(self.boxes[item.key], width, height, f"{self.name}, {item.key}")


def _measure(
    files: list[MediaFile], built: Mapping[str, Detector], crop: Mapping[str, CropConfig], config: CompareConfig,
    out: Path, truth: _Truth,
) -> tuple[list[FileRun], dict[str, str], int]:
    runs: list[FileRun] = []
    unreadable: dict[str, str] = {}
    pictures = 0
    warmed = False
    with tqdm(total=len(files) * len(built), unit="run", desc="compare", disable=None) as bar:
        for index, item in enumerate(files):
            try:
                frames = _decode(item, config.frames_per_video)
            except MediaError as err:  # counted and logged; the comparison goes on
                log.warning("cannot read %s", err)
                unreadable[item.key] = str(err)
                bar.update(len(built))
                continue
            truth.fit(item, frames)
            if not warmed:  # first calls build kernels / allocate interpreters: not timed
                for name, detector in built.items():
                    run_detector(name, detector, frames[:1], crop[name], item.key, item.kind)
                warmed = True
            mine = [run_detector(n, d, frames, crop[n], item.key, item.kind) for n, d in built.items()]
            bar.update(len(built))
            runs.extend(mine)
            if config.overlays and mine:
                pictures += _pictures(index, item, frames, mine, crop, config, out)
    return runs, unreadable, pictures


def _decode(item: MediaFile, frames_per_video: int) -> list[np.ndarray]:
    if item.kind == VIDEO:
        return [frame for _, frame in iter_video_frames(item.path, frames_per_video)]
    return [read_image(item.path)]


def _pictures(
    index: int, item: MediaFile, frames: list[np.ndarray], runs: list[FileRun], crop: Mapping[str, CropConfig],
    config: CompareConfig, out: Path,
) -> int:
    frame = len(frames) // 2  # a video's middle sampled frame; an image's only one
    title = item.key if item.kind != VIDEO else f"{item.key}, sampled frame {frame + 1} of {len(frames)}"
    name = f"{index:04d}_{_safe(item.key)}.png"
    faces = {r.detector: (r.faces[frame] if r.error is None else None) for r in runs}
    draw_overlay(frames[frame], faces, out / OVERLAYS / name, title)
    margin = next(iter(crop.values())).margin
    draw_strip(frames[frame], {r.detector: r.largest(frame) for r in runs}, out / STRIPS / name, margin,
               config.strip_size)
    return 2


def _safe(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", key.replace("/", "__")).lstrip(".")[:120]


def _versions(config: CropConfig) -> str:
    versions = detector_spec(config.detector).versions()
    return "; ".join(f"{k} {v}" for k, v in versions.items())


def _write(out: Path, summaries: Sequence[DetectorSummary], runs: Sequence[FileRun], reference: str,
           config: CompareConfig) -> None:
    write_csv(out / SUMMARY_NAME, SUMMARY_COLUMNS, [summary_row(s) for s in summaries])
    write_csv(out / FILES_NAME, FILE_COLUMNS, [file_row(r) for r in runs])
    atomic_write_text(out / MARKDOWN_NAME, markdown_table(summaries, reference, config.iou_threshold))
