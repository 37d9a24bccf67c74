"""`dfembed temporal embed DATA MODEL_H5 OUT`: per-frame embeddings of every video of a crop folder."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from dfembed.cli import config_option, stage_command, stage_options
from dfembed.temporal.config import EmbedConfig

option = functools.partial(config_option, EmbedConfig)


@stage_command(
    "embed",
    Face_track=("track", "min_iou"),
    Performance=("batch_size",),
    Output=("force",),
)
@click.argument("data", type=click.Path(path_type=Path))
@click.argument("model_h5", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@option("track", help="One face per frame: iou follows the first frame's largest face, largest takes each frame's.")
@option("min_iou", help="Box overlap a face needs to continue the iou track.")
@option("batch_size", help="Crops per embedding batch.")
@click.option("--force", is_flag=True, help="Start over in an OUT that holds another run.")
@stage_options
def embed_command(data: Path, model_h5: Path, out: Path, force: bool, config_file: Path | None,
                  **options: object) -> None:
    """Embed the face track of every video in the crop folder DATA with MODEL_H5.

    DATA is crop_face.py's output (manifest.csv; its videos, or images named
    <video>-<NNN>.<ext> as frames of one video). OUT receives index.csv (video, label,
    group, frames, faces, file), videos/*.npz (embeddings, mask, frame_index: every
    sampled frame in order, gaps where the track has no face) and dfembed-embed.json.
    A rerun resumes where a previous run stopped.
    """
    from dfembed.core.config import resolve_config
    from dfembed.temporal.embed import run_embed

    config = resolve_config(EmbedConfig, config_file, options)
    summary = run_embed(data, model_h5, out, config, force=force)
    click.echo(f"{summary.videos} videos in {out} ({summary.embedded} embedded now, {summary.faces} faces, "
               f"{summary.unreadable_crops} unreadable crops); {len(summary.no_face)} videos without a face and "
               f"{summary.not_frames} images that are no video frame left out")
