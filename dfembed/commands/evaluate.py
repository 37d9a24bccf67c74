"""``dfembed evaluate``: metrics and figures of a prediction CSV (``score``), reports and galleries."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from dfembed.cli import DefaultGroup, config_option, split_names, stage_command, stage_options
from dfembed.commands.gallery import gallery_command
from dfembed.commands.report import report_command
from dfembed.evaluate.config import EvaluateConfig

if TYPE_CHECKING:
    from dfembed.evaluate.run import Evaluation


@stage_command(
    "score",
    Labels=("layout", "split", "compression", "methods", "infer_record"),
    Metrics=("threshold",),
    Output=("out_dir", "dataset", "model", "force"),
)
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
@config_option(EvaluateConfig, "layout", help="How a LABELS folder is read (auto: recognised).")
@config_option(EvaluateConfig, "split", help="Subset of a FaceForensics++ or Celeb-DF LABELS folder.")
@config_option(EvaluateConfig, "compression", help="FaceForensics++ quality folder of the labels.")
@config_option(EvaluateConfig, "methods", metavar="M[,M...]", callback=lambda ctx, param, value: split_names(value),
               help="FaceForensics++ manipulations of the labels (repeat or comma-separate).")
@click.option("--infer-record", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Inference's record of PRED_CSV, for the frame level [<PRED_CSV stem>.dfembed-infer.json].")
@click.option("--dataset", default=None, help="The data set's name in reports [from LABELS].")
@click.option("--model", default=None, help="The model's name in reports [from the record's model file].")
@click.option("--force", is_flag=True, help="Overwrite metrics.json, metrics.md and the PNGs if they exist.")
@stage_options
def evaluate_command(
    pred_csv: Path, labels: Path, out_dir: Path | None, infer_record: Path | None, dataset: str | None,
    model: str | None, force: bool, config_file: Path | None, **options: object,
) -> None:  # fmt: skip
    """Score PRED_CSV against LABELS: accuracy, ROC AUC, log loss, AP and EER, per frame and per video.

    PRED_CSV is a submission in the Dacon (path,y) or DFDC (filename,label) format with
    P(fake) values. LABELS is a DFDC metadata.json, a folder (real/ and fake/
    sub-folders, DFDC, FaceForensics++ or Celeb-DF v2), Celeb-DF's
    List_of_testing_videos.txt, or a CSV (path|filename|file, label|y with 0/1 or
    REAL/FAKE, optional group). Rows are matched to labels by relative path, else by
    basename; unmatched rows and labels are counted and reported. With inference's
    record beside PRED_CSV the frame level and the mean-of-frames video level are
    given beside the CSV's, overall and per method (FaceForensics++); metrics per
    source group when the labels name groups (DFDC: the original video).

    Writes metrics.json (with the versions used), metrics.md, roc.png and score_hist.png.
    """
    from dfembed.core.config import resolve_config
    from dfembed.evaluate.run import run_evaluate

    config = resolve_config(EvaluateConfig, config_file, options)
    evaluation = run_evaluate(pred_csv, labels, out_dir, force=force, config=config, infer_record=infer_record,
                              dataset=dataset, model=model)
    click.echo(_summary(evaluation))


@click.group(name="evaluate", cls=DefaultGroup, default_command="score")
def evaluate_group() -> None:
    """Measure predictions: score a CSV against labels, compare evaluations, draw scored crops.

    \b
    dfembed evaluate PRED_CSV LABELS          short for dfembed evaluate score PRED_CSV LABELS
    dfembed evaluate report EVAL_DIR...       evaluations side by side, one table
    dfembed evaluate gallery CROPS ... OUT    crops with their label and score, or their self-blends
    """


evaluate_group.add_command(evaluate_command)
evaluate_group.add_command(report_command)
evaluate_group.add_command(gallery_command)


def _summary(evaluation: Evaluation) -> str:
    metrics, matching = evaluation.metrics, evaluation.matching
    shown = ", ".join(
        f"{name} {_fmt(metrics[name])}"
        for name in ("accuracy", "roc_auc", "log_loss", "average_precision", "eer")
    )
    names = evaluation.record["level_names"]
    levels = "\n".join(f"  {names[level]}: n={m['n']}, ROC AUC {_fmt(m['roc_auc'])}, log loss {_fmt(m['log_loss'])}"
                       for level, m in evaluation.levels.items() if m is not None)
    return (
        f"{metrics['n']} predictions ({metrics['n_real']} real, {metrics['n_fake']} fake; "
        f"{matching.rows_without_label} rows without label, "
        f"{matching.labels_without_row} labels without prediction)\n{shown}\n{levels}\n"
        f"metrics, table and plots: {evaluation.out_dir}"
    )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
