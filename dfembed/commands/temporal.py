"""``dfembed temporal embed|train``: frame embeddings of every video, then a sequence model on them."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from dfembed.cli import config_option, stage_command, stage_options
from dfembed.commands.embed import embed_command
from dfembed.temporal.config import TemporalConfig

option = functools.partial(config_option, TemporalConfig)


@stage_command(
    "train",
    Model=("network", "frames", "window", "min_faces", "units", "layers", "heads", "dropout"),
    Training=("epochs", "batch_size", "lr", "seed", "val_fraction", "keep"),
    Output=("force", "resume"),
)
@click.argument("embeddings", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@option("network", help="Sequence model: bidirectional GRU or LSTM, or a Transformer encoder.")
@option("frames", help="Timeline entries per sequence (T).")
@option("window", none_text="evenly", help="Stride of consecutive T-entry windows.")
@option("min_faces", help="Videos with fewer faces are left out (listed); inference uses the frame rule.")
@option("units", help="Width of each recurrent direction, or of the Transformer.")
@option("layers", help="Recurrent layers or Transformer blocks.")
@option("heads", help="Transformer attention heads.")
@option("dropout", help="Dropout.")
@option("epochs", help="Epochs.")
@option("batch_size", help="Sequences per batch.")
@option("lr", help="Adam learning rate.")
@option("seed", help="Seed of split, weights and batch order.")
@option("val_fraction", help="Share of videos held out by group; 0: none.")
@option("keep", help="Weights saved: best validation AUC or last.")
@click.option("--force", is_flag=True, help="Replace existing outputs; without --resume also restart the run folder.")
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint in <OUT stem>.run/.")
@stage_options
def temporal_train_command(embeddings: Path, out: Path, force: bool, resume: bool, config_file: Path | None,
                     **options: object) -> None:
    """Train a masked sequence model on EMBEDDINGS (dfembed temporal embed's OUT) and write OUT.

    OUT is a .keras file (or an existing folder: temporal.keras inside); beside it
    <stem>.dfembed-temporal.json records the sequence settings, the face track and the
    embedding model that inference (--aggregate temporal) must use, and <stem>.run/
    holds checkpoints for --resume.
    """
    from dfembed.core.config import resolve_config
    from dfembed.temporal.run import run_train_temporal

    config = resolve_config(TemporalConfig, config_file, options)
    summary = run_train_temporal(embeddings, out, config, force=force, resume=resume)
    best = f"; best validation AUC {summary.best_val_auc:.4f} at epoch {summary.best_epoch}" if summary.best_epoch else ""
    short = len(summary.left_out["short"])
    click.echo(f"trained epochs {summary.initial_epoch + 1}..{summary.epochs} on {summary.n_train_sequences} sequences "
               f"of {summary.n_train} videos ({summary.n_val} validation, {short} too short){best}; "
               f"wrote {summary.outputs.model}")


@click.group(name="temporal")
def temporal_group() -> None:
    """A sequence model over a video's frame embeddings (used by infer --aggregate temporal).

    \b
    dfembed temporal embed CROPS MODEL_H5 EMBEDDINGS   each video's face track embedded by the frame model
    dfembed temporal train EMBEDDINGS OUT              a GRU, LSTM or Transformer on those sequences

    Not to be confused with train --temporal T, which trains an end-to-end clip model
    (frame network and sequence head together) on the crops themselves.
    """


temporal_group.add_command(embed_command)
temporal_group.add_command(temporal_train_command)
