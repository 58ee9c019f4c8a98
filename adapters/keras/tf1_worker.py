"""The TensorFlow 1 side of ``tensorflow-tf1``, run in its own process.

``tf.compat.v1.layers.batch_normalization`` exists in TensorFlow 2 only through ``tf_keras`` with
``TF_USE_LEGACY_KERAS=1`` set before TensorFlow is imported, and it needs graph mode
(``disable_eager_execution``), a process-wide switch. Both would change what ``tf.keras`` means
for Keras 3 in the test process, so this module runs in a child process (see ``adapters.keras.tf1``):
it reads pickled requests ``(verb, arguments)`` on stdin and answers ``("ok", value)`` or
``("error", type name, message)`` on the original stdout; anything TensorFlow prints goes to stderr.
"""

from __future__ import annotations

import os
import pickle
import sys
from collections import defaultdict

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.compat.v1.disable_eager_execution()
v1 = tf.compat.v1


class Layer:
    """One ``batch_normalization`` call in its own graph and session, as the question built it."""

    def __init__(self, native: dict, shape: list):
        self.graph = tf.Graph()
        with self.graph.as_default():
            arguments = {k: v for k, v in native.items() if k != "dtype"}
            self.x = v1.placeholder(native["dtype"], shape)
            self.training = v1.placeholder(tf.bool, [])
            self.output = v1.layers.batch_normalization(self.x, training=self.training, **arguments)
            self.update_ops = v1.get_collection(v1.GraphKeys.UPDATE_OPS)
            names = ("moving_mean", "moving_variance", "gamma", "beta")
            found = {v.name.split("/")[-1].split(":")[0]: v for v in v1.global_variables()}
            self.variables = [found.get(name) for name in names]
            self.values = [v1.placeholder(v.dtype.base_dtype, v.shape) if v is not None else None for v in self.variables]
            self.assign = [v.assign(p) for v, p in zip(self.variables, self.values) if v is not None]
            self.initializer = v1.global_variables_initializer()
            self.session = v1.Session(graph=self.graph)
            self.session.run(self.initializer)

    def reset(self) -> None:
        """Back to a freshly built layer: moving mean 0, variance 1, gamma 1, beta 0."""
        self.session.run(self.initializer)

    def train(self, batch):
        feeds = {self.x: batch.astype(self.x.dtype.as_numpy_dtype), self.training: True}
        output, *_ = self.session.run([self.output] + self.update_ops, feeds)
        return output

    def infer(self, batch):
        return self.session.run(self.output, {self.x: batch.astype(self.x.dtype.as_numpy_dtype), self.training: False})

    def read(self):
        return [self.session.run(v) if v is not None else None for v in self.variables]

    def write(self, values):
        feeds = {p: np.asarray(value, p.dtype.as_numpy_dtype) for p, value in zip(self.values, values) if p is not None}
        self.session.run(self.assign, feeds)

    def names(self):
        return [v.name.split(":")[0] if v is not None else "absent" for v in self.variables]

    def dtypes(self):
        return {"output": self.output.dtype.name, "moving": self.variables[0].dtype.base_dtype.name}


def founding_network(native, kernel, second_kernel, x, y, learning_rate):
    """The question's own graph: dense, batch_normalization, ReLU, dense, batch_normalization,
    AdamOptimizer.minimize under the UPDATE_OPS dependency, run once with training=True."""
    arguments = {k: v for k, v in native.items() if k != "dtype"}
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
    return {name: np.asarray(value, np.float64).ravel() for name, value in values.items()}


def defaults():
    """Momentum and epsilon of a legacy layer built with default arguments."""
    layer = v1.layers.BatchNormalization()
    return {"momentum": layer.momentum, "epsilon": layer.epsilon}


class Layers:
    """Every layer built in this process, by handle.

    Building a graph and its session costs ~75 ms, resetting its variables ~10 ms: a layer whose
    adapter is gone (``released``) is reset and handed out again for the same arguments and shape.
    """

    def __init__(self):
        self.all: dict[int, Layer] = {}
        self.free: dict[tuple, list[int]] = defaultdict(list)
        self.keys: dict[int, tuple] = {}

    def build(self, native: dict, shape: list, released: list[int]) -> int:
        for handle in released:
            self.free[self.keys[handle]].append(handle)
        key = (tuple(sorted(native.items())), tuple(shape))
        if self.free[key]:
            handle = self.free[key].pop()
            self.all[handle].reset()
            return handle
        handle = len(self.all)
        self.all[handle], self.keys[handle] = Layer(native, shape), key
        return handle

    def __getitem__(self, handle: int) -> Layer:
        return self.all[handle]


def serve(requests, answers) -> None:
    layers = Layers()
    while True:
        try:
            verb, arguments = pickle.load(requests)
        except EOFError:
            return
        try:
            if verb == "build":
                value = layers.build(*arguments)
            elif verb == "defaults":
                value = defaults()
            elif verb == "founding_network":
                value = founding_network(*arguments)
            else:
                handle, *rest = arguments
                value = getattr(layers[handle], verb)(*rest)
            answer = ("ok", value)
        except Exception as error:  # the framework's error travels to the test as the observation
            answer = ("error", type(error).__name__, str(error))
        pickle.dump(answer, answers)
        answers.flush()


if __name__ == "__main__":
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever TensorFlow prints goes to stderr, never into the answers
    sys.stdout = sys.stderr
    serve(sys.stdin.buffer, answers)
