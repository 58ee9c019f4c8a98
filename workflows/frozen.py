"""Freezing a BatchNorm for fine-tuning, in every framework's own way, side by side: which statistics
normalize a training batch, whether the moving statistics still move, whether gamma and beta still
learn, and what a parent's training switch does to the frozen layer (``suites/frozen_checks.py``).

Each class builds a fresh layer, freezes it by one mechanism and takes one step of its framework's
own training API (plain SGD on mean(output * target)); where the framework has a parent's training
switch, it turns the switch on, as a training loop does at each epoch, and takes a second step.
"""

from __future__ import annotations

import warnings

import numpy as np

from .base import BATCH_STATISTICS, MOVING_STATISTICS, FineTuningStep, Frozen, Statistics, after_switch, fine_tuning

# --- PyTorch: eval() chooses the statistics, requires_grad_ the parameters; Module.train() on a
# parent sets every child back to training


class TorchFrozen(Frozen):
    parent_switch = "model.train() at the next epoch"
    floor = ("import torch\nlayer = torch.nn.BatchNorm1d(4)\noptimizer = torch.optim.SGD(layer.parameters(), lr=0.5)\n"
             "layer(torch.from_numpy(x)).mean().backward()\noptimizer.step()\n")
    evaluate = False  # bn.eval()
    no_gradient = False  # bn.requires_grad_(False)

    def fine_tune(self, batch, target, learning_rate, decay, epsilon):
        import torch

        layer = torch.nn.BatchNorm1d(batch.shape[1], momentum=1.0 - decay, eps=epsilon)
        model = torch.nn.Sequential(layer)
        model.train()
        if self.evaluate:
            layer.eval()
        if self.no_gradient:
            layer.requires_grad_(False)
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(trainable, lr=learning_rate) if trainable else None
        x, t = torch.from_numpy(batch), torch.from_numpy(target)

        def state():
            return Statistics.of(layer.running_mean, layer.running_var, layer.weight, layer.bias)

        def step():
            before = state()
            output = model(x)
            if optimizer is not None:
                optimizer.zero_grad()
                (output * t).mean().backward()
                optimizer.step()
            return FineTuningStep(output.detach().numpy().astype(np.float64), before, state())

        first = step()
        model.train()
        return [first, step()]


class TorchEval(TorchFrozen):
    """``bn.eval()``: the moving statistics, while gamma and beta still learn."""

    evaluate = True
    declared = fine_tuning(MOVING_STATISTICS, "unchanged", "trained", after_switch("unfreezes it", BATCH_STATISTICS, "updated", "trained"))


class TorchRequiresGradFalse(TorchFrozen):
    """``bn.requires_grad_(False)``: gamma and beta stay, while the layer still trains its statistics."""

    no_gradient = True
    declared = fine_tuning(BATCH_STATISTICS, "updated", "unchanged", after_switch("changes nothing", BATCH_STATISTICS, "updated", "unchanged"))


class TorchEvalRequiresGradFalse(TorchFrozen):
    """Both: a fully frozen layer, until the parent's train() switches its statistics back."""

    evaluate = no_gradient = True
    declared = fine_tuning(MOVING_STATISTICS, "unchanged", "unchanged", after_switch("unfreezes it", BATCH_STATISTICS, "updated", "unchanged"))


# --- Keras (3 on each backend, and tf_keras): trainable = False puts a BatchNorm in inference mode;
# Keras's transfer-learning guide (keras.io/guides/transfer_learning) freezes a base model, calls it
# with training=False so that its BatchNorm stays in inference mode once unfrozen, and unfreezes it
# with base_model.trainable = True: the parent's switch


def _keras_fit(package: str) -> str:
    """One step of ``fit`` on a model holding a BatchNorm: what compiling a train function costs."""
    return (f"import {package} as k\ni = k.Input(shape=(4,))\nm = k.Model(i, k.layers.BatchNormalization()(i))\n"
            "m.compile(optimizer=k.optimizers.SGD(0.5), loss='mse')\nm.fit(x, x, batch_size=8, epochs=1, verbose=0)\n")


