"""Property tests of the neutral description: every invalid description and batch raises SpecError
naming its field, for whole classes of wrong values rather than one case per field
(``tests/test_spec_validation.py`` has those). The checks live in the description, so no
framework is involved; ``tests/test_lazy_imports.py`` proves none is imported."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.spec import BatchNormSpec, SpecError

from .strategies import invalid_fields


@given(invalid_fields())
def test_every_invalid_field_is_refused_naming_it(field_value):
    field, value = field_value
    with pytest.raises(SpecError) as refusal:
        BatchNormSpec(**{"num_features": 4, field: value})
    assert refusal.value.field == field


@given(ndim=st.integers(2, 5), axis=st.integers(-12, 12))
def test_an_axis_is_refused_unless_it_is_a_channel_axis_of_the_rank(ndim, axis):
    if -ndim <= axis < ndim and axis % ndim != 0:
        assert BatchNormSpec(4, ndim=ndim, axis=axis).channel_axis == axis % ndim
    else:
        with pytest.raises(SpecError) as refusal:
            BatchNormSpec(4, ndim=ndim, axis=axis)
        assert refusal.value.field == "axis"


@given(shape=st.lists(st.integers(0, 4), min_size=1, max_size=6),
       dtype=st.sampled_from(["float32", "float64", "int64", "bool", "complex64"]))
def test_a_batch_of_the_wrong_rank_channels_size_or_dtype_is_refused_naming_it(shape, dtype):
    spec = BatchNormSpec(3, ndim=3, axis=1)
    batch = np.zeros(shape, dtype=dtype)
    valid = (np.issubdtype(batch.dtype, np.floating) and len(shape) == 3 and shape[1] == 3 and shape[0] >= 1)
    if valid:
        assert spec.check_batch(batch).shape == tuple(shape)
    else:
        with pytest.raises(SpecError) as refusal:
            spec.check_batch(batch)
        assert refusal.value.field.startswith("batch")
