"""Fusing a video's face and audio scores, and the fitted weight saved beside an audio model.

A video's P(fake) from its faces ``f`` and from its soundtrack ``a`` become one score:

* ``mean``: ``(f + a) / 2``;
* ``max``: ``max(f, a)`` — a fake face or a fake voice makes the video fake;
* ``weighted``: ``w a + (1 - w) f``, with the audio weight ``w`` fitted on validation videos
  (:func:`fit_weight`) and saved as ``<audio model stem>.fusion.json`` (:func:`fusion_path`).

A video with only one of the two scores keeps that one; the callers decide what a video
without either gets. No Keras here.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dfembed.core.errors import ConfigError, InputError

FUSION_RULES = ("mean", "max", "weighted")
FUSION_SUFFIX = ".fusion.json"
FUSION_FORMAT = "dfembed-fusion"
#: Scores are clipped to [EPS, 1 - EPS] inside the log loss, as scikit-learn's ``log_loss`` does.
EPS = 1e-15


def fusion_path(audio_model: str | os.PathLike[str]) -> Path:
    """The fusion weight file of an audio model: ``A.h5`` → ``A.fusion.json`` beside it."""
    path = Path(audio_model)
    return path.with_name(f"{path.stem}{FUSION_SUFFIX}")


def fuse(face: float | None, audio: float | None, rule: str, weight: float | None = None) -> float | None:
    """One video score from its face and audio scores.

    Args:
        face: P(fake) from the faces, ``None`` when the video has none.
        audio: P(fake) from the soundtrack, ``None`` when it has none.
        rule: ``mean``, ``max`` or ``weighted``.
        weight: The audio weight of ``weighted``, in [0, 1].

    Returns:
        The fused score; the one score there is when the other is missing; ``None`` without either.

    Raises:
        ConfigError: An unknown rule, or ``weighted`` without a weight in [0, 1].
    """
    if rule not in FUSION_RULES:
        raise ConfigError(f"unknown fusion {rule!r}; choose one of {', '.join(FUSION_RULES)}")
    if rule == "weighted" and (weight is None or not 0.0 <= weight <= 1.0):
        raise ConfigError(f"the weighted fusion needs an audio weight in [0, 1], got {weight!r}")
    if face is None or audio is None:
        return audio if face is None else face
    if rule == "mean":
        return (face + audio) / 2.0
    if rule == "max":
        return max(face, audio)
    return weight * audio + (1.0 - weight) * face


def log_loss(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """Mean binary log loss of P(fake) ``scores`` against 0/1 ``labels`` (scores clipped to [EPS, 1 - EPS])."""
    p = np.clip(np.asarray(scores, dtype=np.float64), EPS, 1.0 - EPS)
    y = np.asarray(labels, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p)))


def fit_weight(face: Sequence[float], audio: Sequence[float], labels: Sequence[int], steps: int = 101) -> float:
    """The audio weight ``w`` in [0, 1] whose ``w a + (1 - w) f`` has the least log loss on labelled videos.

    ``w`` is searched on a grid of ``steps`` values (0, 0.01, …, 1 by default); among equal
    losses the weight nearest 0.5 wins, so two equally good modalities are weighted equally.

    Args:
        face: Face P(fake) of each video.
        audio: Audio P(fake) of the same videos.
        labels: Their labels (1 = fake).
        steps: Grid size.

    Returns:
        The weight.

    Raises:
        InputError: The three sequences differ in length, or the labels are not both classes.
    """
    f, a, y = (np.asarray(v, dtype=np.float64) for v in (face, audio, labels))
    if not f.shape == a.shape == y.shape or f.ndim != 1:
        raise InputError(f"fusion weight: {f.shape}, {a.shape} and {y.shape} scores and labels do not match")
    if set(np.unique(y).tolist()) != {0.0, 1.0}:
        raise InputError("fusion weight: the videos must hold both real and fake ones")
    grid = np.linspace(0.0, 1.0, steps)
    losses = np.array([log_loss(w * a + (1.0 - w) * f, y) for w in grid])
    best = np.flatnonzero(losses <= losses.min() + 1e-12)
    return float(grid[best[np.argmin(np.abs(grid[best] - 0.5))]])


def read_fusion(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a fusion weight file (JSON; nothing in it runs code).

    Args:
        path: ``<audio model stem>.fusion.json``.

    Returns:
        The record; ``record["weight"]`` is the audio weight in [0, 1].

    Raises:
        InputError: The file is missing, not JSON, or not a fusion record with a weight in [0, 1].
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"fusion weight file {path} does not exist: train the audio model with "
                         "--fuse-face-model MODEL_H5 SVM_PKL (and a validation split), or use --fuse mean or max")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise InputError(f"fusion weight file {path} cannot be read: {' '.join(str(err).split())[:200]}") from err
    if not isinstance(record, dict) or record.get("format") != FUSION_FORMAT:
        raise InputError(f"{path} is not a dfembed fusion weight file")
    weight = record.get("weight")
    if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not math.isfinite(weight) \
            or not 0.0 <= weight <= 1.0:
        raise InputError(f"fusion weight file {path}: 'weight' must be a number in [0, 1], got {weight!r}")
    return record
