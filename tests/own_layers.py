"""BatchNorms bnparity does not ship, written for the tests of the your-own-BatchNorm path: each reproduces one
behaviour a user's layer had (a float16 layer, one whose float16 statistics never move, a batch of one
storing 0 or NaN, a layer that takes 2-D batches only, a momentum stored as its complement, a cumulative
average asked for by a flag of another name). One small NumPy layer with switches, one adapter each."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

import numpy as np

from adapters.base import Adapter, State
from adapters.conventions import BeyondRange, Conventions, HalfPrecision
from adapters.divergence import Divergence, where
from adapters.spec import BatchNormSpec

NAMES = ("mean", "var", "gamma", "beta")


class Layer:
    """Channels last. ``keep`` weighs the old value; ``unbiased``: n/(n-1), with ``one`` the factor at n = 1
    (0.0: a batch of one feeds variance 0, nan: NaN); ``frozen_half``: a float16 layer never updates its
    statistics; ``stored_keep``: the layer stores 1 - keep (and reads it back so)."""

    def __init__(self, channels, keep=0.9, eps=1e-5, dtype="float32", unbiased=False, one=0.0, frozen_half=False,
                 cumulative=False):
        self.keep, self.eps, self.dtype = keep, eps, np.dtype(dtype)
        self.unbiased, self.one, self.frozen_half, self.cumulative = unbiased, one, frozen_half, cumulative
        self.stored_complement = 1 - keep
        statistics = np.float16 if self.dtype == np.float16 else self.dtype
        self.mean, self.var = np.zeros(channels, statistics), np.ones(channels, statistics)
        self.gamma, self.beta = np.ones(channels, statistics), np.zeros(channels, statistics)
        self.steps = 0

    def __call__(self, x, training):
        x = np.asarray(x, self.dtype)
        axes = tuple(range(x.ndim - 1))
        compute = np.dtype(np.float32) if self.dtype == np.float16 else self.dtype
        if training:
            with np.errstate(all="ignore"):
                xc = x.astype(compute)
                mean = xc.mean(axis=axes)
                var = ((xc - mean) ** 2).mean(axis=axes)
                n = x.size // x.shape[-1]
                fed = var * (n / (n - 1) if n > 1 else self.one) if self.unbiased else var
                if not (self.frozen_half and self.dtype == np.float16):
                    self.steps += 1
                    keep = 1 - 1 / self.steps if self.cumulative else self.keep
                    self.mean = (keep * self.mean + (1 - keep) * mean).astype(self.mean.dtype)
                    self.var = (keep * self.var + (1 - keep) * fed).astype(self.var.dtype)
        else:
            mean, var = self.mean.astype(compute), self.var.astype(compute)
        with np.errstate(all="ignore"):
            y = (x.astype(compute) - mean) / np.sqrt(var + compute.type(self.eps)) * self.gamma + self.beta
        return y.astype(self.dtype)


class OwnLayer(Adapter):
    """The adapter of ``Layer``, in Keras's vocabulary; subclasses set the layer's switches."""

    id = "yours-plain"
    switches: ClassVar[dict] = {}
    declared = Conventions(momentum_weight="old", default_momentum=0.9, default_epsilon=1e-5, train_normalize_variance="biased",
                           moving_variance_update="biased", state_names=NAMES, half_precision=HalfPrecision.moving_in("input"),
                           half_precision_range=BeyondRange(outputs="±1", stores="inf"))
    dtypes = ("float16", "float32", "float64")
    native_channel_axis = -1
    has_training_api = False
    momentum_argument = "keep"
    epsilon_argument = "eps"

    def native_arguments(self) -> dict:
        spec = self.spec
        return {"channels": spec.num_features, "keep": spec.decay, "eps": spec.epsilon, "dtype": spec.dtype,
                "cumulative": spec.averaging == "cumulative", **self.switches}

    def spec_from_native(self, native: dict) -> BatchNormSpec:
        return replace(self.spec, num_features=native["channels"], decay=native["keep"], epsilon=native["eps"])

    def native_defaults(self) -> dict:
        return {"momentum": Layer(1).keep, "epsilon": Layer(1).eps}

    def native_state_names(self) -> tuple:
        return NAMES

    def moving_dtype(self) -> str:
        return self.layer.mean.dtype.name

    def _build(self) -> None:
        arguments = dict(self.native)
        self.layer = Layer(**{k: v for k, v in arguments.items() if k in Layer.__init__.__code__.co_varnames})

    def _train(self, batch):
        return self.layer(batch, training=True)

    def _infer(self, batch):
        return self.layer(batch, training=False)

    def _read(self) -> tuple:
        return tuple(getattr(self.layer, name) for name in NAMES)

    def _write(self, state: State) -> None:
        for name, value in zip(NAMES, state):
            setattr(self.layer, name, value.astype(getattr(self.layer, name).dtype))


class HalfLayer(OwnLayer):
    """Takes float16: its measured declaration's evidence holds two-dimensional arrays."""

    id = "yours-half"


class FrozenHalfLayer(OwnLayer):
    """Its float16 statistics never move: stored 0 and 1 after every step."""

    id = "yours-frozen_half"
    switches = {"frozen_half": True}
    declared = replace(OwnLayer.declared, half_precision_range=BeyondRange(outputs="±1", stores="nothing", mean="0", variance="1"))
    known_divergences = tuple(Divergence("test_half_precision_step", "yours-frozen_half", "half_precision",
                                         "the float16 layer never updates its moving statistics (they stay 0 and 1)",
                                         where(dtype="float16", batch_size=batch_size)) for batch_size in (2, 32))


class UnbiasedZero(OwnLayer):
    """Unbiased update; a batch of one feeds variance 0."""

    id = "yours-unbiased_zero"
    switches = {"unbiased": True, "one": 0.0}
    declared = replace(OwnLayer.declared, moving_variance_update="unbiased", batch_size_1="runs: variance 0")


class UnbiasedNan(OwnLayer):
    """Unbiased update; a batch of one feeds NaN (0 · 1/0)."""

    id = "yours-unbiased_nan"
    switches = {"unbiased": True, "one": float("nan")}
    declared = replace(OwnLayer.declared, moving_variance_update="unbiased", batch_size_1="runs: variance NaN")


class VectorsOnly(OwnLayer):
    """Takes 2-D batches only."""

    id = "yours-vectors_only"
    ndims = (2,)


class StoredComplement(OwnLayer):
    """Its layer stores 1 - momentum, and the adapter's ``native_defaults`` wrongly returns what is stored."""

    id = "yours-stored_complement"

    def native_defaults(self) -> dict:
        return {"momentum": Layer(1).stored_complement, "epsilon": Layer(1).eps}


class FlaggedCumulative(OwnLayer):
    """A cumulative average asked for by a flag of its own name (its momentum argument is ``keep``, as said)."""

    id = "yours-flagged"

    def native_arguments(self) -> dict:
        arguments = super().native_arguments()
        arguments["finetune_average"] = arguments.pop("cumulative")
        return arguments

    def _build(self) -> None:
        arguments = dict(self.native)
        self.layer = Layer(arguments["channels"], arguments["keep"], arguments["eps"], arguments["dtype"],
                           cumulative=arguments["finetune_average"])


class MisnamedMomentum(OwnLayer):
    """Its momentum is called ``keep``, and the adapter does not say so (no ``momentum_argument``)."""

    id = "yours-misnamed"
    momentum_argument = "momentum"  # the default: what an adapter that forgets to say has