class KerasFrozen(Frozen):
    #: "keras" (Keras 3, on the backend its worker chose) or "tf_keras"
    package = "keras"
    floor = _keras_fit(package)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.floor = _keras_fit(cls.package)
    #: the guide's pattern: the layer inside a base model called with training=False
    base_training_false = False

    @property
    def parent_switch(self) -> str:
        return ("base_model.trainable = True, recompiled, fit again" if self.base_training_false
                else "model.trainable = True, recompiled, fit again")

    def fine_tune(self, batch, target, learning_rate, decay, epsilon):
        import importlib

        keras = importlib.import_module(self.package)
        layer = keras.layers.BatchNormalization(momentum=decay, epsilon=epsilon)
        inputs = keras.Input(shape=(batch.shape[1],))
        if self.base_training_false:
            base_inputs = keras.Input(shape=(batch.shape[1],))
            parent = keras.Model(base_inputs, layer(base_inputs))
            parent.trainable = False
            model = keras.Model(inputs, parent(inputs, training=False))
        else:
            model = parent = keras.Model(inputs, layer(inputs))
            layer.trainable = False

        def state():
            return Statistics.of(*(np.asarray(v.numpy() if hasattr(v, "numpy") else v)
                                   for v in (layer.moving_mean, layer.moving_variance, layer.gamma, layer.beta)))

        def step():
            ops = keras.ops if self.package == "keras" else keras.backend
            model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss=lambda t, y: ops.mean(y * t))
            before, weights = state(), model.get_weights()
            # the output of fit's own call, model(x, training=True), from the tensors fit starts with
            output = model(batch, training=True)
            output = np.asarray(keras.ops.convert_to_numpy(output) if self.package == "keras" else output.numpy(), np.float64)
            model.set_weights(weights)
            with warnings.catch_warnings():  # a frozen model has no trainable weights: what is measured
                warnings.filterwarnings("ignore", message="The model does not have any trainable weights")
                model.fit(batch, target, batch_size=len(batch), epochs=1, shuffle=False, verbose=0)
            return FineTuningStep(output, before, state())

        first = step()
        parent.trainable = True
        return [first, step()]




class KerasTrainableFalse(KerasFrozen):
    """``layer.trainable = False``; the parent's switch: ``model.trainable = True``, which the
    trainable setter documents as setting "the layer and its sublayers"."""

    # what Keras documents for a frozen layer: inference mode, and nothing to train
    declared = fine_tuning(MOVING_STATISTICS, "unchanged", "unchanged", after_switch("unfreezes it", BATCH_STATISTICS, "updated", "trained"))


class KerasBaseTrainingFalse(KerasFrozen):
    """The guide's pattern: a frozen base model called with ``training=False``, then unfrozen: its
    BatchNorm documented to stay in inference mode while gamma and beta train."""

    base_training_false = True
    # what Keras documents for a frozen layer: inference mode, and nothing to train
    declared = fine_tuning(MOVING_STATISTICS, "unchanged", "unchanged", after_switch("unfreezes it", MOVING_STATISTICS, "unchanged", "trained"))


class TfKerasTrainableFalse(KerasTrainableFalse):
    package = "tf_keras"


class TfKerasBaseTrainingFalse(KerasBaseTrainingFalse):
    package = "tf_keras"


# --- TensorFlow 1: trainable=False only keeps gamma and beta out of the trainable variables;
# training (a Python bool or a tensor of each call) alone chooses the statistics


