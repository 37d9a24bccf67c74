"""`dfembed infer` / `inference.py`: score faces in TEST and write a submission CSV."""

from __future__ import annotations

from pathlib import Path

import click

from dfembed.cli import stage_options

_EXISTING = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command(name="infer")
@click.argument("test", type=click.Path(exists=True, path_type=Path))
@click.argument("sub_csv", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("model_h5", type=_EXISTING)
@click.argument("svm_pkl", type=_EXISTING)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output CSV [default: <SUB_CSV name>_out.csv beside SUB_CSV; SUB_CSV itself if it does not exist].")
@click.option("--force", is_flag=True, help="Overwrite an existing output CSV.")
@click.option("--aggregate", type=click.Choice(["mean", "max", "confident"]), default=None,
              help="Frames → video score [confident: the DFDC winner's strategy, threshold 0.8].")
@click.option("--no-face-score", type=float, default=None, help="Score of a file with no face [0.5].")
@click.option("--tta", type=click.Choice(["none", "flip"]), default=None, help="flip: average with the mirror image.")
@click.option("--clip", type=(float, float), default=None, metavar="LOW HIGH",
              help="Bound written probabilities, e.g. --clip 0.01 0.99 for log loss.")
@click.option("--hard-labels/--probabilities", default=None, help="Write 0/1 (P(fake) > threshold) [probabilities].")
@click.option("--threshold", type=float, default=None, help="Threshold of --hard-labels [0.5].")
@click.option("--batch-size", type=int, default=None, help="Faces per embedding batch [32].")
@click.option("--queue-size", type=int, default=None, help="Files detected ahead of the embedder [8].")
@click.option("--format", "submission_format", type=click.Choice(["auto", "dacon", "dfdc"]), default=None,
              help="Layout of a new CSV [auto: dfdc when all files are videos, else dacon].")
@click.option("--frames-per-video", type=int, default=None, help="Frames sampled per video [as in training].")
@click.option("--faces", type=click.Choice(["largest", "all"]), default=None, help="Faces per frame [as in training].")
@click.option("--margin", type=float, default=None, help="Crop margin [as in training].")
@click.option("--min-confidence", type=float, default=None, help="Detector confidence floor [as in training].")
@click.option("--crop-option", "crop_options", multiple=True, metavar="KEY=VALUE",
              help="Override any other crop setting (repeatable), e.g. --crop-option min_face_size=20.")
@stage_options
def infer_command(test: Path, sub_csv: Path, model_h5: Path, svm_pkl: Path, output: Path | None, force: bool,
                  config_file: Path | None, **options: object) -> None:
    """Score every face image and video in TEST and write the submission CSV.

    SUB_CSV is a Dacon (path,y) or DFDC (filename,label) template whose rows are filled
    in order; when it does not exist it is created with one row per media file. Values
    are P(fake) unless --hard-labels.

    Security: SVM_PKL is a joblib pickle and loading a pickle runs code. Only use
    classifier files that you made or trust.
    """
    from dfembed.core.config import resolve_config
    from dfembed.infer.config import InferConfig
    from dfembed.infer.run import run_inference

    options["crop_options"] = options["crop_options"] or None
    config = resolve_config(InferConfig, config_file, options)
    summary = run_inference(test, sub_csv, model_h5, svm_pkl, config, output=output, force=force)
    click.echo(f"wrote {summary.rows} rows to {summary.output} ({summary.scored} files scored, "
               f"{len(summary.no_face)} without a face, {len(summary.unreadable)} unreadable, "
               f"{len(summary.missing_rows)} rows without a file)")
