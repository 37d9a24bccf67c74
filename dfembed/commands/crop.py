"""`dfembed crop` / `crop_face.py SRC DST`: MTCNN face crops of images and videos."""

from __future__ import annotations

from pathlib import Path

import click

from dfembed.cli import stage_options


@click.command(name="crop")
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("dst", type=click.Path(file_okay=False, path_type=Path))
@click.option("--size", type=int, default=None, help="Side of the square crops in pixels [380].")
@click.option("--margin", type=float, default=None, help="Margin added on each side, fraction of the box [0.3].")
@click.option("--faces", type=click.Choice(["largest", "all"]), default=None, help="Faces kept per frame [largest].")
@click.option("--min-confidence", type=float, default=None, help="Drop faces below this confidence [0.8].")
@click.option("--min-face-size", type=int, default=None, help="Drop faces whose shorter side is smaller, source px [20].")
@click.option("--detector-min-face-size", type=int, default=None,
              help="Smallest face MTCNN searches, px of the downscaled image [20].")
@click.option("--thresholds", type=(float, float, float), default=None, metavar="P R O",
              help="MTCNN P-, R-, O-Net thresholds [0.6 0.7 0.8].")
@click.option("--scale-factor", type=float, default=None, help="MTCNN pyramid scale factor [0.709].")
@click.option("--frames-per-video", type=int, default=None, help="Frames sampled evenly per video [32].")
@click.option("--image-format", type=click.Choice(["jpg", "png"]), default=None, help="Crop file format [jpg].")
@click.option("--jpeg-quality", type=int, default=None, help="JPEG quality [95].")
@click.option("--jobs", type=int, default=None, help="Worker processes, each with its own detector [1].")
@click.option("--batch-size", type=int, default=None, help="Video frames per detector call [8].")
@click.option("--group-regex", type=str, default=None,
              help="Regex on an image's relative path giving its group key (first group) [none].")
@click.option("--device", type=str, default=None, help="TensorFlow device of the detector [CPU:0].")
@click.option("--force", is_flag=True, help="Delete the crops and reports of an earlier run in DST and redo all.")
@stage_options
def crop_command(src: Path, dst: Path, force: bool, config_file: Path | None, **options: object) -> None:
    """Crop the faces of every image and video in SRC into DST.

    SRC is a tree with real/ and fake/ folders, a DFDC folder with metadata.json, or an
    unlabelled folder (crops go to DST/unlabeled/). DST receives the crops, manifest.csv,
    failures.csv, sources.csv and dfembed-crop.json. A rerun resumes where a previous run
    stopped. Exits with status 1 when no crop could be made.
    """
    from dfembed.core.config import resolve_config
    from dfembed.faces.config import CropConfig
    from dfembed.crop.job import run_crop
    from dfembed.core.errors import InputError

    config = resolve_config(CropConfig, config_file, options)
    summary = run_crop(src, dst, config, force=force)
    if summary.crops_total == 0:
        raise InputError(f"no face crop was made from {src}; see {dst / 'failures.csv'}")
    click.echo(f"{summary.crops_total} crops in {dst} ({summary.crops_written} new); "
               f"{sum(summary.failures.values())} failures listed in {dst / 'failures.csv'}")
