"""`dfembed crop` / `crop_face.py SRC DST`: face crops of images and videos (MTCNN or BlazeFace)."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from dfembed.cli import config_option, split_names, stage_options
from dfembed.faces.config import CropConfig

option = functools.partial(config_option, CropConfig)


@click.command(name="crop")
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("dst", type=click.Path(file_okay=False, path_type=Path))
@option("preset", help="Named option set (resources/presets/): defaults < preset < --config < flags.")
@option("size", help="Side of the square crops in pixels.")
@option("margin", help="Margin added on each side, fraction of the box.")
@option("align", help="similarity: map the five landmarks onto the standard five-point template.")
@option("align_scale", help="Aligned crops: the template fills the central 1/ALIGN_SCALE.")
@option("faces", help="Faces kept per frame.")
@option("detector", metavar="NAME", help="Face detector: mtcnn or blazeface (see `dfembed detectors list`).")
@option("min_confidence", none_text="the detector's default", help="Drop faces below this detector confidence.")
@option("min_face_size", help="Drop faces whose shorter side is smaller, source px.")
@option("detector_min_face_size", help="Smallest face MTCNN searches, px of the downscaled image.")
@option("thresholds", metavar="P R O", help="MTCNN P-, R-, O-Net thresholds.")
@option("scale_factor", help="MTCNN pyramid scale factor.")
@option("blazeface_model", help="BlazeFace network: full (near and far faces), sparse, short (faces within ~2 m).")
@option("blazeface_nms", help="BlazeFace weighted-NMS IoU threshold.")
@option("frames_per_video", help="Frames sampled evenly per video.")
@option("image_format", help="Crop file format.")
@option("jpeg_quality", help="JPEG quality.")
@option("jobs", help="Worker processes, each with its own detector.")
@option("batch_size", help="Video frames per detector call.")
@option("group_regex", help="Regex on an image's relative path giving its group key (first group).")
@option("layout", help="SRC layout (auto: recognised).")
@option("split", help="Official subset: FaceForensics++ train/val/test lists; Celeb-DF test list or the rest.")
@option("compression", help="FaceForensics++ quality folder.")
@option("methods", metavar="M[,M...]", callback=lambda ctx, param, value: split_names(value),
        help="FaceForensics++ manipulations (repeat or comma-separate).")
@option("device", help="TensorFlow device of the detector.")
@click.option("--force", is_flag=True, help="Delete the crops and reports of an earlier run in DST and redo all.")
@stage_options
def crop_command(src: Path, dst: Path, force: bool, config_file: Path | None, **options: object) -> None:
    """Crop the faces of every image and video in SRC into DST.

    SRC is a FaceForensics++ or Celeb-DF v2 folder, a tree with real/ and fake/ folders, a
    DFDC folder with metadata.json, or an unlabelled folder (crops go to DST/unlabeled/);
    links to files and folders are followed, and every entry that gives no medium (broken
    or looping links, hidden files and folders, other files) is listed in failures.csv.
    DST receives the crops, manifest.csv, failures.csv, sources.csv and dfembed-crop.json;
    it must not be inside SRC nor contain it, and one job at a time may write into it. A
    rerun resumes where a previous run stopped. Exits with status 1 when no crop could be made.

    Security: mtcnn loads the network weights shipped inside its own package with joblib,
    that is from pickles, and loading a pickle runs code: install mtcnn only from a source
    you trust. dfembed loads no other pickle in this stage.
    """
    from dfembed.core.errors import InputError
    from dfembed.crop.job import run_crop
    from dfembed.crop.presets import resolve_crop_options

    config = resolve_crop_options(config_file, options)
    summary = run_crop(src, dst, config, force=force)
    if summary.crops_total == 0:
        raise InputError(f"no face crop was made from {src}; see {dst / 'failures.csv'}")
    click.echo(f"{summary.crops_total} crops in {dst} ({summary.crops_written} new); "
               f"{sum(summary.failures.values())} failures listed in {dst / 'failures.csv'}")
