"""Hypothesis strategies over valid BatchNorm descriptions and batches, and the settings profiles
every property test of the project runs under.

Profiles (``BNPARITY_HYPOTHESIS=<name>``): ``ci``, the default, is derandomized (the same examples
on every run, so a red CI is reproducible) and writes no example database; ``explore`` draws fresh
examples, ten times as many, and keeps its database outside the tree (``~/.cache/bnparity``). A
counterexample found by exploring becomes a fix or a strict xfail, and its shrunk example a
regular test.

The descriptions vary everything a description holds (decay, epsilon, features, rank and channel
axis, dtype, gamma and beta, the kind of average), but the batch shapes come from the suites' one
shared set (``cases.BATCH_SIZES``, ``cases.FEATURES``, ``cases.SPATIAL``): a new shape costs every
compiled implementation a compilation, which a property test would pay per example. What varies
freely is what the numbers look like, in the kinds that break BatchNorms: a large mean against the
spread, a tiny variance, constant channels, channels of very different scales.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

from adapters.base import Adapter
from adapters.spec import BatchNormSpec

from .cases import BATCH_SIZES, FEATURES, SPATIAL, representable

#: Examples per property in the ``ci`` profile, for properties that cost microseconds per example.
EXAMPLES = 200
#: Examples per implementation in the ``ci`` profile, for properties that build and train a layer
#: (seconds, where a new description compiles); ``explore`` draws ten times as many.
EXAMPLES_PER_IMPLEMENTATION = 8
EXPLORE_FACTOR = 10

# A layer's first call compiles (no deadline); descriptions an implementation refuses (SpecError) and
# regions not drawn for it are rejected by design, and the report counts them (no filter_too_much).
_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                                     HealthCheck.filter_too_much])
settings.register_profile("ci", max_examples=EXAMPLES, derandomize=True, database=None, **_COMMON)
settings.register_profile("explore", max_examples=EXPLORE_FACTOR * EXAMPLES,
                          database=DirectoryBasedExampleDatabase(str(Path.home() / ".cache" / "bnparity" / "hypothesis")),
                          **_COMMON)
settings.load_profile(os.environ.get("BNPARITY_HYPOTHESIS", "ci"))


def examples_per_implementation() -> int:
    """How many examples a property over one implementation draws under the loaded profile."""
    return EXAMPLES_PER_IMPLEMENTATION * (EXPLORE_FACTOR if settings.get_current_profile_name() == "explore" else 1)


# -- batches ------------------------------------------------------------------------------------------

def _spread(rng, shape, c):
    return rng.normal(size=shape) * (2 + c / 2) + 3 + c


def _large_mean(rng, shape, c):
    return rng.normal(size=shape) + 1000 * (1 + c)


def _tiny_variance(rng, shape, c):
    return rng.normal(size=shape) * 1e-3 + 3 + c


def _constant_channels(rng, shape, c):
    return np.where(c % 2 == 0, 3 + c, _spread(rng, shape, c))


def _mixed_scales(rng, shape, c):
    return rng.normal(size=shape) * 10.0 ** (c % 7 - 3) + 10.0 ** (c % 5 - 2)


#: The kinds of batch the strategies draw, by name: each takes an RNG, the batch shape and the
#: channel index broadcast against it.
BATCH_KINDS = {
    "spread": _spread,
    "large mean against spread": _large_mean,
    "tiny variance": _tiny_variance,
    "constant channels": _constant_channels,
    "mixed scales": _mixed_scales,
}


#: The largest magnitude of a float16 batch: its square (and any variance of such values) stays below
#: float16's largest value, 65504. What happens beyond is the half_precision_range row's question.
FLOAT16_LIMIT = 200.0


@dataclass(frozen=True)
class Case:
    """One drawn example: a description and the batches to train it on, then one inference batch."""

    spec: BatchNormSpec
    kind: str
    batches: tuple[np.ndarray, ...]
    inference_batch: np.ndarray

    def __repr__(self) -> str:  # what hypothesis prints for a falsifying example: enough to rebuild it
        shape = self.batches[0].shape
        return f"Case({self.spec!r}, kind={self.kind!r}, steps={len(self.batches)}, batch shape={shape})"


def make_batches(spec: BatchNormSpec, kind: str, batch_size: int, count: int, seed: int) -> list[np.ndarray]:
    """``count`` batches of ``kind`` in the spec's layout, exactly representable in its dtype."""
    rng = np.random.default_rng(seed)
    shape = [batch_size] + [SPATIAL] * (spec.ndim - 2)
    shape.insert(spec.channel_axis, spec.num_features)
    channels = np.arange(spec.num_features, dtype=np.float64).reshape(
        [-1 if a == spec.channel_axis else 1 for a in range(spec.ndim)])
    drawn = [BATCH_KINDS[kind](rng, shape, channels) for _ in range(count)]
    if spec.dtype == "float16":  # squares and variances within float16's range: beyond it is half_precision_range's
        drawn = [x * min(1.0, FLOAT16_LIMIT / np.max(np.abs(x))) for x in drawn]
    return [representable(x, spec.dtype) for x in drawn]


@st.composite
def valid_cases(draw, adapter: type[Adapter], dtypes: tuple[str, ...] | None = None) -> Case:
    """A description ``adapter`` can take (its ranks and dtypes, or those of ``dtypes``; the averages
    it declares; not the half dtypes its framework refuses) and up to three training batches and one
    inference batch."""
    declared = adapter.declared
    ndim = draw(st.sampled_from([n for n in (2, 3, 4) if n in adapter.ndims]))
    if ndim == 2:
        batch_size, features, axis = draw(st.sampled_from(BATCH_SIZES)), draw(st.sampled_from(FEATURES)), -1
    else:  # the suites' images: batch size 2, 4 channels, first or last
        batch_size, features, axis = 2, 4, draw(st.sampled_from([1, -1]))
    averaging = draw(st.sampled_from(["exponential"] + (["cumulative"] if declared.cumulative_average else [])
                                     + (["none"] if declared.no_moving_statistics else [])))
    spec = BatchNormSpec(
        features,
        decay=draw(st.floats(0.0, 1.0)),
        epsilon=draw(st.sampled_from([1e-5, 1e-3, 0.1]) | st.floats(1e-5, 1.0)),
        center=draw(st.booleans()),
        scale=draw(st.booleans()),
        dtype=draw(st.sampled_from([d for d in dtypes or adapter.dtypes if not declared.half_precision.raises(d)])),
        ndim=ndim,
        axis=axis,
        averaging=averaging,
    )
    kind = draw(st.sampled_from(sorted(BATCH_KINDS)))
    steps = draw(st.integers(1, 3))
    drawn = make_batches(spec, kind, batch_size, steps + 1, seed=draw(st.integers(0, 2**32 - 1)))
    return Case(spec, kind, tuple(drawn[:-1]), drawn[-1])
