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
@click.option("--trust-pickle", is_flag=True,
              help="Load SVM_PKL itself when it has no safe .npz beside it (loading a pickle runs code).")
@stage_options
def gallery_command(
    crops: Path, model_h5: Path, svm_pkl: Path, out_png: Path, size: int, batch_size: int, force: bool,
    trust_pickle: bool, config_file: Path | None,
) -> None:
    """Draw crops from CROPS (crop_face.py output) with their label and the model's P(fake).

    The classifier is read from the safe file train.py writes beside SVM_PKL (svm.npz);
    SVM_PKL itself is a joblib pickle, and loading a pickle runs code, so it is loaded
    only with --trust-pickle, for files you made or trust.
    """
    from dfembed.evaluate.gallery import make_gallery

    if config_file is not None:
        raise click.UsageError("dfembed gallery takes no --config file; use its options")
    path = make_gallery(crops, model_h5, svm_pkl, out_png, size=size, batch_size=batch_size, force=force,
                        trust_pickle=trust_pickle)
    click.echo(f"gallery: {path}")
