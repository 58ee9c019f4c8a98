"""Compiled steps give the numbers of the same steps run eagerly.

The suites run every implementation the way its users run it, so JAX layers inside ``jax.jit``
(``adapters/registry.py``, ``execution``). A compiler may fuse and reorder arithmetic; this test
trains one layer compiled and its twin op by op (``Adapter.eager()``) on the same batches and
compares outputs and moving statistics within the dtype's tolerance, for every compiled
implementation and every dtype it takes. A difference beyond it would be a finding about the
compiler, recorded as a known divergence, never absorbed by a looser tolerance.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from adapters.registry import IMPLEMENTATIONS
from adapters.spec import BatchNormSpec

from .cases import adapter_class, batches, build, implementation_params

COMPILED = tuple(impl_id for impl_id, impl in IMPLEMENTATIONS.items() if impl.compiled)


@pytest.mark.parametrize("dtype", ("float32", "float16", "bfloat16"))
@pytest.mark.parametrize("impl_id", implementation_params(COMPILED))
def test_compiled_step_gives_the_eager_numbers(impl_id, dtype, assert_close, record_property):
    spec = BatchNormSpec(4, decay=0.9, dtype=dtype)
    if dtype not in adapter_class(impl_id).dtypes or adapter_class(impl_id).declared.half_precision.raises(dtype):
        pytest.skip(f"{impl_id} takes no {dtype} (a refusal, tested in test_half_precision_step and in the matrix)")
    compiled, eager = build(impl_id, spec), build(impl_id, spec)
    assert not isinstance(eager.eager(), contextlib.nullcontext), f"{impl_id} is compiled but has no eager mode to compare with"
    record_property("execution", IMPLEMENTATIONS[impl_id].execution)
    outputs, states = [], []
    for batch in batches(spec, 5, steps=2, seed=31):
        with eager.eager():
            expected = eager.train_step(batch)
        outputs.append((compiled.train_step(batch), expected))
        states.append((np.array(compiled.state()), np.array(eager.state())))
    (batch,) = batches(spec, 5, steps=1, seed=32)
    with eager.eager():
        expected_inference = eager.infer(batch)
    assert_close("training output per step", np.array([o[0] for o in outputs]), np.array([o[1] for o in outputs]), dtype)
    assert_close("state per step (mean, variance, gamma, beta)", np.array([s[0] for s in states]), np.array([s[1] for s in states]), dtype)
    assert_close("inference output", compiled.infer(batch), expected_inference, dtype)
