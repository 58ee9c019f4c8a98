"""Hypothesis strategies over invalid BatchNorm descriptions. The settings profiles (``ci``, the
default, derandomized; ``explore``) are the suites' own, in ``suites/strategies.py``, loaded on import.
"""

from __future__ import annotations

import math

from hypothesis import strategies as st

import suites.strategies  # noqa: F401  (registers and loads the settings profiles)
from adapters.spec import AVERAGING, DTYPES

# -- invalid -----------------------------------------------------------------------------------------

NOT_A_NUMBER = st.one_of(st.text(max_size=3), st.none(), st.lists(st.integers(), max_size=1))


def invalid_fields() -> st.SearchStrategy[tuple[str, object]]:
    """(field, value) pairs that no description may take, each field with several kinds of wrong."""
    return st.one_of(
        st.tuples(st.just("num_features"), st.one_of(st.integers(max_value=0), st.floats(allow_nan=True), st.booleans(), NOT_A_NUMBER)),
        st.tuples(st.just("decay"), st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=1 + 1e-9),
                                               st.just(math.nan), st.just(math.inf), NOT_A_NUMBER)),
        st.tuples(st.just("epsilon"), st.one_of(st.floats(max_value=-1e-12), st.just(math.nan), st.just(math.inf), NOT_A_NUMBER)),
        st.tuples(st.sampled_from(["center", "scale"]), st.one_of(st.integers(), st.none(), st.text(max_size=2))),
        st.tuples(st.just("dtype"), st.text(max_size=8).filter(lambda d: d not in DTYPES)),
        st.tuples(st.just("ndim"), st.one_of(st.integers(max_value=1), st.integers(min_value=6), NOT_A_NUMBER)),
        st.tuples(st.just("averaging"), st.text(max_size=10).filter(lambda a: a not in AVERAGING)),
    )
