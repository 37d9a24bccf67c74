"""``dfembed demo DATA OUT``: crop → train → infer → evaluate on a small sample, on a CPU."""

from __future__ import annotations

import time
from pathlib import Path

import click

from dfembed.cli import config_option, stage_options
from dfembed.demo import DemoConfig


@click.command(name="demo")
@click.argument("data", type=click.Path(file_okay=False, path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@config_option(DemoConfig, "seed", help="Training seed.")
@click.option("--force", is_flag=True, help="Run again in an OUT that holds an earlier demo, replacing it.")
@stage_options
def demo_command(data: Path, out: Path, seed: int | None, force: bool, config_file: Path | None) -> None:
    """Run the whole pipeline on DATA with small CPU settings, writing into OUT.

    Crops DATA/frames (or DATA) with MTCNN, trains a small EfficientNet-B0 embedding
    from random weights (nothing is downloaded) and its SVM, predicts DATA/frames and
    DATA/videos (or DATA), evaluates each prediction CSV against the labels of its
    folder, and draws a gallery of crops with their scores. Prints where the CSVs,
    metrics and plots are. About two to three minutes on two CPU cores for
    ../shared/data/dfdc_sample.

    The metrics are measured on the training material: they show that the pipeline
    works, not how well a model generalises. OUT/svm.pkl is a joblib pickle, and
    loading a pickle runs code: only load files you made or trust (the demo's own
    inference reads OUT/svm.npz, the same classifier without pickle).
    """
    from dfembed.core.config import resolve_config
    from dfembed.demo import run_demo

    config = resolve_config(DemoConfig, config_file, {"seed": seed})
    start = time.perf_counter()
    result = run_demo(data, out, config, force=force)
    click.echo(f"demo finished in {time.perf_counter() - start:.0f} s; outputs in {out}")
    click.echo(f"  model:      {result.model}\n  classifier: {result.classifier}")
    for name, pred in result.predictions.items():
        click.echo(f"  {name}: predictions {pred}")
        if name in result.evaluations:
            folder = result.evaluations[name]
            click.echo(f"  {name}: metrics {folder / 'metrics.json'}  ({_brief(result.metrics[name])})")
            click.echo(f"  {name}: plots   {folder / 'roc.png'}, {folder / 'score_hist.png'}")
    click.echo(f"  gallery:    {result.gallery}")


def _brief(metrics: dict) -> str:
    parts = [f"n={metrics['n']}"]
    for name in ("accuracy", "roc_auc", "log_loss"):
        value = metrics[name]
        parts.append(f"{name} {'n/a' if value is None else f'{value:.3f}'}")
    return ", ".join(parts)
