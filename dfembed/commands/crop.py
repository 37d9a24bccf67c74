"""`dfembed crop` / `crop_face.py SRC DST`: face crops of images and videos (MTCNN or BlazeFace)."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from dfembed.cli import config_option, stage_options
from dfembed.faces.config import CropConfig

option = functools.partial(config_option, CropConfig)


@click.command(name="crop")
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("dst", type=click.Path(file_okay=False, path_type=Path))
@option("size", help="Side of the square crops in pixels.")
@option("margin", help="Margin added on each side, fraction of the box.")
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
@option("device", help="TensorFlow device of the detector.")
@option("engine", help="Where the detectors run: this machine (--jobs) or a Ray cluster (pip install -e '.[ray]').")
@option("ray_address", metavar="ADDRESS", none_text="start a local cluster",
        help="Ray cluster to join with --engine ray: auto (this machine's cluster) or HOST:PORT.")
@option("ray_workers", help="Detector workers on Ray, one CPU each; 0: one per CPU of the cluster.")
@click.option("--force", is_flag=True, help="Delete the crops and reports of an earlier run in DST and redo all.")
@stage_options
def crop_command(src: Path, dst: Path, force: bool, config_file: Path | None, **options: object) -> None:
    """Crop the faces of every image and video in SRC into DST.

    SRC is a tree with real/ and fake/ folders, a DFDC folder with metadata.json, or an
    unlabelled folder (crops go to DST/unlabeled/); links to files and folders are
    followed, and every entry that gives no medium (broken or looping links, hidden
    files and folders, other files) is listed in failures.csv. DST receives the crops,
    manifest.csv, failures.csv, sources.csv and dfembed-crop.json; it must not be inside
    SRC nor contain it, and one job at a time may write into it. A rerun resumes where a
    previous run stopped. Exits with status 1 when no crop could be made.

    With --engine ray the detectors run on a Ray cluster and write the crops into DST
    themselves: SRC and DST must be storage that every node mounts at the same path
    (checked before any work); this process alone writes the reports.

    Security: mtcnn loads the network weights shipped inside its own package with joblib,
    that is from pickles, and loading a pickle runs code: install mtcnn only from a source
    you trust. dfembed loads no other pickle in this stage.
    """
    from dfembed.core.config import resolve_config
    from dfembed.core.errors import InputError
    from dfembed.crop.job import run_crop

    config = resolve_config(CropConfig, config_file, options)
    summary = run_crop(src, dst, config, force=force)
    if summary.crops_total == 0:
        raise InputError(f"no face crop was made from {src}; see {dst / 'failures.csv'}")
    click.echo(f"{summary.crops_total} crops in {dst} ({summary.crops_written} new); "
               f"{sum(summary.failures.values())} failures listed in {dst / 'failures.csv'}")
