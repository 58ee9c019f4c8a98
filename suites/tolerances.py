"""The one table of tolerances, per dtype, each with its reason.

A comparison passes when ``|actual - expected| <= atol + rtol * |expected|`` element-wise. The
reference runs in float64, so the tolerance is the implementation's own rounding: a BatchNorm
step is about ten dependent operations over n values, and the moving average compounds up to
50-100 steps of them. A known divergence is never absorbed here: it is an xfail naming the
convention.

Most results are as large as their own rounding error. Two are not, and for them a comparison
passes a ``scale``, the magnitude the error is proportional to, and the relative tolerance applies
to it (``cases.compare``); it is a property of the arithmetic, the same for every implementation:

- A normalized output ``(x - mean) / sqrt(var + eps)`` carries the rounding of ``x`` and of the mean,
  both of the order of ``|x| + |mean|``, divided by ``sqrt(var + eps)``: for a channel that is constant
  (variance 0) the output is 0 plus that rounding amplified up to ``1/sqrt(eps)`` (316x at 1e-5), in
  every implementation. Its scale is ``|gamma| (|x| + |mean|) / sqrt(var + eps)``.
- A variance computed as ``E[x^2] - E[x]^2`` (an implementation that declares ``one_pass_variance``)
  carries rounding of the order of ``E[x^2] = mean^2 + var``, not of ``var``: that is what declaring
  it means. Its scale is ``mean^2 + var``; how many digits that loses is the ``variance_robustness``
  row, measured by its own probe. An output normalized with such a variance adds
  ``|z| scale / (var + eps)`` to its own.

For the half dtypes, whose tolerance is the input's and output's rounding around a float32
computation of the statistics, the normalization is the half dtype's own (frameworks normalize a
half batch in the half dtype) but a variance's rounding is float32's: its scale is multiplied by
float32's rtol over the half dtype's.
An implementation that computes its statistics in the half dtype falls outside them where the data
are ill-conditioned; that is a known divergence (``divergences.py``), never a wider tolerance.
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


#: The tolerance of float64 layers whose implementation declares float32 numbers in them
#: (``Conventions.float64_momentum``): the reference rounds those numbers as declared, and what is
#: left is float32 arithmetic around them, which no float64 tolerance can hold.
FLOAT32_IN_FLOAT64 = "float64 with float32 attributes"
TOLERANCES[FLOAT32_IN_FLOAT64] = Tolerance(
    5e-7, 1e-12, "float32 eps is 1.2e-7: momentum, epsilon or the update rounded to float32 (declared, and measured by "
    "the float64_momentum row), a few ulps over a few steps, in otherwise float64 arithmetic"
)


def tolerance(dtype: str) -> Tolerance:
    return TOLERANCES[dtype]


def tolerance_key(dtype: str, conventions) -> str:
    """The entry of the table a layer of ``dtype`` is compared with, under its declared conventions."""
    return FLOAT32_IN_FLOAT64 if dtype == "float64" and conventions.float32_in_float64() else dtype
