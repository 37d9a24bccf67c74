"""The audio part of the crop stage: every video's soundtrack to log-mel tiles in ``DST/audio``.

``crop_face.py SRC DST --audio`` runs it after the face crops, ``--audio-only`` instead of
them. It lists SRC exactly as the face crops do (layout, labels, groups: a fake keeps its
original's group), decodes each video's soundtrack (:mod:`dfembed.audio`) and writes its
tiles with the same rules as face crops: each tile under a temporary name, then renamed;
a video's manifest rows appended (and synced) once all its tiles exist, its journal row
after that, so a killed run resumes with the videos that have no journal row; tiles of
videos no longer in SRC are deleted with their rows. A video without a soundtrack or with
a silent one is a listed failure (``no audio``), an image is listed as ``not a video``.
A DST/audio made from another SRC or with other tile settings is refused unless
``force``, which deletes only what this part wrote. File names and schemas:
:mod:`dfembed.crop.audio_manifest`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from dfembed.audio.config import AudioConfig, check_audio_available, tile_config
from dfembed.audio.decode import AudioError
from dfembed.audio.mel import mel_basis
from dfembed.audio.tiles import Tile, encode_png, soundtrack_tiles
from dfembed.core.atomic import atomic_write_bytes, remove_stale_temps
from dfembed.core.classes import CROP_FOLDERS
from dfembed.core.errors import ConfigError, InputError, OutputExistsError
from dfembed.core.lock import OutputLock
from dfembed.core.paths import check_inside, check_separate, check_writable, contained, remove_inside
from dfembed.core.provenance import write_provenance
from dfembed.crop.audio_manifest import (
    AUDIO_DIR,
    AUDIO_FAILURES_NAME,
    AUDIO_MANIFEST_COLUMNS,
    AUDIO_MANIFEST_NAME,
    AUDIO_RECORD_NAME,
    AUDIO_REPORT_NAMES,
    AUDIO_SOURCE_COLUMNS,
    AUDIO_SOURCES_NAME,
    read_audio_record,
)
from dfembed.crop.discovery import Discovery, Source
from dfembed.crop.manifest import FAILURE_COLUMNS, CsvAppender, Row, read_rows, write_rows
from dfembed.crop.naming import crop_stems, is_tile_name, tile_file
from dfembed.crop.process import SourceResult
from dfembed.crop.resume import check_owned_folder, delete_previous_run
from dfembed.crop.sources import discover_sources
from dfembed.faces.media import is_video

log = logging.getLogger(__name__)

TILED = "tiled"
NOT_A_VIDEO = "not a video"
#: DST/audio's lock file: held while a job writes into it.
AUDIO_LOCK_NAME = ".dfembed-audio.lock"


@dataclasses.dataclass(frozen=True)
class AudioSummary:
    """Counts of the audio part of a crop run.

    Attributes:
        dst: The audio folder (``DST/audio``).
        videos: Videos found in SRC.
        resumed: Videos already complete from an earlier run (skipped).
        processed: Videos processed in this run.
        tiles_written: Tiles written in this run.
        tiles_total: Rows in the final audio manifest.
        failures: Count per reason of media and entries that gave no tile (all runs).
    """

    dst: Path
    videos: int
    resumed: int
    processed: int
    tiles_written: int
    tiles_total: int
    failures: dict[str, int]


def run_audio_crop(
    src: Path, dst: Path, config: AudioConfig, force: bool = False, group_regex: str | None = None
) -> AudioSummary:
    """Write the audio tiles of every video below ``src`` into ``dst/audio``.

    Args:
        src: Input folder (labelled tree, DFDC folder or unlabelled), as for face crops.
        dst: The crop stage's output folder; tiles and reports go to ``dst/audio``.
        config: The tile settings.
        force: Redo everything, deleting the tiles and reports of an earlier run.
        group_regex: The crop stage's ``--group-regex`` (group keys as for face crops).

    Returns:
        An :class:`AudioSummary`.

    Raises:
        InputError: ``src`` is missing or holds no video, or SRC and DST overlap.
        OutputExistsError: ``dst/audio`` holds tiles of another SRC or other settings and ``force`` is false.
        ConfigError: PyAV or librosa is missing, or mel settings that leave a band empty.
        OutputError: ``dst/audio`` cannot be created or written to.
        LockedError: Another job is writing into ``dst/audio``.
    """
    check_audio_available()
    mel_basis(config.sample_rate, config.n_fft, config.n_mels)  # bad mel settings fail before any work
    src, root = Path(src).resolve(), Path(dst) / AUDIO_DIR
    if not src.is_dir():
        raise InputError(f"SRC {src} does not exist or is not a folder")
    check_separate(src, "SRC", Path(dst), "DST")
    check_writable(root, "DST/audio")
    with OutputLock(root / AUDIO_LOCK_NAME, f"DST/audio {root}"):
        return _run_locked(src, root, config, force, group_regex)


def _run_locked(src: Path, root: Path, config: AudioConfig, force: bool, group_regex: str | None) -> AudioSummary:
    discovery = discover_sources(src, group_regex)
    videos = [s for s in discovery.sources if is_video(s.path)]
    if not videos:
        raise InputError(f"SRC {src}: no video found ({len(discovery.sources)} images); audio tiles are made "
                         "from the soundtracks of videos")
    prepare_audio_dst(src, root, config, force)
    write_provenance(root / AUDIO_RECORD_NAME, config.tile_settings(), status="running", src=str(src))
    done = restore_audio_journal(root, discovery, videos)
    todo = [s for s in videos if s.relative not in done]
    log.info("%d videos to tile, %d complete from an earlier run", len(todo), len(videos) - len(todo))
    written = _process_all(todo, crop_stems(discovery.sources), root, config)
    return _finish(src, root, config, len(videos), len(videos) - len(todo), len(todo), written)


# --- an earlier run -------------------------------------------------------------------


def prepare_audio_dst(src: Path, root: Path, config: AudioConfig, force: bool) -> None:
    """Create ``root``; on ``force`` delete the previous run's tiles and reports, else check it fits.

    Raises:
        OutputExistsError: ``root`` holds tiles of another SRC or other settings and ``force`` is false.
        InputError: A tile folder of ``root`` leads outside it, a report is a link, or its record is unreadable.
    """
    root.mkdir(parents=True, exist_ok=True)
    _check_layout(root)
    removed = remove_stale_temps(root)
    if removed:
        log.info("removed %d temporary files left by an interrupted run", removed)
    if force:
        _delete_previous(root)
        return
    try:
        record = read_audio_record(root)
    except InputError as err:
        raise InputError(f"{err}; use --force to start afresh") from err
    if record is None or not read_rows(root / AUDIO_SOURCES_NAME, AUDIO_SOURCE_COLUMNS):
        return
    if record.get("src") is not None and Path(record["src"]).resolve() != src:
        raise OutputExistsError(f"{root} holds audio tiles of SRC {record['src']}, not of SRC {src}; "
                                "use --force to replace them or choose another DST")
    changed = _setting_changes(record["config"], config)
    if changed:
        raise OutputExistsError(f"{root} holds audio tiles made with other settings ({', '.join(changed)}); "
                                "use --force to redo them or choose another DST")


def _setting_changes(previous: dict, config: AudioConfig) -> list[str]:
    """The tile settings that differ (a key missing from an earlier record had its default)."""
    try:
        before = tile_config(previous).tile_settings()
    except ConfigError as err:
        return [f"recorded settings this version cannot read ({err})"]
    now = config.tile_settings()
    return [f"{k}: {before[k]!r} -> {now[k]!r}" for k in sorted(now) if before[k] != now[k]]


def _check_layout(root: Path) -> None:
    for folder in CROP_FOLDERS:
        if not contained(root / folder / "tile", root):
            raise InputError(f"{root / folder} leads outside DST/audio (to {(root / folder).resolve()}); dfembed "
                             "writes and deletes only inside it: remove the link or choose another DST")
    for name in AUDIO_REPORT_NAMES:
        if (root / name).is_symlink():
            raise InputError(f"{root / name} is a link; the audio reports must be plain files: "
                             "remove it or choose another DST")


def _delete_previous(root: Path) -> None:
    check_owned_folder(root, AUDIO_RECORD_NAME, "audio tile")
    delete_previous_run(root, is_tile_name, AUDIO_REPORT_NAMES, "audio tiles")


def restore_audio_journal(root: Path, discovery: Discovery, videos: list[Source]) -> set[str]:
    """Keep the rows of complete videos still in SRC, drop the rest (and the tiles of vanished videos).

    ``audio_failures.csv`` is rebuilt with SRC's listing skips and its images (``not a video``).

    Returns:
        The relative paths of the videos that are complete.
    """
    present = {s.relative for s in videos}
    journal = [r for r in read_rows(root / AUDIO_SOURCES_NAME, AUDIO_SOURCE_COLUMNS) if r["source"] in present]
    done = {row["source"] for row in journal}
    manifest = []
    for row in read_rows(root / AUDIO_MANIFEST_NAME, AUDIO_MANIFEST_COLUMNS):
        if row["source"] in done:
            manifest.append(row)
        elif row["source"] not in present and is_tile_name(Path(row["tile"]).name):
            remove_inside(root / row["tile"], root)
    failures = [r for r in read_rows(root / AUDIO_FAILURES_NAME, FAILURE_COLUMNS) if r["source"] in done]
    failures += [{"source": s.relative, "label": s.label, "reason": s.reason, "detail": s.detail}
                 for s in discovery.skipped]
    failures += [{"source": s.relative, "label": s.label, "reason": NOT_A_VIDEO, "detail": "an image has no soundtrack"}
                 for s in discovery.sources if s.relative not in present]
    write_rows(root / AUDIO_SOURCES_NAME, AUDIO_SOURCE_COLUMNS, journal)
    write_rows(root / AUDIO_MANIFEST_NAME, AUDIO_MANIFEST_COLUMNS, manifest)
    write_rows(root / AUDIO_FAILURES_NAME, FAILURE_COLUMNS, failures)
    return done


# --- the work --------------------------------------------------------------------------


def process_video(source: Source, stem: PurePosixPath, root: Path, config: AudioConfig) -> SourceResult:
    """Tile one video's soundtrack, write its tiles and return its manifest rows or failure.

    Args:
        source: The video.
        stem: Its crop stem (:func:`~dfembed.crop.naming.crop_stems`).
        root: The audio folder.
        config: Tile settings.

    Returns:
        A :class:`~dfembed.crop.process.SourceResult`; an unusable soundtrack is a failure status (``no audio``…).
    """
    try:
        track = soundtrack_tiles(source.path, config)
    except AudioError as err:
        return SourceResult(source, [], err.reason, str(err))
    rows = [_write_tile(source, tile, tile_file(stem, tile.index), root, config, track.mel.ref_db)
            for tile in track.tiles]
    return SourceResult(source, rows, TILED)


def _write_tile(source: Source, tile: Tile, relative: PurePosixPath, root: Path, config: AudioConfig,
                ref_db: float) -> Row:
    target = root / relative
    check_inside(target, root, "audio tile")
    atomic_write_bytes(target, encode_png(tile.pixels))
    return {"source": source.relative, "label": source.label, "group": source.group,
            "tile_index": str(tile.index), "window_start": f"{tile.start:.4f}", "window_end": f"{tile.end:.4f}",
            "sample_rate": str(config.sample_rate), "ref_db": f"{ref_db:.2f}", "tile": relative.as_posix()}


def _process_all(todo: list[Source], stems: dict[str, PurePosixPath], root: Path, config: AudioConfig) -> int:
    if not todo:
        return 0
    written = 0
    with (
        CsvAppender(root / AUDIO_MANIFEST_NAME, AUDIO_MANIFEST_COLUMNS) as manifest,
        CsvAppender(root / AUDIO_FAILURES_NAME, FAILURE_COLUMNS) as failures,
        CsvAppender(root / AUDIO_SOURCES_NAME, AUDIO_SOURCE_COLUMNS) as journal,
    ):
        for source in tqdm(todo, unit="video", desc="audio tiles", disable=None):
            result = process_video(source, stems[source.relative], root, config)
            _record(result, manifest, failures, journal)
            written += len(result.rows)
    return written


def _record(result: SourceResult, manifest: CsvAppender, failures: CsvAppender, journal: CsvAppender) -> None:
    source = result.source
    if result.rows:
        manifest.append(result.rows)
    else:
        failures.append([{"source": source.relative, "label": source.label, "reason": result.status,
                          "detail": result.detail}])
        log.log(logging.INFO if result.status == "no audio" else logging.WARNING, "%s", result.detail)
    journal.append([{"source": source.relative, "label": source.label, "group": source.group,
                     "status": result.status, "tiles": str(len(result.rows)), "detail": result.detail}])


def _finish(src: Path, root: Path, config: AudioConfig, videos: int, resumed: int, processed: int,
            written: int) -> AudioSummary:
    """Sort the reports, write the record with the counts, log them."""
    rows = read_rows(root / AUDIO_MANIFEST_NAME, AUDIO_MANIFEST_COLUMNS)
    write_rows(root / AUDIO_MANIFEST_NAME, AUDIO_MANIFEST_COLUMNS,
               sorted(rows, key=lambda r: (r["source"], int(r["tile_index"] or 0))))
    failures = sorted(read_rows(root / AUDIO_FAILURES_NAME, FAILURE_COLUMNS), key=lambda r: r["source"])
    write_rows(root / AUDIO_FAILURES_NAME, FAILURE_COLUMNS, failures)
    reasons = dict(sorted(Counter(r["reason"] for r in failures).items()))
    summary = AudioSummary(root, videos, resumed, processed, written, len(rows), reasons)
    counts = {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(summary).items()}
    write_provenance(root / AUDIO_RECORD_NAME, config.tile_settings(), status="complete", src=str(src),
                     counts=counts, window_frames=config.window_frames, hop_frames=config.hop_frames)
    log.info("audio: %d videos (%d from an earlier run), %d tiles written now, %d in the manifest; failures: %s",
             videos, resumed, written, len(rows), reasons or "none")
    return summary
