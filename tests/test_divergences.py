"""The known-divergence list warns about entries that match nothing, and only about those."""

from __future__ import annotations

from suites.conftest import stale_divergences
from suites.divergences import Divergence

ENTRY = Divergence("test_after_many_steps", "jax-flax_linen-decay0.0-batch2-features16", "variance_robustness", "measured")


def test_an_entry_whose_test_ran_for_its_implementation_with_other_parameters_is_stale():
    nodeids = ["suites/test_moving_statistics.py::test_after_many_steps[jax-flax_linen-decay0.5-batch2-features16]"]
    assert stale_divergences([ENTRY], nodeids) == [ENTRY]


def test_an_entry_of_an_implementation_or_test_the_run_did_not_collect_is_not_stale():
    nodeids = ["suites/test_moving_statistics.py::test_after_many_steps[tinygrad-batchnorm-decay0.9-batch32-features16]",
               "suites/test_moving_statistics.py::test_after_one_step[jax-flax_linen-decay0.0-batch2-features16]"]
    assert stale_divergences([ENTRY], nodeids) == []
