"""Probes: each row of the conventions matrix measured on a batch built to tell the possible answers
apart. A probe takes an adapter class and returns ``(value, evidence)``: the value of the
:class:`~adapters.conventions.Conventions` field its row states (``adapters/rows.py``), typed as the
declaration types it, or :class:`Other` where no declarable value explains what happened.

A probe reads the native arguments it set where their meaning matters (the momentum), so the
observations do not take the declaration on trust; the variance probe's reference (biased or
unbiased truth) is the one declared, and ``suites/measure.py`` declares it from the observation before.
Nothing here imports a framework or pytest: the adapter class does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .base import Adapter, State
from .conventions import BeyondRange, HalfPrecision, HalfStep
from .reference import ReferenceBatchNorm, batch_moments, representable
from .spec import BatchNormSpec, SpecError

TWO = np.array([[2.0], [6.0]])  # one channel, batch size 2: mean 4, biased variance 4, unbiased 8


@dataclass(frozen=True)
class Other:
    """An observation that no declarable value explains, shown as what was measured."""

    what: str = ""

    def __str__(self) -> str:
        return f"other ({self.what})" if self.what else "other"


def first_line(error: Exception) -> str:
    """A framework's refusal as evidence: its type and the first line of its message."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def momentum_weight(adapter_type: type[Adapter]):
    """Two steps (batch means 4, then 14) with the native momentum argument at 0.9 or 0.1.

    Each reading of the argument (weight of the old value, weight of the new one) predicts both
    moving means under each first-step rule; the observation is the reading some rule confirms,
    so a debiased or copying first step does not hide the weighting.
    """
    adapter = adapter_type(BatchNormSpec(1, decay=0.9))
    native = adapter.native[adapter.momentum_argument]
    initial = adapter.state().mean[0]
    adapter.train_step(TWO)
    first = adapter.state().mean[0]
    adapter.train_step(TWO + 10.0)
    second = adapter.state().mean[0]
    readings = []
    for reading, d in (("old", native), ("new", 1 - native)):
        blend = d * initial + (1 - d) * 4.0
        predictions = {
            "blend": (blend, d * blend + (1 - d) * 14.0),
            "copy": (4.0, d * 4.0 + (1 - d) * 14.0),
            "debiased": (blend / (1 - d), (d * blend + (1 - d) * 14.0) / (1 - d * d)),
        }
        if any(np.allclose((first, second), p, rtol=1e-5) for p in predictions.values()):
            readings.append(reading)
    observed = readings[0] if len(readings) == 1 else Other(f"moving mean {first:.6g}, then {second:.6g}")
    return observed, (
        f"{adapter.momentum_argument}={native:.4g}, initial {initial:g}, batch means 4 then 14: "
        f"moving mean {first:.6g}, then {second:.6g}"
    )


def _default(adapter_type: type[Adapter], key: str) -> float | None:
    """A default of the native layer as the adapter reads it back, to the 6 digits the matrix shows (a
    float32 attribute reads back as 0.0010000000474974513)."""
    value = adapter_type(BatchNormSpec(1)).native_defaults()[key]
    return None if value is None else float(f"{value:.6g}")


def _measured_default(adapter_type: type[Adapter], key: str, measure):
    """``measure(adapter)`` on the layer the framework builds without a momentum or an epsilon
    (``Adapter.with_framework_defaults``): (value, evidence). Where the constructor requires the argument,
    None; where the adapter passes those arguments itself at every step (the JAX adapters hand them to a
    compiled step as values), the default as the adapter reads it back, saying so."""
    try:
        return measure(adapter_type.with_framework_defaults(BatchNormSpec(1)))
    except Exception as error:
        # raised here, or in the adapter's worker process, where it travels back as "<its type>: <message>"
        said = str(error) if type(error).__name__ == "FrameworkError" else first_line(error)
        if said.startswith("TypeError"):  # the framework's constructor requires the argument
            return None, f"the constructor requires it ({said})"
        if said.startswith(("KeyError", "AdapterError")):
            return _default(adapter_type, key), f"read through the adapter, which cannot run its layer without the argument ({said})"
        raise