class Tf1Frozen(Frozen):
    no_parent_switch = "none: training is an argument of each batch_normalization call"
    floor = ("import tensorflow as tf\nv1 = tf.compat.v1\nwith tf.Graph().as_default():\n"
             "    y = v1.layers.batch_normalization(v1.constant(x), training=True)\n"
             "    step = v1.train.GradientDescentOptimizer(0.5).minimize(v1.reduce_mean(y))\n"
             "    with v1.Session() as s:\n        s.run(v1.global_variables_initializer())\n        s.run(step)\n")
    arguments: dict = {}

    def fine_tune(self, batch, target, learning_rate, decay, epsilon):
        from adapters.keras.tf1 import tf1

        tf = tf1()
        v1 = tf.compat.v1
        graph = tf.Graph()
        with graph.as_default():
            x = v1.placeholder(tf.float32, batch.shape)
            output = v1.layers.batch_normalization(x, momentum=decay, epsilon=epsilon, **self.arguments)
            loss = tf.reduce_mean(output * target)
            updates = v1.get_collection(v1.GraphKeys.UPDATE_OPS)
            with tf.control_dependencies(updates):  # the layer's documented way to run its updates
                trainable = v1.trainable_variables()
                train = v1.train.GradientDescentOptimizer(learning_rate).minimize(loss) if trainable else tf.group(*updates)
            found = {v.name.split("/")[-1].split(":")[0]: v for v in v1.global_variables()}
            tensors = [found[name] for name in ("moving_mean", "moving_variance", "gamma", "beta")]
            with v1.Session(graph=graph) as session:
                session.run(v1.global_variables_initializer())
                before = Statistics.of(*session.run(tensors))
                out, _ = session.run([output, train], {x: batch})
                return [FineTuningStep(np.asarray(out, np.float64), before, Statistics.of(*session.run(tensors)),
                                       note=f"{len(updates)} update ops in UPDATE_OPS")]


class Tf1TrainableFalse(Tf1Frozen):
    """``batch_normalization(x, training=True, trainable=False)``: the batch's statistics, and no update
    ops in UPDATE_OPS, so the moving statistics never move."""

    arguments = {"training": True, "trainable": False}
    declared = fine_tuning(BATCH_STATISTICS, "unchanged", "unchanged", Tf1Frozen.no_parent_switch)


class Tf1TrainingFalse(Tf1Frozen):
    """``batch_normalization(x, training=False)``: the moving statistics; gamma and beta train."""

    arguments = {"training": False}
    declared = fine_tuning(MOVING_STATISTICS, "unchanged", "trained", Tf1Frozen.no_parent_switch)


# --- Sonnet 2: is_training is an argument of each call; test_local_stats normalizes an inference
# call with the batch's own statistics


class SonnetFrozen(Frozen):
    no_parent_switch = "none: is_training is an argument of each call"
    floor = ("import sonnet as snt, tensorflow as tf\nlayer = snt.BatchNorm(True, True)\nlayer(x, is_training=False, test_local_stats=True)\n"
             "with tf.GradientTape() as tape:\n    loss = tf.reduce_mean(layer(x, is_training=False))\n"
             "snt.optimizers.SGD(0.5).apply(tape.gradient(loss, layer.trainable_variables), layer.trainable_variables)\n")
    test_local_stats = False

    def fine_tune(self, batch, target, learning_rate, decay, epsilon):
        import sonnet as snt
        import tensorflow as tf

        layer = snt.BatchNorm(create_scale=True, create_offset=True, decay_rate=decay, eps=epsilon)
        optimizer = snt.optimizers.SGD(learning_rate)
        x = tf.constant(batch)
        layer(x, is_training=False, test_local_stats=self.test_local_stats)  # creates the variables

        def state():
            return Statistics.of(layer.moving_mean.value, layer.moving_variance.value, layer.scale, layer.offset)

        before = state()
        with tf.GradientTape() as tape:
            output = layer(x, is_training=False, test_local_stats=self.test_local_stats)
            loss = tf.reduce_mean(output * target)
        optimizer.apply(tape.gradient(loss, layer.trainable_variables), layer.trainable_variables)
        return [FineTuningStep(output.numpy().astype(np.float64), before, state())]


class SonnetIsTrainingFalse(SonnetFrozen):
    declared = fine_tuning(MOVING_STATISTICS, "unchanged", "trained", SonnetFrozen.no_parent_switch)


