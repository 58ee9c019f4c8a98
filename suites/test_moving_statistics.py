"""Moving mean and variance against the float64 reference, after one step and after many.

The reference follows each implementation's *declared* conventions, so a pass proves the
declaration describes what the framework does on this grid: decays at both ends (0 keeps only the
last batch, 1 never moves), batch size 2 (where the unbiased factor is 2), several feature counts.
"""

from __future__ import annotations

import numpy as np
import pytest

from adapters.spec import BatchNormSpec, SpecError

from .cases import BATCH_SIZES, FEATURES, adapter_class, batches, build, implementation_params, refused, train_both

DECAYS = (0.0, 0.5, 0.9, 0.99, 1.0)
#: One step is cheap, so it also covers the decays of PyTorch's and Keras's defaults and beyond.
ONE_STEP_DECAYS = (0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0)
MANY_STEPS = 50


def grid(decays, batch_sizes, features):
    return pytest.mark.parametrize(
        "decay,batch_size,features",
        [pytest.param(d, b, f, id=f"decay{d}-batch{b}-features{f}") for d in decays for b in batch_sizes for f in features],
    )


def run_both(impl_id, spec, steps, batch_size, seed):
    """Train the implementation and the reference on the same seeded batches; return both trajectories."""
    return train_both(impl_id, spec, batches(spec, batch_size, steps, seed))


@grid(ONE_STEP_DECAYS, BATCH_SIZES, FEATURES)
@pytest.mark.parametrize("impl_id", implementation_params())
def test_after_one_step(impl_id, decay, batch_size, features, assert_close):
    spec = BatchNormSpec(features, decay=decay, epsilon=1e-3)
    observed, expected, outputs = run_both(impl_id, spec, 1, batch_size, seed=features * 100 + batch_size)
    assert_close("moving mean", observed[0, 0], expected[0, 0], spec.dtype)
    assert_close("moving variance", observed[0, 1], expected[0, 1], spec.dtype)
    assert_close("training output", *outputs[0], spec.dtype)


@grid(DECAYS, (2, 32), (1, 16))
@pytest.mark.parametrize("impl_id", implementation_params())
def test_after_many_steps(impl_id, decay, batch_size, features, assert_close):
    """Every one of 50 steps is compared, so a failure names the first step that left the reference."""
    spec = BatchNormSpec(features, decay=decay, epsilon=1e-3)
    observed, expected, _ = run_both(impl_id, spec, MANY_STEPS, batch_size, seed=features * 100 + batch_size + 1)
    assert_close("moving mean per step", observed[:, 0], expected[:, 0], spec.dtype)
    assert_close("moving variance per step", observed[:, 1], expected[:, 1], spec.dtype)


@pytest.mark.parametrize("decay", DECAYS, ids=lambda d: f"decay{d}")
@pytest.mark.parametrize("axis", [1, -1], ids=["channels_first", "channels_last"])
@pytest.mark.parametrize("impl_id", implementation_params())
def test_channel_axis_of_3d_input(impl_id, axis, decay, assert_close):
    """(N, C, L) and (N, L, C) batches: each adapter moves the channel axis where its framework wants it."""
    spec = BatchNormSpec(4, decay=decay, ndim=3, axis=axis)
    if refused(impl_id, spec):
        return
    observed, expected, outputs = run_both(impl_id, spec, 10, batch_size=2, seed=7)
    assert_close("moving mean per step", observed[:, 0], expected[:, 0], spec.dtype)
    assert_close("moving variance per step", observed[:, 1], expected[:, 1], spec.dtype)
    assert_close("training output", *outputs[-1], spec.dtype)


