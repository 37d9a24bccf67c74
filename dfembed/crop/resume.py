"""Resuming a crop run: what an earlier run in DST left, whether it fits, what is still to do.

A rerun into the same DST keeps the crops and rows of every source whose journal row
(``sources.csv``) exists, redoes the rest, and drops what belongs to sources no longer
in SRC. A DST made from another SRC or with other options is refused unless
``--force``, which deletes the earlier run's crops and reports first.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from dfembed.core.atomic import remove_stale_temps
from dfembed.core.classes import CROP_FOLDERS
from dfembed.core.errors import InputError, OutputExistsError
from dfembed.core.paths import contained, remove_inside
from dfembed.crop.manifest import (
    FAILURE_COLUMNS,
    FAILURES_NAME,
    MANIFEST_COLUMNS,
    MANIFEST_NAME,
    PROVENANCE_NAME,
    REPORT_NAMES,
    SOURCE_COLUMNS,
    SOURCES_NAME,
    Row,
    read_crop_record,
    read_rows,
    write_rows,
)
from dfembed.crop.naming import MESH_DIR, is_crop_name, is_mesh_name, mesh_file
from dfembed.crop.discovery import Discovery, Skipped
from dfembed.faces.config import RUNTIME_ONLY_FIELDS, CropConfig
from dfembed.faces.detector import detector_names, detector_spec

log = logging.getLogger(__name__)

#: Journal status of a source whose (Ray) worker died on every attempt: a rerun tries it again.
WORKER_DIED = "worker died"


def prepare_dst(src: Path, dst: Path, config: CropConfig, force: bool) -> None:
    """Create ``dst``; on ``force`` delete the previous run, else check it is compatible.

    Compatible means made from the same (resolved) SRC with the same options, except
    the options that only change speed (:data:`~dfembed.faces.config.RUNTIME_ONLY_FIELDS`).

    Args:
        src: The resolved input folder.
        dst: The output folder.
        config: This run's options.
        force: Start afresh.

    Raises:
        OutputExistsError: ``dst`` holds a run of another SRC or other options and ``force`` is false.
        InputError: ``dst`` holds an unreadable crop record, a crop folder that leads outside
            DST, or a report file that is a link.
    """
    dst.mkdir(parents=True, exist_ok=True)
    check_dst_layout(dst)
    removed = remove_stale_temps(dst)
    if removed:
        log.info("removed %d temporary files left by an interrupted run", removed)
    if force:
        _delete_previous(dst)
        return
    record = _previous_record(dst)
    if record is None or not read_rows(dst / SOURCES_NAME, SOURCE_COLUMNS):
        return
    previous_src = record.get("src")
    if previous_src is not None and Path(previous_src).resolve() != src:
        raise OutputExistsError(
            f"{dst} holds crops of SRC {previous_src}, not of SRC {src}; "
            "use --force to replace them or choose another DST"
        )
    changed = _config_changes(record["config"], config)
    if changed:
        raise OutputExistsError(
            f"{dst} holds crops made with other options ({', '.join(changed)}); "
            "use --force to redo them or choose another DST"
        )


def check_dst_layout(dst: Path) -> None:
    """Refuse a DST whose crop folders lead outside it or whose reports are links.

    The job writes and deletes only inside DST: a ``real/`` that is a link to another
    folder would make ``--force`` delete crop-named files there, and a ``manifest.csv``
    that is a link would make the job append to its target.

    Raises:
        InputError: Naming the entry and where it leads.
    """
    for folder in (*CROP_FOLDERS, MESH_DIR):
        if not contained(dst / folder / "crop", dst):
            raise InputError(f"{dst / folder} leads outside DST (to {(dst / folder).resolve()}); dfembed writes "
                             "and deletes only inside DST: remove the link or choose another DST")
    for name in REPORT_NAMES:
        if (dst / name).is_symlink():
            raise InputError(f"{dst / name} is a link; the crop reports must be plain files in DST: "
                             "remove it or choose another DST")


def _previous_record(dst: Path) -> dict | None:
    """The previous run's crop record (``config`` checked to be present), or ``None``."""
    try:
        record = read_crop_record(dst)
    except InputError as err:
        raise InputError(f"{err}; use --force to start afresh") from err
    if record is not None and not isinstance(record.get("config"), dict):
        raise InputError(f"{dst}: its crop record holds no configuration; use --force to start afresh")
    return record


def _config_changes(previous: dict, config: CropConfig) -> list[str]:
    """The options that differ and change what a run writes.

    A key missing from an earlier record is an option that did not exist then: that run
    used its default. ``min_confidence`` is compared as the floor in force (``None`` means
    the detector's default), and the options of detectors other than the one used are
    left out, since they change nothing.
    """
    current = _comparable(json.loads(json.dumps(dataclasses.asdict(config))))
    previous = _comparable({**json.loads(json.dumps(dataclasses.asdict(CropConfig()))), **previous})
    ignored = set(RUNTIME_ONLY_FIELDS)
    if previous.get("detector") == current["detector"]:
        ignored |= _other_detectors_options(current["detector"])
    keys = sorted(set(previous) | set(current))
    return [f"{k}: {previous.get(k)!r} -> {current.get(k)!r}" for k in keys
            if k not in ignored and previous.get(k) != current.get(k)]


