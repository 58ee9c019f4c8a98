"""Training a BatchNorm through a compiler, in every framework's own way, side by side with the same
path run eagerly: torch.compile, Keras's fit (jit_compile "auto", and True), tf.function(jit_compile=True)
around tf_keras and Sonnet layers (``suites/compiled_checks.py`` says what is compared).
"""

from __future__ import annotations

import warnings

import numpy as np

from .base import Compiled, CompiledRun, numpy

# --- PyTorch: torch.compile with its default backend (inductor: C++ kernels built with the system's
# compiler), the eager twin the module itself


class TorchCompile(Compiled):
    floor = ("import torch\nlayer = torch.compile(torch.nn.BatchNorm1d(4))\nlayer(torch.from_numpy(x))\n"
             "layer.eval()\nlayer(torch.from_numpy(x))\n")
    declared = {"mode": "torch.compile (inductor)", "one_step": "as eager and the reference", "fifty_steps": "as eager and the reference",
                "large_mean": "as eager", "inference": "as eager",
                # momentum=None divides by num_batches_tracked.item(), a data-dependent value a whole graph cannot hold
                "cumulative": "refuses (UserError: Could not guard on data-dependent expression "
                              "FloatTrueDiv(1.0, ToFloat(u0)) (unhinted: FloatTrueDiv(1.0, ToFloat(u0))).  (Size-like symbols: none))"}

    def _module(self, channels: int, momentum, epsilon: float, compiled: bool, **options):
        import torch

        layer = torch.nn.BatchNorm1d(channels, momentum=momentum, eps=epsilon)
        return layer, (torch.compile(layer, **options) if compiled else layer)

    def train(self, batches, decay, epsilon, compiled):
        import torch

        layer, step = self._module(batches[0].shape[1], 1.0 - decay, epsilon, compiled)
        moving = []
        with torch.no_grad():
            for batch in batches:
                step(torch.from_numpy(batch))
                moving.append((numpy(layer.running_mean), numpy(layer.running_var)))
            layer.eval()
            inference = numpy(step(torch.from_numpy(batches[0])))
        return CompiledRun("torch.compile (inductor)" if compiled else "eager", moving[0], moving[-1], inference)

    def stored_variance(self, batch, epsilon, compiled):
        import torch

        layer, step = self._module(batch.shape[1], 1.0, epsilon, compiled)
        with torch.no_grad():
            step(torch.from_numpy(batch))
        return numpy(layer.running_var)

    def cumulative(self, batches, epsilon, compiled):
        """``momentum=None`` under ``fullgraph=True``: a graph break is not allowed."""
        import torch

        layer, step = self._module(batches[0].shape[1], None, epsilon, compiled, fullgraph=True)
        with torch.no_grad():
            for batch in batches:
                step(torch.from_numpy(batch))
        return numpy(layer.running_mean)


# --- Keras: model.fit, whose train step is compiled as the backend compiles (tf.function, XLA where
# jit_compile resolves to True, jax.jit, or eager PyTorch); the eager twin is fit with run_eagerly=True


def _keras_fit(jit_compile) -> str:
    return ("import keras\ni = keras.Input(shape=(4,))\nm = keras.Model(i, keras.layers.BatchNormalization()(i))\n"
            f"m.compile(optimizer='sgd', loss='mse', jit_compile={jit_compile!r})\nm.fit(x, x, batch_size=8, verbose=0)\n"
            "m.predict(x, verbose=0)\n")


class KerasFit(Compiled):
    jit_compile = "auto"
    no_cumulative = "none: Keras keeps an exponential moving average only"
    floor = _keras_fit("auto")

    def _model(self, keras, channels: int, decay: float, epsilon: float, compiled: bool):
        layer = keras.layers.BatchNormalization(momentum=decay, epsilon=epsilon)
        inputs = keras.Input(shape=(channels,))
        model = keras.Model(inputs, layer(inputs))
        options = {"jit_compile": self.jit_compile} if compiled else {"run_eagerly": True}
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=lambda t, y: keras.ops.mean(y * t), **options)
        return layer, model

    def _fit(self, model, batches):
        data = np.concatenate(batches)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*jit_compile.*")
            model.fit(data, np.ones_like(data), batch_size=len(batches[0]), epochs=1, shuffle=False, verbose=0)

    def train(self, batches, decay, epsilon, compiled):
        import keras

        layer, model = self._model(keras, batches[0].shape[1], decay, epsilon, compiled)

        def moving():
            return numpy(keras.ops.convert_to_numpy(layer.moving_mean)), numpy(keras.ops.convert_to_numpy(layer.moving_variance))

        self._fit(model, batches[:1])
        first = moving()
        self._fit(model, batches[1:])
        inference = numpy(model.predict(batches[0], batch_size=len(batches[0]), verbose=0))
        mode = f"fit, jit_compile={self.jit_compile!r} resolved to {model.jit_compile!r}" if compiled else "fit, run_eagerly=True"
        return CompiledRun(mode, first, moving(), inference)

    def stored_variance(self, batch, epsilon, compiled):
        import keras

        layer, model = self._model(keras, batch.shape[1], 0.0, epsilon, compiled)
        self._fit(model, [batch])
        return numpy(keras.ops.convert_to_numpy(layer.moving_variance))


