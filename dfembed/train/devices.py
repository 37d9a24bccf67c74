"""Devices, precision and distribution for training: how many GPUs the Keras backend
sees, the dtype policy (``"auto"`` → mixed precision on a GPU), a ``MirroredStrategy``
scope when TensorFlow sees several GPUs, and the frame model's ``--distribute`` modes
(:func:`resolve_distribution`; the loop of TensorFlow's strategies is
:mod:`dfembed.train.distributed`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
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


# ---------------------------------------------------------------------------------------
# Distribution of the frame model's training: --distribute auto|none|mirrored|multi-worker

#: ``--distribute`` choices.
DISTRIBUTE_MODES = ("auto", "none", "mirrored", "multi-worker")


@dataclasses.dataclass(frozen=True)
class Distribution:
    """How one training process takes part in a run: its devices, its worker, whether it writes.

    Attributes:
        mode: ``"none"``; ``"mirrored"`` (TensorFlow ``MirroredStrategy`` over this machine's
            GPUs, or its logical CPUs); ``"multi-worker"`` (TensorFlow
            ``MultiWorkerMirroredStrategy`` from ``TF_CONFIG``); ``"data-parallel"`` (JAX:
            ``keras.distribution.DataParallel`` over this machine's devices).
        replicas: Model copies over all workers (each gets ``batch_size / replicas`` images).
        workers: Training processes (machines).
        worker: This process's index among them.
        chief: This process writes the checkpoints, the state, the model and the classifier.
        strategy: The ``tf.distribute`` strategy (TensorFlow modes), else ``None``.
        keras_distribution: The Keras distribution (JAX), else ``None``.
    """

    mode: str = "none"
    replicas: int = 1
    workers: int = 1
    worker: int = 0
    chief: bool = True
    strategy: Any = None
    keras_distribution: Any = None

    @property
    def replicas_per_worker(self) -> int:
        """Replicas of this worker (its GPUs or logical CPUs)."""
        return self.replicas // self.workers

    def build_scope(self) -> contextlib.AbstractContextManager[Any]:
        """The context to build, compile or load the model in (its variables on every replica).

        Under a TensorFlow strategy only that happens in its scope: a variable created there
        later (saving a checkpoint creates some) is broadcast from the chief, a collective
        operation that would wait for workers that are not saving.
        """
        if self.strategy is not None:
            return self.strategy.scope()
        return self.run_scope()

    def run_scope(self) -> contextlib.AbstractContextManager[Any]:
        """The context to train and embed in: JAX's distribution (batches split over the devices), else none."""
        if self.keras_distribution is not None:
            return self.keras_distribution.scope()
        return contextlib.nullcontext()


def cluster_spec() -> dict[str, Any] | None:
    """``TF_CONFIG``'s cluster and task when it describes more than one task, else ``None``.

    Raises:
        ConfigError: ``TF_CONFIG`` is not JSON with ``cluster`` and ``task``.
    """
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        spec = json.loads(text)
        tasks = sum(len(v) for v in spec["cluster"].values() if isinstance(v, list))
        task = spec["task"]
        kind, index = str(task["type"]), int(task["index"])
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ConfigError(f"TF_CONFIG is not a TensorFlow cluster description ({err!r}): expected JSON like "
                          '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", '
                          '"index": 0}}') from err
    return {"cluster": spec["cluster"], "type": kind, "index": index} if tasks > 1 else None


def resolve_distribution(mode: str, batch_size: int) -> Distribution:
    """Set up this process's part of the training run for ``--distribute mode``.

    ``auto`` is ``multi-worker`` when ``TF_CONFIG`` describes several tasks, else ``mirrored``
    when the backend sees several local devices (GPUs; with JAX, any devices), else ``none``.
    Call it first, before TensorFlow runs any operation: ``MultiWorkerMirroredStrategy``
    must be created at start-up.

    Args:
        mode: One of :data:`DISTRIBUTE_MODES`.
        batch_size: The global batch (every replica's batches together).

    Returns:
        The :class:`Distribution`.

    Raises:
        ConfigError: A mode the backend cannot run, ``multi-worker`` without ``TF_CONFIG``, or
            a batch that cannot be split into balanced per-replica batches.
    """
    backend = keras.backend.backend()
    if mode == "auto":
        mode = "multi-worker" if cluster_spec() else ("mirrored" if _local_devices(backend, gpus_only=True) > 1
                                                      else "none")
    if mode == "none":
        return Distribution()
    if backend == "jax" and mode == "mirrored":
        dist = _jax_data_parallel()
        return dist if dist.mode == "none" else _check_batch(dist, batch_size)
    if backend != "tensorflow":
        raise ConfigError(f"--distribute {mode} needs the TensorFlow backend (KERAS_BACKEND={backend}); under JAX "
                          "use --distribute mirrored (DataParallel over this machine's devices)")
    dist = _tf_multi_worker() if mode == "multi-worker" else _tf_mirrored()
    return _check_batch(dist, batch_size)


def _check_batch(dist: Distribution, batch_size: int) -> Distribution:
    """Every replica's share of a batch must be balanced: half real, half fake, two of each at least."""
    if batch_size % (2 * dist.replicas) or batch_size // dist.replicas < 4:
        raise ConfigError(
            f"batch size {batch_size} cannot be split into balanced batches on {dist.replicas} replicas "
            f"({dist.mode}): use a multiple of {2 * dist.replicas} of at least {4 * dist.replicas}"
        )
    log.info("training with %s: %d replicas on %d worker(s); this is worker %d%s", dist.mode, dist.replicas,
             dist.workers, dist.worker, " (the chief: it writes the outputs)" if dist.chief and dist.workers > 1 else "")
    return dist


def _local_devices(backend: str, gpus_only: bool = False) -> int:
    if backend == "jax":
        import jax

        devices = jax.local_devices()
        return len([d for d in devices if d.platform == "gpu"]) if gpus_only else len(devices)
    return gpu_count() if backend == "tensorflow" else 0


def _tf_devices() -> list[str]:
    """This machine's GPUs, else its logical CPUs (one, unless configured as several)."""
    import tensorflow as tf

    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return [d.name for d in devices]


def _tf_mirrored() -> Distribution:
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(devices=_tf_devices())
    return Distribution("mirrored", strategy.num_replicas_in_sync, strategy=strategy)


def _tf_multi_worker() -> Distribution:
    spec = cluster_spec()
    if spec is None:
        raise ConfigError("--distribute multi-worker needs TF_CONFIG describing the cluster (every worker's "
                          'host:port, and this task: {"cluster": {"worker": [...]}, "task": {"type": "worker", '
                          '"index": N}})')
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    workers = sum(len(spec["cluster"].get(kind, [])) for kind in ("chief", "worker"))
    has_chief = bool(spec["cluster"].get("chief"))
    position = spec["index"] + (1 if has_chief and spec["type"] == "worker" else 0)
    chief = spec["type"] == "chief" or (not has_chief and spec["type"] == "worker" and spec["index"] == 0)
    return Distribution("multi-worker", strategy.num_replicas_in_sync, workers, position, chief, strategy=strategy)


def _jax_data_parallel() -> Distribution:
    devices = keras.distribution.list_devices()
    if len(devices) == 1:
        return Distribution()
    return Distribution("data-parallel", len(devices), keras_distribution=keras.distribution.DataParallel(devices=devices))