def default_momentum(adapter_type):
    """Two steps (batch means 4, then 14) of the layer built without a momentum: the decay follows from
    what moved, under the declared first-step rule, and the native default from it under the declared
    weighting, to three significant digits (a debiased average near 1 gives its decay to about 1e-4)."""

    def measure(adapter):
        declared = adapter_type.declared
        initial = adapter.state().mean[0]
        adapter.train_step(TWO)
        first = adapter.state().mean[0]
        adapter.train_step(TWO + 10.0)
        second = adapter.state().mean[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            decay = {"blend": (4.0 - first) / (4.0 - initial), "copy": (14.0 - second) / 10.0,
                     "debiased": (14.0 - second) / (second - 4.0)}[declared.first_step]
        native = decay if declared.momentum_weight == "old" else 1.0 - decay
        return float(f"{native:.3g}"), (f"a layer built without a momentum, initial mean {initial:g}, batch means 4 then 14: "
                                        f"moving mean {first:.6g}, then {second:.6g}: decay {decay:.6g} ({declared.first_step} first step)")

    return _measured_default(adapter_type, "momentum", measure)


def default_epsilon(adapter_type):
    """The layer built without an epsilon, moving mean 0 and variance 0 written, inference on [1, 2]:
    the output is x / sqrt(epsilon)."""

    def measure(adapter):
        adapter.set_state(State(np.zeros(1), np.zeros(1), np.ones(1), np.zeros(1)))
        output = adapter.infer(np.array([[1.0], [2.0]])).ravel()
        epsilon = float(np.mean((np.array([1.0, 2.0]) / output) ** 2))
        return float(f"{epsilon:.3g}"), (f"a layer built without an epsilon, moving mean 0 and variance 0: inference on [1, 2] "
                                         f"gives {np.array2string(output, precision=6)}, (x / output)^2 = {epsilon:.6g}")

    return _measured_default(adapter_type, "epsilon", measure)


def train_normalize_variance(adapter_type):
    """Two steps, batch [2, 6] then [12, 16]: the second output tells batch from moving statistics."""
    adapter = adapter_type(BatchNormSpec(1, decay=0.9, epsilon=1e-8))  # PyTorch refuses epsilon 0 in training
    adapter.train_step(TWO)
    output = adapter.train_step(TWO + 10.0)
    moving = adapter.state()
    # (x - 14) / sqrt(4) = +-1 with the biased variance, (x - 14) / sqrt(8) = +-0.7071 with the unbiased one
    candidates = {
        "biased": np.array([[-1.0], [1.0]]),
        "unbiased": np.array([[-1.0], [1.0]]) * 0.5**0.5,
        "moving statistics": (TWO + 10.0 - moving.mean) / np.sqrt(moving.variance + 1e-8),
    }
    observed = next((name for name, v in candidates.items() if np.allclose(output, v, rtol=1e-3)),
                    Other(np.array2string(output.ravel(), precision=4)))
    return observed, (
        f"second batch [12, 16], epsilon 1e-8: training output {np.array2string(output.ravel(), precision=5)} "
        "(its biased variance gives +-1, unbiased +-0.7071)"
    )


def one_step_moving(adapter_type, decay: float, batch: np.ndarray = TWO):
    adapter = adapter_type(BatchNormSpec(batch.shape[1], decay=decay))
    before = adapter.state()
    adapter.train_step(batch)
    return adapter, before, adapter.state()


def moving_variance_update(adapter_type):
    _, _, after = one_step_moving(adapter_type, decay=0.0)
    factor = float(after.variance[0] / 4.0)
    observed = ("biased" if np.isclose(factor, 1.0, rtol=1e-3) else "unbiased" if np.isclose(factor, 2.0, rtol=1e-3)
                else Other(f"factor {factor:.4g}"))
    return observed, f"decay 0, batch [2, 6] (biased variance 4): stored {after.variance[0]:.6g}, factor {factor:.6g} (n/(n-1) = 2)"


def initial_mean(adapter_type):
    state = adapter_type(BatchNormSpec(3)).state()
    return float(state.mean[0]), f"read before any step: {np.array2string(state.mean)}"


def initial_variance(adapter_type):
    state = adapter_type(BatchNormSpec(3)).state()
    return float(state.variance[0]), f"read before any step: {np.array2string(state.variance)}"


def first_step(adapter_type):
    adapter = adapter_type(BatchNormSpec(1, decay=0.9))
    initial = adapter.state().mean[0]
    adapter.train_step(TWO)
    first = adapter.state().mean[0]
    adapter.train_step(TWO + 10.0)  # batch mean 14
    second = adapter.state().mean[0]
    if np.isclose(first, 0.9 * initial + 0.1 * 4.0, rtol=1e-5):
        observed = "blend"
    elif np.isclose(first, 4.0, rtol=1e-5) and np.isclose(second, (0.9 * 0.4 + 1.4) / 0.19, rtol=1e-5):
        observed = "debiased"
    elif np.isclose(first, 4.0, rtol=1e-5) and np.isclose(second, 0.9 * 4.0 + 1.4, rtol=1e-5):
        observed = "copy"
    else:
        observed = Other(f"after one step {first:.6g}, after two {second:.6g}")
    return observed, f"decay 0.9, initial {initial:g}, batch means 4 then 14: moving mean {first:.6g}, then {second:.6g}"


def batch_size_1(adapter_type):
    """One value per channel, decay 0.5: refused, passed through untouched, or normalized with a variance of
    0 or NaN fed to the moving average (each told apart by what the declared conventions predict from it)."""
    adapter = adapter_type(BatchNormSpec(2, decay=0.5))
    before = adapter.state()
    batch = np.array([[3.0, -1.0]])
    try:
        output = adapter.train_step(batch)
    except Exception as error:  # the framework's own refusal is the observation
        return "raises", f"{type(error).__name__}: {str(error).splitlines()[0]}"
    state = adapter.state()
    evidence = (f"input {np.array2string(batch.ravel())}: output {np.array2string(output.ravel(), precision=4)}, "
                f"moving mean {np.array2string(state.mean, precision=4)}, moving variance {np.array2string(state.variance, precision=4)}")
    if np.array_equal(output, batch) and np.array_equal(state.mean, before.mean) and np.array_equal(state.variance, before.variance):
        return "passes through", evidence
    # what the declared conventions (first step, variance update) predict from a variance of 0, and from NaN
    for fed in ("runs: variance 0", "runs: variance NaN"):
        reference = ReferenceBatchNorm(BatchNormSpec(2, decay=0.5), dataclasses.replace(adapter.declared, batch_size_1=fed))
        reference.moving_mean, reference.moving_variance = before.mean.copy(), before.variance.copy()
        reference.train_step(batch)
        if np.allclose(state.variance, reference.moving_variance, rtol=1e-5, equal_nan=True):
            return fed, evidence
    return Other(f"moving variance {np.array2string(state.variance, precision=4)}"), evidence


def cumulative_average(adapter_type):
    """Three steps with a cumulative average asked for; the value is the native arguments that asked
    (those that differ from a default layer's), or None where the adapter has no way to ask."""
    try:
        adapter = adapter_type(BatchNormSpec(1, averaging="cumulative"))
    except SpecError as refusal:
        return None, str(refusal)
    default = adapter_type(BatchNormSpec(1)).native
    for shift in (0.0, 10.0, 20.0):
        adapter.train_step(TWO + shift)
    mean = adapter.state().mean[0]
    asked = ", ".join(f"{k}={v!r}" for k, v in adapter.native.items() if k not in default or default[k] != v)
    observed = (asked or "(no native argument differs)") if np.isclose(mean, 14.0, rtol=1e-5) else Other(f"moving mean {mean:.6g}")
    native = ", ".join(f"{k}={v!r}" for k, v in adapter.native.items() if k in ("momentum", "averaging"))
    return observed, f"{native}: batch means 4, 14, 24 gave a moving mean of {mean:.6g} (their mean is 14)"


def inference_formula(adapter_type):
    adapter = adapter_type(BatchNormSpec(1, epsilon=0.5))
    adapter.set_state(State(np.array([1.0]), np.array([0.5]), np.array([1.0]), np.array([0.0])))
    value = float(adapter.infer(np.array([[3.0], [5.0]]))[0, 0])
    candidates = {
        "moving statistics, epsilon inside the square root": 2.0 / np.sqrt(1.0),
        "moving statistics, epsilon outside the square root": 2.0 / (np.sqrt(0.5) + 0.5),
        "batch statistics": -1.0 / np.sqrt(1.0 + 0.5),
    }
    observed = next((name for name, v in candidates.items() if np.isclose(value, v, rtol=1e-5)), Other(f"{value:.6g}"))
    return observed, f"moving mean 1, variance 0.5, epsilon 0.5, input 3: output {value:.6g} (inside the root gives 2)"


def half_precision(adapter_type):
    steps, refusals = [], []
    for dtype in ("float16", "bfloat16"):
        try:
            adapter = adapter_type(BatchNormSpec(2, dtype=dtype))
            adapter.train_step(representable(np.array([[1.0, 2.0], [3.0, 5.0], [4.0, 4.0]]), dtype))
        except SpecError:
            steps.append(HalfStep(refusal="not supported"))
            continue
        except Exception as error:  # the framework's own refusal is the observation
            steps.append(HalfStep(refusal="raises"))
            refusals.append(f"{dtype}: {first_line(error)}")
            continue
        dtypes = adapter.native_dtypes()
        steps.append(HalfStep(dtypes["output"], dtypes["moving"]))
    evidence = "dtypes of the training output and of the stored moving mean after one step"
    return HalfPrecision(*steps), "; ".join([evidence, *refusals])


def variance_robustness(adapter_type):
    """Whether the variance is computed in one pass (E[x^2] - E[x]^2): the value of ``one_pass_variance``."""
    spec = BatchNormSpec(1, decay=0.0)
    adapter = adapter_type(spec)
    batch = representable(np.random.default_rng(0).normal(1e4, 1e-2, size=(64, 1)), "float32")
    adapter.train_step(batch)
    _, biased, n = batch_moments(spec, batch)
    truth = biased * (n / (n - 1) if adapter.declared.moving_variance_update == "unbiased" else 1.0)
    error = float(abs(adapter.state().variance[0] - truth[0]) / truth[0])
    # A float32 two-pass variance keeps ~2% here (the mean itself is rounded); E[x^2] - E[x]^2 keeps nothing.
    return error >= 0.1, f"64 float32 values, mean 1e4, std 1e-2: relative error of the moving variance {error:.2g}"


def _stored(value: float) -> str:
    return "NaN" if np.isnan(value) else "inf" if np.isinf(value) else f"{value:.2g}"


def _outputs(values: np.ndarray) -> str:
    if np.isnan(values).any():
        return "NaN"
    if np.all(np.abs(values) < 1e-2):
        return "0"
    if np.allclose(np.abs(values), 1.0, rtol=2e-2):
        return "±1"
    return ", ".join(f"{v:.3g}" for v in values)


def half_precision_range(adapter_type):
    """A float16 batch beyond float16's range (largest finite value 65504), decay 0: channel 0 holds
    -300 and 300, representable, but their variance (9e4) and squares are not; channel 1 holds 1 and
    7e4, which float16 itself makes inf. What the outputs and the stored statistics become."""
    if "float16" not in adapter_type.dtypes:
        return BeyondRange(refusal="no float16"), f"the adapter takes {', '.join(adapter_type.dtypes)}"
    adapter = adapter_type(BatchNormSpec(2, decay=0.0, dtype="float16"))
    before = adapter.state()
    with np.errstate(over="ignore"):
        batch = np.array([[-300.0, 1.0], [300.0, 7e4]])
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            output = adapter.train_step(batch)
    except Exception as error:  # the framework's own refusal is the observation
        return BeyondRange(refusal="raises"), first_line(error)
    state = adapter.state()
    if np.array_equal(state.mean[:1], before.mean[:1]) and np.array_equal(state.variance[:1], before.variance[:1]):
        stores = "nothing"  # decay 0 replaces the moving statistics: unchanged ones were never updated
    else:
        stores = _stored(state.variance[0])
        stores = stores if stores in ("inf", "NaN") else "it"  # biased or unbiased is another row's question
    observed = BeyondRange(_outputs(output[:, 0]), stores, _stored(state.mean[1]), _stored(state.variance[1]))
    evidence = (f"float16 batch [[-300, 1], [300, 7e4]], decay 0: outputs {np.array2string(output, precision=4)}, "
                f"moving mean {np.array2string(state.mean, precision=4)}, moving variance {np.array2string(state.variance, precision=4)}")
    return observed, evidence


def non_finite(adapter_type):
    adapter = adapter_type(BatchNormSpec(2, decay=0.5))
    batch = np.array([[np.nan, 1.0], [2.0, 3.0], [4.0, 5.0]])
    try:
        adapter.train_step(batch)
    except Exception as error:  # the framework's own refusal is the observation
        return "raises", first_line(error)
    state = adapter.state()
    poisoned = tuple(not (np.isfinite(state.mean[c]) and np.isfinite(state.variance[c])) for c in (0, 1))
    observed = {(True, False): "NaN in its channel only", (True, True): "NaN in every channel"}.get(poisoned, Other())
    evidence = (f"batch [[nan, 1], [2, 3], [4, 5]], decay 0.5: moving mean {np.array2string(state.mean, precision=4)}, "
                f"moving variance {np.array2string(state.variance, precision=4)}")
    return observed, evidence


def float64_momentum(adapter_type):
    """Two float64 steps at decay 0.9, whose float32 neighbours differ: float32(0.9) = 0.89999998 as the
    old value's weight, or 1 - float32(0.1) = 0.8999999985 from a float32 batch weight. Each reading
    predicts both moving statistics (under the declared first step and variance update) to float64's
    digits, and only one matches."""
    if "float64" not in adapter_type.dtypes:
        return "no float64", f"the adapter takes {', '.join(adapter_type.dtypes)}"
    spec = BatchNormSpec(1, decay=0.9, dtype="float64")
    adapter = adapter_type(spec)
    batches = (TWO, TWO + 10.0)
    observed = []
    for batch in batches:
        adapter.train_step(batch)
        observed.append(adapter.state()[:2])
    observed = np.array(observed, dtype=np.float64)
    readings = {}
    for reading in ("float64", "float32 attributes", "batch weight in float32", "update in float32"):
        reference = ReferenceBatchNorm(spec, dataclasses.replace(adapter.declared, float64_momentum=reading))
        predicted = []
        for batch in batches:
            reference.train_step(batch)
            predicted.append((reference.moving_mean, reference.moving_variance))
        readings[reading] = np.max(np.abs(observed - np.array(predicted)) / np.maximum(np.abs(np.array(predicted)), 1e-300))
    matching = [reading for reading, error in readings.items() if error < 1e-13]
    evidence = (f"float64, decay 0.9, batches of mean 4 and 14: moving mean {float(observed[-1, 0, 0])!r}; largest relative "
                "difference from each reading: " + ", ".join(f"{r} {e:.2g}" for r, e in readings.items()))
    return (matching[0] if len(matching) == 1 else Other()), evidence


def state_names(adapter_type):
    return tuple(adapter_type(BatchNormSpec(2)).native_state_names()), "read from the native layer's variables"


def weight_order(adapter_type):
    order = adapter_type(BatchNormSpec(2)).native_weight_order()
    return (None if order is None else tuple(order)), "read from the framework's own list of the layer's weights, in its order"
