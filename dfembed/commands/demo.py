"""``dfembed demo [DATA] OUT``: crop → train → infer → evaluate on a small sample, on a CPU."""

from __future__ import annotations

import time
from pathlib import Path

import click

from dfembed.cli import config_option, stage_command, stage_options
from dfembed.demo import DemoConfig


@stage_command("demo", Training=("seed",), Output=("force",))
@click.argument("paths", nargs=-1, required=True, metavar="[DATA] OUT",
               type=click.Path(file_okay=False, path_type=Path))
@config_option(DemoConfig, "seed", help="Training seed (and the embedded data's, without DATA).")
@click.option("--force", is_flag=True, help="Run again in an OUT that holds an earlier demo, replacing it.")
@stage_options
def demo_command(paths: tuple[Path, ...], seed: int | None, force: bool, config_file: Path | None) -> None:
    """Run the whole pipeline with small CPU settings, writing into OUT.

    Without DATA (`dfembed demo OUT`) it runs on embedded data, on a fresh clone: views of
    two public-domain portraits (astronaut Eileen Collins, Grace Hopper) as real faces, face
    swaps between them as fakes, and four short clips, made in OUT/data from the seed. With
    DATA it runs on that folder and writes nothing into it.

    Crops DATA/frames (or DATA) with MTCNN, trains a small EfficientNet-B0 embedding
    from random weights (nothing is downloaded) and its SVM, predicts DATA/frames and
    DATA/videos (or DATA), evaluates each prediction CSV against the labels of its
    folder, and draws a gallery of crops with their scores. Prints where the CSVs,
    metrics and plots are. About a minute and a half on two CPU cores, on the
    embedded data or on ../shared/data/dfdc_sample.

    The metrics are measured on the training material, of one real person in the DFDC
    sample and two people with synthetic swaps in the embedded data: they show that the
    pipeline works, not how well a model generalises (the README's "What it detects" has
    measured figures). OUT/svm.pkl is a joblib pickle, and loading a pickle runs code: only
    load files you made or trust (the demo's own inference reads OUT/svm.npz, the same
    classifier without pickle).
    """
    from dfembed.core.config import resolve_config
    from dfembed.demo import run_demo

    data, out = _data_and_out(paths)
    config = resolve_config(DemoConfig, config_file, {"seed": seed})
    start = time.perf_counter()
    result = run_demo(data, out, config, force=force)
    click.echo(f"demo finished in {time.perf_counter() - start:.0f} s; outputs in {out}")
    if result.data is not None:
        click.echo(f"  data:       {result.data.folder} (embedded portraits, made with seed {config.seed})")
    click.echo(f"  model:      {result.model}\n  classifier: {result.classifier}")
    for name, pred in result.predictions.items():
        click.echo(f"  {name}: predictions {pred}")
        if name in result.evaluations:
            folder = result.evaluations[name]
            click.echo(f"  {name}: metrics {folder / 'metrics.json'}  ({_brief(result.metrics[name])})")
            click.echo(f"  {name}: plots   {folder / 'roc.png'}, {folder / 'score_hist.png'}")
    click.echo(f"  gallery:    {result.gallery}")


def _data_and_out(paths: tuple[Path, ...]) -> tuple[Path | None, Path]:
    """``(None, OUT)`` from one path, ``(DATA, OUT)`` from two.

    Raises:
        click.UsageError: More than two paths.
    """
    if len(paths) > 2:
        raise click.UsageError(f"expected [DATA] OUT, got {len(paths)} paths: {' '.join(map(str, paths))}")
    return (None, paths[0]) if len(paths) == 1 else (paths[0], paths[1])


def _brief(metrics: dict) -> str:
    parts = [f"n={metrics['n']}"]
    for name in ("accuracy", "roc_auc", "log_loss"):
        value = metrics[name]
        parts.append(f"{name} {'n/a' if value is None else f'{value:.3f}'}")
    return ", ".join(parts)
