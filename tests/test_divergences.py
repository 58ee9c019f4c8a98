"""Known divergences match a case by its test, implementation and parameters, and the list warns about
entries that match nothing, and only about those."""

from __future__ import annotations

from adapters.divergence import Divergence, where
from suites.conftest import stale_divergences
from suites.divergences import KNOWN_DIVERGENCES

ENTRY = Divergence("test_after_many_steps", "jax-flax_linen", "variance_robustness", "measured",
                   where(decay=0.0, batch_size=2, features=16))


def test_an_entry_matches_its_test_implementation_and_parameters_only():
    params = {"impl_id": "jax-flax_linen", "decay": 0.0, "batch_size": 2, "features": 16}
    assert ENTRY.matches("test_after_many_steps", params)
    assert not ENTRY.matches("test_after_many_steps", {**params, "decay": 0.5})
    assert not ENTRY.matches("test_after_many_steps", {**params, "impl_id": "jax-flax_nnx"})
    assert not ENTRY.matches("test_after_one_step", params)
    assert not ENTRY.matches("test_after_many_steps", {"impl_id": "jax-flax_linen"})  # a parameter it names is missing


def test_an_entry_whose_test_ran_for_its_implementation_with_other_parameters_is_stale():
    assert stale_divergences([ENTRY], {("test_after_many_steps", "jax-flax_linen")}) == [ENTRY]


def test_an_entry_of_an_implementation_or_test_the_run_did_not_collect_is_not_stale():
    collected = {("test_after_many_steps", "tinygrad-batchnorm"), ("test_after_one_step", "jax-flax_linen")}
    assert stale_divergences([ENTRY], collected) == []


def test_every_entry_names_a_row_of_the_matrix():
    """A layer's row, or, for a section's column, a row of that section."""
    from adapters.rows import ROW_IDS, SECTIONS
    from suites.sections import columns

    for divergence in KNOWN_DIVERGENCES:
        section = next((s for s in SECTIONS if divergence.impl in columns(s)), None)
        rows = section.row_ids if section is not None else ROW_IDS
        assert divergence.convention in rows, f"{divergence}: {divergence.convention!r} is not a row of {section.key if section else 'the layers'}"