@pytest.mark.parametrize("decay", (0.0, 0.9), ids=lambda d: f"decay{d}")
@pytest.mark.parametrize("axis", [1, -1], ids=["channels_first", "channels_last"])
@pytest.mark.parametrize("impl_id", implementation_params())
def test_channel_axis_of_4d_input(impl_id, axis, decay, assert_close):
    """Images, (N, C, H, W) and (N, H, W, C): PyTorch wants channels first, Keras and Flax last;
    the adapter translates. Where the layer takes no 4-D batch, it refuses in plain words."""
    spec = BatchNormSpec(4, decay=decay, ndim=4, axis=axis)
    if refused(impl_id, spec):
        return
    observed, expected, outputs = run_both(impl_id, spec, 5, batch_size=2, seed=8)
    assert_close("moving mean per step", observed[:, 0], expected[:, 0], spec.dtype)
    assert_close("moving variance per step", observed[:, 1], expected[:, 1], spec.dtype)
    assert_close("training output", *outputs[-1], spec.dtype)


@pytest.mark.parametrize("batch_size", (2, 32), ids=lambda b: f"batch{b}")
@pytest.mark.parametrize("dtype", ("float16", "bfloat16"))
@pytest.mark.parametrize("impl_id", implementation_params())
def test_half_precision_step(impl_id, dtype, batch_size, assert_close):
    """Half-precision batches: the same conventions, within the dtype's own rounding, or a plain
    refusal: bnparity's, before the framework is called, or the framework's own where it declares one."""
    spec = BatchNormSpec(4, decay=0.9, dtype=dtype)
    adapter = adapter_class(impl_id)
    if dtype not in adapter.dtypes:
        with pytest.raises(SpecError, match="dtype"):
            build(impl_id, spec)
        return
    if adapter.declared.half_precision.raises(dtype):
        with pytest.raises(Exception) as refusal:
            run_both(impl_id, spec, 5, batch_size, seed=batch_size)
        assert not isinstance(refusal.value, SpecError), "the framework's refusal was declared, not bnparity's"
        return
    observed, expected, outputs = run_both(impl_id, spec, 5, batch_size, seed=batch_size)
    assert_close("moving mean per step", observed[:, 0], expected[:, 0], dtype)
    assert_close("moving variance per step", observed[:, 1], expected[:, 1], dtype)
    assert_close("training output", *outputs[-1], dtype)


@pytest.mark.parametrize("batch_size", BATCH_SIZES, ids=lambda b: f"batch{b}")
@pytest.mark.parametrize("impl_id", implementation_params())
def test_cumulative_average(impl_id, batch_size, assert_close):
    """The plain mean of every batch (PyTorch ``momentum=None``), or a plain refusal where no argument gives it."""
    spec = BatchNormSpec(4, averaging="cumulative")
    if adapter_class(impl_id).declared.cumulative_average is None:
        with pytest.raises(SpecError, match="averaging"):
            build(impl_id, spec)
        return
    observed, expected, _ = run_both(impl_id, spec, 20, batch_size, seed=batch_size + 3)
    assert_close("moving mean per step", observed[:, 0], expected[:, 0], spec.dtype)
    assert_close("moving variance per step", observed[:, 1], expected[:, 1], spec.dtype)


@pytest.mark.parametrize("impl_id", implementation_params())
def test_a_batch_of_one(impl_id, assert_close):
    """One value per channel, as the declaration says (``batch_size_1``): refused by the framework, passed
    through untouched, or trained against the reference, which feeds the declared variance of 0 or NaN."""
    spec = BatchNormSpec(3, decay=0.5)
    batches = [np.array([[3.0, -1.0, 0.5]]), np.array([[1.0, 2.0, -4.0]])]
    declared = adapter_class(impl_id).declared.batch_size_1
    if declared == "raises":
        with pytest.raises(Exception):  # noqa: B017 (the framework's own refusal, whatever its type)
            build(impl_id, spec).train_step(batches[0])
        return
    if declared == "passes through":
        adapter = build(impl_id, spec)
        before = adapter.state()
        assert_close("training output", adapter.train_step(batches[0]), batches[0], spec.dtype)
        assert_close("moving statistics", np.array(adapter.state()[:2]), np.array(before[:2]), spec.dtype)
        return
    observed, expected, outputs = train_both(impl_id, spec, batches)
    assert_close("moving mean per step", observed[:, 0], expected[:, 0], spec.dtype)
    assert_close("moving variance per step", observed[:, 1], expected[:, 1], spec.dtype)
    assert_close("training output", *outputs[-1], spec.dtype)

