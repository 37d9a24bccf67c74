"""``dfembed evaluate gallery``: a labelled, scored grid of face crops, or real crops with their self-blends."""

from __future__ import annotations

from pathlib import Path

import click

from dfembed.cli import stage_command, stage_options


@stage_command(
    "gallery",
    Drawing=("sbi", "size", "image_size", "seed"),
    Performance=("batch_size",),
    Output=("force",),
    Safety=("trust_pickle",),
)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path),
                metavar="CROPS [MODEL_H5 SVM_PKL] OUT_PNG")
@click.option("--sbi", is_flag=True, help="Rows of real crop / blend mask / self-blend (CROPS OUT_PNG only).")
@click.option("--size", type=click.IntRange(min=1), default=None, help="Crops shown [24; with --sbi: 8 rows].")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--image-size", type=click.IntRange(min=8), default=256, show_default=True,
              help="With --sbi: the side crops are blended at (training blends at the model's input size).")
@click.option("--seed", type=int, default=0, show_default=True, help="With --sbi: seed of the blends.")
@click.option("--force", is_flag=True, help="Replace an existing OUT_PNG.")
@click.option("--trust-pickle", is_flag=True,
              help="Load SVM_PKL itself when it has no safe .npz beside it (loading a pickle runs code).")
@stage_options
def gallery_command(
    paths: tuple[Path, ...], sbi: bool, size: int | None, batch_size: int, image_size: int, seed: int, force: bool,
    trust_pickle: bool, config_file: Path | None,
) -> None:  # fmt: skip
    """Draw crops from CROPS (crop_face.py output) with their label and the model's P(fake).

    dfembed evaluate gallery CROPS MODEL_H5 SVM_PKL OUT_PNG scores the crops. The classifier is read
    from the safe file train.py writes beside SVM_PKL (svm.npz); SVM_PKL itself is a joblib
    pickle, and loading a pickle runs code, so it is loaded only with --trust-pickle, for
    files you made or trust.

    dfembed evaluate gallery --sbi CROPS OUT_PNG draws rows of real crop, blend mask and the
    self-blended pseudo-fake that train.py --pseudo-fakes sbi makes of it.
    """
    if config_file is not None:
        raise click.UsageError("dfembed evaluate gallery takes no --config file; use its options")
    expected = 2 if sbi else 4
    if len(paths) != expected:
        usage = "--sbi CROPS OUT_PNG" if sbi else "CROPS MODEL_H5 SVM_PKL OUT_PNG"
        raise click.UsageError(f"expected {usage}, got {len(paths)} path(s)")
    crops, out_png = paths[0], paths[-1]
    for path in paths[:-1]:
        if not path.exists():
            raise click.BadParameter(f"{path} does not exist", param_hint="paths")
    if sbi:
        from dfembed.evaluate.gallery import make_sbi_gallery

        path = make_sbi_gallery(crops, out_png, size=size or 8, image_size=image_size, seed=seed, force=force)
    else:
        from dfembed.evaluate.gallery import make_gallery

        path = make_gallery(crops, paths[1], paths[2], out_png, size=size or 24, batch_size=batch_size, force=force,
                            trust_pickle=trust_pickle)
    click.echo(f"gallery: {path}")
