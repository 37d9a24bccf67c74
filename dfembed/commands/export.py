"""``dfembed export MODEL_H5 SVM_PKL OUT``: one portable model from face crops to P(fake)."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from dfembed.cli import config_option, stage_command, stage_options
from dfembed.export.config import ExportConfig

option = functools.partial(config_option, ExportConfig)

_EXISTING = click.Path(exists=True, dir_okay=False, path_type=Path)


@stage_command(
    "export",
    Export=("format", "opset"),
    Verification=("verify", "verify_images", "tolerance", "seed"),
    Output=("force",),
    Safety=("trust_pickle",),
)
@click.argument("model_h5", type=_EXISTING)
@click.argument("svm_pkl", type=_EXISTING)
@click.argument("out", type=click.Path(path_type=Path))
@option("format", help="onnx: OUT/model.onnx for ONNX Runtime and inference.py; savedmodel: a TensorFlow "
                       "SavedModel for TensorFlow Serving.")
@option("opset", none_text="tf2onnx's default", help="ONNX opset (at least 13).")
@option("verify", help="Run the export in its runtime and compare it with the Keras model and the classifier.")
@option("verify_images", help="Seeded random crops of that comparison.")
@option("tolerance", help="Largest difference of P(fake) and of the embeddings allowed there.")
@option("seed", help="Seed of those crops.")
@click.option("--force", is_flag=True, help="Replace an existing OUT (only an earlier export).")
@click.option("--trust-pickle", is_flag=True,
              help="Load SVM_PKL itself when it has no safe .npz beside it. Loading a pickle runs the code "
                   "stored in it: only for a file you made or trust.")
@stage_options
def export_command(model_h5: Path, svm_pkl: Path, out: Path, force: bool, trust_pickle: bool,
                   config_file: Path | None, **options: object) -> None:
    """Export MODEL_H5 and its classifier SVM_PKL as one model in the folder OUT.

    The model takes a batch of face crops, input "image": uint8 RGB, shape (n, S, S, 3)
    with S the training image size, values 0..255 (crops are resized to S x S before
    the model, not inside it), and returns "p_fake" (n,) P(fake) and "embedding" (n, D).
    The calibrated SVM (linear or rbf) is part of the graph. OUT holds model.onnx (or the
    SavedModel) and dfembed-export.json: the input contract, the crop settings and face
    detector of training, the class mapping, versions and the SHA-256 of every file.

    The classifier is read from the safe file beside SVM_PKL (svm.npz), as inference
    reads it; an ONNX file runs no Python code when loaded.
    """
    from dfembed.core.config import resolve_config
    from dfembed.export.run import run_export

    config = resolve_config(ExportConfig, config_file, options)
    summary = run_export(model_h5, svm_pkl, out, config, force=force, trust_pickle=trust_pickle)
    check = summary.verification
    checked = (f"; P(fake) within {check['p_fake']:.1e} and embeddings within {check['embedding']:.1e} of the "
               f"Keras model on {check['images']} crops") if check else ""
    click.echo(f"exported {config.format} to {summary.model_file} ({summary.contract.image_size} px uint8 RGB crops "
               f"-> p_fake, {summary.contract.embedding_dim}-d embedding; {summary.contract.kernel} SVM){checked}; "
               f"record {summary.record}")
