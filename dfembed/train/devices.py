"""Devices, precision and distribution for training: how many GPUs the Keras backend
sees, the dtype policy (``"auto"`` → mixed precision on a GPU) and a
``MirroredStrategy`` scope when TensorFlow sees several GPUs.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import keras

from dfembed.core.errors import ConfigError

log = logging.getLogger(__name__)


def gpu_count() -> int:
    """Number of GPUs visible to the active Keras backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return len(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return sum(1 for device in jax.devices() if device.platform == "gpu")
    if backend == "torch":
        import torch

        return torch.cuda.device_count()
    return 0


def resolve_precision(precision: str) -> str:
    """``"auto"`` → ``"mixed_float16"`` on a GPU, ``"float32"`` otherwise; other values unchanged."""
    if precision != "auto":
        return precision
    return "mixed_float16" if gpu_count() > 0 else "float32"


@contextlib.contextmanager
def precision_policy(precision: str) -> Iterator[str]:
    """Set Keras's global dtype policy for the block, restoring the previous one after."""
    previous = keras.config.dtype_policy()
    policy = resolve_precision(precision)
    keras.config.set_dtype_policy(policy)
    log.info("precision: %s", policy)
    try:
        yield policy
    finally:
        keras.config.set_dtype_policy(previous)


@contextlib.contextmanager
def distribution_scope(batch_size: int) -> Iterator[Any]:
    """Yield a context for building the model: a ``MirroredStrategy`` scope over all
    local GPUs under the TensorFlow backend when there are several, else a no-op.

    Raises:
        ConfigError: The batch cannot be split into balanced per-GPU batches.
    """
    gpus = gpu_count() if keras.backend.backend() == "tensorflow" else 0
    if gpus <= 1:
        yield contextlib.nullcontext()
        return
    import tensorflow as tf

    if batch_size % (2 * gpus) or batch_size // gpus < 4:
        raise ConfigError(
            f"batch size {batch_size} cannot be split into balanced batches on {gpus} GPUs: "
            f"use a multiple of {2 * gpus} of at least {4 * gpus}"
        )
    strategy = tf.distribute.MirroredStrategy()
    log.info("MirroredStrategy over %d GPUs", strategy.num_replicas_in_sync)
    yield strategy.scope()
