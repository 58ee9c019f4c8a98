"""Helpers the suites share: parametrization over the registry, building adapters, seeded batches,
and the one comparison every suite uses. Tests live beside this module, never in it."""

from __future__ import annotations

import contextlib
import functools
import pkgutil
from dataclasses import dataclass

import numpy as np
import pytest

from adapters.base import Adapter
from adapters.reference import ReferenceBatchNorm, representable  # noqa: F401 (the suites import it from here)
from adapters.registry import IMPLEMENTATIONS, implementation
from adapters.spec import BatchNormSpec, SpecError

from . import sections
from .tolerances import Tolerance, tolerance


def implementation_params(ids: tuple[str, ...] | None = None) -> list:
    """One pytest param per implementation, with its id and its framework's marker."""
    chosen = IMPLEMENTATIONS.values() if ids is None else [implementation(i) for i in ids]
    return [pytest.param(impl.id, id=impl.id, marks=getattr(pytest.mark, impl.framework)) for impl in chosen]


def section_params(section) -> list:
    """One pytest param per column of a matrix section (a conversion path, a data-parallel run, a
    workflow column), with the markers of every framework it runs, ``section`` (which names the column:
    ``section(column_id)``) and the section's key (``-m frozen``, ``-k "torch and not section"``)."""
    return [pytest.param(column_id, id=column_id, marks=[*(getattr(pytest.mark, f) for f in column.frameworks),
                                                         pytest.mark.section(column_id), getattr(pytest.mark, section.key)])
            for column_id, column in sections.columns(section).items()]


def check_section_cell(section, column_id: str, row: str, record_section_cell) -> None:
    """One cell of a matrix section: skip, naming the extra, where the column's packages are missing;
    else record what the column's observations (``observed_where_it_runs``) say for ``row`` and require
    the column's declaration of it."""
    column = sections.columns(section)[column_id]
    missing = column.missing()
    if missing:
        pytest.skip(f"{column_id} needs {', '.join(missing)}, not installed ({column.how_to_install(sections.extra(section))})")
    value, evidence = observed_where_it_runs(column_id)[row]
    declared = column.load().declared.get(row, "undeclared")
    record_section_cell(section, column_id, row, value, declared, evidence)
    assert value == declared, f"{column_id} {row}: observed {value!r}, declared {declared!r} ({evidence})"


#: column id -> its observations asked of its worker process (a ``worker.Pending``), maybe not answered yet
_REQUESTED: dict = {}


def _request(column_id: str):
    from adapters.worker import Worker

    if column_id not in _REQUESTED:
        column = sections.column(column_id)
        _REQUESTED[column_id] = Worker.get(column.worker).submit("call", sections.observer(column_id), column_id)
    return _REQUESTED[column_id]


def request_observations(column_ids) -> None:
    """Ask the worker process of each column that runs in one for its observations now, without
    waiting, so that they are made while this process runs other cases. A worker that cannot start
    is left to the column's first case, which reports it."""
    from adapters.worker import WorkerError

    for column_id in column_ids:
        column = sections.column(column_id)
        if column.worker is not None and not column.missing():
            with contextlib.suppress(WorkerError):
                _request(column_id)


@functools.cache
def observed_where_it_runs(column_id: str) -> dict[str, tuple[str, str]]:
    """Every row of the column (row -> (observed, evidence), by ``sections.observer``), observed where
    the column runs: in its worker process, asked once per run (``request_observations``), or in this
    one, once per process; a worker that died or hung raises its WorkerError here, in every case of it."""
    if sections.column(column_id).worker is None:
        return pkgutil.resolve_name(sections.observer(column_id))(column_id)
    return _request(column_id).result()


def adapter_class(impl_id: str) -> type[Adapter]:
    """The adapter class of ``impl_id`` (its ``declared`` conventions without building a layer);
    skips, naming the package, where the framework is not installed."""
    impl = implementation(impl_id)
    missing = impl.missing()
    if missing:
        pytest.skip(f"{impl_id} needs {', '.join(missing)}, not installed (pip install -e '.[{impl.framework}]')")
    reason = impl.cannot_run()
    if reason:
        pytest.skip(f"{impl_id} cannot run: {reason}")
    return impl.load()


def refused(impl_id: str, spec: BatchNormSpec) -> bool:
    """Whether the adapter declines ``spec``'s rank or dtype (``ndims``, ``dtypes``); if so, checks that
    building it is a SpecError naming that field, so a test asserts the refusal instead of the numbers."""
    adapter = adapter_class(impl_id)
    field = "ndim" if spec.ndim not in adapter.ndims else "dtype" if spec.dtype not in adapter.dtypes else None
    if field is None:
        return False
    with pytest.raises(SpecError, match=field):
        build(impl_id, spec)
    return True


def build(impl_id: str, spec: BatchNormSpec) -> Adapter:
    """The adapter of ``impl_id`` for ``spec``; skips where its framework is not installed."""
    return adapter_class(impl_id)(spec)