class SonnetTestLocalStats(SonnetFrozen):
    """``is_training=False, test_local_stats=True``: the batch's statistics, and nothing stored."""

    test_local_stats = True
    declared = fine_tuning(BATCH_STATISTICS, "unchanged", "trained", SonnetFrozen.no_parent_switch)
# --- JAX: the statistics are chosen by an argument (Flax linen's use_running_average, Haiku's
# is_training, Equinox's inference) or by a module's mode (Flax NNX's eval()); gamma and beta are
# whatever the optimizer is handed, here every parameter, as optax.sgd over the model does


def _sgd_step(params, grads, learning_rate):
    import optax

    optimizer = optax.sgd(learning_rate)
    updates, _ = optimizer.update(grads, optimizer.init(params), params)
    return optax.apply_updates(params, updates)


class FlaxLinenUseRunningAverage(Frozen):
    """``nn.BatchNorm(use_running_average=True)`` at construction; the parent's switch is the call's
    ``use_running_average=False``, which a training loop's ``train`` flag passes."""

    parent_switch = "apply(..., use_running_average=False) from the training loop"
    floor = ("import jax, optax, flax.linen as nn\nlayer = nn.BatchNorm(use_running_average=True)\nv = layer.init(jax.random.key(0), x)\n"
             "g = jax.grad(lambda p: layer.apply({'params': p, 'batch_stats': v['batch_stats']}, x).mean())(v['params'])\n"
             "optax.apply_updates(v['params'], optax.sgd(0.5).update(g, optax.sgd(0.5).init(v['params']))[0])\n")
    declared = fine_tuning(MOVING_STATISTICS, "unchanged", "trained",
                           'refuses (ValueError: Parameter "use_running_average" was passed to the constructor and at call time. '
                           'Should be passed just once.)')

    def fine_tune(self, batch, target, learning_rate, decay, epsilon):
        import flax.linen as nn
        import jax
        import jax.numpy as jnp

        layer = nn.BatchNorm(use_running_average=True, momentum=decay, epsilon=epsilon)
        variables = layer.init(jax.random.key(0), batch)

        def step(params, stats, **call):
            def loss(p):
                output, updates = layer.apply({"params": p, "batch_stats": stats}, batch, mutable=["batch_stats"], **call)
                return jnp.mean(output * target), (output, updates["batch_stats"])

            (_, (output, stats_after)), grads = jax.value_and_grad(loss, has_aux=True)(params)
            params_after = _sgd_step(params, grads, learning_rate)
            before = Statistics.of(stats["mean"], stats["var"], params["scale"], params["bias"])
            after = Statistics.of(stats_after["mean"], stats_after["var"], params_after["scale"], params_after["bias"])
            return FineTuningStep(np.asarray(output, np.float64), before, after), params_after, stats_after

        first, params, stats = step(variables["params"], variables["batch_stats"])
        try:
            second = step(params, stats, use_running_average=False)[0]
        except Exception as error:  # the call's switch refused: that is what the switch does
            second = error
        return [first, second]


class FlaxNnxEval(Frozen):
    """``model.eval()``; the parent's switch is ``model.train()``."""

    parent_switch = "model.train() at the next epoch"
    floor = ("import optax\nfrom flax import nnx\nm = nnx.BatchNorm(4, rngs=nnx.Rngs(0))\nm.eval()\n"
             "o = nnx.Optimizer(m, optax.sgd(0.5), wrt=nnx.Param)\no.update(m, nnx.grad(lambda m: m(x).mean())(m))\n")
    declared = fine_tuning(MOVING_STATISTICS, "unchanged", "trained", after_switch("unfreezes it", BATCH_STATISTICS, "updated", "trained"))

    def fine_tune(self, batch, target, learning_rate, decay, epsilon):
        import jax.numpy as jnp
        import optax
        from flax import nnx

        layer = nnx.BatchNorm(batch.shape[1], momentum=decay, epsilon=epsilon, rngs=nnx.Rngs(0))
        model = nnx.Sequential(layer)
        model.eval()
        optimizer = nnx.Optimizer(model, optax.sgd(learning_rate), wrt=nnx.Param)

        def state():
            return Statistics.of(layer.mean[...], layer.var[...], layer.scale[...], layer.bias[...])

        def step():
            before = state()
            (_, output), grads = nnx.value_and_grad(lambda m: (jnp.mean(m(batch) * target), m(batch)), has_aux=True)(model)
            optimizer.update(model, grads)
            return FineTuningStep(np.asarray(output, np.float64), before, state())

        first = step()
        model.train()
        return [first, step()]


