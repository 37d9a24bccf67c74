"""The audio part of a crop folder: ``DST/audio/``, its file names, CSV schemas and their readers.

``crop_face.py SRC DST --audio`` writes, for every video with a soundtrack, log-mel tiles
under ``DST/audio/{real,fake,unlabeled}/`` (named by :func:`dfembed.crop.naming.tile_file`)
and, in ``DST/audio/``:

* ``audio_manifest.csv``: one row per tile — ``source`` (relative to SRC), ``label``,
  ``group``, ``tile_index``, ``window_start`` and ``window_end`` (seconds from the
  soundtrack's first sample), ``sample_rate`` (Hz), ``ref_db`` (the track's loudest bin, the
  0 dB of its tiles) and ``tile`` (relative to ``DST/audio``);
* ``audio_failures.csv``: one row per medium or entry of SRC that gave no tile (``no audio``
  for a video without a soundtrack or with a silent one, ``not a video`` for an image, and
  SRC's listing skips), columns as the face crops' ``failures.csv``;
* ``audio_sources.csv``: one row per finished video, the resume journal;
* ``dfembed-audio.json``: the tile settings, SRC, library versions and counts.

``DST/audio`` is thus a training folder of its own (``train.py DST/audio … --modality
audio``). Later stages read it through the functions here only.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

from dfembed.core.errors import InputError
from dfembed.core.jsonfile import read_json
from dfembed.crop.manifest import read_csv_text

log = logging.getLogger(__name__)

AUDIO_DIR = "audio"
AUDIO_MANIFEST_NAME = "audio_manifest.csv"
AUDIO_FAILURES_NAME = "audio_failures.csv"
AUDIO_SOURCES_NAME = "audio_sources.csv"
AUDIO_RECORD_NAME = "dfembed-audio.json"
#: Every report file of the audio part (the tiles are named by :mod:`dfembed.crop.naming`).
AUDIO_REPORT_NAMES = (AUDIO_MANIFEST_NAME, AUDIO_FAILURES_NAME, AUDIO_SOURCES_NAME, AUDIO_RECORD_NAME)
AUDIO_MANIFEST_COLUMNS: tuple[str, ...] = (
    "source", "label", "group", "tile_index", "window_start", "window_end", "sample_rate", "ref_db", "tile",
)
AUDIO_SOURCE_COLUMNS: tuple[str, ...] = ("source", "label", "group", "status", "tiles", "detail")


def read_tile_column(root: Path, column: str) -> dict[Path, str]:
    """Map each tile listed in ``root/audio_manifest.csv`` to one of its columns (empty without a manifest).

    Args:
        root: An audio folder (``DST/audio``).
        column: ``group``, ``source``, ``label``…

    Returns:
        Resolved tile path → the column's value (rows with an empty value left out).

    Raises:
        InputError: The manifest exists but is not UTF-8 CSV or lacks the ``tile`` or ``column`` column.
    """
    manifest = Path(root) / AUDIO_MANIFEST_NAME
    if not manifest.is_file():
        return {}
    reader = csv.DictReader(io.StringIO(read_csv_text(manifest), newline=""))
    try:
        missing = {"tile", column} - set(reader.fieldnames or ())
        if missing:
            raise InputError(f"{manifest}: missing column(s) {', '.join(sorted(missing))}")
        values = {(root / row["tile"]).resolve(): row[column] for row in reader
                  if row["tile"] and row[column] and "\x00" not in row["tile"]}
    except csv.Error as err:
        raise InputError(f"{manifest}, line {reader.line_num}: not a valid CSV file ({err})") from err
    log.info("read %d tiles' %s from %s", len(values), column, manifest)
    return values


def read_audio_record(root: Path) -> dict | None:
    """The audio part's record ``root/dfembed-audio.json`` (tile settings, status, SRC, counts).

    Args:
        root: An audio folder (``DST/audio``).

    Returns:
        The record, or ``None`` when the folder has none.

    Raises:
        InputError: The record is not a JSON object.
    """
    path = Path(root) / AUDIO_RECORD_NAME
    if not path.is_file():
        return None
    record = read_json(path, "an audio record")
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise InputError(f"{path}: expected a JSON object with the tile settings under 'config'")
    return record
