"""Configuration of the temporal stage: ``dfembed temporal embed`` and ``dfembed temporal train``.

Two frozen dataclasses, one per command, layered like every stage (defaults < config file
< flags); ``resources/embed.yaml`` and ``resources/temporal.yaml`` hold their defaults (a
test keeps them equal). Importing this module does not import Keras.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dfembed.core.config import check
from dfembed.faces.track import DEFAULT_MIN_IOU, TRACK_POLICIES
from dfembed.model.names import TEMPORAL_KINDS
from dfembed.model.sequence import SequenceSpec


@dataclass(frozen=True)
class EmbedConfig:
    """Every option of ``dfembed temporal embed DATA MODEL_H5 OUT``.

    Attributes:
        track: One face per frame: ``"iou"`` follows the first frame's largest face by box
            overlap, ``"largest"`` takes each frame's largest face (:mod:`dfembed.faces.track`).
        min_iou: Overlap with the track's last box that a face needs to continue the track.
        batch_size: Crops per embedding batch (padded, so the model sees one shape).
    """

    track: Literal["iou", "largest"] = "iou"
    min_iou: float = DEFAULT_MIN_IOU
    batch_size: int = 32

    def __post_init__(self) -> None:
        check(self.track in TRACK_POLICIES, "track", self.track, f"one of {', '.join(TRACK_POLICIES)}")
        check(0.0 <= self.min_iou <= 1.0, "min_iou", self.min_iou, "in [0, 1]")
        check(self.batch_size >= 1, "batch_size", self.batch_size, "at least 1")


@dataclass(frozen=True)
class TemporalConfig:
    """Every option of ``dfembed temporal train EMBEDDINGS OUT``.

    Attributes:
        network: ``"gru"`` or ``"lstm"`` (bidirectional, attention pooling) or ``"transformer"``.
        frames: Timeline entries per sequence (``T``).
        window: Stride of consecutive windows of ``frames`` entries; none: one sequence
            spread evenly over the timeline.
        min_faces: Videos with fewer faces on their timeline are left out (and listed);
            inference scores them with the frame rule.
        units: Width of each recurrent direction, or of the Transformer.
        layers: Recurrent layers or Transformer blocks.
        heads: Attention heads of the Transformer (must divide ``units``).
        dropout: Dropout inside the network and before its output.
        epochs: Epochs.
        batch_size: Sequences per batch.
        lr: Adam learning rate.
        seed: Seed of the split, the weights and the batch order.
        val_fraction: Share of videos held out by group for validation; 0: none.
        keep: ``"best"`` validation AUC, or the ``"last"`` epoch's weights.
    """

    network: Literal["gru", "lstm", "transformer"] = "gru"
    frames: int = 16
    window: int | None = None
    min_faces: int = 8
    units: int = 64
    layers: int = 1
    heads: int = 4
    dropout: float = 0.1
    epochs: int = 30
    batch_size: int = 32
    lr: float = 0.001
    seed: int = 0
    val_fraction: float = 0.2
    keep: Literal["best", "last"] = "best"

    def __post_init__(self) -> None:
        check(self.network in TEMPORAL_KINDS, "network", self.network, f"one of {', '.join(TEMPORAL_KINDS)}")
        self.sequence()  # frames, window and min_faces
        for name in ("units", "layers", "heads", "epochs", "batch_size"):
            check(getattr(self, name) >= 1, name, getattr(self, name), "at least 1")
        check(self.network != "transformer" or (self.units % self.heads == 0 and self.units % 2 == 0), "units",
              self.units, f"even and divisible by heads ({self.heads}) for the transformer")
        check(0.0 <= self.dropout < 1.0, "dropout", self.dropout, "in [0, 1)")
        check(self.lr > 0.0, "lr", self.lr, "positive")
        check(self.seed >= 0, "seed", self.seed, "0 or more")
        check(0.0 <= self.val_fraction < 1.0, "val_fraction", self.val_fraction, "in [0, 1)")

    def sequence(self) -> SequenceSpec:
        """How timelines become sequences (also what inference must do)."""
        return SequenceSpec(frames=self.frames, window=self.window, min_faces=self.min_faces)
