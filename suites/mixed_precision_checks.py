"""What a BatchNorm does under a mixed-precision policy, measured where its column runs
(``suites/test_mixed_precision.py``; the policies are in ``workflows/mixed_precision.py``).

The float64 reference follows the implementation's declared conventions (which variance enters the
moving average, how the first step blends), fed the batches the layer was meant to see. The
precision of the batch statistics is read from the digits the stored variance carries after one
step at decay 0 on ``HALF_BATCH``: 32 even integers up to 300 and their negatives per channel, which
float16 and bfloat16 both hold exactly. Its mean is 0 and its sum of squares an integer below 2**24,
so float32 computes its variance exactly, by one pass or two; rounded to half precision at the end,
the variance (near 30000) is off by up to 2.4e-4 (float16) or 2e-3 (bfloat16); computed in half
precision, its squares (up to 90000) overflow float16's 65504.
"""

from __future__ import annotations

import numpy as np

from adapters.probes import first_line
from adapters.reference import ReferenceBatchNorm, representable
from adapters.registry import implementation
from adapters.rows import MIXED_PRECISION
from adapters.spec import BatchNormSpec
from workflows.registry import MIXED_PRECISION as COLUMNS

ROW_IDS = MIXED_PRECISION.row_ids

CHANNELS, DECAY, EPSILON, STEPS = 2, 0.9, 1e-3, 10
_rng = np.random.default_rng(30)
_HALF = 2.0 * _rng.integers(1, 151, size=(32, CHANNELS))
HALF_BATCH = np.concatenate([_HALF, -_HALF]).astype(np.float32)
ORDINARY = [_rng.normal(3.0, 0.4, size=(32, CHANNELS)).astype(np.float32) for _ in range(STEPS)]
LARGE_MEAN = [_rng.normal(300.0, 1.0, size=(32, CHANNELS)).astype(np.float32) for _ in range(STEPS)]
#: The relative errors the matrix tells apart: float32's digits, and a percent.
BANDS = ((1e-5, "within 1e-5"), (1e-2, "within 1e-2"))
#: Half the spacing of each dtype at 1: the most a value stored in it is rounded by, relatively.
STORAGE_ROUNDING = {"float64": 2.0**-53, "float32": 2.0**-24, "float16": 2.0**-11, "bfloat16": 2.0**-8}


def reference_variance(conventions, batches: list[np.ndarray], decay: float, dtype: str = "float64") -> np.ndarray:
    """The moving variance the declared conventions give in float64 on ``batches`` rounded to ``dtype``."""
    reference = ReferenceBatchNorm(BatchNormSpec(CHANNELS, decay=decay, epsilon=EPSILON, dtype="float64"), conventions)
    for batch in batches:
        reference.train_step(representable(batch, dtype))
    return reference.moving_variance


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    with np.errstate(invalid="ignore"):
        error = float(np.max(np.abs(actual - expected) / np.abs(expected)))
    return error if np.isfinite(error) else float("inf")


def precision(error: float, half: str) -> str:
    """What the digits of a stored variance say its computation ran in."""
    if error <= 1e-6:
        return "float32"
    if error <= STORAGE_ROUNDING[half]:
        return f"rounded to {half}"
    return f"{half}: overflows to inf" if not np.isfinite(error) else f"{half}, beyond its rounding"


def band(error: float) -> str:
    return next((name for bound, name in BANDS if error <= bound), "off by more than 1e-2" if np.isfinite(error) else "not finite")


def observe(column_id: str) -> dict[str, tuple[str, str]]:
    """row -> (observed, evidence) for the policy ``column_id``; a policy the framework refuses gives
    its error as every row's observation."""
    column = COLUMNS[column_id]
    policy = column.load()()
    conventions = implementation(column.implementation).load(here=True).declared
    try:
        half = policy.train(ORDINARY[:1], DECAY, EPSILON, input_dtype=policy.half)
        half_input = (f"output {half.output_dtype}, moving statistics {half.moving_dtype}",
                      f"one step on a {policy.half} batch: output {half.output_dtype}, moving variance {half.variance.round(4).tolist()}")
    except Exception as error:
        half_input = (f"refuses ({first_line(error)})", first_line(error))
    try:
        computed = policy.train([HALF_BATCH], 0.0, EPSILON)
        ordinary = policy.train(ORDINARY, DECAY, EPSILON)
        large = policy.train(LARGE_MEAN, DECAY, EPSILON)
    except Exception as error:  # the framework's refusal is the fact
        refused = {row: (f"cannot run ({first_line(error)})", first_line(error)) for row in ROW_IDS}
        return {**refused, "half_input": half_input}

    expected = {dtype: reference_variance(conventions, [HALF_BATCH], 0.0, dtype) for dtype in ("float32", policy.half)}
    error = min(relative_error(computed.variance, value) for value in expected.values())
    computed_in = precision(error, policy.half)
    errors = {name: relative_error(run.variance, reference_variance(conventions, batches, DECAY))
              for name, run, batches in (("ordinary", ordinary, ORDINARY), ("large", large, LARGE_MEAN))}
    dtypes = f"output {ordinary.output_dtype}, moving statistics {ordinary.moving_dtype}"
    return {
        "output_dtype": (ordinary.output_dtype, dtypes),
        "moving_dtype": (ordinary.moving_dtype, dtypes),
        "computed_in": (computed_in, f"one step at decay 0: stored variance {computed.variance.round(5).tolist()}, float64 "
                                     f"variance of the batch {expected['float32'].round(5).tolist()} (as {policy.half}: "
                                     f"{expected[policy.half].round(5).tolist()}); relative error {error:.3g}"),
        "ordinary_error": (band(errors["ordinary"]), f"relative error of the moving variance {errors['ordinary']:.3g} "
                                                     f"({ordinary.variance.round(6).tolist()})"),
        "large_mean_error": (band(errors["large"]), f"relative error of the moving variance {errors['large']:.3g} "
                                                    f"({large.variance.round(6).tolist()})"),
        "half_input": half_input,
    }
