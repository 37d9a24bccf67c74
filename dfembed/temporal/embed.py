"""``dfembed temporal embed DATA MODEL_H5 OUT``: every video's per-frame embeddings, in frame order.

For each video of the crop folder DATA (:mod:`dfembed.crop.videos`: its timeline of
sampled frames and one face track), the track's crops are embedded by the trained
embedding model MODEL_H5 and written as one ``.npz`` per video with an index CSV
(:mod:`dfembed.temporal.store`) — the input of ``dfembed temporal train``, computed once.

Resumable like the crop stage: each video's file is written atomically and only then its
index row appended (and synced), so a rerun after a kill embeds only the videos without a
row. A folder made from another crop folder, model file or track option is refused
unless ``--force``. Crops that no longer decode are logged, counted and become gaps.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from dfembed.core.atomic import atomic_write_text, remove_stale_temps
from dfembed.core.errors import InputError, OutputExistsError
from dfembed.core.jsonfile import read_json
from dfembed.core.lock import OutputLock, lock_file_beside
from dfembed.core.paths import check_distinct, check_separate, check_writable
from dfembed.core.provenance import file_sha256, write_provenance
from dfembed.crop.manifest import CsvAppender, read_crop_record, read_rows
from dfembed.crop.videos import CropVideos, VideoTrack, read_crop_videos
from dfembed.faces.geometry import fit_size
from dfembed.faces.media import MediaError, read_image
from dfembed.temporal.config import EmbedConfig
from dfembed.temporal.store import (
    INDEX_COLUMNS,
    INDEX_NAME,
    RECORD_NAME,
    VIDEOS_DIR,
    IndexEntry,
    Timeline,
    index_text,
    parse_index_row,
    read_timeline,
    timeline_file,
    write_timeline,
)

log = logging.getLogger(__name__)

#: Keys of the configuration that change what is written (a resumed run must keep them).
CONTENT_KEYS = ("track", "min_iou")


class Embedder(Protocol):
    """Face crops → embeddings: what :func:`run_embed` needs of a model.

    Attributes:
        image_size: Side of the square input the crops are resized to.
    """

    image_size: int

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """``(n, S, S, 3)`` uint8 RGB → ``(n, D)`` float32."""
        ...


class ModelEmbedder:
    """A Keras embedding model on crops, in zero-padded batches of one shape.

    Args:
        model: A dfembed embedding model (:mod:`dfembed.model.network`).
        batch_size: Crops per model call.
    """

    def __init__(self, model: Any, batch_size: int) -> None:
        from dfembed.model.network import model_info

        self.model = model
        self.batch_size = batch_size
        self.image_size = model_info(model).image_size

    def __call__(self, images: np.ndarray) -> np.ndarray:
        from dfembed.model.network import embed_images

        return embed_images(self.model, images, self.batch_size)


@dataclass(frozen=True)
class EmbedSummary:
    """What an embedding run did.

    Attributes:
        out: The embeddings folder.
        videos: Videos in the index.
        resumed: Videos kept from an earlier run.
        embedded: Videos embedded now.
        faces: Faces on all timelines.
        unreadable_crops: Crop files that did not decode (gaps now).
        not_frames: Images of DATA that are no video frame (left out).
        no_face: Videos without any face (left out).
        partial: Videos whose frames without a face are unknown.
        seconds: Wall time.
    """

    out: Path
    videos: int
    resumed: int
    embedded: int
    faces: int
    unreadable_crops: int
    not_frames: int
    no_face: tuple[str, ...]
    partial: tuple[str, ...]
    seconds: float


def run_embed(
    data: Path,
    model_h5: Path,
    out: Path,
    config: EmbedConfig,
    force: bool = False,
    embedder: Embedder | None = None,
) -> EmbedSummary:
    """Embed every video's track of a crop folder into an embeddings folder.

    Args:
        data: The crop folder (``crop_face.py``'s DST).
        model_h5: The embedding model (``train.py``'s OUT_H5); its SHA-256 is recorded.
        out: The embeddings folder (created).
        config: The options.
        force: Start over in a folder that holds another run.
        embedder: Crops → embeddings with an ``image_size`` attribute; ``None`` loads
            ``model_h5`` (:class:`ModelEmbedder`).

    Returns:
        The :class:`EmbedSummary`.

    Raises:
        InputError: DATA or MODEL_H5 missing or unusable, or DATA and OUT overlap.
        OutputExistsError: OUT holds another run, or other files, and ``force`` is false.
        LockedError: Another job writes into OUT.
    """
    started = time.monotonic()
    data, out = Path(data), Path(out)
    if not Path(model_h5).is_file():
        raise InputError(f"model file {model_h5} does not exist")
    if data.is_dir():
        check_separate(data, "DATA", out, "OUT")  # --force clears OUT: it must hold no input
    check_distinct({"OUT": out}, {"MODEL_H5": model_h5})
    check_writable(out, "OUT")
    with OutputLock(lock_file_beside(out), f"embeddings folder {out}"):
        return _run_locked(data, Path(model_h5), out, config, force, embedder, started)


def _run_locked(
    data: Path, model_h5: Path, out: Path, config: EmbedConfig, force: bool, embedder: Embedder | None,
    started: float,
) -> EmbedSummary:
    """:func:`run_embed` once the paths are checked and OUT is locked."""
    found = read_crop_videos(data, config.track, config.min_iou)
    identity = {"data": str(data.resolve()), "model_sha256": file_sha256(Path(model_h5))}
    done = _prepare_out(out, identity, config, force)
    if embedder is None:
        from dfembed.model.network import load_embedding_model

        embedder = ModelEmbedder(load_embedding_model(model_h5), config.batch_size)
    kept = {v.video: done[v.video] for v in found.videos if _still_valid(done.get(v.video), v, out)}
    todo = [v for v in found.videos if v.video not in kept]
    write_provenance(out / RECORD_NAME, config, status="running", model=str(model_h5), **identity)
    log.info("%d videos to embed, %d complete from an earlier run", len(todo), len(kept))
    entries, unreadable = _embed_all(todo, data, out, embedder, kept)
    described = {**identity, "image_size": int(embedder.image_size), "weights_sha256": _weights(embedder)}
    return _finish(out, config, found, entries, len(kept), unreadable, model_h5, described, started)


def _weights(embedder: Embedder) -> str | None:
    """The digest of the embedding model's weights (what inference compares), when the embedder is a model."""
    if not isinstance(embedder, ModelEmbedder):
        return None
    from dfembed.model.network import weights_digest

    return weights_digest(embedder.model)


def _prepare_out(out: Path, identity: dict[str, str], config: EmbedConfig, force: bool) -> dict[str, IndexEntry]:
    """Create OUT, check an earlier run fits (or wipe it with ``force``); its finished videos."""
    record = _read_earlier_record(out)
    if out.is_dir() and any(out.iterdir()) and record is None:
        raise OutputExistsError(f"{out} holds files but no {RECORD_NAME}: it is not an embeddings folder dfembed "
                                "wrote, so nothing there is replaced, --force or not; choose another OUT")
    if record is not None and not force:
        changed = [k for k in identity if record.get(k) != identity[k]]
        changed += [k for k in CONTENT_KEYS if (record.get("config") or {}).get(k) != getattr(config, k)]
        if changed:
            raise OutputExistsError(f"{out} holds embeddings made with another {', '.join(changed)}; "
                                    "use --force to start over")
    if force:
        _delete_previous(out)
    (out / VIDEOS_DIR).mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)
    rows = read_rows(out / INDEX_NAME, INDEX_COLUMNS)
    return {e.video: e for e in (parse_index_row(r, str(out / INDEX_NAME)) for r in rows)}


def _read_earlier_record(out: Path) -> dict[str, Any] | None:
    path = out / RECORD_NAME
    if not path.is_file():
        return None
    record = read_json(path, "an embedding record", "use --force to start over")
    return record if isinstance(record, dict) else None


def _delete_previous(out: Path) -> None:
    """Remove what an embedding run writes (and nothing else)."""
    for path in [out / INDEX_NAME, out / RECORD_NAME, *(out / VIDEOS_DIR).glob("*.npz")]:
        if path.is_file():
            path.unlink()


def _still_valid(entry: IndexEntry | None, video: VideoTrack, out: Path) -> bool:
    """An earlier run's row still describes this video (same timeline) and its file exists."""
    if entry is None:
        return False
    same = (entry.frames, entry.label, entry.group, entry.file) == (len(video.frames), video.label, video.group,
                                                                    timeline_file(video.video))
    return same and (out / entry.file).is_file()


def _embed_all(
    todo: list[VideoTrack], data: Path, out: Path, embedder: Embedder,
    kept: dict[str, IndexEntry],
) -> tuple[list[IndexEntry], int]:
    entries, unreadable = list(kept.values()), 0
    with CsvAppender(out / INDEX_NAME, INDEX_COLUMNS) as index:
        for video in tqdm(todo, unit="video", desc="embed", disable=None):
            timeline, bad = embed_video(video, data, embedder)
            unreadable += bad
            if timeline is None:
                continue
            entry = IndexEntry(video.video, video.label, video.group, len(video.frames), int(timeline.mask.sum()),
                               timeline_file(video.video))
            write_timeline(out / entry.file, timeline)
            index.append([entry.row()])  # only after its file exists: the resume journal
            entries.append(entry)
    return entries, unreadable


def embed_video(
    video: VideoTrack, data: Path, embedder: Embedder
) -> tuple[Timeline | None, int]:
    """One video's timeline of embeddings; unreadable crops become gaps.

    Args:
        video: The video and its track.
        data: The crop folder its crop paths are relative to.
        embedder: Crops → embeddings (with ``image_size``).

    Returns:
        ``(timeline, unreadable crops)``; the timeline is ``None`` when no crop decoded.
    """
    images, positions, bad = [], [], 0
    for position, crop in enumerate(video.crops):
        if crop is None:
            continue
        try:
            images.append(fit_size(read_image(data / crop), embedder.image_size))
            positions.append(position)
        except MediaError as err:
            log.warning("%s: crop unreadable, a gap now: %s", video.video, err)
            bad += 1
    if not images:
        log.warning("%s: no crop could be read; left out", video.video)
        return None, bad
    vectors = np.asarray(embedder(np.stack(images)), dtype=np.float32)
    embeddings = np.zeros((len(video.frames), vectors.shape[1]), dtype=np.float32)
    mask = np.zeros(len(video.frames), dtype=bool)
    embeddings[positions], mask[positions] = vectors, True
    return Timeline(embeddings, mask, np.asarray(video.frames, dtype=np.int64)), bad


def _finish(
    out: Path, config: EmbedConfig, found: CropVideos, entries: list[IndexEntry], resumed: int, unreadable: int,
    model_h5: Path, identity: dict[str, Any], started: float,
) -> EmbedSummary:
    """Sorted index of the current videos only, stray files removed, the record completed."""
    current = {v.video for v in found.videos}
    entries = [e for e in entries if e.video in current]
    if not entries:
        raise InputError(f"{found.root}: no video could be embedded (every crop unreadable); see the log")
    atomic_write_text(out / INDEX_NAME, index_text(entries))
    wanted = {e.file for e in entries}
    for path in (out / VIDEOS_DIR).glob("*.npz"):
        if f"{VIDEOS_DIR}/{path.name}" not in wanted:
            path.unlink()
    summary = EmbedSummary(out, len(entries), resumed, len(entries) - resumed, sum(e.faces for e in entries),
                           unreadable, len(found.not_frames), found.no_face, found.partial,
                           time.monotonic() - started)
    dim = int(read_timeline(out / entries[0].file).embeddings.shape[1]) if entries else None
    write_provenance(out / RECORD_NAME, config, status="complete", model=str(model_h5), **identity,
                     embedding_dim=dim, crop=_crop_settings(found.root), summary={k: (str(v) if isinstance(v, Path) else v)
                                                for k, v in dataclasses.asdict(summary).items()})
    log.info("embed: %d videos (%d from an earlier run), %d faces, %d unreadable crops → %s",
             summary.videos, resumed, summary.faces, unreadable, out)
    return summary


def _crop_settings(data: Path) -> dict[str, Any] | None:
    """The crop run's configuration, for inference to check it samples frames alike."""
    record = read_crop_record(data) or {}
    return record.get("config") if isinstance(record.get("config"), dict) else None
