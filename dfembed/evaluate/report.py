"""``dfembed evaluate report EVAL_DIR…``: several evaluations in one cross-dataset table, as DeepfakeBench publishes.

Each EVAL_DIR is the output folder of ``dfembed evaluate`` (its ``metrics.json``). Rows are
models, columns data sets, each cell the ROC AUC ``frame / video`` — video being the mean of
the frame scores (DeepfakeBench's video level) when the evaluation had inference's record,
else the prediction CSV's own file score — with a last column of the means over the data
sets a model was evaluated on. Model and data-set names are those ``dfembed evaluate``
recorded (``--model``, ``--dataset``, or derived from the model file and the labels).

Writes ``report.md``, ``report.png`` (grouped bars: one group per data set, one bar per
model and level) and ``report.json`` into OUT, atomically; existing files need ``force``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dfembed.core.atomic import atomic_path, atomic_write_text, refuse_existing
from dfembed.core.errors import InputError
from dfembed.core.provenance import provenance_record
from dfembed.evaluate.tables import report_markdown

log = logging.getLogger(__name__)

REPORT_FILES = ("report.md", "report.png", "report.json")


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
        model=str(record.get("model") or Path(eval_dir).name),
        dataset=str(record.get("dataset") or Path(eval_dir).name),
        frame_auc=_auc(levels.get("frame")),
        video_auc=_auc(levels.get(video_level)),
        video_level=video_level,
        source=Path(eval_dir),
    )


def _auc(metrics: Any) -> float | None:
    return metrics.get("roc_auc") if isinstance(metrics, dict) else None


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
    refuse_existing(paths.values(), force)
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
                               cells=[{**c.__dict__, "source": str(c.source)} for c in cells])
    atomic_write_text(paths["report.json"], json.dumps(record, indent=2) + "\n")
    log.info("report of %d evaluations (%d models, %d data sets) in %s", len(cells), len(models), len(datasets), out)
    return paths


def _markdown(models: list[str], datasets: list[str], table: dict, cells: list[ReportCell]) -> str:
    means = any(c.video_level == "video_mean" for c in cells)
    submitted = [c for c in cells if c.video_level == "video"]
    note = "video = mean of the frame scores" if means else "video = the prediction CSV's file score"
    if means and submitted:
        note += "; " + ", ".join(f"{c.model} on {c.dataset}" for c in submitted) + ": the CSV's score (no record)"
    return (f"# Cross-dataset ROC AUC (frame / video)\n\n{note}.\n\n"
            + report_markdown(models, datasets, table)
            + "\n" + "\n".join(f"- {c.model} on {c.dataset}: `{c.source}`" for c in cells) + "\n")


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
                   label=f"{model} ({'frame' if level == 0 else 'video'})")
    ax.set_xticks(range(len(datasets)), datasets)
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set(ylim=(0, 1), ylabel="ROC AUC", title="ROC AUC per data set (plain: frame, hatched: video)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