class HaikuFrozen(Frozen):
    no_parent_switch = "none: is_training is an argument of each call"
    floor = ("import jax, haiku as hk\nf = hk.transform_with_state(lambda v, t: hk.BatchNorm(True, True, 0.5)(v, is_training=t))\n"
             "p, s = f.init(jax.random.key(0), x, True)\njax.grad(lambda p: f.apply(p, s, None, x, False)[0].mean())(p)\n")
    test_local_stats = False

    def fine_tune(self, batch, target, learning_rate, decay, epsilon):
        import haiku as hk
        import jax
        import jax.numpy as jnp

        def forward(x, is_training):
            return hk.BatchNorm(True, True, decay, eps=epsilon)(x, is_training=is_training, test_local_stats=self.test_local_stats)

        transformed = hk.transform_with_state(forward)
        # the moving averages exist once a training call has created them, as in a trained model: one on
        # other data (the target), so that they differ from the batch's statistics
        params, state = transformed.init(jax.random.key(0), target, True)

        def loss(p):
            output, state_after = transformed.apply(p, state, None, batch, False)
            return jnp.mean(output * target), (output, state_after)

        (_, (output, state_after)), grads = jax.value_and_grad(loss, has_aux=True)(params)
        params_after = _sgd_step(params, grads, learning_rate)

        def statistics(p, s):
            return Statistics.of(s["batch_norm/~/mean_ema"]["average"], s["batch_norm/~/var_ema"]["average"],
                                 p["batch_norm"]["scale"], p["batch_norm"]["offset"])

        return [FineTuningStep(np.asarray(output, np.float64), statistics(params, state), statistics(params_after, state_after))]


class HaikuIsTrainingFalse(HaikuFrozen):
    declared = fine_tuning(MOVING_STATISTICS, "unchanged", "trained", HaikuFrozen.no_parent_switch)


class HaikuTestLocalStats(HaikuFrozen):
    """``is_training=False, test_local_stats=True``: the batch's statistics, and nothing stored."""

    test_local_stats = True
    declared = fine_tuning(BATCH_STATISTICS, "unchanged", "trained", HaikuFrozen.no_parent_switch)


