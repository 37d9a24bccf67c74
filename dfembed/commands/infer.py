"""`dfembed infer` / `inference.py`: score faces in TEST and write a submission CSV."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from dfembed.cli import config_option, stage_options
from dfembed.infer.config import InferConfig

option = functools.partial(config_option, InferConfig)

_EXISTING = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command(name="infer")
@click.argument("test", type=click.Path(exists=True, path_type=Path))
@click.argument("sub_csv", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("model_h5", type=_EXISTING)
@click.argument("svm_pkl", type=_EXISTING)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output CSV [default: <SUB_CSV name>_out.csv beside SUB_CSV; SUB_CSV itself if it does not exist].")
@click.option("--force", is_flag=True, help="Overwrite an existing output CSV.")
@click.option("--trust-pickle", is_flag=True,
              help="Load SVM_PKL itself when it has no safe .npz beside it. Loading a pickle runs the code "
                   "stored in it: only for a file you made or trust.")
@option("aggregate", help="Frames → video score (confident: the DFDC winner's strategy).")
@option("no_face_score", help="Score of a file with no face.")
@option("tta", help="flip: average with the mirror image.")
@option("clip", metavar="LOW HIGH", help="Bound written probabilities, e.g. --clip 0.01 0.99 for log loss.")
@option("hard_labels", "--hard-labels/--probabilities", help="Write 0/1 (P(fake) > threshold), not probabilities.")
@option("threshold", help="Threshold of --hard-labels.")
@option("batch_size", help="Faces per embedding batch.")
@option("queue_size", help="Files detected ahead of the embedder.")
@option("submission_format", "--format", help="Layout of a new CSV (auto: dfdc when all files are videos, else dacon).")
@option("detector", metavar="NAME", none_text="as in training", help="Face detector: mtcnn or blazeface.")
@option("frames_per_video", none_text="as in training", help="Frames sampled per video.")
@option("faces", none_text="as in training", help="Faces per frame.")
@option("margin", none_text="as in training", help="Crop margin.")
@option("min_confidence", none_text="as in training", help="Detector confidence floor.")
@option("crop_options", "--crop-option", metavar="KEY=VALUE",
        help="Override any other crop setting (repeatable), e.g. --crop-option min_face_size=20.")
@option("temporal_model", metavar="PATH", help="Sequence model (.keras) of --aggregate temporal (a learned video score).")
@option("temporal_fallback", help="Frame rule of a file too short for the temporal model.")
@option("engine", help="Where files are decoded, detected and scored: this machine or a Ray cluster "
                       "(pip install -e '.[ray]').")
@option("ray_address", metavar="ADDRESS", none_text="start a local cluster",
        help="Ray cluster to join with --engine ray: auto (this machine's cluster) or HOST:PORT.")
@option("ray_workers", help="Detector workers on Ray, one CPU each; 0: the CPUs not taken by model workers.")
@option("ray_model_workers", help="Model workers on Ray, a GPU each where there are that many; 0: one per GPU, or one.")
@stage_options
def infer_command(test: Path, sub_csv: Path, model_h5: Path, svm_pkl: Path, output: Path | None, force: bool,
                  trust_pickle: bool, config_file: Path | None, **options: object) -> None:
    """Score every face image and video in TEST and write the submission CSV.

    SUB_CSV is a Dacon (path,y) or DFDC (filename,label) template whose rows are filled
    in order; when it does not exist it is created with one row per media file. Values
    are P(fake) unless --hard-labels.

    Security: SVM_PKL is a joblib pickle, and loading a pickle runs code. The classifier
    is read instead from the safe file that train.py writes beside it (svm.pkl →
    svm.npz: plain arrays, checked by SHA-256, with the SHA-256 of the model it belongs
    to); a pickle without one is loaded only with --trust-pickle.
    """
    from dfembed.core.config import resolve_config
    from dfembed.infer.run import run_inference

    options["crop_options"] = options["crop_options"] or None
    config = resolve_config(InferConfig, config_file, options)
    summary = run_inference(test, sub_csv, model_h5, svm_pkl, config, output=output, force=force,
                            trust_pickle=trust_pickle)
    skipped = f"; {len(summary.skipped)} entries of TEST skipped, listed in {summary.provenance}" \
        if summary.skipped else ""
    click.echo(f"wrote {summary.rows} rows to {summary.output} ({summary.scored} files scored, "
               f"{len(summary.no_face)} without a face, {len(summary.unreadable)} unreadable, "
               f"{len(summary.missing_rows)} rows without a file{skipped})")