#: What every compiler path measured here does: the eager path's numbers, within float32's tolerance.
AS_EAGER = {"one_step": "as eager and the reference", "fifty_steps": "as eager and the reference", "large_mean": "as eager",
            "inference": "as eager"}
KERAS_CUMULATIVE = {"cumulative": KerasFit.no_cumulative}


class KerasFitTensorflow(KerasFit):
    """``fit`` on the TensorFlow backend: "auto" resolves to no XLA on this CPU (a tf.function only)."""

    declared = {"mode": "fit, jit_compile='auto' resolved to False", **AS_EAGER, **KERAS_CUMULATIVE}


class KerasFitXla(KerasFit):
    jit_compile = True
    floor = _keras_fit(True)
    declared = {"mode": "fit, jit_compile=True resolved to True", **AS_EAGER, **KERAS_CUMULATIVE}


class KerasFitJax(KerasFit):
    """``fit`` on the JAX backend: "auto" resolves to jax.jit."""

    declared = {"mode": "fit, jit_compile='auto' resolved to True", **AS_EAGER, **KERAS_CUMULATIVE}


class KerasFitTorch(KerasFit):
    """``fit`` on the PyTorch backend: "auto" resolves to eager PyTorch (no torch.compile)."""

    declared = {"mode": "fit, jit_compile='auto' resolved to False", **AS_EAGER, **KERAS_CUMULATIVE}


class KerasFitTorchCompile(KerasFit):
    """``fit(jit_compile=True)`` on the PyTorch backend: the train step through torch.compile."""

    jit_compile = True
    floor = _keras_fit(True)
    declared = {"mode": "fit, jit_compile=True resolved to True", **AS_EAGER, **KERAS_CUMULATIVE}


# --- tf.function(jit_compile=True) around a layer's training call: tf_keras's and Sonnet's


class TfFunctionXla(Compiled):
    no_cumulative = ""
    floor = ("import tensorflow as tf, tf_keras\nlayer = tf_keras.layers.BatchNormalization()\n"
             "tf.function(lambda v: layer(v, training=True), jit_compile=True)(x)\n")

    def _layer(self, decay: float, epsilon: float):
        import tf_keras

        return tf_keras.layers.BatchNormalization(momentum=decay, epsilon=epsilon)

    def _call(self, layer, x, training: bool):
        return layer(x, training=training)

    def _moving(self, layer):
        return numpy(layer.moving_mean), numpy(layer.moving_variance)

    def _steps(self, decay, epsilon, compiled):
        import tensorflow as tf

        layer = self._layer(decay, epsilon)
        train = lambda v: self._call(layer, v, True)  # noqa: E731 (the function tf.function wraps)
        infer = lambda v: self._call(layer, v, False)  # noqa: E731
        if compiled:
            train, infer = tf.function(train, jit_compile=True), tf.function(infer, jit_compile=True)
        return layer, train, infer

    def train(self, batches, decay, epsilon, compiled):
        import tensorflow as tf

        layer, train, infer = self._steps(decay, epsilon, compiled)
        moving = []
        for batch in batches:
            train(tf.constant(batch))
            moving.append(self._moving(layer))
        mode = "tf.function(jit_compile=True)" if compiled else "eager"
        return CompiledRun(mode, moving[0], moving[-1], numpy(infer(tf.constant(batches[0]))))

    def stored_variance(self, batch, epsilon, compiled):
        import tensorflow as tf

        layer, train, _ = self._steps(0.0, epsilon, compiled)
        train(tf.constant(batch))
        return self._moving(layer)[1]


class TfKerasXla(TfFunctionXla):
    no_cumulative = "none: tf_keras keeps an exponential moving average only"
    declared = {"mode": "tf.function(jit_compile=True)", **AS_EAGER, "cumulative": no_cumulative}


class SonnetXla(TfFunctionXla):
    no_cumulative = "none: snt.BatchNorm keeps an exponential moving average only"
    declared = {"mode": "tf.function(jit_compile=True)", **AS_EAGER, "cumulative": no_cumulative}
    floor = ("import tensorflow as tf, sonnet as snt\nlayer = snt.BatchNorm(True, True)\n"
             "tf.function(lambda v: layer(v, is_training=True), jit_compile=True)(x)\n")

    def _layer(self, decay, epsilon):
        import sonnet as snt

        return snt.BatchNorm(create_scale=True, create_offset=True, decay_rate=decay, eps=epsilon)

    def _call(self, layer, x, training):
        return layer(x, is_training=training)

    def _moving(self, layer):
        return numpy(layer.moving_mean.value), numpy(layer.moving_variance.value)


