"""One worker per framework family: which families a selection reaches, which family a case
belongs to, how families are spread over workers, and what a real run does with them."""

from __future__ import annotations

import re

import pytest

from adapters.registry import FRAMEWORKS
from suites.scheduling import NO_FAMILY, RUN_VARIABLES, THREAD_VARIABLES, XLA_SETTINGS, family_of, handout_order, run_environment, selected_families

from .report_run import run_pytest


@pytest.mark.parametrize(
    "keyword, markers, families",
    [
        # NO_FAMILY: a section's column (a conversion path, a data-parallel run) the selection reaches
        ("", "", {*FRAMEWORKS, NO_FAMILY}),
        ("torch", "", {"torch", NO_FAMILY}),  # its conversion paths and DDP runs too
        ("tensorflow", "", {"tensorflow", NO_FAMILY}),
        # a column whose id opens with an implementation's (a JAX data-parallel run, a workflow column)
        # runs with that implementation's family, as the scheduler sends it
        ("jax and not flax", "", {"jax"}),
        ("flax or haiku", "", {"jax"}),
        ("keras3", "", {"tensorflow", "jax", "torch", NO_FAMILY}),  # Keras 3 on each of its backends
        ("tensorflow-keras3", "", {"tensorflow", NO_FAMILY}),
        ("batchnorm1d", "", {"torch", "paddle"}),  # no column's id names it
        ("not jax", "", {*FRAMEWORKS, NO_FAMILY} - {"jax"}),
        ("torch or onnx", "", {"torch", "onnx", NO_FAMILY}),
        ("test_after_one_step", "", {*FRAMEWORKS, NO_FAMILY}),  # a test name: every family has it
        ("", "torch or jax", {"torch", "jax", NO_FAMILY}),
        ("one_step", "not tensorflow", {*FRAMEWORKS, NO_FAMILY} - {"tensorflow"}),
    ],
)
def test_a_selection_reaches_the_families_it_names(keyword, markers, families):
    assert selected_families(keyword, markers) == families


@pytest.mark.parametrize(
    "nodeid, family",
    [
        ("suites/test_momentum.py::test_x[torch-batchnorm1d-m0.1]", "torch"),
        ("suites/test_momentum.py::test_x[jax-own_unbiased-m0.1]", "jax"),
        ("suites/test_inference.py::test_default_epsilon_alone_changes_the_output[onnx-onnxruntime]", "onnx"),
        ("suites/test_porting.py::test_ported_state_gives_the_same_inference[batchnorm1d-to-keras3]", "tensorflow"),
        ("suites/test_porting.py::test_ported_state_gives_the_same_inference[batchnorm1d-to-haiku]", "jax"),
        ("suites/test_porting.py::test_unbiased_update_drift_after_the_port[batchnorm1d-to-keras3-batch2]", "tensorflow"),
        ("suites/test_porting.py::test_ported_state_gives_the_same_inference[batchnorm1d-to-tf_keras_fused]", "tensorflow"),
        ("suites/test_porting.py::test_ported_state_gives_the_same_inference[batchnorm1d-to-own_unbiased]", "jax"),
        # names shared across families: Keras 3 on JAX, tinygrad's batchnorm, Paddle's batchnorm1d
        ("suites/test_porting.py::test_ported_state_gives_the_same_inference[batchnorm1d-to-keras3_2]", "jax"),
        ("suites/test_porting.py::test_ported_state_gives_the_same_inference[batchnorm1d-to-batchnorm]", "mlx"),
        ("suites/test_porting.py::test_ported_state_gives_the_same_inference[batchnorm1d-to-batchnorm_2]", "tinygrad"),
        ("suites/test_porting.py::test_ported_state_gives_the_same_inference[batchnorm1d-to-batchnorm1d_2]", "paddle"),
        ("tests/test_reference.py::test_founding_question_numbers", NO_FAMILY),
        ("suites/test_conventions.py::test_every_row_has_a_probe", NO_FAMILY),
    ],
)
def test_every_case_belongs_to_the_family_it_runs(nodeid, family):
    assert family_of(nodeid) == family


def test_families_are_handed_out_costliest_first(monkeypatch):
    import suites.scheduling

    monkeypatch.setattr(suites.scheduling, "RELATIVE_CASE_COST", {"jax": 1.0, "tensorflow": 1.8, "torch": 0.35, "onnx": 0.3})
    units = {"jax": dict.fromkeys(range(900)), "tensorflow": dict.fromkeys(range(600)),
             "torch": dict.fromkeys(range(280)), "onnx": dict.fromkeys(range(280))}
    # costs 900, 1080, 98, 84
    assert handout_order(units) == ["tensorflow", "jax", "torch", "onnx"]


