"""PyTorch's vocabulary for a BatchNorm layer, shared by PyTorch, MLX and tinygrad.

All three take ``num_features`` (tinygrad: ``sz``), ``eps``, a ``momentum`` that weighs the new
value, one ``affine`` switch for gamma and beta together, and ``track_running_stats``; this module
holds that translation once, as ``adapters/keras/arguments.py`` holds Keras's. It imports no framework.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from .base import dtype_name, exponential_only
from .spec import BatchNormSpec, SpecError


class PyTorchArguments:
    """``native_arguments`` and its inverse in PyTorch's vocabulary, for an Adapter subclass."""

    epsilon_argument = "eps"

    #: How a refusal names the framework.
    framework_name: ClassVar[str] = "PyTorch"
    #: The constructor argument that takes the channel count.
    size_argument: ClassVar[str] = "num_features"
    #: Whether ``momentum=None`` asks for a cumulative average (PyTorch only).
    momentum_none_is_cumulative: ClassVar[bool] = False

    def native_dtype(self, dtype: str) -> Any:
        """The dtype argument as the framework takes it (a name, unless a subclass says otherwise)."""
        return dtype

    def native_arguments(self) -> dict:
        spec = self.spec
        if spec.averaging == "cumulative" and not self.momentum_none_is_cumulative:
            exponential_only(spec, self.framework_name)
        if spec.center != spec.scale:
            raise SpecError("center/scale", (spec.center, spec.scale),
                            f"must be equal for {self.framework_name}, whose single `affine` switch adds gamma and beta together")
        exponential = spec.averaging == "exponential"
        return {
            self.size_argument: spec.num_features,
            "eps": spec.epsilon,
            "momentum": self.declared.native_momentum(spec.decay) if exponential else None,
            "affine": spec.scale,
            "track_running_stats": spec.averaging != "none",
            "dtype": self.native_dtype(spec.dtype),
        }

    def spec_from_native(self, native: dict) -> BatchNormSpec:
        averaging = "none" if not native["track_running_stats"] else "cumulative" if native["momentum"] is None else "exponential"
        return replace(
            self.spec,
            num_features=native[self.size_argument],
            decay=self.declared.decay_of(native["momentum"]) if averaging == "exponential" else self.spec.decay,
            epsilon=native["eps"],
            center=native["affine"],
            scale=native["affine"],
            dtype=dtype_name(native["dtype"]),
            averaging=averaging,
        )
