"""TensorFlow 1's ``tf.compat.v1.layers.batch_normalization``, the founding question's own API.

The layer runs in graph mode with a Session and the ``UPDATE_OPS`` collection. In TensorFlow 2 it
exists only through ``tf_keras`` with ``TF_USE_LEGACY_KERAS=1`` set before TensorFlow is imported,
and it needs eager execution turned off, a process-wide switch; both would change what ``tf.keras``
means for Keras 3 in the test process, so the registry runs this adapter in a worker process
(kind ``tensorflow1``, ``adapters/worker.py``) and this module imports TensorFlow only when a verb
runs there. Momentum weighs the old value, the default epsilon is 1e-3, and the moving variance
is the biased one on 2-D and 3-D input; a 4-D batch takes the fused kernel, which stores the
unbiased one.
"""

from __future__ import annotations

import functools
import os
import weakref
from collections import defaultdict

import numpy as np

from ..base import Adapter, State
from .arguments import TF_KERAS, KerasArguments

NAMES = ("moving_mean", "moving_variance", "gamma", "beta")


@functools.cache
def tf1():
    """``tensorflow`` in graph mode, in the worker process whose environment chose the legacy Keras."""
    if os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        raise RuntimeError("tensorflow-tf1 runs in its worker process (adapters/worker.py, kind 'tensorflow1'), "
                           "which sets TF_USE_LEGACY_KERAS=1 before TensorFlow is imported")
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    return tf


class Graph:
    """One ``batch_normalization`` call in its own graph and session, as the question built it."""

    def __init__(self, native: dict, shape: list):
        tf = tf1()
        v1 = tf.compat.v1
        self.graph = tf.Graph()
        with self.graph.as_default():
            arguments = {k: v for k, v in native.items() if k != "dtype"}
            self.x = v1.placeholder(native["dtype"], shape)
            self.training = v1.placeholder(tf.bool, [])
            self.output = v1.layers.batch_normalization(self.x, training=self.training, **arguments)
            self.update_ops = v1.get_collection(v1.GraphKeys.UPDATE_OPS)
            found = {v.name.split("/")[-1].split(":")[0]: v for v in v1.global_variables()}
            self.global_order = list(found)  # the graph's global variables, in the order it lists them
            self.variables = [found.get(name) for name in NAMES]
            self.values = [v1.placeholder(v.dtype.base_dtype, v.shape) if v is not None else None for v in self.variables]
            self.assign = [v.assign(p) for v, p in zip(self.variables, self.values) if v is not None]
            self.initializer = v1.global_variables_initializer()
            self.session = v1.Session(graph=self.graph)
            self.session.run(self.initializer)


#: Graphs whose adapters are gone, by arguments and shape: resetting a graph's variables costs a fraction
#: of building it and its session, so a released graph is reset and handed out again.
FREE: dict[tuple, list[Graph]] = defaultdict(list)


class Tf1BatchNorm(KerasArguments, Adapter):
    declared = TF_KERAS
    framework_name = "TensorFlow 1"

    def native_defaults(self) -> dict:
        layer = tf1().compat.v1.layers.BatchNormalization()
        return {"momentum": layer.momentum, "epsilon": layer.epsilon}

    def native_state_names(self) -> tuple:
        # "batch_normalization/moving_mean:0" -> "moving_mean", the key a checkpoint ends in
        return tuple(v.name.split(":")[0].split("/")[-1] if v is not None else "absent" for v in self.g.variables)

    def native_dtypes(self) -> dict:
        return {"output": self.g.output.dtype.name, "moving": self.moving_dtype()}

    def _weight_list(self) -> list[str]:
        """The graph's global variables, as ``tf.compat.v1.global_variables()`` (and a Saver) list them."""
        return self.g.global_order

    def moving_dtype(self) -> str:
        return self.g.variables[0].dtype.base_dtype.name

    def _build(self) -> None:
        shape = [None] * self.spec.ndim  # any batch size and spatial size, the channel count fixed
        shape[self.spec.channel_axis] = self.spec.num_features
        key = (tuple(sorted(self.native.items())), tuple(shape))
        if FREE[key]:
            self.g = FREE[key].pop()
            self.g.session.run(self.g.initializer)
        else:
            self.g = Graph(self.native, shape)
        weakref.finalize(self, FREE[key].append, self.g)

    def _train(self, batch: np.ndarray):
        g = self.g
        output, *_ = g.session.run([g.output] + g.update_ops, {g.x: batch.astype(g.x.dtype.as_numpy_dtype), g.training: True})
        return output

    def _infer(self, batch: np.ndarray):
        g = self.g
        return g.session.run(g.output, {g.x: batch.astype(g.x.dtype.as_numpy_dtype), g.training: False})

    def _read(self) -> tuple:
        c = self.spec.num_features
        mean, variance, gamma, beta = (self.g.session.run(v) if v is not None else None for v in self.g.variables)
        return mean, variance, np.ones(c) if gamma is None else gamma, np.zeros(c) if beta is None else beta

    def _write(self, state: State) -> None:
        g = self.g
        feeds = {p: np.asarray(value, p.dtype.as_numpy_dtype) for p, value in zip(g.values, state) if p is not None}
        g.session.run(g.assign, feeds)

    def _founding_network(self, kernel, second_kernel, x, y, learning_rate) -> dict:
        """The question's own graph: dense, batch_normalization, ReLU, dense, batch_normalization,
        AdamOptimizer.minimize under the UPDATE_OPS dependency, run once with training=True."""
        tf = tf1()
        v1 = tf.compat.v1
        arguments = {k: v for k, v in self.native.items() if k != "dtype"}
        graph = tf.Graph()
        with graph.as_default():
            inputs = v1.placeholder(tf.float32, [None, 1])
            targets = v1.placeholder(tf.float32, [None, 1])
            training = v1.placeholder(tf.bool, [])
            hidden_1 = v1.layers.dense(inputs, 1, use_bias=False, kernel_initializer=v1.constant_initializer(kernel))
            bn_1 = v1.layers.batch_normalization(hidden_1, training=training, **arguments)
            predx = v1.layers.dense(tf.nn.relu(bn_1), 1, use_bias=False, kernel_initializer=v1.constant_initializer(second_kernel))
            pred = v1.layers.batch_normalization(predx, training=training, **arguments)
            loss = tf.reduce_mean(tf.square(pred - targets))
            with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
                step = v1.train.AdamOptimizer(learning_rate=learning_rate).minimize(loss)
            names = {"kernel": "dense/kernel", "moving_mean": "batch_normalization/moving_mean",
                     "moving_variance": "batch_normalization/moving_variance",
                     "gamma": "batch_normalization/gamma", "beta": "batch_normalization/beta"}
            found = {v.name.split(":")[0]: v for v in v1.global_variables()}
            with v1.Session(graph=graph) as session:
                session.run(v1.global_variables_initializer())
                session.run(step, {inputs: x, targets: y, training: True})
                values = session.run({name: found[key] for name, key in names.items()})
                values["bn_1"] = session.run(bn_1, {inputs: x, training: False})
        return values