def workers_of(stdout: str) -> dict[str, set[str]]:
    """family -> the xdist workers its cases ran on, from ``-v`` lines like ``[gw1] PASSED nodeid``."""
    found: dict[str, set[str]] = {}
    for worker, nodeid in re.findall(r"\[(gw\d+)\][^\n]*? (?:PASSED|FAILED|XFAIL|XPASS|SKIPPED|ERROR) (\S+)", stdout):
        found.setdefault(family_of(nodeid), set()).add(worker)
    return found


def families_on_workers(tmp_path, keyword: str) -> dict[str, set[str]]:
    """Run the conventions suite's ``-k keyword`` cases as a user would (workers started by
    themselves) and return family -> the workers its cases ran on; skip on a machine of one core."""
    pytest.importorskip("xdist", reason="pytest-xdist is not installed")
    done = run_pytest(tmp_path, "-p", "suites.scheduling", "-vv", "suites/test_conventions.py", "-k", keyword)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    if "created: 2/2 workers" not in done.stdout:
        pytest.skip("this machine has one core: the run was serial, as it should be")
    return workers_of(done.stdout)


def test_a_run_of_two_families_starts_two_workers_one_per_family(tmp_path):
    found = families_on_workers(tmp_path, "torch or onnx")
    assert set(found) == {"torch", "onnx"}
    assert all(len(workers) == 1 for workers in found.values()), found
    assert found["torch"] != found["onnx"], found


def test_a_worker_that_runs_out_takes_the_next_family_whole(tmp_path):
    """Three families on two workers: one family each at the start, the third to the first worker
    that runs out, and still every family on one worker."""
    found = families_on_workers(tmp_path, "torch or onnx or mlx")
    assert set(found) == {"torch", "onnx", "mlx"}, found
    assert all(len(workers) == 1 for workers in found.values()), found
    assert len(set().union(*found.values())) == 2, found


def test_a_run_of_one_family_starts_no_worker(tmp_path):
    # mlx: a family that no conversion path or data-parallel run takes part in
    done = run_pytest(tmp_path, "-p", "suites.scheduling", "-vv", "suites/test_conventions.py", "-k", "mlx")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "workers" not in done.stdout and "[gw" not in done.stdout
    assert re.search(r"PASSED", done.stdout)


def test_a_run_pins_threads_and_sets_xla_flags_leaving_what_the_user_set():
    assert run_environment({}) == {**{variable: "1" for variable in THREAD_VARIABLES},
                                   "XLA_FLAGS": " ".join(f"--{name}={value}" for name, value in XLA_SETTINGS.items())}
    assert tuple(run_environment({})) == RUN_VARIABLES, "the report's header names every variable a run sets"
    mine = {"OMP_NUM_THREADS": "4", "XLA_FLAGS": "--xla_cpu_use_fusion_emitters=true --xla_dump_to=/tmp/x"}
    chosen = run_environment(mine)
    assert chosen["OMP_NUM_THREADS"] == "4" and chosen["MKL_NUM_THREADS"] == "1"
    flags = chosen["XLA_FLAGS"].split()
    assert flags[:2] == mine["XLA_FLAGS"].split(), "the user's flags come first, as given"
    assert "--xla_cpu_use_fusion_emitters=false" not in flags, "a flag the user named keeps the user's value"
    assert "--xla_cpu_multi_thread_eigen=false" in flags


def test_an_unchecked_version_of_a_package_whose_internals_a_trick_relies_on_is_refused(monkeypatch):
    from adapters import registry
    from suites.ending import require_tested

    monkeypatch.setattr(registry, "installed_version", lambda distribution: "99.0")
    with pytest.raises(pytest.UsageError, match=r"suites/ending.py relies on pytest 9.2.0's internals and pytest 99.0 is installed"):
        require_tested({"pytest": "9.2.0"}, "suites/ending.py")
    monkeypatch.setattr(registry, "installed_version", lambda distribution: "9.2.0")
    require_tested({"pytest": "9.2.0"}, "suites/ending.py")


def test_a_worker_that_crashes_fails_its_case_once_and_the_run_goes_on(tmp_path):
    """pytest-xdist's loadscope hands the case a crashed worker was running to the next worker, which it
    crashes too, until the restarts run out; the family scheduler reports it once and runs the rest."""
    import re
    import subprocess
    import sys

    from .report_run import ROOT

    done = subprocess.run([sys.executable, "-m", "pytest", "tests/crashing_cases.py", "-n", "2", "-q", "-p", "no:cacheprovider",
                           f"--basetemp={tmp_path / 'inner'}", f"--bnparity-out={tmp_path / 'out'}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "1 failed, 8 passed" in done.stdout, done.stdout[-3000:]
    assert len(set(re.findall(r"worker '(gw\d+)' crashed", done.stdout))) == 1, done.stdout[-3000:]  # one crash, no replacement crashing

