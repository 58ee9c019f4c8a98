"""Inference normalizes with the moving statistics, epsilon inside the square root; default epsilons differ.

The moving variance is set small (1e-3) in one channel, where epsilon inside or outside the root,
and 1e-3 against 1e-5, make differences far beyond any tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest

from adapters.base import State
from adapters.reference import ReferenceBatchNorm, batch_moments, channel_shape
from adapters.spec import BatchNormSpec, SpecError

from .cases import adapter_class, batches, build, implementation_params

STATE = State(
    mean=np.array([0.5, -1.0, 3.0, 0.0]),
    variance=np.array([1e-3, 0.04, 1.0, 9.0]),
    gamma=np.array([1.0, 2.0, 0.5, -1.5]),
    beta=np.array([0.0, 0.25, -1.0, 2.0]),
)


def inference(spec, batch, state, epsilon_inside=True):
    shape = channel_shape(spec)
    mean, variance, gamma, beta = (v.reshape(shape) for v in state)
    std = np.sqrt(variance + spec.epsilon) if epsilon_inside else np.sqrt(variance) + spec.epsilon
    return (batch - mean) / std * gamma + beta


@pytest.mark.parametrize("epsilon", (1e-3, 1e-5, 0.1), ids=lambda e: f"epsilon{e}")
@pytest.mark.parametrize("impl_id", implementation_params())
def test_inference_uses_moving_statistics_with_epsilon_inside_the_root(impl_id, epsilon, assert_close):
    spec = BatchNormSpec(4, epsilon=epsilon)
    adapter = build(impl_id, spec)
    adapter.set_state(STATE)
    (batch,) = batches(spec, 32, steps=1, seed=2)
    output = adapter.infer(batch)
    assert_close("inference output", output, inference(spec, batch, STATE), spec.dtype)
    assert not np.allclose(output, inference(spec, batch, STATE, epsilon_inside=False), rtol=1e-3)
    assert_close("state unchanged by inference", np.array(adapter.state()), np.array(STATE), spec.dtype)


@pytest.mark.parametrize("impl_id", implementation_params())
def test_default_epsilon_alone_changes_the_output(impl_id, assert_close, record_property):
    """The same state at epsilon 1e-3 (TensorFlow/Keras's default) and 1e-5 (PyTorch's, Flax's)."""
    (batch,) = batches(BatchNormSpec(4), 32, steps=1, seed=4)
    outputs = {}
    for epsilon in (1e-3, 1e-5):
        adapter = build(impl_id, BatchNormSpec(4, epsilon=epsilon))
        adapter.set_state(STATE)
        outputs[epsilon] = adapter.infer(batch)
    measured = outputs[1e-3] - outputs[1e-5]
    predicted = inference(BatchNormSpec(4, epsilon=1e-3), batch, STATE) - inference(
        BatchNormSpec(4, epsilon=1e-5), batch, STATE
    )
    assert_close("output(eps=1e-3) - output(eps=1e-5)", measured, predicted, "float32")
    per_channel = np.abs(measured).max(axis=0)
    record_property("max output difference per channel", per_channel.tolist())
    # At variance 1e-3 the default epsilon alone moves outputs by tens of percent; at 9, barely.
    assert per_channel[0] > 1.0 > 1e-3 > per_channel[3]


@pytest.mark.parametrize("impl_id", implementation_params())
def test_without_moving_statistics(impl_id, assert_close):
    """No moving statistics (PyTorch ``track_running_stats=False``): inference normalizes each batch
    with its own mean and biased variance, as training does; elsewhere a plain refusal."""
    spec = BatchNormSpec(4, epsilon=1e-5, averaging="none")
    if adapter_class(impl_id).declared.no_moving_statistics is None:
        with pytest.raises(SpecError, match="averaging"):
            build(impl_id, spec)
        return
    adapter = build(impl_id, spec)
    reference = ReferenceBatchNorm(spec, adapter.declared)
    first, second = batches(spec, 8, steps=2, seed=9)
    assert_close("training output", adapter.train_step(first), reference.train_step(first), spec.dtype)
    assert_close("inference output", adapter.infer(second), reference.infer(second), spec.dtype)
    mean, biased, _ = batch_moments(spec, second)
    by_hand = (second - mean) / np.sqrt(biased + spec.epsilon)
    assert_close("inference output against its own batch statistics", adapter.infer(second), by_hand, spec.dtype)
    assert np.isnan(adapter.state().mean).all() and np.isnan(adapter.state().variance).all()


@pytest.mark.parametrize("impl_id", implementation_params())
def test_native_defaults_are_as_declared(impl_id):
    adapter = build(impl_id, BatchNormSpec(4))
    defaults = adapter.native_defaults()
    assert defaults == {"momentum": pytest.approx(adapter.declared.default_momentum), "epsilon": pytest.approx(adapter.declared.default_epsilon)}


@pytest.mark.parametrize("impl_id", implementation_params())
def test_set_state_round_trips(impl_id, assert_close):
    adapter = build(impl_id, BatchNormSpec(4))
    adapter.set_state(STATE)
    assert_close("state read back", np.array(adapter.state()), np.array(STATE), "float32")
