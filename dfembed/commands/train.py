"""`dfembed train` / `train.py DATA OUT_H5 OUT_PKL`: triplet embeddings, then the SVM."""

from __future__ import annotations

from pathlib import Path

import click

from dfembed.cli import stage_options
from dfembed.train.config import BACKBONE_NAMES, DISTANCE_NAMES


@click.command(name="train")
@click.argument("data", type=click.Path(path_type=Path))
@click.argument("out_h5", type=click.Path(path_type=Path))
@click.argument("out_pkl", type=click.Path(path_type=Path))
@click.option("--val", "val", type=click.Path(path_type=Path), default=None,
              help="Validation tree with real/ and fake/ [DATA/validation if present, else a split by group].")
@click.option("--backbone", type=click.Choice(BACKBONE_NAMES), default=None, help="EfficientNet variant [b4].")
@click.option("--image-size", type=int, default=None, help="Input side in pixels [380].")
@click.option("--weights", type=str, default=None,
              help="'imagenet' (downloaded once by Keras), 'none', or a local backbone weights file [imagenet].")
@click.option("--embedding-dim", type=int, default=None, help="Embedding width [512].")
@click.option("--dropout", type=float, default=None, help="Dropout before the embedding layer [0.4].")
@click.option("--l2", type=float, default=None, help="L2 factor of the embedding layer [1e-4].")
@click.option("--margin", type=float, default=None, help="Triplet loss margin [1.0].")
@click.option("--distance", type=click.Choice(DISTANCE_NAMES), default=None, help="Triplet distance [squared-L2].")
@click.option("--batch-size", type=int, default=None, help="Even, ≥ 4; half real, half fake [28].")
@click.option("--epochs", type=int, default=None, help="Epochs [10].")
@click.option("--steps-per-epoch", type=int, default=None, help="Batches per epoch [one pass over the larger class].")
@click.option("--lr", type=float, default=None, help="SGD learning rate [0.01].")
@click.option("--momentum", type=float, default=None, help="SGD momentum [0].")
@click.option("--nesterov/--no-nesterov", default=None, help="Nesterov momentum [off].")
@click.option("--schedule", type=click.Choice(["constant", "cosine"]), default=None, help="Learning-rate schedule [constant].")
@click.option("--seed", type=int, default=None, help="Seed of split, sampling, augmentation, weights, SVM [0].")
@click.option("--val-fraction", type=float, default=None, help="Share held out by group when no tree is given; 0: none [0.2].")
@click.option("--precision", type=click.Choice(["auto", "float32", "mixed_float16", "mixed_bfloat16"]), default=None,
              help="auto: mixed_float16 on a GPU, float32 otherwise [auto].")
@click.option("--noise-p", type=float, default=None, help="Probability of Gaussian noise [0.3].")
@click.option("--noise-std", type=(float, float), default=None, metavar="MIN MAX", help="Noise std, fraction of 255 [0.01 0.05].")
@click.option("--jpeg-p", type=float, default=None, help="Probability of JPEG re-compression [0.3].")
@click.option("--jpeg-quality", type=(int, int), default=None, metavar="MIN MAX", help="JPEG quality range [60 100].")
@click.option("--blur-p", type=float, default=None, help="Probability of Gaussian blur [0.3].")
@click.option("--blur-sigma", type=(float, float), default=None, metavar="MIN MAX", help="Blur sigma in pixels [0.1 1.5].")
@click.option("--flip-p", type=float, default=None, help="Probability of a horizontal flip [0.5].")
@click.option("--svm-kernel", type=click.Choice(["linear", "rbf"]), default=None, help="SVM kernel [linear].")
@click.option("--svm-c", type=float, default=None, help="SVM C [1.0].")
@click.option("--svm-calibration-cv", type=int, default=None, help="Folds of the probability calibration [3].")
@click.option("--val-svm-samples", type=int, default=None, help="Training crops embedded per epoch for validation [2000].")
@click.option("--workers", type=int, default=None, help="Threads decoding and augmenting; 0: CPU count, ≤ 16 [0].")
@click.option("--max-queue-size", type=int, default=None, help="Batches prepared ahead [10].")
@click.option("--embed-batch-size", type=int, default=None, help="Batch size when embedding crops [32].")
@click.option("--keep", type=click.Choice(["best", "last"]), default=None, help="Weights saved: best validation AUC or last [best].")
@click.option("--format", "format", type=click.Choice(["h5", "keras"]), default=None,
              help="h5: OUT_H5 only; keras: also a .keras file beside it [h5].")
@click.option("--tensorboard/--no-tensorboard", default=None, help="TensorBoard logs (TensorFlow backend) [on].")
@click.option("--force", is_flag=True, help="Replace existing outputs; without --resume also restart the run folder.")
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint in <OUT_H5 stem>.run/.")
@stage_options
def train_command(
    data: Path,
    out_h5: Path,
    out_pkl: Path,
    val: Path | None,
    force: bool,
    resume: bool,
    config_file: Path | None,
    **options: object,
) -> None:
    """Train the embedding network on DATA, then the SVM on its embeddings.

    DATA holds real/ and fake/ face crops (crop_face.py's output, with manifest.csv for
    group keys, or any such tree). OUT_H5 receives the model (HDF5) and OUT_PKL the
    classifier bundle; either may be an existing folder (model.h5 / svm.pkl inside).
    Checkpoints, state.json and TensorBoard logs go to <OUT_H5 stem>.run/, the resolved
    configuration and library versions to <OUT_H5 stem>.dfembed-train.json.

    OUT_PKL is a pickle (joblib): loading a pickle runs code, so only load files you
    made or trust.
    """
    from dfembed.core.config import resolve_config
    from dfembed.train.config import TrainConfig
    from dfembed.train.run import run_train

    config = resolve_config(TrainConfig, config_file, options)
    summary = run_train(data, out_h5, out_pkl, config, force=force, resume=resume, val=val)
    best = f"; best validation AUC {summary.best_val_auc:.4f} at epoch {summary.best_epoch}" if summary.best_epoch else ""
    click.echo(
        f"trained epochs {summary.initial_epoch + 1}..{summary.epochs} on {summary.n_train} crops "
        f"({summary.n_val} validation, {summary.n_unreadable} unreadable skipped){best}; "
        f"wrote {summary.outputs.model} and {summary.outputs.classifier}"
    )
