"""Keras's ``BatchNormalization`` under ``tf.distribute.MirroredStrategy`` over two logical CPU devices,
with ``synchronized=True`` and without: Keras 3 (TensorFlow backend) and tf_keras (Keras 2).

The logical devices must be configured before TensorFlow initializes its devices, once per process,
so these run in the ``tf-replicas`` worker. Each replica gets its own slice (``experimental_
distribute_values_from_function``; slices of different sizes are allowed) and the step runs under
``tf.function``, as ``fit`` runs it. The moving statistics are mirrored variables: their per-replica
values are what each replica holds; a read of the layer's variable outside the strategy's replicas
(``np.asarray(layer.moving_mean)``, what a script saving or inspecting the model does) is the read row.
"""

from __future__ import annotations

import numpy as np

from .base import DataParallel, per_replica
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
    # the layer's variable read outside the replicas returns replica 0's
    declared = {**LOCAL, "read_outside": "replica 0's"}

    def layer(self, decay: float, epsilon: float):
        import keras

        return keras.layers.BatchNormalization(momentum=decay, epsilon=epsilon, synchronized=self.synchronized)

    @staticmethod
    def variable(variable):
        """The TensorFlow variable behind a layer's variable (Keras 3 wraps it; tf_keras's is one)."""
        return variable.value

    def steps(self, steps: list, decay: float, epsilon: float) -> list[dict]:
        import tensorflow as tf

        mirrored = strategy()
        with mirrored.scope():
            layer = self.layer(decay, epsilon)
            layer.build((None, np.shape(steps[0][0])[-1]))

        @tf.function
        def step(values, training):
            return mirrored.run(lambda batch: layer(batch, training=training), args=(values,))

        def distributed(batches):
            return mirrored.experimental_distribute_values_from_function(
                lambda context: tf.constant(batches[context.replica_id_in_sync_group], tf.float32))

        def each_replica(variable):  # a plain variable has one value; a mirrored one, one per replica
            values = mirrored.experimental_local_results(self.variable(variable))
            return per_replica(values * (DEVICES // len(values)))

        seen = []
        for batches in steps:
            outputs = [np.asarray(o, np.float64) for o in mirrored.experimental_local_results(step(distributed(batches), True))]
            inference = mirrored.experimental_local_results(step(distributed([batches[0]] * DEVICES), False))
            seen.append({"output": outputs, "mean": each_replica(layer.moving_mean), "variance": each_replica(layer.moving_variance),
                         "read": {"mean": np.asarray(layer.moving_mean, np.float64),
                                  "variance": np.asarray(layer.moving_variance, np.float64)},
                         "inference": per_replica(inference)})
        return seen


class KerasMirroredSynchronized(KerasMirrored):
    """``keras.layers.BatchNormalization(synchronized=True)``: the batch's sums and counts all-reduced over
    the replicas (keras/src/backend/tensorflow/nn.py, ``_compute_moments_sync``)."""

    synchronized = True
    declared = {**SYNCHRONIZED, "read_outside": "the value every replica holds", "uneven_replicas": "weighted by count"}


class TfKerasMirrored(KerasMirrored):
    """``tf_keras.layers.BatchNormalization()`` (Keras 2; ``synchronized=False``, the default). Its moving
    statistics are created ``ON_READ`` with ``MEAN`` aggregation, so a read outside the replicas
    averages them (Keras 3 returns replica 0's)."""

    declared = {**KerasMirrored.declared, "read_outside": "the mean over replicas"}

    def layer(self, decay: float, epsilon: float):
        import tf_keras

        return tf_keras.layers.BatchNormalization(momentum=decay, epsilon=epsilon, synchronized=self.synchronized)

    @staticmethod
    def variable(variable):
        return variable


class TfKerasMirroredSynchronized(TfKerasMirrored):
    """``tf_keras.layers.BatchNormalization(synchronized=True)``: sums and counts all-reduced
    (tf_keras/src/layers/normalization/batch_normalization.py, ``_calculate_mean_and_var``)."""

    synchronized = True
    declared = KerasMirroredSynchronized.declared
