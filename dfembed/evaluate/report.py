"""``dfembed evaluate report EVAL_DIR…``: several evaluations in one cross-dataset table, as DeepfakeBench publishes.

Each EVAL_DIR is the output folder of ``dfembed evaluate`` (its ``metrics.json``). Rows are
models, columns data sets, each cell the ROC AUC ``frame / video`` — video being the mean of
the frame scores (DeepfakeBench's video level) when the evaluation had inference's record,
else the prediction CSV's own file score — with a last column of the means over the data
sets a model was evaluated on. Model and data-set names are those ``dfembed evaluate``
recorded (``--model``, ``--dataset``, or derived from the model file and the labels).

Writes ``report.md``, ``report.png`` (grouped bars: one group per data set, one bar per
model and level) and ``report.json`` into OUT, atomically; existing files need ``force``.

Every metric of the levels it reads is checked first (:func:`check_level`): ROC AUC, average
precision, EER and accuracy must be numbers in [0, 1] or ``null`` (undefined), the log loss
a number of at least 0, the counts non-negative integers; anything else is an error naming
the ``metrics.json`` and the key. Model and data-set names are text, escaped for Markdown
(:func:`markdown_text`) and for the plot's labels, so a name cannot add table cells, links
or HTML to the report, nor break the plot.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dfembed.core.atomic import atomic_path, atomic_write_text
from dfembed.core.ownership import check_apart, check_replaceable, file_entry, owned_with_record
from dfembed.core.errors import InputError, shown
from dfembed.core.provenance import provenance_record
from dfembed.evaluate.tables import report_markdown

log = logging.getLogger(__name__)

REPORT_FILES = ("report.md", "report.png", "report.json")
#: Metrics that are rates or probabilities: a number in [0, 1], or null when undefined.
UNIT_METRICS = ("roc_auc", "average_precision", "eer", "accuracy")
#: Metrics that are counts: a non-negative integer.
COUNT_METRICS = ("n", "n_real", "n_fake")
#: Characters with a meaning in Markdown that a name may hold: backslash-escaped (every Markdown reads these).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|#!])")
#: Characters written as HTML entities: inline HTML, strikethrough and math delimiters, escaped in every flavour.
_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "~": "&#126;", "$": "&#36;"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class ReportCell:
    """One evaluation's place in the report.

    Attributes:
        model: Row name.
        dataset: Column name.
        frame_auc: Frame-level ROC AUC (``None``: no frame level, or undefined).
        video_auc: Video-level ROC AUC: mean of frames, else the CSV's score.
        video_level: Which video level ``video_auc`` is (``video_mean`` or ``video``).
        source: The evaluation folder.
    """

    model: str
    dataset: str
    frame_auc: float | None
    video_auc: float | None
    video_level: str
    source: Path


def read_cell(eval_dir: Path) -> ReportCell:
    """Read one evaluation folder's ``metrics.json`` into a :class:`ReportCell`.

    Raises:
        InputError: The folder has no readable ``metrics.json`` of ``dfembed evaluate``.
    """
    path = Path(eval_dir) / "metrics.json"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{eval_dir}: no readable metrics.json of dfembed evaluate ({err})") from err
    levels = record.get("levels") if isinstance(record, dict) else None
    if not isinstance(levels, dict) or not isinstance(levels.get("video"), dict):
        raise InputError(f"{path}: no 'levels' of dfembed evaluate (evaluate it again with this version)")
    video_level = "video_mean" if isinstance(levels.get("video_mean"), dict) else "video"
    return ReportCell(
        model=_name(path, record, "model", Path(eval_dir).name),
        dataset=_name(path, record, "dataset", Path(eval_dir).name),
        frame_auc=check_level(path, "frame", levels.get("frame")),
        video_auc=check_level(path, video_level, levels.get(video_level)),
        video_level=video_level,
        source=Path(eval_dir),
    )


def _name(path: Path, record: dict, key: str, default: str) -> str:
    value = record.get(key)
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        raise InputError(f"{path}: {key!r} must be a name (text), got {shown(value)}")
    return value


def check_level(path: Path, level: str, metrics: Any) -> float | None:
    """Check every metric of one level of a ``metrics.json`` and return its ROC AUC.

    Args:
        path: The ``metrics.json``, for messages.
        level: The level's key (``frame``, ``video_mean``, ``video``).
        metrics: Its value: a mapping of metric names to values, or ``None`` (no such level).

    Returns:
        Its ROC AUC, ``None`` when the level is absent or the AUC undefined (``null``).

    Raises:
        InputError: The level is not a mapping, or a metric is out of range or of the wrong
            kind (see the module docstring); the message names the file and the key
            (``levels.frame.roc_auc``).
    """
    if metrics is None:
        return None
    if not isinstance(metrics, dict):
        raise InputError(f"{path}: levels.{level} must be an object of metrics, got {shown(metrics)}")
    for key, value in metrics.items():
        problem = _metric_problem(key, value)
        if problem:
            raise InputError(f"{path}: levels.{level}.{key} is {shown(value)}, {problem}")
    return metrics.get("roc_auc")


def _metric_problem(key: str, value: Any) -> str | None:
    """What is wrong with one metric's value, or ``None`` (metrics the report does not know are not judged)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if key in UNIT_METRICS and value is not None and not (number and 0.0 <= value <= 1.0):
        return "not a number in [0, 1] (or null when undefined)"
    if key == "log_loss" and value is not None and not (number and math.isfinite(value) and value >= 0.0):
        return "not a finite number of at least 0 (or null)"
    if key in COUNT_METRICS and not (number and isinstance(value, int) and value >= 0):
        return "not a count (a non-negative integer)"
    return None


