"""Bad descriptions and bad batches raise SpecError naming the field and the value.

The checks live in the description itself, so none of these tests imports a framework;
tests/test_lazy_imports.py proves in a fresh process that the error comes before any import.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from adapters.spec import BatchNormSpec, SpecError


@pytest.mark.parametrize(
    "field,value,fragment",
    [
        ("num_features", 0, "at least 1"),
        ("num_features", -3, "at least 1"),
        ("num_features", 2.5, "integer"),
        ("num_features", True, "integer"),
        ("decay", -0.1, "[0, 1]"),
        ("decay", 1.5, "[0, 1]"),
        ("decay", math.nan, "finite"),
        ("decay", "0.9", "real number"),
        ("epsilon", -1e-5, "not negative"),
        ("epsilon", math.inf, "finite"),
        ("epsilon", math.nan, "finite"),
        ("center", 1, "True or False"),
        ("scale", None, "True or False"),
        ("dtype", "int32", "float16, bfloat16, float32, float64"),
        ("ndim", 1, "2 to 5"),
        ("ndim", 6, "2 to 5"),
        ("axis", 0, "batch axis"),
        ("axis", 2, "rank-2"),
        ("averaging", "weighted", "exponential, cumulative"),
    ],
)
def test_bad_description_names_field_and_value(field, value, fragment):
    arguments = {"num_features": 4, field: value}
    with pytest.raises(SpecError) as caught:
        BatchNormSpec(**arguments)
    assert caught.value.field == field
    assert caught.value.value is value
    message = str(caught.value)
    assert message.startswith(field) and repr(value) in message and fragment in message


@pytest.mark.parametrize(
    "batch,field",
    [
        (np.zeros((8, 4, 2)), "batch.ndim"),
        (np.zeros((8, 3)), "batch.shape[1]"),
        (np.zeros((0, 4)), "batch.shape[0]"),
        (np.zeros((8, 4), dtype=np.int64), "batch.dtype"),
        ([[0.0] * 4] * 8, "batch"),
    ],
)
def test_bad_batch_names_field_and_value(batch, field):
    with pytest.raises(SpecError) as caught:
        BatchNormSpec(4).check_batch(batch)
    assert caught.value.field == field
    assert str(caught.value).startswith(field)


def test_channel_axis_is_named_in_the_channel_count_error():
    with pytest.raises(SpecError, match=r"batch.shape\[1\] must equal num_features=3 \(axis=1"):
        BatchNormSpec(3, ndim=3, axis=1).check_batch(np.zeros((2, 4, 3)))


def test_valid_description_and_batch_pass():
    spec = BatchNormSpec(4, decay=0.0, epsilon=0.0, ndim=4, axis=1)
    assert spec.reduce_axes == (0, 2, 3)
    batch = np.zeros((2, 4, 3, 3))
    assert spec.check_batch(batch) is batch
