"""``dfembed evaluate PRED_CSV LABELS``: metrics and figures of a prediction CSV."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from dfembed.cli import config_option, stage_options
from dfembed.evaluate.config import EvaluateConfig

if TYPE_CHECKING:
    from dfembed.evaluate.run import Evaluation


@click.command(name="evaluate")
@click.argument("pred_csv", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("labels", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: <PRED_CSV stem>_eval beside PRED_CSV).",
)
@config_option(EvaluateConfig, "threshold", help="A score above it counts as FAKE, for the accuracy.")
@click.option("--force", is_flag=True, help="Overwrite metrics.json and the PNGs if they exist.")
@stage_options
def evaluate_command(
    pred_csv: Path, labels: Path, out_dir: Path | None, threshold: float | None, force: bool,
    config_file: Path | None,
) -> None:  # fmt: skip
    """Score PRED_CSV against LABELS: accuracy, ROC AUC, log loss, AP and EER.

    PRED_CSV is a submission in the Dacon (path,y) or DFDC (filename,label) format with
    P(fake) values. LABELS is a DFDC metadata.json, a folder with real/ and fake/
    sub-folders, or a CSV (path|filename|file, label|y with 0/1 or REAL/FAKE, optional
    group). Rows are matched to labels by relative path, else by basename; unmatched
    rows and labels are counted and reported. Metrics are given per source group when
    the labels name groups (DFDC: the original video).

    Writes metrics.json (with the versions used), roc.png and score_hist.png.
    """
    from dfembed.core.config import resolve_config
    from dfembed.evaluate.run import run_evaluate

    config = resolve_config(EvaluateConfig, config_file, {"threshold": threshold})
    click.echo(_summary(run_evaluate(pred_csv, labels, out_dir, force=force, config=config)))


def _summary(evaluation: Evaluation) -> str:
    metrics, matching = evaluation.metrics, evaluation.matching
    shown = ", ".join(
        f"{name} {_fmt(metrics[name])}"
        for name in ("accuracy", "roc_auc", "log_loss", "average_precision", "eer")
    )
    return (
        f"{metrics['n']} predictions ({metrics['n_real']} real, {metrics['n_fake']} fake; "
        f"{matching.rows_without_label} rows without label, "
        f"{matching.labels_without_row} labels without prediction)\n{shown}\n"
        f"metrics and plots: {evaluation.out_dir}"
    )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
