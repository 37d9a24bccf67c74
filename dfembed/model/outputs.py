"""What a model gives back, checked before anything uses it: P(fake) in [0, 1], finite embeddings.

A damaged or hostile model (an exported ONNX file, or a Keras model with its classifier)
can compute NaN, infinity or 8.0 where a probability belongs. Written to a submission as
P(fake), such a value is silently wrong; every scorer passes its outputs through
:func:`check_p_fake` (and :func:`check_embeddings`), which raise an
:class:`~dfembed.core.errors.InputError` naming the model as faulty.
"""

from __future__ import annotations

import numpy as np

from dfembed.core.errors import InputError


def check_p_fake(scores: np.ndarray, model: str, count: int | None = None) -> np.ndarray:
    """Check the P(fake) a model gave: every value finite and in [0, 1], one per crop.

    Args:
        scores: The model's P(fake) output.
        model: The model as messages name it (its file).
        count: The number of crops it was given (``None``: not checked).

    Returns:
        ``scores`` as float64.

    Raises:
        InputError: A value is NaN, infinite or outside [0, 1], or the shape is not ``(count,)``;
            the message reads ``"model MODEL gave P(fake) = nan for a face crop …: the model is faulty"``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if count is not None and scores.shape != (count,):
        raise InputError(f"model {model} gave P(fake) of shape {scores.shape} for {count} face crops, not "
                         f"({count},): the model is faulty")
    bad = ~((scores >= 0.0) & (scores <= 1.0))  # NaN compares false: it is bad too
    if bad.any():
        raise InputError(f"model {model} gave P(fake) = {scores[bad].flat[0]:g} for a face crop (a probability must "
                         "be a number in [0, 1]): the model is faulty")
    return scores


def check_embeddings(embeddings: np.ndarray, model: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Check the embeddings a model gave: every value finite, of the promised shape.

    Args:
        embeddings: The model's embedding output.
        model: The model as messages name it (its file).
        shape: ``(crops, width)`` it must have (``None``: any 2-D shape).

    Returns:
        ``embeddings`` as float32.

    Raises:
        InputError: A value is NaN or infinite (also after conversion to float32), or the shape is
            not ``shape``; the message names the model as faulty.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float32's range becomes inf, refused below
        embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2 or (shape is not None and embeddings.shape != shape):
        wanted = f"{shape}" if shape is not None else "(crops, width)"
        raise InputError(f"model {model} gave embeddings of shape {embeddings.shape}, not {wanted}: "
                         "the model is faulty")
    finite = np.isfinite(embeddings)
    if not finite.all():
        raise InputError(f"model {model} gave an embedding holding {embeddings[~finite].flat[0]:g} for a face crop "
                         "(embeddings must be finite): the model is faulty")
    return embeddings
