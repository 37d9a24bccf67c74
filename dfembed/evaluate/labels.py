"""Ground-truth labels for evaluation: DFDC ``metadata.json``, a real/fake folder tree, a data set's
own folder (FaceForensics++, Celeb-DF v2), Celeb-DF's ``List_of_testing_videos.txt``, or a CSV.

Convention: 1 is FAKE, 0 is REAL. Every reader returns a :class:`LabelSet` that maps a
key (a file name or relative POSIX path) to its label and, when the source says so,
to a group: the DFDC source video, so that a fake and the original it was made from
are evaluated together.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dfembed.core.classes import CLASSES, FAKE, label_of
from dfembed.core.errors import InputError
from dfembed.crop.datasets import CELEBDF_FAKES, CELEBDF_TEST_LIST, Selection, celebdf_group, read_celebdf_list
from dfembed.crop.sources import discover_sources, load_metadata
from dfembed.infer.submission import read_text

log = logging.getLogger(__name__)

#: Accepted key and label column names of a label CSV, in order of preference.
KEY_COLUMNS = ("path", "filename", "file")
LABEL_COLUMNS = ("label", "y")
GROUP_COLUMN = "group"


@dataclass(frozen=True)
class LabelSet:
    """Ground truth read from one source.

    Attributes:
        source: The file or folder it was read from.
        kind: ``"dfdc-metadata"``, ``"folders"``, ``"csv"``, ``"ffpp"`` or ``"celebdf"``.
        labels: Key (file name or relative POSIX path) → 1 for FAKE, 0 for REAL.
        groups: Key → group name; empty when the source has no groups.
        methods: Key of a fake → the method that made it (FaceForensics++'s ``Deepfakes``…);
            empty when the source names none.
        dataset: A short name of what the labels are (``FF++ c23 test``), for reports.
    """

    source: Path
    kind: str
    labels: Mapping[str, int]
    groups: Mapping[str, str] = field(default_factory=dict)
    methods: Mapping[str, str] = field(default_factory=dict)
    dataset: str = ""


def read_labels(path: str | Path, selection: Selection | None = None) -> LabelSet:
    """Read labels from whichever supported source ``path`` is.

    A folder is read with :func:`dfembed.crop.sources.discover_sources`, the discovery the
    cropper uses: a FaceForensics++ or Celeb-DF v2 folder (with ``selection``'s split,
    compression and methods), a labelled ``real/``/``fake/`` tree (which wins over a
    ``metadata.json`` beside it: the tree labels each file, the metadata only videos) or
    DFDC metadata files, nested or not. A file ending in ``.json`` is DFDC metadata, one
    ending in ``.csv`` a label CSV and one named ``List_of_testing_videos.txt`` Celeb-DF's test list.

    Args:
        path: A ``metadata.json``, a CSV file, a Celeb-DF list, or a folder.
        selection: Layout and subset of a data-set folder (``None``: recognised, all).

    Returns:
        The labels.

    Raises:
        InputError: The path is missing, of an unknown kind, or its content is invalid.
        ConfigError: A selection the data set cannot give.
    """
    path = Path(path)
    if path.is_dir():
        return read_label_folder(path, selection)
    if not path.is_file():
        raise InputError(f"labels {path} do not exist")
    if path.suffix.lower() == ".json":
        return read_dfdc_metadata(path)
    if path.suffix.lower() == ".csv":
        return read_label_csv(path)
    if path.name.lower() == CELEBDF_TEST_LIST.lower():
        return read_celebdf_test_list(path)
    raise InputError(
        f"labels {path}: expected a DFDC metadata .json, a .csv, Celeb-DF's List_of_testing_videos.txt, "
        "or a folder (real/ and fake/, DFDC, FaceForensics++, Celeb-DF)"
    )


def read_celebdf_test_list(path: str | Path) -> LabelSet:
    """Read Celeb-DF v2's ``List_of_testing_videos.txt`` (first column **1 = REAL, 0 = FAKE**).

    Args:
        path: The list.

    Returns:
        Labels keyed by ``<folder>/<file>`` (1 FAKE, 0 REAL), groups (a fake with the real
        video it was made on) and the fakes' method ``Celeb-synthesis``.

    Raises:
        InputError: An unreadable list or a malformed line.
    """
    path = Path(path)
    labels = read_celebdf_list(path)
    groups = {key: celebdf_group(key.split("/")[0], Path(key).stem) for key in labels}
    methods = {key: CELEBDF_FAKES for key, label in labels.items() if label == FAKE}
    log.info("read %d labels from Celeb-DF list %s", len(labels), path)
    return LabelSet(path, "celebdf", labels, groups, methods, "Celeb-DF v2 test")


def read_dfdc_metadata(path: str | Path) -> LabelSet:
    """Read one DFDC ``metadata.json``: ``{"x.mp4": {"label": "FAKE", "original": "y.mp4"}}``.

    The group of a fake is its ``original``; the group of a real video (``original`` is
    null) is its own name, so a source video and its fakes share one group.

    Args:
        path: The JSON file.

    Returns:
        Labels keyed by file name, with groups.

    Raises:
        InputError: Invalid metadata (see :func:`dfembed.crop.sources.load_metadata`) or no entry.
    """
    path = Path(path)
    data = load_metadata(path)
    if not data:
        raise InputError(f'{path}: no entries; expected file names mapped to {{"label": "REAL"|"FAKE"}}')
    labels = {name: CLASSES[str(entry["label"]).lower()] for name, entry in data.items()}
    groups = {name: _metadata_group(name, entry) for name, entry in data.items()}
    log.info("read %d labels from DFDC metadata %s", len(labels), path)
    return LabelSet(path, "dfdc-metadata", labels, groups, dataset=f"DFDC {path.resolve().parent.name}")


def read_label_folder(root: str | Path, selection: Selection | None = None) -> LabelSet:
    """Read a labelled folder: a data set's own layout, a ``real/``/``fake/`` tree or DFDC ``metadata.json`` files.

    Args:
        root: The folder.
        selection: Layout and subset (FaceForensics++, Celeb-DF); ``None``: recognised, all.

    Returns:
        Labels keyed by each medium's POSIX path relative to ``root`` (``real/a/b.png``),
        kind ``"folders"``, ``"dfdc-metadata"``, ``"ffpp"`` or ``"celebdf"``. Groups come
        from the discovery (a DFDC video's original, also for its frames; a FaceForensics++
        pair); they are left out when every medium is only its own group. Methods are the
        fakes' manipulations when the data set names them.

    Raises:
        InputError: The folder holds no labelled media, or a ``metadata.json`` or list is invalid.
    """
    root = Path(root)
    selection = selection if selection is not None else Selection()
    discovery = discover_sources(root, selection=selection)
    sources = [s for s in discovery.sources if s.label in CLASSES]
    if not sources:
        raise InputError(
            f"labels folder {root} has no media under real/ or fake/ sub-folders "
            "nor listed in a metadata.json"
        )
    labels = {s.relative: CLASSES[s.label] for s in sources}
    groups = {s.relative: s.group for s in sources}
    if all(group == key for key, group in groups.items()):
        groups = {}  # every file its own group: per-group metrics would say nothing
    kind = {"labelled": "folders", "ffpp": "ffpp", "celebdf": "celebdf"}.get(discovery.layout, "dfdc-metadata")
    methods = {s.relative: s.method for s in sources if s.method}
    log.info("read %d labels from %s folder %s", len(labels), kind, root)
    return LabelSet(root, kind, labels, groups, methods, dataset_name(kind, root, selection))


def dataset_name(kind: str, root: Path, selection: Selection) -> str:
    """A short name for a labelled folder: ``FF++ c23 test``, ``Celeb-DF v2 test``, else the folder's name."""
    split = "" if selection.split == "all" else f" {selection.split}"
    if kind == "ffpp":
        return f"FF++ {selection.compression}{split}"
    if kind == "celebdf":
        return f"Celeb-DF v2{split}"
    return root.resolve().name


def read_label_csv(path: str | Path) -> LabelSet:
    """Read a label CSV: a key column (``path``, ``filename`` or ``file``), a label column
    (``label`` or ``y``; values 0/1 or REAL/FAKE) and an optional ``group`` column.

    Args:
        path: The CSV file (UTF-8, header on the first line).

    Returns:
        Labels keyed by the key column, with groups when the column exists.

    Raises:
        InputError: Unreadable file, missing columns, an empty key, a duplicate key or a
            label that is neither 0/1 nor REAL/FAKE; the message names the line.
    """
    path = Path(path)
    reader = csv.DictReader(io.StringIO(read_text(path, "label CSV"), newline=""))
    try:
        labels, groups = _csv_rows(path, reader)
    except csv.Error as err:
        raise InputError(f"label CSV {path}, line {reader.line_num}: not a valid CSV file ({err})") from err
    if not labels:
        raise InputError(f"label CSV {path} has a header but no rows")
    log.info("read %d labels from CSV %s", len(labels), path)
    return LabelSet(path, "csv", labels, groups, dataset=path.stem)


def _csv_rows(path: Path, reader: csv.DictReader) -> tuple[dict[str, int], dict[str, str]]:
    key_col, label_col = _csv_columns(path, reader.fieldnames)
    has_groups = GROUP_COLUMN in (reader.fieldnames or [])
    labels: dict[str, int] = {}
    groups: dict[str, str] = {}
    for row in reader:
        where = f"{path}, line {reader.line_num}"
        key = (row.get(key_col) or "").strip()
        if not key:
            raise InputError(f"{where}: the {key_col!r} column is empty")
        if key in labels:
            raise InputError(f"{where}: {key!r} appears more than once")
        labels[key] = parse_label(row.get(label_col), where)
        if has_groups and (row.get(GROUP_COLUMN) or "").strip():
            groups[key] = row[GROUP_COLUMN].strip()
    return labels, groups


def parse_label(value: Any, where: str) -> int:
    """Turn ``0``/``1``, ``"0"``/``"1"`` (``"1.0"`` too) or ``REAL``/``FAKE`` (any case) into 0 or 1.

    Args:
        value: The raw label.
        where: Location for the error message (file and line or entry).

    Returns:
        1 for FAKE, 0 for REAL.

    Raises:
        InputError: Any other value.
    """
    text = str(value).strip().lower() if value is not None else ""
    if label_of(text) is not None:
        return CLASSES[text]
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if number in (0.0, 1.0):
        return int(number)
    raise InputError(f"{where}: label {value!r} is not 0/1 or REAL/FAKE")


def _csv_columns(path: Path, fieldnames: list[str] | None) -> tuple[str, str]:
    if not fieldnames:
        raise InputError(f"label CSV {path} is empty: expected a header such as 'path,label'")
    key = next((c for c in KEY_COLUMNS if c in fieldnames), None)
    label = next((c for c in LABEL_COLUMNS if c in fieldnames), None)
    if key is None or label is None:
        raise InputError(
            f"label CSV {path}: header {fieldnames} needs a key column ({', '.join(KEY_COLUMNS)}) "
            f"and a label column ({', '.join(LABEL_COLUMNS)})"
        )
    return key, label


def _metadata_group(name: str, entry: Mapping[str, Any]) -> str:
    """A fake's ``original``, else the video's own name (as in :mod:`dfembed.crop.sources`)."""
    original = entry.get("original")
    return str(original) if label_of(entry["label"]) == FAKE and original else name


