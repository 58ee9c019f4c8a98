"""The one table of tolerances, per dtype, each with its reason.

A comparison passes when ``|actual - expected| <= atol + rtol * |expected|`` element-wise. The
reference runs in float64, so the tolerance is the implementation's own rounding: a BatchNorm
step is about ten dependent operations over n values, and the moving average compounds up to
50-100 steps of them. A known divergence is never absorbed here: it is an xfail naming the
convention.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float
    why: str


TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(1e-10, 1e-12, "float64 eps is 2.2e-16; 1e-10 leaves 10^6 ulps for reductions and 100 EMA steps"),
    "float32": Tolerance(
        2e-5, 2e-5, "float32 eps is 1.2e-7; ~170 ulps covers a reduction over <=64 values, rsqrt and 100 EMA steps"
    ),
    "float16": Tolerance(
        1e-2, 1e-2, "float16 eps is 9.8e-4; ~10 ulps for the input and output rounding around a float32 computation"
    ),
    "bfloat16": Tolerance(
        4e-2, 4e-2, "bfloat16 eps is 7.8e-3; ~5 ulps for the input and output rounding around a float32 computation"
    ),
}


def tolerance(dtype: str) -> Tolerance:
    return TOLERANCES[dtype]
