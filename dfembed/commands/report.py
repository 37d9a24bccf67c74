"""``dfembed evaluate report EVAL_DIR... --out DIR``: evaluations side by side, rows = model, columns = data set."""

from __future__ import annotations

from pathlib import Path

import click

from dfembed.cli import stage_command, stage_options


@stage_command(
    "report",
    Output=("out_dir", "force"),
)
@click.argument("eval_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("report"),
              show_default=True, help="Folder of report.md, report.png and report.json.")
@click.option("--force", is_flag=True, help="Replace an earlier report in --out.")
@stage_options
def report_command(eval_dirs: tuple[Path, ...], out_dir: Path, force: bool, config_file: Path | None) -> None:
    """Gather the output folders of dfembed evaluate score into one cross-dataset ROC AUC table.

    Cells are "frame / video" ROC AUC (video: the mean of the frame scores when the
    evaluation had inference's record, else the CSV's score); rows are models, columns
    data sets, as named by dfembed evaluate (--model, --dataset). Writes a Markdown
    table, a bar chart and a JSON record.
    """
    from dfembed.evaluate.report import run_report

    if config_file is not None:
        raise click.UsageError("dfembed evaluate report takes no --config file")
    paths = run_report(list(eval_dirs), out_dir, force=force)
    click.echo((out_dir / "report.md").read_text(encoding="utf-8"))
    click.echo(f"report: {paths['report.md']}, {paths['report.png']}")
