"""Porting: a PyTorch BatchNorm1d trained for 20 steps, its state carried to every implementation of
another framework that trains, gives the same inference output; with the target's default
epsilon, it does not.

A port runs two frameworks, so its test ids name neither (``batchnorm1d-to-keras3``) and it carries
no framework marker (``-k`` matches markers too): ``-k torch`` and ``-k tensorflow`` each keep their
promise of selecting one family. A full run or ``-k port`` runs them. The ONNX operators are not
targets here: no id could name them without "onnx".
"""

from __future__ import annotations

import numpy as np
import pytest

from adapters.porting import gaps, port
from adapters.reference import batch_moments, bessel
from adapters.registry import IMPLEMENTATIONS, PORTING_SOURCE, PORTING_SOURCE_NAME, porting_names
from adapters.spec import BatchNormSpec

from .cases import adapter_class, batches, build, implementation_params, refused

SOURCE = PORTING_SOURCE
#: Each porting case carries its target's marker, as its family (the source is PyTorch's, in every case).
TARGETS = [pytest.param(impl_id, id=f"{PORTING_SOURCE_NAME}-to-{name}", marks=getattr(pytest.mark, IMPLEMENTATIONS[impl_id].framework))
           for impl_id, name in porting_names().items()]


def trained_source(steps: int = 20, batch_size: int = 8):
    spec = BatchNormSpec(4, decay=0.9, epsilon=1e-5)  # PyTorch's defaults: momentum 0.1, eps 1e-5
    source = build(SOURCE, spec)
    for batch in batches(spec, batch_size, steps, seed=20):
        source.train_step(batch)
    source.set_state(source.state()._replace(gamma=np.array([1.0, 0.5, 2.0, -1.0]), beta=np.array([0.0, 1.0, -2.0, 0.5])))
    return source


@pytest.mark.parametrize("target_id", TARGETS)
def test_ported_state_gives_the_same_inference(target_id, assert_close, record_property):
    source = trained_source()
    adapter_class(target_id)  # skips, with its reason, where the target is not installed
    target, names = port(source, target_id)
    assert len(set(names.values())) == 4
    record_property("state names", names)
    (batch,) = batches(source.spec, 32, 1, seed=21)
    assert_close("inference output after the port", target.infer(batch), source.infer(batch), "float32")

    default_epsilon = target.native_defaults()["epsilon"]
    careless, _ = port(source, target_id, epsilon=default_epsilon)
    difference = careless.infer(batch) - source.infer(batch)
    mean, variance, gamma, _ = source.state()
    predicted = (batch - mean) * gamma * (1 / np.sqrt(variance + default_epsilon) - 1 / np.sqrt(variance + source.spec.epsilon))
    assert_close("output difference the target's default epsilon causes", difference, predicted, "float32")
    mismatch = float(np.abs(difference).max())
    record_property(f"max output mismatch with the target's default epsilon {default_epsilon:g}", mismatch)
    print(f"{target_id}: default epsilon {default_epsilon:g} instead of 1e-05 moves outputs by up to {mismatch:.3g}")


@pytest.mark.parametrize("batch_size", (2, 8, 64), ids=lambda b: f"batch{b}")
@pytest.mark.parametrize("target_id", [t for t in TARGETS if t.values == ("tensorflow-keras3",)])
def test_unbiased_update_drift_after_the_port(target_id, batch_size, assert_close, record_property):
    """PyTorch's unbiased update has no Keras 3 argument: train both 100 steps, measure the drift."""
    spec = BatchNormSpec(4, decay=0.9, epsilon=1e-5)
    source, target = build(SOURCE, spec), build(target_id, spec)
    assert "moving_variance_update" in gaps(source, target)
    predicted = np.zeros(4)
    drifts, expected = [], []
    for batch in batches(spec, batch_size, 100, seed=batch_size):
        source.train_step(batch)
        target.train_step(batch)
        _, biased, n = batch_moments(spec, batch)
        predicted = spec.decay * predicted + (1 - spec.decay) * (bessel(n) - 1) * biased
        drifts.append(source.state().variance - target.state().variance)
        expected.append(predicted.copy())
    assert_close("moving variance drift per step", np.array(drifts), np.array(expected), "float32")
    relative = float(np.max(np.abs(drifts[-1]) / target.state().variance))
    record_property("relative drift after 100 steps", relative)
    print(f"batch {batch_size}: after 100 steps PyTorch's moving variance exceeds Keras 3's by {100 * relative:.3g}%")


@pytest.mark.parametrize(
    "spec",
    [
        BatchNormSpec(4, decay=0.9, epsilon=1e-5),
        BatchNormSpec(3, decay=0.0, epsilon=0.1, ndim=3, axis=1),
        BatchNormSpec(2, decay=0.999, epsilon=1e-3, dtype="float16"),
        BatchNormSpec(1, decay=0.5, epsilon=1e-7, center=False, scale=False),  # MLX refuses epsilon 0
    ],
    ids=["defaults", "3d-channels_first", "float16", "no_affine"],
)
@pytest.mark.parametrize("impl_id", implementation_params())
def test_translation_round_trips(impl_id, spec):
    """Neutral description -> native arguments -> neutral description is the identity (or a plain
    refusal of a dtype the implementation does not take)."""
    if refused(impl_id, spec):
        return
    adapter = build(impl_id, spec)
    assert adapter.spec_from_native(adapter.native) == spec