class EquinoxInference(Frozen):
    """``eqx.nn.BatchNorm(..., inference=True)``; the parent's switch is ``eqx.nn.inference_mode(model, False)``."""

    parent_switch = "eqx.nn.inference_mode(model, False) for training"
    floor = ("import jax, equinox as eqx\nm, s = eqx.nn.make_with_state(eqx.nn.BatchNorm)(4, 'batch', inference=True, mode='ema')\n"
             "eqx.filter_grad(lambda m: jax.vmap(m, axis_name='batch', in_axes=(0, None), out_axes=(0, None))(x, s)[0].mean())(m)\n")
    declared = fine_tuning(MOVING_STATISTICS, "unchanged", "trained", after_switch("unfreezes it", BATCH_STATISTICS, "updated", "trained"))

    def fine_tune(self, batch, target, learning_rate, decay, epsilon):
        import equinox as eqx
        import jax
        import jax.numpy as jnp

        model, state = eqx.nn.make_with_state(eqx.nn.BatchNorm)(batch.shape[1], "batch", eps=epsilon, momentum=decay,
                                                                 inference=True, mode="ema")

        def statistics(m, s):
            return Statistics.of(*s.get(m.ema_state_index), m.weight, m.bias)

        def step(m, s):
            def loss(m):
                output, s_after = jax.vmap(m, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(batch, s)
                return jnp.mean(output * target), (output, s_after)

            (_, (output, s_after)), grads = eqx.filter_value_and_grad(loss, has_aux=True)(m)
            params = eqx.filter(m, eqx.is_inexact_array)
            m_after = eqx.combine(_sgd_step(params, eqx.filter(grads, eqx.is_inexact_array), learning_rate), m)
            return FineTuningStep(np.asarray(output, np.float64), statistics(m, s), statistics(m_after, s_after)), m_after, s_after

        first, model, state = step(model, state)
        return [first, step(eqx.nn.inference_mode(model, value=False), state)[0]]


# --- Paddle: use_global_stats chooses the moving statistics whatever the mode; eval() as in PyTorch


class PaddleFrozen(Frozen):
    parent_switch = "model.train() at the next epoch"
    floor = ("import paddle\nlayer = paddle.nn.BatchNorm1D(4, use_global_stats=True)\n"
             "optimizer = paddle.optimizer.SGD(0.5, parameters=layer.parameters())\n"
             "layer(paddle.to_tensor(x)).mean().backward()\noptimizer.step()\n")
    arguments: dict = {}
    evaluate = False

    def fine_tune(self, batch, target, learning_rate, decay, epsilon):
        import paddle

        layer = paddle.nn.BatchNorm1D(batch.shape[1], momentum=decay, epsilon=epsilon, **self.arguments)
        model = paddle.nn.Sequential(layer)
        model.train()
        if self.evaluate:
            layer.eval()
        optimizer = paddle.optimizer.SGD(learning_rate, parameters=model.parameters())
        x, t = paddle.to_tensor(batch), paddle.to_tensor(target)

        def state():
            return Statistics.of(layer._mean.numpy(), layer._variance.numpy(), layer.weight.numpy(), layer.bias.numpy())

        def step():
            before = state()
            output = model(x)
            (output * t).mean().backward()
            optimizer.step()
            optimizer.clear_grad()
            return FineTuningStep(output.numpy().astype(np.float64), before, state())

        first = step()
        model.train()
        return [first, step()]


class PaddleUseGlobalStats(PaddleFrozen):
    arguments = {"use_global_stats": True}
    declared = fine_tuning(MOVING_STATISTICS, "unchanged", "trained", after_switch("changes nothing", MOVING_STATISTICS, "unchanged", "trained"))


class PaddleEval(PaddleFrozen):
    evaluate = True
    declared = fine_tuning(MOVING_STATISTICS, "unchanged", "trained", after_switch("unfreezes it", BATCH_STATISTICS, "updated", "trained"))


# --- MLX: freeze() takes parameters away from the optimizer; eval() chooses the statistics


class MlxFrozen(Frozen):
    parent_switch = "model.train() at the next epoch"
    floor = ("import mlx.core as mx, mlx.nn, mlx.optimizers\nm = mlx.nn.BatchNorm(4)\nm.eval()\n"
             "_, g = mlx.nn.value_and_grad(m, lambda m: mx.mean(m(mx.array(x))))(m)\nmlx.optimizers.SGD(0.5).update(m, g)\n"
             "mx.eval(m.parameters())\n")
    freeze = False
    evaluate = False

    def fine_tune(self, batch, target, learning_rate, decay, epsilon):
        import mlx.core as mx
        import mlx.nn
        import mlx.optimizers
        import mlx.utils

        layer = mlx.nn.BatchNorm(batch.shape[1], eps=epsilon, momentum=1.0 - decay)
        model = mlx.nn.Sequential(layer)
        model.train()
        if self.freeze:
            layer.freeze()
        if self.evaluate:
            layer.eval()
        optimizer = mlx.optimizers.SGD(learning_rate)
        x, t = mx.array(batch), mx.array(target)
        trainable = bool(mlx.utils.tree_flatten(model.trainable_parameters()))

        def loss(m):
            output = m(x)
            return mx.mean(output * t), output

        def state():
            return Statistics.of(*(np.array(getattr(layer, name)) for name in ("running_mean", "running_var", "weight", "bias")))

        def step():
            before = state()
            if trainable:
                (_, output), grads = mlx.nn.value_and_grad(model, loss)(model)
                optimizer.update(model, grads)
            else:  # nothing left to train: value_and_grad refuses a model without trainable parameters
                output = model(x)
            mx.eval(model.parameters(), model.state, optimizer.state)
            return FineTuningStep(np.array(output, np.float64), before, state())

        first = step()
        model.train()
        return [first, step()]


class MlxFreeze(MlxFrozen):
    """``layer.freeze()``: gamma and beta out of the optimizer's reach; the statistics still train."""

    freeze = True
    declared = fine_tuning(BATCH_STATISTICS, "updated", "unchanged", after_switch("changes nothing", BATCH_STATISTICS, "updated", "unchanged"))


class MlxEval(MlxFrozen):
    evaluate = True
    declared = fine_tuning(MOVING_STATISTICS, "unchanged", "trained", after_switch("unfreezes it", BATCH_STATISTICS, "updated", "trained"))


# --- tinygrad: one process-wide switch, the TRAINING context variable, chooses the statistics of every
# layer; a tensor stays out of the optimizer's step only by staying out of its list


class TinygradFrozen(Frozen):
    no_parent_switch = "none: one context variable, TRAINING, switches every layer at once"
    floor = ("from tinygrad import Tensor, nn\nfrom tinygrad.helpers import Context\nlayer = nn.BatchNorm(4)\n"
             "optimizer = nn.optim.SGD(nn.state.get_parameters(layer), lr=0.5)\nwith Context(TRAINING=1):\n"
             "    optimizer.zero_grad()\n    layer(Tensor(x)).mean().backward()\n    optimizer.step()\n")
    #: TRAINING during the forward call (the optimizer's step needs TRAINING=1)
    training_forward = 1
    no_gradient = False

    def fine_tune(self, batch, target, learning_rate, decay, epsilon):
        from tinygrad import Tensor, nn
        from tinygrad.helpers import Context

        layer = nn.BatchNorm(batch.shape[1], eps=epsilon, momentum=1.0 - decay)
        if self.no_gradient:  # PyTorch's way, as a port from PyTorch writes it
            layer.weight.requires_grad = layer.bias.requires_grad = False
        optimizer = nn.optim.SGD(nn.state.get_parameters(layer), lr=learning_rate)

        def state():
            return Statistics.of(*(getattr(layer, name).numpy() for name in ("running_mean", "running_var", "weight", "bias")))

        before = state()
        with Context(TRAINING=1):
            optimizer.zero_grad()
            with Context(TRAINING=self.training_forward):
                output = layer(Tensor(batch))
                computed = output.numpy().astype(np.float64)  # before the step: tinygrad is lazy
            (output * Tensor(target)).mean().backward()
            optimizer.step()
        return [FineTuningStep(computed, before, state())]


class TinygradTrainingOff(TinygradFrozen):
    """The forward call under ``Context(TRAINING=0)``, the step under ``TRAINING=1``."""

    training_forward = 0
    declared = fine_tuning(MOVING_STATISTICS, "unchanged", "trained", TinygradFrozen.no_parent_switch)


class TinygradRequiresGradFalse(TinygradFrozen):
    """PyTorch's ``requires_grad = False`` on gamma and beta, as a port writes it: a tinygrad 0.14 Tensor
    takes the attribute and nothing reads it, so they still train (leave them out of the optimizer's list)."""

    no_gradient = True
    declared = fine_tuning(BATCH_STATISTICS, "updated", "trained", TinygradFrozen.no_parent_switch)
