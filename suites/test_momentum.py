"""The momentum inversion: PyTorch's ``momentum=m`` is Keras's and Flax's ``momentum=1-m``.

Each implementation is built for the same decay (weight of the old value, 1 - m), the test checks
that its native momentum argument is m or 1 - m as its convention says, and that its moving mean
follows the one reference trajectory step by step. Since every implementation meets the same
trajectory on the same batches, PyTorch at m and Keras at 1 - m agree with each other, and a
single-framework selection (``-k torch``) still proves its half without importing the other.
"""

from __future__ import annotations

import numpy as np
import pytest

from adapters.reference import ReferenceBatchNorm
from adapters.spec import BatchNormSpec

from .cases import batches, build, implementation_params

#: Momenta in PyTorch's sense (the weight of the new value). Test ids say "m" rather than naming
#: PyTorch, so that ``-k torch`` selects only the cases that run PyTorch.
NEW_WEIGHT_MOMENTA = (0.1, 0.01, 0.3)


@pytest.mark.parametrize("m", NEW_WEIGHT_MOMENTA, ids=lambda m: f"m{m}")
@pytest.mark.parametrize("impl_id", implementation_params())
def test_inverted_momentum_gives_the_same_moving_mean(impl_id, m, assert_close):
    spec = BatchNormSpec(4, decay=1 - m)
    adapter = build(impl_id, spec)
    weighs_new = adapter.declared.momentum_weight == "new"
    assert adapter.native[adapter.momentum_argument] == pytest.approx(m if weighs_new else 1 - m)

    reference = ReferenceBatchNorm(spec, adapter.declared)
    observed, expected = [], []
    for batch in batches(spec, batch_size=5, steps=30, seed=11):
        adapter.train_step(batch)
        reference.train_step(batch)
        observed.append(adapter.state().mean)
        expected.append(reference.moving_mean.copy())
    assert_close("moving mean per step", np.array(observed), np.array(expected), spec.dtype)
