"""Training under TensorFlow's distribution strategies: per-replica shards of the balanced batches and the loop.

Keras 3's ``Model.fit`` cannot run under ``MultiWorkerMirroredStrategy``: it reduces the
first distributed batch to build the model and fails (keras-team/keras#20585), and under
any strategy it would sum, not average, the replicas' gradients of a loss that is already
one scalar per batch, as the semi-hard triplet loss is. So ``--distribute mirrored`` and
``multi-worker`` run :func:`fit_distributed` instead: the same callbacks, the same
per-epoch logs, one training step per global batch —

* each replica computes the triplet loss on its own share of the batch (plus the
  regularisation), divided by the number of replicas, and the optimiser sums the
  gradients over all replicas: the mean of the replicas' losses;
* every worker builds only its replicas' shares of each balanced batch
  (:meth:`~dfembed.train.batches.BalancedBatches.replica_batch`: a slice of the
  interleaved batch, so each share is half real, half fake), in a ``tf.data`` pipeline
  fed by a batch index, so batch ``(epoch, index)`` is the same whichever worker builds it.

Embedding outside training (validation, the final SVM) runs the model on this process
alone (:func:`local_embedder`), with no collective operation, so the chief can do it while
the other workers wait or have finished.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from dfembed.train.batches import BalancedBatches
from dfembed.train.devices import Distribution

log = logging.getLogger(__name__)

_EMBEDDERS: weakref.WeakKeyDictionary[Any, Callable[[np.ndarray], np.ndarray]] = weakref.WeakKeyDictionary()


def fit_distributed(
    model: keras.Model,
    batches: BalancedBatches,
    dist: Distribution,
    epochs: int,
    initial_epoch: int,
    callbacks: Sequence[keras.callbacks.Callback],
    verbose: int = 0,
) -> None:
    """Train ``model`` for epochs ``initial_epoch..epochs`` under ``dist``'s TensorFlow strategy.

    Args:
        model: The embedding model, built and compiled in ``dist.build_scope()``.
        batches: The balanced batches of the whole run (every worker holds the same).
        dist: The TensorFlow distribution (``mirrored`` or ``multi-worker``).
        epochs: Last epoch (1-based count), as ``Model.fit``'s ``epochs``.
        initial_epoch: Epochs already done.
        callbacks: As for ``Model.fit``; they get ``loss`` per batch and per epoch.
        verbose: Show Keras's progress bar.
    """
    steps = len(batches)
    strategy = dist.strategy
    dataset = strategy.distribute_datasets_from_function(
        lambda context: replica_dataset(batches, dist, context.input_pipeline_id, initial_epoch * steps,
                                        epochs * steps))
    step = _train_step(model, strategy)
    hooks = keras.callbacks.CallbackList(list(callbacks), add_history=True, add_progbar=verbose != 0, model=model,
                                         verbose=verbose, epochs=epochs, steps=steps)
    iterator = iter(dataset)
    hooks.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        hooks.on_epoch_begin(epoch)
        losses = []
        for index in range(steps):
            hooks.on_train_batch_begin(index)
            losses.append(float(step(iterator)))
            hooks.on_train_batch_end(index, {"loss": float(np.mean(losses))})
        hooks.on_epoch_end(epoch, {"loss": float(np.mean(losses))})
    hooks.on_train_end()


def replica_dataset(batches: BalancedBatches, dist: Distribution, worker: int, first_step: int,
                    last_step: int) -> Any:
    """This worker's replicas' shares of the global batches ``first_step .. last_step - 1``, in order.

    Element ``k`` is step ``first_step + k // L``'s share of local replica ``k % L`` (``L``
    replicas on this worker), which is how a strategy hands a worker's elements to its replicas.

    Args:
        batches: The balanced batches.
        dist: The distribution (replicas, replicas per worker).
        worker: This worker's input pipeline (``InputContext.input_pipeline_id``).
        first_step: Global step to start at (``epoch × steps + index``).
        last_step: Global step to stop before.

    Returns:
        A ``tf.data.Dataset`` of ``(images, labels)`` per-replica batches.
    """
    import tensorflow as tf

    local, share = dist.replicas_per_worker, batches.batch_size // dist.replicas
    size = batches.augmenter.params.image_size

    def load(element: Any) -> tuple[np.ndarray, np.ndarray]:
        step, replica = divmod(int(element), local)
        epoch, index = divmod(first_step + step, len(batches))
        return batches.replica_batch(epoch, index, worker * local + replica, dist.replicas)

    def fix_shapes(images: Any, labels: Any) -> tuple[Any, Any]:
        return tf.ensure_shape(images, (share, size, size, 3)), tf.ensure_shape(labels, (share,))

    elements = tf.data.Dataset.range((last_step - first_step) * local)
    loaded = elements.map(lambda e: tf.numpy_function(load, [e], (tf.float32, tf.float32)),
                          num_parallel_calls=max(1, batches.threads), deterministic=True)
    return loaded.map(fix_shapes).prefetch(tf.data.AUTOTUNE)


def _train_step(model: keras.Model, strategy: Any) -> Callable[[Any], Any]:
    """One global step: every replica's loss and gradients, summed by the optimiser; the mean loss."""
    import tensorflow as tf

    loss_function, optimizer = model.loss, model.optimizer

    def replica_step(images: Any, labels: Any) -> Any:
        with tf.GradientTape() as tape:
            embeddings = model(images, training=True)
            loss = loss_function(labels, embeddings)
            if model.losses:  # the embedding layer's L2, as Model.compute_loss adds it
                loss = loss + tf.add_n([tf.cast(extra, loss.dtype) for extra in model.losses])
            scaled = optimizer.scale_loss(loss / strategy.num_replicas_in_sync)
        gradients = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply(gradients, model.trainable_variables)
        return loss

    @tf.function
    def step(iterator: Any) -> Any:
        images, labels = next(iterator)
        return strategy.reduce("MEAN", strategy.run(replica_step, args=(images, labels)), axis=None)

    return step


def local_embedder(model: keras.Model) -> Callable[[np.ndarray], np.ndarray] | None:
    """A function embedding a batch on this process alone when ``model`` lives under a strategy, else ``None``.

    Under TensorFlow's strategies ``Model.predict`` is itself distributed (collective
    operations that every worker must join); this runs the model on the local copy of its
    weights instead (the first replica's, on this worker).
    """
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    strategy = model.distribute_strategy
    if not isinstance(strategy, (tf.distribute.MirroredStrategy, tf.distribute.MultiWorkerMirroredStrategy)):
        return None
    embedder = _EMBEDDERS.get(model)
    if embedder is None:
        forward = tf.function(lambda images: model(images, training=False))
        embedder = _EMBEDDERS[model] = lambda images: np.asarray(forward(tf.constant(images)))
    return embedder
