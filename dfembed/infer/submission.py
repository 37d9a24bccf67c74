"""Submission CSVs: the Dacon (``path,y``) and DFDC (``filename,label``) formats.

A template is recognised by its header; its row order and any extra columns are kept.
Rows are matched to the media files found under TEST by their path: the file whose
relative path shares the most trailing components with the row's key (the same
basename at least) wins, and a tie is an error, never a guess. So ``leaderboard/x.jpg``
matches ``TEST/leaderboard/x.jpg`` and, when TEST is the leaderboard folder itself,
``TEST/x.jpg``.
"""

from __future__ import annotations

import csv
import io
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from dfembed.core.atomic import atomic_write_text, refuse_existing
from dfembed.core.errors import ConfigError, InputError
from dfembed.core.ownership import record_beside


@dataclass(frozen=True)
class SubmissionFormat:
    """A submission layout: the column naming the file and the column of the score.

    Attributes:
        name: ``"dacon"`` or ``"dfdc"``.
        key: Column holding the media file's (relative) path or name.
        value: Column receiving the score.
    """

    name: str
    key: str
    value: str


DACON = SubmissionFormat("dacon", "path", "y")
DFDC = SubmissionFormat("dfdc", "filename", "label")
FORMATS: dict[str, SubmissionFormat] = {"dacon": DACON, "dfdc": DFDC}


@dataclass
class Submission:
    """The rows of a submission CSV, in file order.

    Attributes:
        format: The recognised layout.
        fieldnames: All columns, in order (extra columns included).
        rows: One mapping of column → text per row.
        source: The file it was read from (``None`` for a new submission).
    """

    format: SubmissionFormat
    fieldnames: list[str]
    rows: list[dict[str, str]]
    source: Path | None = None

    @property
    def keys(self) -> list[str]:
        """The key column's value of every row."""
        return [row[self.format.key] for row in self.rows]


@dataclass
class Matching:
    """Which media file each submission row refers to.

    Attributes:
        row_files: For each row, the matched file's relative path, or ``None``.
        missing_rows: Keys of the rows with no file.
        unmatched_files: Relative paths of the files that no row names.
    """

    row_files: list[str | None]
    missing_rows: list[str] = field(default_factory=list)
    unmatched_files: list[str] = field(default_factory=list)


def detect_format(fieldnames: Sequence[str], source: str = "submission") -> SubmissionFormat:
    """Recognise a submission layout from its header.

    Args:
        fieldnames: The CSV's column names.
        source: What to call the file in error messages.

    Returns:
        :data:`DACON` for a header with ``path`` and ``y``, :data:`DFDC` for one with
        ``filename`` and ``label``.

    Raises:
        InputError: Neither or both layouts match.
    """
    columns = set(fieldnames)
    found = [fmt for fmt in FORMATS.values() if {fmt.key, fmt.value} <= columns]
    if len(found) == 1:
        return found[0]
    if not found:
        raise InputError(
            f"{source}: header {list(fieldnames)} is not a known submission format; "
            "expected columns 'path,y' (Dacon) or 'filename,label' (DFDC)"
        )
    raise InputError(f"{source}: header {list(fieldnames)} matches both the Dacon and the DFDC format")


def read_submission(path: Path) -> Submission:
    """Read and validate a submission template.

    Args:
        path: A CSV file with a Dacon or DFDC header.

    Returns:
        The parsed submission.

    Raises:
        InputError: The file is unreadable, empty, not UTF-8, has an unknown header,
            a row with the wrong number of fields, an empty key or a duplicate key.
    """
    reader = csv.reader(io.StringIO(read_text(path, "submission"), newline=""))
    try:
        header = next(reader, None)
        if not header or not any(cell.strip() for cell in header):
            raise InputError(f"submission {path} is empty: expected a header 'path,y' or 'filename,label'")
        fieldnames = [cell.strip() for cell in header]
        fmt = detect_format(fieldnames, f"submission {path}")
        rows = [_row_dict(path, reader.line_num, fieldnames, cells) for cells in reader if cells]
    except csv.Error as err:
        raise InputError(f"submission {path}, line {reader.line_num}: not a valid CSV file ({err})") from err
    _check_keys(path, [row[fmt.key] for row in rows])
    return Submission(fmt, fieldnames, rows, source=path)


