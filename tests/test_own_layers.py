"""The your-own-BatchNorm path on layers bnparity had never seen (``tests/own_layers.py``): every printed
declaration is Python, every probe tells apart what it used to lump together, the suites honour an
adapter's refusals and its own known divergences, and a user's mistakes get a plain error."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from adapters import conventions
from adapters.base import AdapterError
from adapters.rows import ROWS, cells
from adapters.spec import BatchNormSpec
from suites.measure import declaration, measure

from . import own_layers
from .report_run import ROOT, run_pytest


def executed(printed: str) -> conventions.Conventions:
    """The printed ``declared = Conventions(...)`` run as Python, with the names it uses."""
    namespace = {name: getattr(conventions, name) for name in ("BeyondRange", "Conventions", "HalfPrecision", "HalfStep")}
    exec(printed, namespace)  # noqa: S102 (what the test checks: the printed text is Python)
    return namespace["declared"]


def test_the_printed_declaration_of_a_float16_layer_is_python_and_gives_back_what_was_measured():
    measured, observations = measure(own_layers.HalfLayer)
    assert "\n" in observations["half_precision_range"][1]  # its evidence holds a two-dimensional array
    assert executed(declaration(measured, observations)) == measured


def test_every_shipped_and_example_declaration_prints_as_python(tmp_path):
    """Each implementation of the committed matrix (its declaration, with the evidence the matrix holds for it)."""
    code = (
        "import json\n"
        "from adapters.registry import IMPLEMENTATIONS\n"
        "from reports.committed import committed\n"
        "from suites.measure import declaration\n"
        "from adapters.rows import ROWS\n"
        "matrix = committed()['implementations']\n"
        "printed = {}\n"
        "for impl_id, impl in IMPLEMENTATIONS.items():\n"
        "    if impl.missing() or impl_id not in matrix and impl.shipped:\n"
        "        continue\n"
        "    declared = impl.load().declared\n"
        "    evidence = {row.id: matrix.get(impl_id, {'cells': {}})['cells'].get(row.id, {}).get('evidence', 'a\\nb') for row in ROWS}\n"
        "    printed[impl_id] = declaration(declared, {row.id: (getattr(declared, row.field_name), evidence[row.id]) for row in ROWS})\n"
        "print(json.dumps(printed))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"torch-batchnorm1d", "jax-haiku", "mine-numpy_batchnorm"} <= set(printed)
    for impl_id, text in printed.items():
        shown = cells(executed(text))
        matrix = json.loads((ROOT / "reports" / "conventions.json").read_text())["implementations"]
        if impl_id in matrix:
            assert shown == {row.id: matrix[impl_id]["cells"][row.id]["observed"] for row in ROWS}, impl_id


def test_a_float16_layer_that_never_updates_its_statistics_is_told_apart():
    measured, observations = measure(own_layers.FrozenHalfLayer)
    assert str(measured.half_precision_range) == "variance 9e4: outputs ±1, stores nothing; value 7e4: mean 0, variance 1"
    assert str(measure(own_layers.HalfLayer)[0].half_precision_range).startswith("variance 9e4: outputs ±1, stores inf;")


@pytest.mark.parametrize("layer, stored", [(own_layers.UnbiasedZero, "runs: variance 0"), (own_layers.UnbiasedNan, "runs: variance NaN"),
                                           (own_layers.OwnLayer, "runs: variance 0")])
def test_a_batch_of_one_tells_a_zero_variance_from_nan(layer, stored):
    assert measure(layer)[0].batch_size_1 == stored


def test_the_suites_train_a_batch_of_one_against_the_reference_and_honour_a_rank_refusal_and_an_adapters_own_divergences(tmp_path):
    layers = ("UnbiasedZero", "UnbiasedNan", "VectorsOnly", "FrozenHalfLayer")
    done = run_pytest(tmp_path, "suites", "-p", "no:xdist", "-k", "yours and (batch_of_one or 3d or translation_round_trips or "
                      "large_mean or half_precision_step)", *(f"--bnparity-impl=tests.own_layers:{name}" for name in layers), "-rx")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    summary = done.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "2 xfailed" in summary and "failed" not in summary.replace("xfailed", ""), summary
    assert "the float16 layer never updates its moving statistics" in done.stdout  # the adapter's own divergence, strict
    assert "test_a_batch_of_one[yours-unbiased_nan]" in done.stdout or "yours-unbiased_nan" in (tmp_path / "report.html").read_text()


def test_a_cumulative_average_asked_by_a_flag_of_its_own_name_is_printed_as_that_flag():
    measured, _ = measure(own_layers.FlaggedCumulative)
    assert measured.cumulative_average == "finetune_average=True"
    assert measured.momentum_weight == "old"  # read through momentum_argument = "keep"


def test_the_defaults_are_measured_from_the_layer_built_without_them_not_read_from_the_adapter():
    """The layer stores 1 - momentum and the adapter's native_defaults returns what is stored (0.1): the
    default is measured from the layer built without a momentum, which weighs the old value by 0.9."""
    assert own_layers.StoredComplement(BatchNormSpec(1)).native_defaults()["momentum"] == pytest.approx(0.1)
    measured, observations = measure(own_layers.StoredComplement)
    assert (measured.momentum_weight, measured.default_momentum, measured.default_epsilon) == ("old", 0.9, 1e-5)
    assert observations["default_momentum"][1].startswith("a layer built without a momentum")


def test_an_epsilon_argument_under_another_name_undeclared_is_a_plain_error():
    with pytest.raises(AdapterError, match=r"returned no 'epsilon' \(keys: channels, keep, eps, .*\): set the adapter's momentum_argument "
                                           r"and epsilon_argument"):
        type("Undeclared", (own_layers.OwnLayer,), {"epsilon_argument": "epsilon"}).with_framework_defaults(BatchNormSpec(1))


def test_a_momentum_argument_under_another_name_undeclared_is_a_plain_error():
    with pytest.raises(AdapterError, match=r"yours-misnamed: native_arguments returned no 'momentum' \(keys: channels, keep, .*\): "
                                           r"set the adapter's momentum_argument"):
        own_layers.MisnamedMomentum(BatchNormSpec(1))


def test_the_measured_layers_run_a_step_as_declared():
    layer = own_layers.UnbiasedNan(BatchNormSpec(2, decay=0.5))
    layer.train_step(np.array([[3.0, -1.0]]))
    assert np.isnan(layer.state().variance).all()
