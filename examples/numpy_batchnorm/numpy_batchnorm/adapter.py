"""bnparity's adapter for ``numpy_batchnorm.layer.BatchNorm``: the five native verbs, the
translation (PyTorch's vocabulary, which this layer shares), and the declared conventions, which
the suites check against what the layer does."""

from __future__ import annotations

import numpy as np

from adapters.base import Adapter, State
from adapters.conventions import BeyondRange, Conventions, HalfPrecision, HalfStep
from adapters.pytorch_style import PyTorchArguments

from .layer import BatchNorm

ATTRIBUTES = ("running_mean", "running_var", "weight", "bias")


class NumpyBatchNorm(PyTorchArguments, Adapter):
    id = "mine-numpy_batchnorm"
    declared = Conventions(
        momentum_weight="new",
        default_momentum=0.1,
        default_epsilon=1e-5,
        train_normalize_variance="biased",
        moving_variance_update="biased",
        no_moving_statistics="track_running_stats=False",
        state_names=ATTRIBUTES,
        weight_order=("weight", "bias", "running_mean", "running_var"),
        half_precision=HalfPrecision(HalfStep(refusal="not supported"), HalfStep(refusal="not supported")),
        half_precision_range=BeyondRange(refusal="no float16"),
    )
    framework_name = "numpy_batchnorm"
    dtypes = ("float32", "float64")
    native_channel_axis = -1
    #: No optimizer: the founding question's network is a plain refusal.
    has_training_api = False

    def native_defaults(self) -> dict:
        default = BatchNorm(self.spec.num_features)
        return {"momentum": default.momentum, "epsilon": default.eps}

    def native_state_names(self) -> tuple:
        return tuple(name if getattr(self.layer, name) is not None else "absent" for name in ATTRIBUTES)

    def _weight_list(self) -> list[str]:
        """The layer's attributes, in the order the object holds them (``vars``, what pickling it writes)."""
        return list(vars(self.layer))

    def moving_dtype(self) -> str:
        return self.layer.dtype.name

    def _build(self) -> None:
        self.layer = BatchNorm(**self.native)

    def _train(self, batch: np.ndarray) -> np.ndarray:
        self.layer.training = True
        return self.layer(batch)

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        self.layer.training = False
        return self.layer(batch)

    def _read(self) -> tuple:
        c, layer = self.spec.num_features, self.layer
        absent = (np.full(c, np.nan), np.full(c, np.nan), np.ones(c), np.zeros(c))
        return tuple(getattr(layer, name) if getattr(layer, name) is not None else d for name, d in zip(ATTRIBUTES, absent))

    def _write(self, state: State) -> None:
        for name, value in zip(ATTRIBUTES, state):
            if getattr(self.layer, name) is not None:
                setattr(self.layer, name, value.astype(self.layer.dtype))
