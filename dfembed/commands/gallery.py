"""``dfembed gallery CROPS MODEL_H5 SVM_PKL OUT_PNG``: a labelled, scored grid of face crops."""

from __future__ import annotations

from pathlib import Path

import click

from dfembed.cli import stage_options


@click.command(name="gallery")
@click.argument("crops", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("model_h5", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("svm_pkl", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("out_png", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--size", type=click.IntRange(min=1), default=24, show_default=True, help="Crops shown.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing OUT_PNG.")
@stage_options
def gallery_command(
    crops: Path, model_h5: Path, svm_pkl: Path, out_png: Path, size: int, batch_size: int, force: bool,
    config_file: Path | None,
) -> None:
    """Draw crops from CROPS (crop_face.py output) with their label and the model's P(fake).

    SVM_PKL is a joblib pickle: loading a pickle runs code, so use only files you made or trust.
    """
    from dfembed.evaluate.gallery import make_gallery

    if config_file is not None:
        raise click.UsageError("dfembed gallery takes no --config file; use its options")
    path = make_gallery(crops, model_h5, svm_pkl, out_png, size=size, batch_size=batch_size, force=force)
    click.echo(f"gallery: {path}")