#: The batch shapes the suites draw from, shared so that a compiled step is built once per run.
#: A ``jax.jit`` step compiles once per implementation, structure, shape and dtype (~70 ms of XLA
#: on a CPU core), so every new shape costs each compiled implementation a compile. 2-D batches
#: are (batch size, features) from these; 3-D and 4-D ones have 4 features, batch size 2 and
#: SPATIAL along every spatial axis. Batch size 2 makes PyTorch's unbiased factor 2; 1 feature is
#: the founding question's; 16 features reach channel statistics far from the initial values.
BATCH_SIZES = (2, 5, 32)
FEATURES = (1, 4, 16)
SPATIAL = 3


def batches(spec: BatchNormSpec, batch_size: int, steps: int, seed: int, spatial: int = SPATIAL) -> list[np.ndarray]:
    """``steps`` seeded batches in the spec's layout, exactly representable in its dtype.

    Channel c has mean 3 + c and standard deviation 2 + c/2, far from the initial moving values
    (0 and 1) and different per channel, so a mixed-up channel or a skipped update shows.
    """
    rng = np.random.default_rng(seed)
    shape = [batch_size] + [spatial] * (spec.ndim - 2)
    shape.insert(spec.channel_axis, spec.num_features)
    channels = np.arange(spec.num_features, dtype=np.float64).reshape(
        [-1 if a == spec.channel_axis else 1 for a in range(spec.ndim)]
    )
    return [representable(rng.normal(size=shape) * (2 + channels / 2) + 3 + channels, spec.dtype) for _ in range(steps)]


def train_both(impl_id: str, spec: BatchNormSpec, batch_list: list[np.ndarray]):
    """Train the implementation and the float64 reference of its declaration on the same batches.

    Returns the moving (mean, variance) per step of each, as (steps, 2, channels) arrays, and the
    (observed, expected) training output of each step.
    """
    adapter = build(impl_id, spec)
    reference = ReferenceBatchNorm(spec, adapter.declared)
    observed, expected, outputs = [], [], []
    for batch in batch_list:
        outputs.append((adapter.train_step(batch), reference.train_step(batch)))
        state = adapter.state()
        observed.append((state.mean, state.variance))
        expected.append((reference.moving_mean.copy(), reference.moving_variance.copy()))
    return np.array(observed), np.array(expected), outputs


@dataclass(frozen=True)
class Comparison:
    """What one comparison found: the largest errors, the tolerance, and whether it held."""

    quantity: str
    dtype: str
    max_abs_error: float
    max_rel_error: float
    tolerance: Tolerance
    passed: bool
    message: str
    #: For a failure, the worst elements side by side: (index, actual, expected), largest error first.
    worst: tuple[tuple[tuple[int, ...], float, float], ...] = ()


def compare(quantity: str, actual, expected, dtype: str, scale=None) -> Comparison:
    """Compare element-wise within the dtype's tolerance; the message locates the worst element.

    For a trajectory (steps x channels) the first index is the step, so a failure names the first
    step at which the implementation left the reference. ``scale`` (broadcast against
    ``expected``), where given, is the magnitude the result's rounding is proportional to when that
    is larger than the result itself (see ``tolerances.py``): the relative tolerance applies to the
    larger of the two.
    """
    tol = tolerance(dtype)
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        return Comparison(quantity, dtype, np.inf, np.inf, tol, False, f"{quantity}: shape {actual.shape} != expected {expected.shape}")
    magnitude = np.abs(expected) if scale is None else np.maximum(np.abs(expected), np.broadcast_to(scale, expected.shape))
    with np.errstate(invalid="ignore", divide="ignore"):
        error = np.abs(actual - expected)
        same_nonfinite = (actual == expected) | (np.isnan(actual) & np.isnan(expected))
        error = np.where(same_nonfinite, 0.0, error)
        bad = ~same_nonfinite & ~(error <= tol.atol + tol.rtol * magnitude)
        relative = np.where(same_nonfinite, 0.0, error / np.maximum(np.abs(expected), np.finfo(np.float64).tiny))
    max_abs = float(np.max(error, initial=0.0))
    max_rel = float(np.max(relative, initial=0.0))
    if not bad.any():
        return Comparison(quantity, dtype, max_abs, max_rel, tol, True, "")
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    order = np.argsort(np.where(bad, np.nan_to_num(error, nan=np.inf), -1.0), axis=None)[::-1][: min(8, int(bad.sum()))]
    worst = tuple(
        (index, float(actual[index]), float(expected[index]))
        for index in (tuple(int(i) for i in np.unravel_index(flat, bad.shape)) for flat in order)
    )
    message = (
        f"{quantity}: {int(bad.sum())} of {bad.size} values outside rtol={tol.rtol:g}, atol={tol.atol:g} ({dtype}); "
        f"first at index {first}: actual {actual[first]!r} vs expected {expected[first]!r}; "
        f"max abs error {max_abs:.3g}, max rel error {max_rel:.3g}"
    )
    return Comparison(quantity, dtype, max_abs, max_rel, tol, False, message, worst)
