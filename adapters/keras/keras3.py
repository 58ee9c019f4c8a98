"""Keras 3 ``keras.layers.BatchNormalization``, on each of its backends.

Keras's ``momentum=m`` weighs the *old* value: ``moving = m * moving + (1 - m) * batch``, so the
neutral decay is passed through unchanged. Keras 3 feeds the biased batch variance to the moving
average on every input rank (unlike tf_keras's fused path), and its default epsilon is 1e-3
(``keras/src/layers/normalization/batch_normalization.py``). The layer's code is the same on
every backend; the arithmetic under it is the backend's (``keras/src/backend/<backend>/nn.py``,
``moments``), which is why each backend is a column of its own.

Native arguments that change what happens to the moving statistics and are not cases of the
suites: ``synchronized=True`` (TensorFlow backend only; the others refuse it at construction)
takes the batch statistics across replicas under ``tf.distribute``, which only a data-parallel run
can show; ``renorm=True`` (batch renormalization) corrects training outputs towards the moving
statistics, a different layer that no other framework here offers.

Keras 3 reads its backend (``KERAS_BACKEND``) once, at import, for the whole process: the
TensorFlow backend runs in the test process, the JAX and PyTorch backends in worker processes
(``adapters/worker.py``), so this module imports Keras only when a layer is built.
"""

from __future__ import annotations

import functools
import os
from dataclasses import replace

import numpy as np

from ..base import Adapter, State, dtype_name
from ..conventions import BeyondRange, HalfPrecision
from ..imports import KERAS_UNUSED, TENSORFLOW_KERAS_UNUSED, hidden
from .arguments import TF_KERAS, KerasArguments


