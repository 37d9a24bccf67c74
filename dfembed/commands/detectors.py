"""``dfembed detectors``: the registered face detectors, and ``compare`` to measure them side by side."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from dfembed.cli import StageCommand, config_option, stage_options
from dfembed.detectors.config import CompareConfig

option = functools.partial(config_option, CompareConfig)


@click.group(name="detectors")
def detectors_group() -> None:
    """The face detectors: list them, or compare them on your images and videos."""


@detectors_group.command(cls=StageCommand, name="list", sections={})
def list_command() -> None:
    """Each registered detector: its packages (installed or not), landmarks, default floor, options."""
    from dfembed.faces.detector import DETECTORS

    for spec in DETECTORS.values():
        versions = spec.versions()
        installed = ", ".join(f"{k} {v}" for k, v in versions.items()) if versions else "not installed"
        missing = spec.packages[:1] if spec.packages and spec.packages[0] not in versions else ()
        click.echo(f"{spec.name}: {spec.summary}")
        click.echo(f"  packages: {installed}" + (f" (install: {spec.install})" if missing else ""))
        click.echo(f"  five landmarks: {'yes' if spec.landmarks else 'no'}; default confidence floor "
                   f"{spec.default_min_confidence}; options: {', '.join(spec.option_fields) or 'none'}")


@detectors_group.command(cls=StageCommand, name="compare", sections={
    "Input": ("frames_per_video", "truth", "negatives"),
    "Detectors": ("detectors", "reference", "crop_options"),
    "Measurement": ("iou_threshold",),
    "Output": ("overlays", "strip_size", "force"),
})
@click.argument("src", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@option("detectors", metavar="A,B", help="Detectors to compare, comma-separated or repeated; none = all registered.")
@option("reference", metavar="NAME", help="Detector the others' largest faces are compared with.",
        none_text="mtcnn if compared, else the first")
@option("frames_per_video", help="Frames sampled evenly per video.")
@option("iou_threshold", "--iou", help="IoU at which a box matches a ground-truth box.")
@option("overlays", help="Draw an overlay and a crop strip per image (a video: its middle sampled frame).")
@option("strip_size", help="Side in pixels of each crop of a strip.")
@option("crop_options", "--crop-option", metavar="KEY=VALUE",
        help="A crop setting for every detector (repeatable), e.g. --crop-option min_face_size=10.")
@click.option("--truth", type=click.Path(exists=True, dir_okay=False, path_type=Path), multiple=True,
              help="Ground-truth boxes (repeatable): dlib XML (imglab) or a CSV file,x1,y1,x2,y2.")
@click.option("--negatives", "negatives", type=click.Path(exists=True, path_type=Path), multiple=True,
              help="A face-free image or folder (repeatable): faces found there are false positives.")
@click.option("--force", is_flag=True, help="Replace the tables and pictures of an earlier comparison in OUT.")
@stage_options
def compare_command(src: Path, out: Path, truth: tuple[Path, ...], negatives: tuple[Path, ...], force: bool,
                    config_file: Path | None, **options: object) -> None:
    """Run every detector on the images and videos of SRC and write the comparison to OUT.

    OUT receives detectors.csv and detectors.md (per detector: frames/s of detection on
    images and on video frames, faces found, recall on --truth, IoU of the largest face
    with the reference detector, false positives on --negatives, failures), files.csv
    (per detector and file), overlays/ and strips/ (per image: every detector's boxes and
    landmarks in its colour; the largest face of each side by side) and
    dfembed-detectors.json (configuration and versions). A detector that fails on a file,
    or cannot be built, is recorded and the comparison goes on.
    """
    from dfembed.core.config import resolve_config
    from dfembed.detectors.run import run_compare

    names = [n.strip() for value in options["detectors"] or () for n in str(value).split(",") if n.strip()]
    options["detectors"] = names or None
    options["crop_options"] = options["crop_options"] or None
    config = resolve_config(CompareConfig, config_file, options)
    comparison = run_compare(src, out, config, truth=truth, negatives=negatives, force=force)
    click.echo((out / "detectors.md").read_text(encoding="utf-8").split("\n\n")[0])
    click.echo(f"{len(comparison.runs)} runs, {comparison.pictures} pictures, {len(comparison.unreadable)} "
               f"unreadable files; tables and pictures in {out}")
