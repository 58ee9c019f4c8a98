"""Fixtures of the equivalence suites."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from .cases import compare


@pytest.fixture
def assert_close(request):
    """``assert_close(quantity, actual, expected, dtype)``: compare, record the numbers, fail if off.

    Every comparison is recorded on the test (``user_properties``), so the report can show the
    largest errors and the tolerance of passing tests too, including under pytest-xdist.
    """

    def check(quantity: str, actual, expected, dtype: str):
        result = compare(quantity, actual, expected, dtype)
        record = asdict(result)
        record["tolerance"] = asdict(result.tolerance)
        request.node.user_properties.append(("bnparity_comparison", record))
        assert result.passed, result.message
        return result

    return check