@functools.cache
def keras_on(backend: str):
    """``keras``, imported with ``backend``; an error if this process imported it with another."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["KERAS_BACKEND"] = backend
    with hidden(*(TENSORFLOW_KERAS_UNUSED if backend == "tensorflow" else KERAS_UNUSED)):
        import keras

    if keras.backend.backend() != backend:
        raise RuntimeError(
            f"keras was imported with the {keras.backend.backend()!r} backend before bnparity could choose "
            f"{backend!r}; run it in a process that has not imported keras yet (adapters/worker.py)"
        )
    return keras


class Keras3BatchNorm(KerasArguments, Adapter):
    # tf_keras's conventions, but half-precision moving statistics are kept in the half dtype
    declared = replace(
        TF_KERAS, half_precision=HalfPrecision.moving_in("input"),
        float64_momentum="float64",
        half_precision_range=BeyondRange(outputs="±1", stores="inf"),
    )

    #: The backend Keras runs on, chosen for the whole process that imports it.
    backend = "tensorflow"

    @property
    def keras(self):
        return keras_on(self.backend)

    def native_defaults(self) -> dict:
        default = self.keras.layers.BatchNormalization()
        return {"momentum": default.momentum, "epsilon": default.epsilon}

    def _build(self) -> None:
        self.layer = self.keras.layers.BatchNormalization(**self.native)
        shape = [None] * self.spec.ndim
        shape[self.spec.channel_axis] = self.spec.num_features
        self.layer.build(tuple(shape))

    def _run(self, batch: np.ndarray, training: bool) -> np.ndarray:
        ops = self.keras.ops
        return ops.convert_to_numpy(self.layer(ops.convert_to_tensor(batch, dtype=self.spec.dtype), training=training))

    def native_state_names(self) -> tuple:
        layer = self.layer
        weights = (layer.moving_mean, layer.moving_variance, layer.gamma, layer.beta)
        return tuple(w.name if w is not None else "absent" for w in weights)

    def moving_dtype(self) -> str:
        return dtype_name(self.layer.moving_mean.dtype)

    def _founding_network(self, kernel, second_kernel, x, y, learning_rate) -> dict:
        return keras_founding_network(self.keras, self.native, self.native_ndim, kernel, second_kernel, x, y, learning_rate)

    def _train(self, batch: np.ndarray) -> np.ndarray:
        return self._run(batch, training=True)

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        return self._run(batch, training=False)

    def _weight_list(self) -> list[str]:
        """``layer.weights``, the order of ``get_weights()`` and ``set_weights()``."""
        return [w.name for w in self.layer.weights]

    def _read(self) -> tuple:
        layer, c = self.layer, self.spec.num_features
        numpy = self.keras.ops.convert_to_numpy
        gamma = numpy(layer.gamma) if layer.scale else np.ones(c)
        beta = numpy(layer.beta) if layer.center else np.zeros(c)
        return numpy(layer.moving_mean), numpy(layer.moving_variance), gamma, beta

    def _write(self, state: State) -> None:
        layer = self.layer
        pairs = [(layer.moving_mean, state.mean), (layer.moving_variance, state.variance)]
        pairs += [(layer.gamma, state.gamma)] if layer.scale else []
        pairs += [(layer.beta, state.beta)] if layer.center else []
        for variable, value in pairs:
            variable.assign(self.keras.ops.cast(value, dtype_name(variable.dtype)))


def keras_founding_network(module, native, native_ndim, kernel, second_kernel, x, y, learning_rate) -> dict:
    """The founding question's network as a Keras model (Keras 3 on any backend, or tf_keras:
    ``module``), trained one step by ``train_on_batch``, the step Keras's own ``fit`` runs (compiled
    as the backend compiles it), with ``Adam(epsilon=1e-8)`` and the mean squared error.

    A layer that wants 4-D batches (the fused kernel) gets (N, 1, 1, 1) and hands back (N, 1).
    """
    layers = module.layers
    arguments = {k: v for k, v in native.items() if k != "dtype"}
    dense_1 = layers.Dense(1, use_bias=False, kernel_initializer=module.initializers.Constant(kernel))
    dense_2 = layers.Dense(1, use_bias=False, kernel_initializer=module.initializers.Constant(second_kernel))
    bn_1, bn_2 = layers.BatchNormalization(**arguments), layers.BatchNormalization(**arguments)
    lift = (1,) * ((native_ndim or 2) - 2)

    def through(layer, h, **call):
        return layers.Reshape((1,))(layer(layers.Reshape((1,) + lift)(h), **call)) if lift else layer(h, **call)

    inputs = module.Input((1,))
    hidden = through(bn_1, dense_1(inputs))
    model = module.Model(inputs, through(bn_2, dense_2(layers.ReLU()(hidden))))
    model.compile(optimizer=module.optimizers.Adam(learning_rate=learning_rate, epsilon=1e-8), loss="mean_squared_error")
    x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
    model.train_on_batch(x, y)
    numpy = module.ops.convert_to_numpy if hasattr(module, "ops") else np.asarray  # tf_keras has no ops
    values = {
        "kernel": dense_1.kernel, "moving_mean": bn_1.moving_mean, "moving_variance": bn_1.moving_variance,
        "gamma": bn_1.gamma, "beta": bn_1.beta, "bn_1": module.Model(inputs, hidden)(x, training=False),
    }
    return {name: numpy(value) for name, value in values.items()}


class Keras3JaxBatchNorm(Keras3BatchNorm):
    """The same layer with ``KERAS_BACKEND=jax``, in a worker process, its calls inside ``jax.jit``.

    Keras's own JAX trainer (``keras/src/backend/jax/trainer.py``) runs a model's step as one
    jitted function of its variables (``stateless_call``); so does this adapter, with one jitted
    call per layer configuration, training flag, shape and dtype, shared by every layer of that
    configuration. Momentum and epsilon are plain attributes the layer reads when it is called,
    so they are handed in as traced values and a new decay does not compile again. ``eager()``
    runs the same calls under ``jax.disable_jit``.

    float64 needs ``jax_enable_x64``, a process-wide switch, as for the other JAX adapters: without
    it Keras builds a float64 layer whose variables and arithmetic are float32 (measured by the
    property suite: a float64 moving mean off by 2e-8 relative, a constant channel normalized to
    3e-5 instead of 0), so bnparity refuses float64 here rather than report float32 numbers as it.
    """

    backend = "jax"
    declared = replace(Keras3BatchNorm.declared, float64_momentum="no float64")
    dtypes = ("float16", "bfloat16", "float32")  # float64 needs jax_enable_x64, a process-wide switch

    def eager(self):
        import jax

        return jax.disable_jit()

    def _run(self, batch: np.ndarray, training: bool) -> np.ndarray:
        layer, ops = self.layer, self.keras.ops
        call = jitted_call(layer, self.spec.ndim, training)
        outputs, non_trainable = call(
            [v.value for v in layer.trainable_variables], [v.value for v in layer.non_trainable_variables],
            ops.convert_to_tensor(batch, dtype=self.spec.dtype), self.native["momentum"], self.native["epsilon"],
        )
        for variable, value in zip(layer.non_trainable_variables, non_trainable):
            variable.assign(value)
        return ops.convert_to_numpy(outputs)


#: (configuration less momentum and epsilon, variable shapes, batch rank, training) -> a jitted
#: stateless call of a layer built so.
JITTED: dict[tuple, object] = {}


def jitted_call(layer, ndim: int, training: bool):
    """The jitted ``stateless_call`` for ``layer``'s configuration, momentum and epsilon traced. The
    batch rank is part of it: the layer fixes its reduction axes when it is built for a rank."""
    import jax

    config = layer.get_config()
    key = (tuple(sorted((k, repr(v)) for k, v in config.items() if k not in ("name", "momentum", "epsilon"))),
           tuple(tuple(v.shape) for v in layer.variables), ndim, training)
    if key not in JITTED:
        template = layer  # its structure only: the values come in as arguments

        def call(trainable, non_trainable, x, momentum, epsilon):
            own = template.momentum, template.epsilon
            template.momentum, template.epsilon = momentum, epsilon
            try:
                return template.stateless_call(trainable, non_trainable, x, training=training)
            finally:
                template.momentum, template.epsilon = own

        JITTED[key] = jax.jit(call)
    return JITTED[key]


class Keras3TorchBatchNorm(Keras3BatchNorm):
    """The same layer with ``KERAS_BACKEND=torch``, in a worker process.

    Its ``moments`` (``keras/src/backend/torch/nn.py``) computes the variance as E[x^2] - E[x]^2,
    "faster" says its comment, where the TensorFlow and JAX backends take the two-pass variance:
    the same model loses digits of its moving variance on data whose mean is large against its
    spread only when it runs on PyTorch.
    """

    backend = "torch"
    # float64: the moving statistics come back float64 but hold float32 values (measured by the
    # float64_momentum probe: 1.7599999904632568 for 1.76, the whole update in float32)
    declared = replace(Keras3BatchNorm.declared, one_pass_variance=True, float64_momentum="update in float32")