def _comparable(values: dict) -> dict:
    """``values`` with ``min_confidence`` replaced by the floor it stands for."""
    if values.get("min_confidence") is None and values.get("detector") in detector_names():
        values = {**values, "min_confidence": detector_spec(values["detector"]).default_min_confidence}
    return values


def _other_detectors_options(name: str) -> set[str]:
    own = set(detector_spec(name).option_fields)
    return {field for other in detector_names() for field in detector_spec(other).option_fields} - own


def _delete_previous(dst: Path) -> None:
    """Delete the crops (files named like ours below the label folders), their FaceMesh files and the reports."""
    check_owned_folder(dst, PROVENANCE_NAME, "crop")
    delete_previous_run(dst, is_crop_name, REPORT_NAMES, "crops")
    if (dst / MESH_DIR).is_dir():
        delete_previous_run(dst / MESH_DIR, is_mesh_name, (), "FaceMesh files")


def check_owned_folder(root: Path, record_name: str, what: str) -> None:
    """Refuse ``--force`` in a folder that holds files but no record of an earlier run.

    Only a folder a run of this stage wrote (its record is there) has files ``--force`` may
    delete; in any other folder, a file that merely looks like a crop is a user's file.

    Raises:
        OutputExistsError: ``root`` holds files (below its label folders or reports) and no ``record_name``.
    """
    if (root / record_name).exists():
        return
    holding = next((p for folder in CROP_FOLDERS for p in (root / folder).rglob("*") if p.is_file()), None)
    if holding is not None:
        raise OutputExistsError(f"{root} holds files ({holding.relative_to(root)}, ...) but no {record_name}: it is "
                                f"not a {what} folder dfembed wrote, so --force deletes nothing there; choose another "
                                "DST")


def delete_previous_run(root: Path, is_output: Callable[[str], bool], reports: Iterable[str], what: str) -> None:
    """``--force``: delete the files a run wrote below the label folders of ``root``, and its reports.

    Callers first check the folder holds an earlier run's record (:func:`check_owned_folder`).

    Args:
        root: DST (or DST/audio).
        is_output: Whether a file name is one the run writes (others are left alone).
        reports: The report files' names in ``root``.
        what: What the files are, for the log line (``"crops"``).
    """
    deleted = 0
    for folder in CROP_FOLDERS:
        for parent, _, names in os.walk(root / folder):  # links to folders are not followed
            for name in filter(is_output, names):
                deleted += remove_inside(Path(parent) / name, root)
    for name in reports:
        remove_inside(root / name, root)
    log.info("--force: deleted %d %s and the reports of the previous run in %s", deleted, what, root)


def restore_journal(dst: Path, discovery: Discovery) -> set[str]:
    """Keep the rows of complete sources still in SRC; re-add SRC-level skips to ``failures.csv``.

    Crop files of sources no longer in SRC are deleted with their rows. A source whose
    worker died (:data:`WORKER_DIED`) is not complete: its rows go, and it is cropped again.

    Args:
        dst: The output folder.
        discovery: What SRC holds now.

    Returns:
        The relative paths of the sources that are complete.
    """
    present = {s.relative for s in discovery.sources}
    journal = [r for r in read_rows(dst / SOURCES_NAME, SOURCE_COLUMNS)
               if r["source"] in present and r["status"] != WORKER_DIED]
    done = {row["source"] for row in journal}
    manifest = []
    for row in read_rows(dst / MANIFEST_NAME, MANIFEST_COLUMNS):
        if row["source"] in done:
            manifest.append(row)
        elif row["source"] not in present:
            _delete_crop(dst, row["crop"])
    failures = [r for r in read_rows(dst / FAILURES_NAME, FAILURE_COLUMNS) if r["source"] in done]
    failures += [_skip_row(s) for s in discovery.skipped]
    write_rows(dst / SOURCES_NAME, SOURCE_COLUMNS, journal)
    write_rows(dst / MANIFEST_NAME, MANIFEST_COLUMNS, manifest)
    write_rows(dst / FAILURES_NAME, FAILURE_COLUMNS, failures)
    return done


def _delete_crop(dst: Path, relative: str) -> None:
    """Delete one crop file of an earlier run and its FaceMesh file, if it is a crop file inside ``dst``."""
    path = dst / relative
    if is_crop_name(path.name) and remove_inside(path, dst):
        remove_inside(dst / mesh_file(relative), dst)
        log.info("deleted %s: its source is no longer in SRC", relative)


def _skip_row(skipped: Skipped) -> Row:
    return {"source": skipped.relative, "label": skipped.label, "reason": skipped.reason, "detail": skipped.detail}
