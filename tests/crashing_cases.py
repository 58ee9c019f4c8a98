"""Cases for tests/test_scheduling.py (never collected on their own): one kills its worker process, as a
framework that segfaults would, and the others of its family and of two more families must still run."""

import os

import pytest


@pytest.mark.parametrize("impl_id", ["torch-batchnorm1d", "jax-own", "onnx-reference"])
@pytest.mark.parametrize("n", range(3))
def test_case(impl_id, n):
    if impl_id == "onnx-reference" and n == 1:
        os._exit(11)
