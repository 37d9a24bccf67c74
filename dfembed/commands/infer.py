"""`dfembed infer` / `inference.py`: score faces in TEST and write a submission CSV."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dfembed.cli import config_option, split_names, stage_command, stage_options
from dfembed.infer.config import InferConfig

if TYPE_CHECKING:
    from dfembed.infer.run import InferSummary

option = functools.partial(config_option, InferConfig)
#: Files train.py writes for the classifier (OUT_PKL and its safe copy).
CLASSIFIER_SUFFIXES = (".pkl", ".npz", ".joblib")


@stage_command(
    "infer",
    Input=("layout", "split", "compression", "methods"),
    Faces=("detector", "frames_per_video", "faces", "margin", "min_confidence", "crop_options"),
    Scoring=("aggregate", "no_face_score", "tta", "temporal_model", "temporal_fallback"),
    Audio=("audio_model", "fuse", "audio_aggregate", "audio_tta", "audio_tta_shift"),
    Output=("output", "submission_format", "hard_labels", "threshold", "clip", "force"),
    Performance=("batch_size", "queue_size", "onnx_provider", "onnx_threads", "engine", "ray_address", "ray_workers", "ray_model_workers"),
    Safety=("trust_pickle",),
)
@click.argument("test", type=click.Path(exists=True, path_type=Path))
@click.argument("models", nargs=-1, required=True, metavar="[SUB_CSV] MODEL [SVM_PKL]")
@click.option("--output", "-o", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path), default=None,
              help="Output CSV, - for standard output [default: <SUB_CSV name>_out.csv beside SUB_CSV; SUB_CSV itself "
                   "if it does not exist; standard output for SUB_CSV -].")
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
@option("layout", help="none: every medium under TEST; ffpp/celebdf: that data set's split only.")
@option("split", help="Official subset of --layout ffpp/celebdf.")
@option("compression", help="FaceForensics++ quality folder.")
@option("methods", metavar="M[,M...]", callback=lambda ctx, param, value: split_names(value),
        help="FaceForensics++ manipulations (repeat or comma-separate).")
@option("onnx_provider", help="ONNX Runtime provider of an exported MODEL (auto: CUDA when present, else CPU).")
@option("onnx_threads", none_text="one per core", help="ONNX Runtime threads per operator on the CPU.")
@option("audio_model", metavar="MODEL_H5 SVM_PKL",
        help="Audio model (train.py --modality audio): score each video's soundtrack and fuse it with its faces.")
@option("fuse", help="Face + audio → file score (weighted: the audio model's fitted weight).")
@option("audio_aggregate", help="Tile scores → audio score.")
@option("audio_tta", help="shift: also score each tile shifted by ±--audio-tta-shift and average.")
@option("audio_tta_shift", help="Seconds of --audio-tta shift.")
@option("engine", help="Where files are decoded, detected and scored: this machine or a Ray cluster "
                       "(pip install -e '.[ray]').")
@option("ray_address", metavar="ADDRESS", none_text="start a local cluster",
        help="Ray cluster to join with --engine ray: auto (this machine's cluster) or HOST:PORT.")
@option("ray_workers", help="Detector workers on Ray, one CPU each; 0: the CPUs not taken by model workers.")
@option("ray_model_workers", help="Model workers on Ray, a GPU each where there are that many; 0: one per GPU, or one.")
@stage_options
def infer_command(test: Path, models: tuple[Path, ...], output: Path | None, force: bool, trust_pickle: bool,
                  config_file: Path | None, **options: object) -> None:
    """Score every face image and video in TEST and write the submission CSV.

    \b
    inference.py TEST SUB_CSV MODEL_H5 SVM_PKL   the Keras model and its classifier
    inference.py TEST SUB_CSV MODEL.onnx         an exported model (dfembed export), on ONNX Runtime
    inference.py FILE MODEL.onnx                 one image or video: print its P(fake)
    inference.py FILE MODEL_H5 SVM_PKL           the same with the Keras model

    SUB_CSV is a Dacon (path,y) or DFDC (filename,label) template whose rows are filled
    in order; when it does not exist it is created with one row per media file; - writes
    a new CSV to standard output (logs stay on standard error). TEST is a folder or one
    image or video. Values are P(fake) unless --hard-labels. MODEL is a Keras model
    (.h5, .hdf5, .keras) followed by SVM_PKL, or an exported ONNX model (.onnx or its
    export folder), whose recorded crop settings and face detector are used.

    Security: SVM_PKL is a joblib pickle, and loading a pickle runs code. The classifier
    is read instead from the safe file that train.py writes beside it (svm.pkl →
    svm.npz: plain arrays, checked by SHA-256, with the SHA-256 of the model it belongs
    to); a pickle without one is loaded only with --trust-pickle. Loading an ONNX model
    runs no Python code.

    With --audio-model A.h5 A.pkl every video's soundtrack is scored too and fused with
    its face score (--fuse); a file keeps the score of the one modality it has, and the
    CSV gets face_score and audio_score columns.
    """
    from dfembed.core.config import resolve_config
    from dfembed.infer.run import run_inference

    sub_csv, model, svm_pkl = _positional(test, models)
    options["crop_options"] = options["crop_options"] or None
    config = resolve_config(InferConfig, config_file, options)
    summary = run_inference(test, sub_csv, model, svm_pkl, config, output=output, force=force,
                            trust_pickle=trust_pickle)
    if sub_csv is None:
        _print_score(test, summary, config)
        return
    skipped = f"; {len(summary.skipped)} entries of TEST skipped" + (
        f", listed in {summary.provenance}" if summary.provenance else "") if summary.skipped else ""
    where = "standard output" if str(summary.output) == "-" else summary.output
    click.echo(f"wrote {summary.rows} rows to {where} ({summary.scored} files scored, "
               f"{len(summary.no_face)} without a face, {len(summary.unreadable)} unreadable, "
               f"{len(summary.missing_rows)} rows without a file{skipped})", err=str(summary.output) == "-")


def _positional(test: Path, models: tuple[Path, ...]) -> tuple[Path | None, Path, Path | None]:
    """``[SUB_CSV] MODEL [SVM_PKL]`` → ``(sub_csv, model, svm_pkl)``; ``sub_csv`` ``None``: print the score.

    Three values are SUB_CSV MODEL_H5 SVM_PKL; one is an exported MODEL; of two, a Keras
    model first (``.h5``, ``.hdf5``, ``.keras``) means MODEL_H5 SVM_PKL, else SUB_CSV MODEL.
    """
    from dfembed.core.errors import ConfigError, InputError
    from dfembed.infer.models import is_keras_model

    paths = [Path(p) for p in models]
    if len(paths) > 3:
        raise ConfigError(f"too many arguments after TEST ({len(paths)}): expected [SUB_CSV] MODEL [SVM_PKL]")
    if len(paths) == 3:
        sub_csv, model, svm_pkl = paths
    elif len(paths) == 2 and is_keras_model(paths[0]):
        sub_csv, (model, svm_pkl) = None, paths
    else:
        sub_csv, model, svm_pkl = (paths[0] if len(paths) == 2 else None), paths[-1], None
    _check_order(paths)
    for name, path in (("MODEL", model), ("SVM_PKL", svm_pkl)):
        if path is not None and not path.exists():
            raise InputError(f"{name} {path} does not exist")
    if sub_csv is None and test.is_dir():
        raise ConfigError(f"TEST {test} is a folder: give SUB_CSV (a CSV file, or - for standard output) before "
                          "MODEL; without one, TEST must be a single image or video whose score is printed")
    return sub_csv, model, svm_pkl


def _check_order(paths: list[Path]) -> None:
    """Refuse a classifier given before its Keras model (``... svm.pkl model.h5``), naming both."""
    from dfembed.core.errors import ConfigError
    from dfembed.infer.models import is_keras_model

    for first, second in zip(paths, paths[1:]):
        if first.suffix.lower() in CLASSIFIER_SUFFIXES and is_keras_model(second):
            raise ConfigError(f"{first} (a classifier) comes before {second} (its Keras model): the order is "
                              "[SUB_CSV] MODEL_H5 SVM_PKL")


def _print_score(test: Path, summary: InferSummary, config: InferConfig) -> None:
    """Print the one file's P(fake) on standard output, as the CSV would hold it (a file that
    cannot be read is an error; one without a face prints ``--no-face-score``, with the run's warning)."""
    from dfembed.core.errors import InputError
    from dfembed.infer.submission import format_value

    (key, score), = summary.scores.items()
    if key in summary.unreadable:
        raise InputError(f"{test} cannot be read: {summary.unreadable[key]}")
    click.echo(format_value(score, config.hard_labels, config.threshold, config.clip))
