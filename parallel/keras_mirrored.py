"""Keras 3's ``BatchNormalization`` (TensorFlow backend) under ``tf.distribute.MirroredStrategy`` over
two logical CPU devices, with ``synchronized=True`` and without.

The logical devices must be configured before TensorFlow initializes its devices, once per process,
so these run in the ``tf-replicas`` worker. Each replica gets its own slice (``experimental_
distribute_values_from_function``) and the step runs under ``tf.function``, as ``fit`` runs it. The
moving statistics are mirrored variables: their per-replica values are what each replica holds.
"""

from __future__ import annotations

import numpy as np

from .base import DataParallel
from .jax_pmap import LOCAL, SYNCHRONIZED

DEVICES = 2
_configured = []  # once per process: listing logical devices would initialize them first


def strategy():
    import tensorflow as tf

    if not _configured:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * DEVICES)
        _configured.append(True)
    return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(DEVICES)])


class KerasMirrored(DataParallel):
    """``keras.layers.BatchNormalization()`` (``synchronized=False``, the default)."""

    synchronized = False
    # each replica keeps its own copy of the moving statistics (a MirroredVariable's per-replica values);
    # layer.moving_mean read outside the replicas returns replica 0's
    declared = {**LOCAL, "next_step": "each replica continues its own"}

    def steps(self, steps: np.ndarray, decay: float, epsilon: float) -> list[dict[str, np.ndarray]]:
        import keras
        import tensorflow as tf

        mirrored = strategy()
        with mirrored.scope():
            layer = keras.layers.BatchNormalization(momentum=decay, epsilon=epsilon, synchronized=self.synchronized)
            layer.build((None, steps.shape[-1]))

        @tf.function
        def step(values):
            return mirrored.run(lambda batch: layer(batch, training=True), args=(values,))

        seen = []
        for batches in steps:
            values = mirrored.experimental_distribute_values_from_function(
                lambda context, b=batches: tf.constant(b[context.replica_id_in_sync_group], tf.float32))
            outputs = [np.asarray(o, np.float64) for o in mirrored.experimental_local_results(step(values))]

            def per_replica(variable):  # a plain variable has one value; a mirrored one, one per replica
                values = [np.asarray(v, np.float64) for v in mirrored.experimental_local_results(variable)]
                return np.stack(values * (DEVICES // len(values)))

            seen.append({"output": np.stack(outputs), "mean": per_replica(layer.moving_mean.value),
                         "variance": per_replica(layer.moving_variance.value)})
        return seen


class KerasMirroredSynchronized(KerasMirrored):
    """``keras.layers.BatchNormalization(synchronized=True)``: batch statistics all-reduced over the replicas."""

    synchronized = True
    declared = {**SYNCHRONIZED, "next_step": "the same on every replica"}