def markdown_text(text: str) -> str:
    """``text`` as plain text inside Markdown: one line, every character with a meaning escaped.

    Line breaks and other white space become single spaces, other control characters are
    dropped, ``\\ ` * _ [ ] | # !`` are backslash-escaped and ``& < > ~ $`` written as HTML
    entities, so a name holds one table cell and shows as written (no emphasis, code, link,
    image, HTML, strikethrough, math or extra column) in GitHub's Markdown and in Python-Markdown.

    Args:
        text: A name from a user's file.

    Returns:
        The escaped text.
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _CONTROL.sub("", " ".join(text.split()))).translate(_ENTITIES)


def _plot_text(text: str) -> str:
    """``text`` as a Matplotlib label shows it literally: ``$`` is no mathtext, a leading ``_`` stays in legends."""
    text = " ".join(text.split()).replace("$", r"\$")
    return "\u200b" + text if text.startswith("_") else text


def run_report(eval_dirs: list[Path], out: Path, force: bool = False) -> dict[str, Path]:
    """Gather evaluation folders into ``report.md``, ``report.png`` and ``report.json`` in ``out``.

    Args:
        eval_dirs: Output folders of ``dfembed evaluate`` (one per model and data set).
        out: The report's folder.
        force: Replace an earlier report.

    Returns:
        Name → path of the written files.

    Raises:
        InputError: No folder, an unreadable one, or two evaluations of one model on one data set.
        OutputExistsError: The report exists and ``force`` is false.
    """
    if not eval_dirs:
        raise InputError("dfembed evaluate report needs at least one evaluation folder")
    paths = {name: out / name for name in REPORT_FILES}
    check_apart({"--out": out}, {f"EVAL_DIR {d}": d for d in eval_dirs})
    _check_replaceable(paths, force)
    cells = [read_cell(d) for d in eval_dirs]
    models = list(dict.fromkeys(c.model for c in cells))
    datasets = list(dict.fromkeys(c.dataset for c in cells))
    table = {}
    for cell in cells:
        if (cell.model, cell.dataset) in table:
            raise InputError(f"two evaluations of model {cell.model!r} on {cell.dataset!r} ({cell.source} and "
                             "another): name them apart with dfembed evaluate --model/--dataset")
        table[(cell.model, cell.dataset)] = (cell.frame_auc, cell.video_auc)
    text = _markdown(models, datasets, table, cells)
    atomic_write_text(paths["report.md"], text)
    _plot(models, datasets, table, paths["report.png"])
    record = provenance_record({"eval_dirs": [str(d) for d in eval_dirs]},
                               cells=[{**c.__dict__, "source": str(c.source)} for c in cells],
                               files={name: file_entry(paths[name]) for name in ("report.md", "report.png")})
    atomic_write_text(paths["report.json"], json.dumps(record, indent=2) + "\n")
    log.info("report of %d evaluations (%d models, %d data sets) in %s", len(cells), len(models), len(datasets), out)
    return paths


def _check_replaceable(paths: dict[str, Path], force: bool) -> None:
    """An earlier report is replaced only with ``force`` and only when its ``report.json`` names the
    Markdown and the plot with their current SHA-256 (:mod:`dfembed.core.ownership`)."""
    check_replaceable(paths.values(), owned_with_record(paths["report.json"]), force)


def _markdown(models: list[str], datasets: list[str], table: dict, cells: list[ReportCell]) -> str:
    """The report's Markdown; every name and path in it is escaped (:func:`markdown_text`)."""
    md = markdown_text
    _check_distinct_in_markdown(models, "model")
    _check_distinct_in_markdown(datasets, "data set")
    means = any(c.video_level == "video_mean" for c in cells)
    submitted = [c for c in cells if c.video_level == "video"]
    note = "video = mean of the frame scores" if means else "video = the prediction CSV's file score"
    if means and submitted:
        pairs = ", ".join(f"{md(c.model)} on {md(c.dataset)}" for c in submitted)
        note += f"; {pairs}: the CSV's score (no record)"
    escaped = {(md(model), md(dataset)): value for (model, dataset), value in table.items()}
    return (f"# Cross-dataset ROC AUC (frame / video)\n\n{note}.\n\n"
            + report_markdown([md(m) for m in models], [md(d) for d in datasets], escaped)
            + "\n" + "\n".join(f"- {md(c.model)} on {md(c.dataset)}: {md(str(c.source))}" for c in cells) + "\n")


def _check_distinct_in_markdown(names: list[str], what: str) -> None:
    """Refuse two names that differ only in white space or control characters (one row or column in Markdown)."""
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(markdown_text(name), name)
        if other != name:
            raise InputError(f"{what} names {shown(other)} and {shown(name)} differ only in white space or control "
                             "characters: name them apart with dfembed evaluate --model/--dataset")


def _plot(models: list[str], datasets: list[str], table: dict, path: Path) -> Path:
    """Grouped bars: per data set, a frame and a video bar for every model (missing values not drawn)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(6.0, 1.6 * len(datasets) * max(1, len(models))), 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    width = 0.8 / (2 * len(models))
    colours = [f"C{i}" for i in range(len(models))]
    for m, model in enumerate(models):
        for level, hatch in ((0, ""), (1, "//")):
            xs, ys = [], []
            for d, dataset in enumerate(datasets):
                value = table.get((model, dataset), (None, None))[level]
                if value is not None:
                    xs.append(d - 0.4 + width * (2 * m + level + 0.5))
                    ys.append(value)
            ax.bar(xs, ys, width, color=colours[m], hatch=hatch, edgecolor="black",
                   label=_plot_text(f"{model} ({'frame' if level == 0 else 'video'})"))
    ax.set_xticks(range(len(datasets)), [_plot_text(d) for d in datasets])
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set(ylim=(0, 1), ylabel="ROC AUC", title="ROC AUC per data set (plain: frame, hatched: video)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
