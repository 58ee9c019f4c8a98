"""What the data-parallel suite reads from a run (``suites/parallel_checks.py``), on hand-made
results: each reading must name what the numbers say, for every value a row can take.

The numbers are worked out here from the batches' definition (replicas [-1, 0, 1, 0] and
[9, 10, 11, 10]: each replica's mean 0 and 10, variance 0.5; pooled, mean 5 and variance 25.5;
replicas of 6 and 2 examples [-1, 0, 1, 0, -1, 1] and [9, 11]: weighted mean 2.5, equal-weight 5),
not taken from the module under test.
"""

from __future__ import annotations

import numpy as np
import pytest

from parallel.base import UnequalSlicesRefused
from suites import parallel_checks


def channel0(values):
    return np.asarray(values).reshape(2, -1)[:, 0]


@pytest.mark.parametrize(("variances", "baseline", "reading"), [
    ([25.5, 25.5], 25.5, "none (the biased variance)"),
    ([25.5 * 8 / 7] * 2, 25.5, "N/(N-1) of the global count"),
    ([25.5 * 4 / 3] * 2, 25.5, "n/(n-1) of each replica's count"),
    ([0.5 * 4 / 3] * 2, 0.5, "n/(n-1) of each replica's count"),
    ([26.0, 26.0], 25.5, None),
])
def test_the_correction_is_read_from_the_stored_variance(variances, baseline, reading):
    assert parallel_checks._correction(np.array(variances), baseline) == reading


@pytest.mark.parametrize(("means", "reading"), [
    ([2.5, 2.5], "weighted by count"),
    ([5.0, 5.0], "each replica weighs the same"),
    ([0.0, 10.0], "not combined"),
    ([1.0, 1.0], "other"),
])
def test_replicas_of_unequal_sizes(means, reading):
    step = {"mean": np.array(means)}
    assert parallel_checks._uneven([step], channel0)[0] == reading


def test_a_machinery_that_refuses_unequal_slices_says_so_with_its_message():
    reading, evidence = parallel_checks._uneven(UnequalSlicesRefused("ValueError: shard shapes differ"), channel0)
    assert reading == "equal slices only" and "shard shapes differ" in evidence


@pytest.mark.parametrize(("read", "reading"), [
    ({"mean": [0.0, 10.0], "variance": [0.5, 0.5]}, "one value per replica (stacked)"),
    ({"mean": [0.0], "variance": [0.5]}, "replica 0's"),
    ({"mean": [5.0], "variance": [0.5]}, "the mean over replicas"),
])
def test_a_read_outside_the_replicas(read, reading):
    first = {"mean": np.array([0.0, 10.0]), "variance": np.array([0.5, 0.5]), "read": read}
    assert parallel_checks._read_outside(first, np.array([0.0, 10.0]), np.array([0.5, 0.5]), channel0)[0] == reading


def test_a_read_of_replicas_that_agree_is_their_common_value():
    first = {"mean": np.array([5.0, 5.0]), "variance": np.array([25.5, 25.5]), "read": {"mean": [5.0], "variance": [25.5]}}
    reading = parallel_checks._read_outside(first, np.array([5.0, 5.0]), np.array([25.5, 25.5]), channel0)[0]
    assert reading == "the value every replica holds"


def normalized(mean, variance):
    return (np.array([-1.0, 0.0, 1.0, 0.0]) - mean) / np.sqrt(variance + parallel_checks.EPSILON)


@pytest.mark.parametrize(("inference", "reading"), [
    ([normalized(0.0, 0.5), normalized(10.0, 0.5)], "each replica its own moving statistics"),
    ([normalized(0.0, 0.5), normalized(0.0, 0.5)], "replica 0's moving statistics on every replica"),
    ([normalized(5.0, 25.5), normalized(5.0, 25.5)], "other"),
])
def test_inference_on_replicas_that_hold_different_statistics(inference, reading):
    first = {"inference": np.array(inference)}
    assert parallel_checks._inference(first, np.array([0.0, 10.0]), np.array([0.5, 0.5]))[0] == reading


def test_inference_on_replicas_that_agree():
    first = {"inference": np.array([normalized(5.0, 25.5)] * 2)}
    reading = parallel_checks._inference(first, np.array([5.0, 5.0]), np.array([25.5, 25.5]))[0]
    assert reading == "the same on every replica"