def read_text(path: Path, what: str) -> str:
    """The text of a UTF-8 CSV file (a BOM dropped), with the line endings inside quoted fields kept.

    Args:
        path: The file.
        what: How the message calls it (``"submission"``).

    Raises:
        InputError: The file cannot be read or is not UTF-8; the message names it.
    """
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return handle.read()
    except UnicodeDecodeError as err:
        raise InputError(f"{what} {path} is not UTF-8 text (byte 0x{err.object[err.start]:02x} "
                         f"at position {err.start})") from err
    except OSError as err:
        raise InputError(f"cannot read {what} {path}: {err.strerror or err}") from err


def _row_dict(path: Path, line: int, fieldnames: list[str], cells: list[str]) -> dict[str, str]:
    if len(cells) != len(fieldnames):
        raise InputError(
            f"submission {path}, line {line}: {len(cells)} fields where the header has {len(fieldnames)}"
        )
    return dict(zip(fieldnames, cells))


def _check_keys(path: Path, keys: list[str]) -> None:
    seen: set[str] = set()
    for number, key in enumerate(keys, start=1):
        if not key.strip():
            raise InputError(f"submission {path}, row {number}: the file column is empty")
        if key in seen:
            raise InputError(f"submission {path}: {key!r} appears in more than one row")
        seen.add(key)


def choose_format(name: str, relative_paths: Sequence[str]) -> SubmissionFormat:
    """Pick the layout of a new submission.

    Args:
        name: ``"auto"``, ``"dacon"`` or ``"dfdc"``.
        relative_paths: The media files to be listed; videos are told apart by
            :func:`dfembed.faces.media.is_video`.

    Returns:
        The named layout; for ``"auto"`` DFDC when every file is a video, else Dacon.

    Raises:
        ConfigError: ``name`` is unknown.
    """
    if name == "auto":
        from dfembed.faces.media import is_video

        all_videos = bool(relative_paths) and all(is_video(p) for p in relative_paths)
        return DFDC if all_videos else DACON
    if name not in FORMATS:
        raise ConfigError(f"unknown submission format {name!r}; choose one of: auto, {', '.join(FORMATS)}")
    return FORMATS[name]


def new_submission(relative_paths: Sequence[str], fmt: SubmissionFormat) -> Submission:
    """A submission with one row per file, keyed by relative path, values empty.

    Args:
        relative_paths: POSIX paths relative to TEST.
        fmt: The layout.

    Returns:
        The new submission.
    """
    rows = [{fmt.key: path, fmt.value: ""} for path in relative_paths]
    return Submission(fmt, [fmt.key, fmt.value], rows)


def _parts(key: str) -> tuple[str, ...]:
    """Path components of a CSV key or relative path (``\\`` and ``./`` tolerated)."""
    parts = PurePosixPath(key.strip().replace("\\", "/")).parts
    return tuple(p for p in parts if p not in ("/", "."))


