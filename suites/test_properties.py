"""Property-based: random valid descriptions and batches, each implementation against the float64
reference executing its declaration (``strategies.valid_cases``).

The grid suites choose their numbers; here hypothesis does, within what the implementation takes:
any decay in [0, 1], epsilons from 1e-5 to 1, float64 and the half dtypes, no gamma or beta,
cumulative and absent averages, and batches with a large mean against their spread, a tiny
variance, constant channels or channels of very different scales. Every step's training output and
moving statistics and a final inference are compared within the dtype's tolerance, scaled where
the arithmetic's own rounding is larger than the result (``tolerances.py``). The ``ci`` profile is
derandomized and draws ``strategies.EXAMPLES_PER_IMPLEMENTATION`` examples per implementation; the
report prints how many ran.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, reject, settings

from adapters.base import Adapter
from adapters.reference import ReferenceBatchNorm, batch_moments, bessel, channel_shape
from adapters.spec import BatchNormSpec, SpecError

from .cases import adapter_class, build, compare, implementation_params
from .divergences import not_drawn
from .records import EXAMPLES
from .strategies import BATCH_KINDS, Case, examples_per_implementation, valid_cases
from .tolerances import tolerance, tolerance_key


def normalized_scale(case: Case, x: np.ndarray, mean, variance, variance_scale) -> np.ndarray:
    """What the rounding of ``(x - mean) / sqrt(variance + eps)`` is proportional to (``tolerances.py``):
    ``(|x| + |mean|) / sqrt(variance + eps)``, the normalization's own rounding, in the layer's dtype
    (frameworks normalize half-precision batches in the half dtype); plus the output's sensitivity to
    the rounding of the variance, ``|z| variance_scale / (variance + eps)``, which in a half dtype is
    float32 rounding (statistics computed in float32, the table's premise), shrunk by the ratio of
    float32's tolerance to the half dtype's."""
    shape = channel_shape(case.spec)
    root = np.sqrt(np.asarray(variance) + case.spec.epsilon).reshape(shape)
    z = (x - np.asarray(mean).reshape(shape)) / root
    own = (np.abs(x) + np.abs(np.asarray(mean)).reshape(shape)) / root
    return own + computed_in(case.spec.dtype) * np.abs(z) * np.asarray(variance_scale).reshape(shape) / root**2


def computed_in(dtype: str) -> float:
    """The rounding of computations done in float32 for a half-dtype layer, as a fraction of its tolerance."""
    return tolerance("float32").rtol / tolerance(dtype).rtol if dtype in ("float16", "bfloat16") else 1.0


def variance_scale(declared, dtype: str, mean: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """What the rounding of a variance of data with ``mean`` and ``variance`` is proportional to
    (``tolerances.py``): the variance, or ``mean^2 + variance`` for a declared one-pass variance."""
    return (mean**2 + variance) if declared.one_pass_variance else np.asarray(variance, dtype=np.float64)


def check_case(adapter: Adapter, case: Case) -> None:
    """Train ``adapter`` and the reference on the case's batches and compare every step, then infer."""
    spec, declared = case.spec, adapter.declared
    dtype = tolerance_key(spec.dtype, declared)
    reference = ReferenceBatchNorm(spec, declared)
    keeps_statistics = spec.averaging != "none"
    moving_scale = np.zeros(spec.num_features)  # the largest variance scale seen, times the unbiased factor
    for step, batch in enumerate(case.batches, 1):
        output, expected = adapter.train_step(batch), reference.train_step(batch)
        mean, biased, n = batch_moments(spec, batch)
        moving_scale = np.maximum(moving_scale, variance_scale(declared, spec.dtype, mean, biased) * min(bessel(n), 2.0)
                                  * computed_in(spec.dtype))
        if declared.train_normalize_variance == "moving statistics":
            mean, variance = reference.moving_mean, reference.moving_variance
        else:
            variance = biased * bessel(n) if declared.train_normalize_variance == "unbiased" else biased
        results = [compare(f"training output, step {step}", output, expected, dtype,
                           scale=normalized_scale(case, batch, mean, variance, variance_scale(declared, spec.dtype, mean, variance)))]
        if keeps_statistics:
            state = adapter.state()
            results += [
                compare(f"moving mean, step {step}", state.mean, reference.moving_mean, dtype),
                compare(f"moving variance, step {step}", state.variance, reference.moving_variance, dtype, scale=moving_scale),
            ]
        failed = [r.message for r in results if not r.passed]
        assert not failed, "; ".join(failed)
    x = case.inference_batch
    if keeps_statistics:
        mean, variance, scale = reference.moving_mean, reference.moving_variance, moving_scale
    else:
        mean, variance, _ = batch_moments(spec, x)
        scale = variance_scale(declared, spec.dtype, mean, variance)
    result = compare("inference output", adapter.infer(x), reference.infer(x), dtype,
                     scale=normalized_scale(case, x, mean, variance, scale))
    assert result.passed, result.message


@pytest.mark.parametrize("impl_id", implementation_params())
def test_random_descriptions_and_batches_follow_the_declaration(impl_id, request):
    adapter = adapter_class(impl_id)
    counts = Counter()
    # dtypes left out whole (not_drawn) are not drawn at all: rejecting them one by one would filter
    # out most examples of an implementation that takes only three dtypes
    dtypes = tuple(d for d in adapter.dtypes
                   if any(not not_drawn(impl_id, adapter.declared, BatchNormSpec(4, dtype=d), kind) for kind in BATCH_KINDS))

    @settings(max_examples=examples_per_implementation())
    @given(case=valid_cases(adapter, dtypes))
    def property_holds(case: Case):
        if not_drawn(impl_id, adapter.declared, case.spec, case.kind):
            counts["not drawn"] += 1
            reject()
        try:
            layer = build(impl_id, case.spec)
        except SpecError:  # no native arguments express it (gamma without beta, say): refused before the framework runs
            counts["refused"] += 1
            reject()
        counts["examples"] += 1
        counts[case.kind] += 1
        check_case(layer, case)

    try:
        property_holds()
    finally:
        request.node.user_properties.append((EXAMPLES, {"impl": impl_id, "profile": settings.get_current_profile_name(), **counts}))
