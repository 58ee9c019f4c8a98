"""bnparity's adapter for ``ledger_norm.layer.LedgerNorm``, whose vocabulary is its own: ``smoothing``
(the weight of the old value), ``jitter`` (epsilon), ``tally`` (a cumulative average), a ledger instead
of moving statistics. See docs/adapter-reference.md in bnparity for every name used here."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from adapters.base import Adapter, State, exponential_only
from adapters.conventions import BeyondRange, Conventions, HalfPrecision, HalfStep
from adapters.spec import BatchNormSpec, SpecError

from .layer import LedgerNorm

NAMES = ("ledger_mean", "ledger_spread", "gain", "shift")


class LedgerNormAdapter(Adapter):
    id = "ledger-ledger_norm"
    declared = Conventions(
        momentum_weight="old",
        default_momentum=0.95,
        default_epsilon=1e-4,
        train_normalize_variance="biased",
        moving_variance_update="unbiased",
        state_names=NAMES,
        weight_order=("gain", "shift", "ledger_mean", "ledger_spread"),
        cumulative_average="tally=True",
        batch_size_1="runs: variance 0",
        half_precision=HalfPrecision(HalfStep("float16", "float32"), HalfStep(refusal="not supported")),
        half_precision_range=BeyondRange(outputs="±1", stores="it"),
    )
    #: LedgerNorm calls its momentum "smoothing".
    momentum_argument = "smoothing"
    epsilon_argument = "jitter"
    native_channel_axis = 1
    dtypes = ("float16", "float32", "float64")
    has_training_api = False

    def native_arguments(self) -> dict:
        spec = self.spec
        if spec.averaging == "none":
            exponential_only(spec, "LedgerNorm")
        if spec.center != spec.scale:
            raise SpecError("center/scale", (spec.center, spec.scale), "LedgerNorm learns its gain and shift together, or neither")
        return {"channels": spec.num_features, "smoothing": spec.decay, "jitter": spec.epsilon,
                "tally": spec.averaging == "cumulative", "precision": "float64" if spec.dtype == "float64" else "float32",
                "learnable": spec.scale}

    def spec_from_native(self, native: dict) -> BatchNormSpec:
        return replace(self.spec, num_features=native["channels"], decay=native["smoothing"], epsilon=native["jitter"],
                       averaging="cumulative" if native["tally"] else "exponential", center=native["learnable"],
                       scale=native["learnable"])

    def native_defaults(self) -> dict:
        default = LedgerNorm(self.spec.num_features)
        return {"momentum": default.smoothing, "epsilon": default.jitter}

    def native_state_names(self) -> tuple:
        return NAMES

    def _weight_list(self) -> list[str]:
        """The layer's attributes, in the order the object holds them (``vars``, what pickling it writes)."""
        return list(vars(self.layer))

    def moving_dtype(self) -> str:
        return self.layer.ledger_mean.dtype.name

    def _build(self) -> None:
        self.layer = LedgerNorm(**self.native)

    def _train(self, batch: np.ndarray) -> np.ndarray:
        return self.layer(batch.astype(self.spec.dtype), learning=True)

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        return self.layer(batch.astype(self.spec.dtype), learning=False)

    def _read(self) -> tuple:
        return tuple(getattr(self.layer, name) for name in NAMES)

    def _write(self, state: State) -> None:
        for name, value in zip(NAMES, state):
            if name in ("ledger_mean", "ledger_spread") or self.layer.learnable:  # a fixed gain and shift stay 1 and 0
                setattr(self.layer, name, value.astype(self.layer.precision))
