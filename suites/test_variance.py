"""Biased or unbiased: what normalizes a batch in training, and what enters the moving variance.

Every implementation normalizes with the biased variance (divide by n). PyTorch then stores the
unbiased one (times n/(n-1)) in ``running_var``; Keras 3 stores the biased one. Batch size 2 makes
the factor 2, so the two conventions cannot be confused.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from adapters.reference import ReferenceBatchNorm, batch_moments, bessel, channel_shape
from adapters.spec import BatchNormSpec

from .cases import batches, build, implementation_params


@pytest.mark.parametrize("batch_size", (2, 5, 32), ids=lambda b: f"batch{b}")
@pytest.mark.parametrize("impl_id", implementation_params())
def test_moving_variance_factor(impl_id, batch_size, assert_close):
    """With decay 0 the moving variance is exactly what entered it: its ratio to the biased batch variance."""
    spec = BatchNormSpec(4, decay=0.0)
    adapter = build(impl_id, spec)
    (batch,) = batches(spec, batch_size, steps=1, seed=batch_size)
    adapter.train_step(batch)
    _, biased, n = batch_moments(spec, batch)
    factor = adapter.state().variance / biased
    expected = bessel(n) if adapter.declared.moving_variance_update == "unbiased" else 1.0
    assert_close(f"moving variance / biased batch variance (n={n})", factor, np.full(4, expected), spec.dtype)


@pytest.mark.parametrize("batch_size", (2, 5), ids=lambda b: f"batch{b}")
@pytest.mark.parametrize("impl_id", implementation_params())
def test_training_normalizes_with_the_biased_variance(impl_id, batch_size, assert_close):
    spec = BatchNormSpec(4, decay=0.9, epsilon=1e-5)
    adapter = build(impl_id, spec)
    (batch,) = batches(spec, batch_size, steps=1, seed=5)
    mean, biased, n = batch_moments(spec, batch)
    shape = channel_shape(spec)

    def normalized(variance):
        return (batch - mean.reshape(shape)) / np.sqrt(variance.reshape(shape) + spec.epsilon)

    output = adapter.train_step(batch)
    assert_close("training output", output, normalized(biased), spec.dtype)
    # The unbiased candidate differs by sqrt((n-1)/n) (0.71 at n=2): the check above can tell them apart.
    assert not np.allclose(output, normalized(biased * bessel(n)), rtol=1e-2)


@pytest.mark.parametrize("batch_size", (2, 32), ids=lambda b: f"batch{b}")
@pytest.mark.parametrize("impl_id", implementation_params())
def test_drift_from_a_biased_moving_variance(impl_id, batch_size, assert_close):
    """After k steps, moving variance - (the biased convention's) = sum_j (1-d) d^(k-j) (f-1) var_j.

    The closed form is written here, independently of the reference's step-by-step code: f is
    n/(n-1) for an unbiased update and 1 for a biased one, so Keras 3 drifts by 0 and PyTorch by
    (1-d) sum d^(k-j) var_j / (n-1). The biased convention is the implementation's own with only
    the update changed, so initial values and first steps (Haiku's, Equinox's) cancel out.
    """
    decay, steps = 0.9, 20
    spec = BatchNormSpec(4, decay=decay)
    adapter = build(impl_id, spec)
    declared = adapter.declared
    # The closed form below starts from a blend; implementations with another first step store the biased variance.
    assert declared.first_step == "blend" or declared.moving_variance_update == "biased"
    biased_convention = replace(declared, moving_variance_update="biased")
    biased_reference = ReferenceBatchNorm(spec, biased_convention)
    drift = np.zeros(spec.num_features)
    observed, expected = [], []
    for batch in batches(spec, batch_size, steps, seed=3):
        adapter.train_step(batch)
        biased_reference.train_step(batch)
        _, biased, n = batch_moments(spec, batch)
        factor = bessel(n) if adapter.declared.moving_variance_update == "unbiased" else 1.0
        drift = decay * drift + (1 - decay) * (factor - 1) * biased
        observed.append(adapter.state().variance)
        expected.append(biased_reference.moving_variance + drift)
    assert_close("moving variance per step", np.array(observed), np.array(expected), spec.dtype)