def _common_suffix(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    count = 0
    for x, y in zip(reversed(a), reversed(b)):
        if x != y:
            break
        count += 1
    return count


def match_rows(keys: Sequence[str], relative_paths: Sequence[str]) -> Matching:
    """Match submission rows to media files by relative path, else by basename.

    Args:
        keys: The key column of each row.
        relative_paths: POSIX paths of the media files relative to TEST.

    Returns:
        The matching, with missing rows and files that no row names.

    Raises:
        InputError: A key matches several files equally well.
    """
    by_name: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for path in relative_paths:
        parts = _parts(path)
        by_name[parts[-1]].append(parts)
    row_files: list[str | None] = []
    for key in keys:
        row_files.append(_match_one(key, by_name))
    used = {f for f in row_files if f is not None}
    missing = [key for key, f in zip(keys, row_files) if f is None]
    unmatched = [p for p in relative_paths if "/".join(_parts(p)) not in used]
    return Matching(row_files, missing, unmatched)


def _match_one(key: str, by_name: dict[str, list[tuple[str, ...]]]) -> str | None:
    parts = _parts(key)
    candidates = by_name.get(parts[-1], []) if parts else []
    if not candidates:
        return None
    scores = [_common_suffix(parts, c) for c in candidates]
    best = max(scores)
    winners = [c for c, s in zip(candidates, scores) if s == best]
    if len(winners) > 1:
        names = ", ".join("/".join(w) for w in winners)
        raise InputError(
            f"submission row {key!r} matches several files ({names}); use relative paths to tell them apart"
        )
    return "/".join(winners[0])


def format_value(
    score: float, hard_labels: bool = False, threshold: float = 0.5, clip: tuple[float, float] | None = None
) -> str:
    """Render one file's P(fake) for the CSV.

    Args:
        score: P(fake) in [0, 1].
        hard_labels: Write ``1`` when ``score > threshold`` else ``0``.
        threshold: Decision threshold for hard labels.
        clip: ``(low, high)`` bounds applied to probabilities (not to hard labels).

    Returns:
        ``"0"``/``"1"`` or the probability with six decimals.
    """
    if hard_labels:
        return "1" if score > threshold else "0"
    if clip is not None:
        score = min(max(score, clip[0]), clip[1])
    return f"{score:.6f}"


def fill(submission: Submission, values: Sequence[str]) -> Submission:
    """Return a copy of ``submission`` with the value column replaced, row by row.

    Args:
        submission: The template.
        values: One rendered value per row.

    Returns:
        The filled submission (other columns and order unchanged).

    Raises:
        ValueError: ``values`` does not have one entry per row.
    """
    if len(values) != len(submission.rows):
        raise ValueError(f"{len(values)} values for {len(submission.rows)} rows")
    column = submission.format.value
    rows = [{**row, column: value} for row, value in zip(submission.rows, values)]
    return Submission(submission.format, list(submission.fieldnames), rows, submission.source)


def add_columns(submission: Submission, columns: dict[str, Sequence[str]]) -> Submission:
    """Return a copy of ``submission`` with more columns, one value per row, after its own columns.

    A column the template already has is replaced (with a warning): it would otherwise hold
    stale values beside the new scores.

    Args:
        submission: The filled submission.
        columns: Column name → one rendered value per row.

    Returns:
        The submission with the columns.

    Raises:
        ValueError: A column does not have one value per row, or is the key or value column.
    """
    for name, values in columns.items():
        if len(values) != len(submission.rows):
            raise ValueError(f"column {name}: {len(values)} values for {len(submission.rows)} rows")
        if name in (submission.format.key, submission.format.value):
            raise ValueError(f"column {name} is the submission's own {name} column")
    replaced = [name for name in columns if name in submission.fieldnames]
    if replaced:
        logging.getLogger(__name__).warning("the template's column(s) %s are replaced by this run's scores", replaced)
    fieldnames = list(submission.fieldnames) + [name for name in columns if name not in submission.fieldnames]
    rows = [{**row, **{name: values[i] for name, values in columns.items()}} for i, row in enumerate(submission.rows)]
    return Submission(submission.format, fieldnames, rows, submission.source)


def default_output(sub_csv: Path) -> Path:
    """The default output path: ``<name>_out.csv`` beside an existing template, else the template path."""
    if sub_csv.exists():
        return sub_csv.with_name(f"{sub_csv.stem}_out.csv")
    return sub_csv


def write_submission(submission: Submission, path: Path, force: bool = False) -> Path:
    """Write a submission CSV atomically.

    Args:
        submission: The rows to write.
        path: Destination file.
        force: Overwrite an existing file.

    Returns:
        ``path``.

    Raises:
        OutputExistsError: ``path`` exists and ``force`` is false.
    """
    refuse_existing([path], force, hint="or --output to choose another file")
    return atomic_write_text(path, submission_text(submission))


def submission_text(submission: Submission) -> str:
    """The CSV text of a submission: header, then one line per row (``\\n`` line ends)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=submission.fieldnames, lineterminator="\n")
    writer.writeheader()
    writer.writerows(submission.rows)
    return buffer.getvalue()


def provenance_path(output: Path) -> Path:
    """The JSON record written beside an output CSV: ``<stem>.dfembed-infer.json``."""
    return record_beside(output, "infer")