# --- TensorFlow 1: a graph and a session, compiled by XLA where the graph asks (jit_scope) or the
# session does (global_jit_level); what ran is read from the step's trace


class Tf1Xla(Compiled):
    no_cumulative = "none: tf.compat.v1.layers keeps an exponential moving average only"
    #: "jit_scope" (tf.xla.experimental.jit_scope around the layer) or "global_jit_level" (the session's ON_1)
    how = "jit_scope"
    floor = ("import tensorflow as tf\nv1 = tf.compat.v1\nwith tf.Graph().as_default():\n"
             "    with tf.xla.experimental.jit_scope():\n        y = v1.layers.batch_normalization(v1.constant(x), training=True)\n"
             "    with v1.Session() as s:\n        s.run(v1.global_variables_initializer())\n"
             "        s.run([y] + v1.get_collection(v1.GraphKeys.UPDATE_OPS))\n")

    def _session(self, decay: float, epsilon: float, channels: int, compiled: bool):
        import contextlib

        from adapters.keras.tf1 import tf1

        tf = tf1()
        v1 = tf.compat.v1
        graph = tf.Graph()
        with graph.as_default():
            x = v1.placeholder(tf.float32, [None, channels])
            training = v1.placeholder(tf.bool, [])
            scope = tf.xla.experimental.jit_scope() if compiled and self.how == "jit_scope" else contextlib.nullcontext()
            with scope:
                output = v1.layers.batch_normalization(x, momentum=decay, epsilon=epsilon, training=training)
            updates = v1.get_collection(v1.GraphKeys.UPDATE_OPS)
            found = {v.name.split("/")[-1].split(":")[0]: v for v in v1.global_variables()}
            config = v1.ConfigProto()
            if compiled and self.how == "global_jit_level":
                config.graph_options.optimizer_options.global_jit_level = v1.OptimizerOptions.ON_1
            session = v1.Session(graph=graph, config=config)
            session.run(v1.global_variables_initializer())
        return v1, session, x, training, output, updates, (found["moving_mean"], found["moving_variance"])

    def _step(self, v1, session, fetches, feed) -> str:
        """One run of ``fetches``, traced: the XLA nodes that ran, by kind."""
        metadata = v1.RunMetadata()
        session.run(fetches, feed, options=v1.RunOptions(trace_level=v1.RunOptions.FULL_TRACE), run_metadata=metadata)
        names = {stat.node_name.split(":")[0] for device in metadata.step_stats.dev_stats for stat in device.node_stats}
        kinds = sorted({name.rsplit("/", 1)[-1] for name in names if name.rsplit("/", 1)[-1] in ("xla_compile", "xla_run")})
        return f"XLA clusters ran ({', '.join(kinds)})" if kinds else "no XLA cluster ran"

    def train(self, batches, decay, epsilon, compiled):
        v1, session, x, training, output, updates, moving = self._session(decay, epsilon, batches[0].shape[1], compiled)
        with session:
            seen, ran = [], []
            for batch in batches:
                ran.append(self._step(v1, session, [output, *updates], {x: batch, training: True}))
                seen.append(tuple(numpy(value) for value in session.run(moving)))
            inference = numpy(session.run(output, {x: batches[0], training: False}))
        how = {"jit_scope": "jit_scope", "global_jit_level": "global_jit_level=ON_1"}[self.how]
        return CompiledRun(f"{how}: {ran[0]}" if compiled else "graph session", seen[0], seen[-1], inference)

    def stored_variance(self, batch, epsilon, compiled):
        v1, session, x, training, output, updates, moving = self._session(0.0, epsilon, batch.shape[1], compiled)
        with session:
            session.run([output, *updates], {x: batch, training: True})
            return numpy(session.run(moving[1]))


class Tf1JitScope(Tf1Xla):
    declared = {"mode": "jit_scope: XLA clusters ran (xla_compile, xla_run)", **AS_EAGER, "cumulative": Tf1Xla.no_cumulative}


class Tf1GlobalJitLevel(Tf1Xla):
    """The session's ``global_jit_level = ON_1``: on CPU, XLA's auto-clustering needs a flag of its own
    (``TF_XLA_FLAGS=--tf_xla_cpu_global_jit``), so nothing is compiled."""

    how = "global_jit_level"
    floor = ""
    declared = {"mode": "global_jit_level=ON_1: no XLA cluster ran", **AS_EAGER, "cumulative": Tf1Xla.no_cumulative}
