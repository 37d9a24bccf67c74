"""Face → frame → file aggregation of P(fake) scores: pure functions on arrays.

Inference scores every face crop. Two reductions turn those scores into one value per
media file:

1. :func:`reduce_frames` — several faces in one frame → the **maximum** (one fake face
   makes the frame fake).
2. A named video strategy from :data:`AGGREGATORS` — the frame scores of a video → one
   score: ``mean``, ``max`` or ``confident`` (the DFDC winner's heuristic, see
   :func:`confident`).

An image is a one-frame video, so every strategy returns its single frame score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from dfembed.core.errors import ConfigError

Aggregator = Callable[[np.ndarray], float]


def _as_scores(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """Return ``scores`` as a non-empty 1-D float64 array.

    Raises:
        ValueError: The input is empty or not one-dimensional.
    """
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"expected a non-empty 1-D array of scores, got shape {array.shape}")
    return array


def mean(scores: Sequence[float] | np.ndarray) -> float:
    """Average frame score.

    Args:
        scores: P(fake) of each frame, shape ``(n,)``, ``n >= 1``.

    Returns:
        The arithmetic mean.
    """
    return float(np.mean(_as_scores(scores)))


def maximum(scores: Sequence[float] | np.ndarray) -> float:
    """Highest frame score (a video is as fake as its most fake frame).

    Args:
        scores: P(fake) of each frame, shape ``(n,)``, ``n >= 1``.

    Returns:
        The maximum.
    """
    return float(np.max(_as_scores(scores)))


def confident(
    scores: Sequence[float] | np.ndarray,
    threshold: float = 0.8,
    min_fakes: int = 11,
    fake_divisor: float = 2.5,
    real_threshold: float = 0.2,
    real_fraction: float = 0.9,
) -> float:
    """The DFDC winner's "confident strategy" (selimsef/dfdc_deepfake_challenge, kernel_utils.py).

    With ``n`` frame scores and ``f`` of them above ``threshold``:

    * if ``f > n // fake_divisor`` **and** ``f > min_fakes`` — enough confidently fake
      frames — return the mean of those confident fake scores;
    * elif more than ``real_fraction * n`` scores are below ``real_threshold`` — nearly
      all frames confidently real — return the mean of those low scores;
    * else return the mean of all scores.

    The defaults are the original's (it used 32 frames per video, so at least 12
    confident fake frames are needed; with fewer frames the first branch never fires).
    ``n // fake_divisor`` is floor division of a float, as in the original (32 // 2.5 = 12.0).

    Args:
        scores: P(fake) of each frame, shape ``(n,)``, ``n >= 1``.
        threshold: A frame score above this is a confident fake.
        min_fakes: The number of confident fake frames must exceed this.
        fake_divisor: The number of confident fake frames must exceed ``n // fake_divisor``.
        real_threshold: A frame score below this is a confident real.
        real_fraction: The share of confident real frames must exceed this.

    Returns:
        The video score.
    """
    array = _as_scores(scores)
    fakes = array > threshold
    n_fakes = int(np.count_nonzero(fakes))
    if n_fakes > array.size // fake_divisor and n_fakes > min_fakes:
        return float(np.mean(array[fakes]))
    reals = array < real_threshold
    if np.count_nonzero(reals) > real_fraction * array.size:
        return float(np.mean(array[reals]))
    return float(np.mean(array))


AGGREGATORS: dict[str, Aggregator] = {
    "mean": mean,
    "max": maximum,
    "confident": confident,
}


def get_aggregator(name: str) -> Aggregator:
    """Look up a frame → video strategy by name.

    Args:
        name: One of the keys of :data:`AGGREGATORS`.

    Returns:
        The pure function mapping frame scores to one score.

    Raises:
        ConfigError: ``name`` is unknown; the message lists the choices.
    """
    try:
        return AGGREGATORS[name]
    except KeyError:
        choices = ", ".join(sorted(AGGREGATORS))
        raise ConfigError(f"unknown aggregation {name!r}; choose one of: {choices}") from None


def reduce_frames(frame_indices: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """Reduce face scores to one score per frame: the maximum over the faces of a frame.

    Args:
        frame_indices: Frame index of each face, shape ``(n_faces,)``.
        scores: P(fake) of each face, shape ``(n_faces,)``.

    Returns:
        Frame scores ordered by increasing frame index, shape ``(n_frames,)``.

    Raises:
        ValueError: The two arrays differ in length or are empty.
    """
    frames = np.asarray(frame_indices)
    values = _as_scores(scores)
    if frames.shape != values.shape:
        raise ValueError(f"{frames.shape[0] if frames.ndim else 0} frame indices for {values.size} scores")
    unique, inverse = np.unique(frames, return_inverse=True)
    out = np.full(unique.size, -np.inf)
    np.maximum.at(out, inverse, values)
    return out


def aggregate_file(
    frame_indices: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    aggregator: Aggregator,
) -> float:
    """Score one media file from its face scores: per-frame maximum, then ``aggregator``.

    Args:
        frame_indices: Frame index of each face (all 0 for an image).
        scores: P(fake) of each face.
        aggregator: A function from :data:`AGGREGATORS`.

    Returns:
        The file's P(fake).
    """
    return aggregator(reduce_frames(frame_indices, scores))
