"""Hypothesis strategies over invalid BatchNorm descriptions, and the settings profiles the
property tests run under.

Profiles (``BNPARITY_HYPOTHESIS=<name>``): ``ci``, the default, is derandomized (the same examples
on every run, so a red CI is reproducible) and writes no example database; ``explore`` draws fresh
examples, ten times as many, and keeps its database outside the tree (``~/.cache/bnparity``). A
counterexample found by exploring becomes a fix or a strict xfail, and its shrunk example a
regular test.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

from adapters.spec import AVERAGING, DTYPES

#: Examples per property in the ``ci`` profile. The description's checks cost microseconds; a
#: property over an implementation would take fewer, since every example builds a layer.
EXAMPLES = 200

settings.register_profile("ci", max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("explore", max_examples=10 * EXAMPLES, deadline=None,
                          database=DirectoryBasedExampleDatabase(str(Path.home() / ".cache" / "bnparity" / "hypothesis")),
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("BNPARITY_HYPOTHESIS", "ci"))

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
