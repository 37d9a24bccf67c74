"""``dfembed explain FILE MODEL [SVM] OUT``: where the model sees a fake, as Grad-CAM overlays and one HTML page."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from dfembed.cli import config_option, stage_command, stage_options
from dfembed.explain.config import ExplainConfig

option = functools.partial(config_option, ExplainConfig)


@stage_command(
    "explain",
    Faces=("faces_per_frame", "max_faces", "frames_per_video", "detector"),
    Report=("alpha", "threshold", "aggregate"),
    Output=("force",),
    Safety=("trust_pickle",),
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("paths", nargs=-1, required=True, metavar="MODEL [SVM] OUT")
@option("faces_per_frame", help="The most suspicious faces explained per sampled frame.")
@option("max_faces", help="Faces explained in all, the most suspicious first.")
@option("frames_per_video", none_text="as in training", help="Frames sampled from a video.")
@option("detector", metavar="NAME", none_text="as in training", help="Face detector: mtcnn or blazeface.")
@option("alpha", help="Weight of the heat map over the crop.")
@option("threshold", help="P(fake) above which the report calls the file fake.")
@option("aggregate", help="Frames → file score, as dfembed infer --aggregate.")
@click.option("--force", is_flag=True, help="Replace OUT when it holds a previous explain's files only.")
@click.option("--trust-pickle", is_flag=True,
              help="Load SVM itself when it has no safe .npz beside it. Loading a pickle runs the code "
                   "stored in it: only for a file you made or trust.")
@stage_options
def explain_command(file: Path, paths: tuple[str, ...], force: bool, trust_pickle: bool, config_file: Path | None,
                    **options: object) -> None:
    """Explain FILE's score: Grad-CAM maps of P(fake) over its most suspicious faces, in the folder OUT.

    MODEL is the Keras embedding model (MODEL_H5) and SVM its classifier (SVM_PKL): the
    map is the gradient of P(fake), through the embedding and the SVM, with respect to
    the backbone's last feature map (Grad-CAM), resized to the crop; red marks what
    pushes the face towards fake. Faces are detected with the crop settings of training.

    OUT gets one overlay PNG per explained face, report.html (one self-contained page,
    usable offline) and explain.json (options, versions, the model's SHA-256, scores and
    every file written). An existing OUT is replaced only with --force and only when it
    holds a previous explain's files.
    """
    from dfembed.core.config import resolve_config
    from dfembed.core.errors import ConfigError
    from dfembed.explain.run import run_explain

    if len(paths) not in (2, 3):
        raise ConfigError(f"expected MODEL SVM OUT after FILE, got {len(paths)} paths")
    model, svm, out = (Path(paths[0]), None, Path(paths[1])) if len(paths) == 2 else map(Path, paths)
    if svm is None:
        raise ConfigError(f"MODEL {model}: explain needs the Keras model and its classifier: FILE MODEL_H5 "
                          "SVM_PKL OUT")
    config = resolve_config(ExplainConfig, config_file, options)
    summary = run_explain(file, model, svm, out, config, force=force, trust_pickle=trust_pickle)
    click.echo(f"P(fake) {summary.p_fake:.4f}: {summary.explained} of {summary.faces} faces explained in "
               f"{summary.report}")
