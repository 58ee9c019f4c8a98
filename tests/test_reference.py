"""The reference against numbers worked out by hand, never against an implementation.

The founding question's arithmetic (../shared/seed/README.md) is the first check: one batch
[0, W0] with W0 = 4 * 0.3514931, momentum 0.5, initial moving values 0 and 1.
"""

from __future__ import annotations

import numpy as np
import pytest

from adapters.conventions import Conventions
from adapters.reference import ReferenceBatchNorm, batch_moments, bessel
from adapters.spec import BatchNormSpec

W0 = 4 * 0.3514931
SEED_BATCH = np.array([[0.0], [W0]])


def conventions(**changes) -> Conventions:
    base = dict(
        momentum_weight="old",
        default_momentum=0.99,
        default_epsilon=1e-3,
        train_normalize_variance="biased",
        moving_variance_update="biased",
        state_names=("mean", "variance", "gamma", "beta"),
    )
    return Conventions(**{**base, **changes})


def test_founding_question_moving_statistics():
    reference = ReferenceBatchNorm(BatchNormSpec(1, decay=0.5), conventions())
    reference.train_step(SEED_BATCH)
    assert reference.moving_mean == pytest.approx([0.3514931], rel=1e-12)
    # 0.5 * 1 + 0.5 * var_biased([0, W0]) = 0.5 + 0.5 * W0**2 / 4
    assert reference.moving_variance == pytest.approx([0.5 + W0**2 / 8], rel=1e-12)
    assert reference.moving_variance == pytest.approx([0.74709475], abs=5e-8)


def test_founding_question_with_an_unbiased_update():
    reference = ReferenceBatchNorm(BatchNormSpec(1, decay=0.5), conventions(moving_variance_update="unbiased"))
    reference.train_step(SEED_BATCH)
    assert reference.moving_variance == pytest.approx([0.5 + W0**2 / 4], rel=1e-12)
    assert reference.moving_variance == pytest.approx([0.99418956], abs=5e-8)


def test_founding_question_inference_with_the_printed_weights():
    spec = BatchNormSpec(1, decay=0.5, epsilon=1e-3)
    reference = ReferenceBatchNorm(spec, conventions())
    reference.train_step(SEED_BATCH)
    reference.gamma[:], reference.beta[:] = 0.999, -0.001
    output = reference.infer(np.array([[0.0], [1.404974]]))
    assert output.ravel() == pytest.approx([-0.40697935, 1.215785], abs=5e-7)


def test_training_output_is_plus_minus_one_at_batch_two():
    reference = ReferenceBatchNorm(BatchNormSpec(1, epsilon=0.0), conventions())
    assert reference.train_step(np.array([[1.0], [3.0]])).ravel() == pytest.approx([-1.0, 1.0])
    unbiased = ReferenceBatchNorm(BatchNormSpec(1, epsilon=0.0), conventions(train_normalize_variance="unbiased"))
    assert unbiased.train_step(np.array([[1.0], [3.0]])).ravel() == pytest.approx([-(0.5**0.5), 0.5**0.5])


@pytest.mark.parametrize(
    "first_step,expected_mean",
    [("blend", 0.1 * 5.0), ("copy", 5.0), ("debiased", 5.0)],
)
def test_first_step_rules(first_step, expected_mean):
    reference = ReferenceBatchNorm(BatchNormSpec(1, decay=0.9), conventions(first_step=first_step, initial_mean=0.0))
    reference.train_step(np.array([[4.0], [6.0]]))
    assert reference.moving_mean == pytest.approx([expected_mean])


def test_debiased_average_after_two_steps():
    # hidden_1 = 0.1 * 5 = 0.5, hidden_2 = 0.9 * 0.5 + 0.1 * 1 = 0.55; 0.55 / (1 - 0.81) = 2.8947...
    reference = ReferenceBatchNorm(BatchNormSpec(1, decay=0.9), conventions(first_step="debiased"))
    reference.train_step(np.array([[4.0], [6.0]]))
    reference.train_step(np.array([[0.0], [2.0]]))
    assert reference.moving_mean == pytest.approx([0.55 / 0.19])


def test_cumulative_average_is_the_plain_mean_of_batch_means():
    reference = ReferenceBatchNorm(BatchNormSpec(1, averaging="cumulative"), conventions())
    for value in (2.0, 4.0, 9.0):
        reference.train_step(np.array([[value - 1], [value + 1]]))
    assert reference.moving_mean == pytest.approx([5.0])


def test_moments_and_bessel_factor():
    spec = BatchNormSpec(2, ndim=3, axis=1)
    batch = np.arange(12, dtype=np.float64).reshape(2, 2, 3)  # channel 0: 0,1,2,6,7,8
    mean, variance, n = batch_moments(spec, batch)
    assert n == 6
    assert mean == pytest.approx([4.0, 7.0])
    assert variance == pytest.approx([np.var([0, 1, 2, 6, 7, 8])] * 2)
    assert bessel(2) == 2.0 and bessel(1) == float("inf")


# float32(0.9) = 0.89999997615814208984375 and float32(0.1) = 0.100000001490116119384765625, written out
@pytest.mark.parametrize("reading,moving_mean", [
    ("float64", (1 - 0.9) * 4.0),
    ("float32 attributes", (1 - 0.89999997615814208984375) * 4.0),
    ("batch weight in float32", 0.100000001490116119384765625 * 4.0),
    ("update in float32", 0.4000000059604644775390625),  # float32(0.100000001490116 * 4), the nearest float32 to 0.4
])
def test_a_float64_layer_blends_with_the_declared_precision_of_its_weights(reading, moving_mean):
    spec = BatchNormSpec(1, decay=0.9, dtype="float64")
    reference = ReferenceBatchNorm(spec, conventions(float64_momentum=reading))
    reference.train_step(np.array([[2.0], [6.0]]))
    assert reference.moving_mean[0] == moving_mean


def test_the_weights_precision_applies_to_float64_layers_only():
    spec = BatchNormSpec(1, decay=0.9, dtype="float32")
    reference = ReferenceBatchNorm(spec, conventions(float64_momentum="float32 attributes"))
    reference.train_step(np.array([[2.0], [6.0]]))
    assert reference.moving_mean[0] == (1 - 0.9) * 4.0
