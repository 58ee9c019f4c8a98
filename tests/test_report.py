"""The HTML report: written on every run, complete under pytest-xdist, still valid when a run is
interrupted or errors, and text from frameworks shown as text, never as markup."""

from __future__ import annotations

import re
import textwrap

import pytest

from .report_run import report_data, run_pytest

#: Both ONNX runtimes and the own JAX implementations: quick, and the latter train the founding question's network.
SELECTION = ("suites/test_conventions.py", "suites/test_founding_question.py", "-k", "onnx or jax-own")


@pytest.fixture(scope="module")
def serial_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    done = run_pytest(out, *SELECTION, "-p", "no:xdist")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return out / "report.html"


def test_every_run_writes_a_self_contained_report(serial_report):
    page = serial_report.read_text()
    data = report_data(serial_report)
    assert len(data["tests"]) > 40 and all("onnx" in nodeid or "jax-own" in nodeid for nodeid in data["tests"])
    assert 'id="bnparity-matrix"' in page and 'id="bnparity-founding-table"' in page
    assert not re.search(r'<(link|script|img)[^>]+(href|src)="(?!data:|")', page), "the report loads a file or URL"
    environment = report_data(serial_report)["environment"]
    assert {"Python", "Platform", "onnx", "onnxruntime", "jax", "torch", "tensorflow"} <= set(environment)
    assert "jax.jit: jax-own" in environment["bnparity execution"]
    assert "OMP_NUM_THREADS=1" in environment["bnparity environment"]
    assert "--xla_cpu_use_fusion_emitters=false" in environment["bnparity environment"], "the XLA flags the run compiled with"


def test_report_columns_name_framework_implementation_and_errors(serial_report):
    data = report_data(serial_report)
    rows = [row for tests in data["tests"].values() for test in tests for row in [test["resultsTableRow"]]]
    founding = [row for row in rows if "test_one_step_of_the_question_batch[onnx-reference]" in row[1]]
    assert founding, "the founding-question test is missing"
    framework, impl, quantity, max_abs, _, tolerance = founding[0][2:8]
    assert ">onnx<" in framework and ">onnx-reference<" in impl
    assert "moving variance" in quantity and "rtol" in tolerance
    assert all(float(v) < 1e-4 for v in re.findall(r"[\d.e+-]+(?=<br>|</td>)", max_abs))


def test_parallel_run_reports_every_test_and_the_full_matrix(serial_report, tmp_path):
    pytest.importorskip("xdist", reason="pytest-xdist is not installed")
    done = run_pytest(tmp_path, *SELECTION, "-n", "2")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    parallel = tmp_path / "report.html"
    assert set(report_data(parallel)["tests"]) == set(report_data(serial_report)["tests"])
    assert matrix_table(parallel) == matrix_table(serial_report)


def matrix_table(report) -> str:
    return re.search(r'<table id="bnparity-matrix">.*?</table>', report.read_text(), re.S).group(0)


HOSTILE = '<script>document.title = "injected"</script><img src=x onerror="document.title=1">'


@pytest.fixture
def hostile_tests(tmp_path):
    """Tests whose failure messages, ids and recorded quantities carry markup, as a framework's might."""
    folder = tmp_path / "hostile"
    folder.mkdir()
    (folder / "test_hostile.py").write_text(textwrap.dedent(f'''
        import pytest

        HOSTILE = {HOSTILE!r}

        def test_framework_message():
            raise RuntimeError(HOSTILE)

        @pytest.mark.parametrize("value", [HOSTILE])
        def test_hostile_id(value, request):
            request.node.user_properties.append(("bnparity_comparison", {{
                "quantity": HOSTILE, "dtype": "float32", "max_abs_error": 1.0, "max_rel_error": 1.0,
                "tolerance": {{"rtol": 1e-5, "atol": 1e-5, "why": HOSTILE}}, "passed": False, "message": HOSTILE,
                "worst": [[[0], 1.0, 0.0]]}}))
            assert False, HOSTILE
    '''))
    return folder


def test_markup_from_frameworks_is_escaped(hostile_tests, tmp_path):
    done = run_pytest(tmp_path / "out", str(hostile_tests), cwd=hostile_tests)
    assert done.returncode == 1, done.stdout[-3000:]
    data = report_data(tmp_path / "out" / "report.html")
    rendered = [piece for tests in data["tests"].values() for test in tests for piece in [test["log"], *test["resultsTableRow"]]]
    assert len(rendered) > 4 and any("&lt;script&gt;" in piece for piece in rendered)
    assert not any("<script" in piece or "<img src=x" in piece for piece in rendered), "markup reached the page unescaped"


def test_a_failure_shows_its_numbers_side_by_side_and_the_command_to_rerun_it(hostile_tests, tmp_path):
    run_pytest(tmp_path / "out", str(hostile_tests), cwd=hostile_tests)
    tests = report_data(tmp_path / "out" / "report.html")["tests"]
    (nodeid,) = [n for n in tests if "test_hostile_id" in n]
    log = tests[nodeid][0]["log"]
    assert "<th>actual</th><th>expected</th>" in log and "<td>1.0</td><td>0.0</td>" in log
    assert "Rerun exactly this case" in log and "pytest &#x27;" + nodeid.split("[")[0] in log


@pytest.mark.parametrize(
    "module, stops",
    [
        ("def test_before():\n    pass\n\ndef test_interrupt():\n    raise KeyboardInterrupt\n\ndef test_after():\n    pass\n", "test_before"),
        ("import a_module_that_does_not_exist\n\ndef test_never_collected():\n    pass\n", "test_stopped.py"),
    ],
    ids=["keyboard_interrupt", "collection_error"],
)
def test_interrupted_run_still_leaves_a_valid_report(module, stops, tmp_path):
    folder = tmp_path / "interrupted"
    folder.mkdir()
    (folder / "test_stopped.py").write_text(module)
    done = run_pytest(tmp_path / "out", str(folder), cwd=folder)
    assert done.returncode == 2, done.stdout[-3000:]
    report = tmp_path / "out" / "report.html"
    tests = report_data(report)["tests"]
    assert any(nodeid.endswith(stops) for nodeid in tests), list(tests)
    assert not any(nodeid.endswith("test_after") for nodeid in tests)
    assert 'id="bnparity-matrix"' in report.read_text()


def test_the_report_prints_the_property_suites_example_counts(tmp_path):
    from suites.strategies import EXAMPLES_PER_IMPLEMENTATION

    done = run_pytest(tmp_path, "suites/test_properties.py", "-k", "onnx", "-p", "no:xdist")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    section = re.search(r'<section class="bnparity" id="bnparity-examples">.*?</section>', (tmp_path / "report.html").read_text(), re.S)
    assert section, "no section of property-based examples"
    assert "profile <code>ci</code>" in section.group(0)
    rows = dict(re.findall(r"<tr><td>([\w-]+)</td><td>(\d+)</td>", section.group(0)))
    assert rows == {"onnx-reference": str(EXAMPLES_PER_IMPLEMENTATION), "onnx-onnxruntime": str(EXAMPLES_PER_IMPLEMENTATION)}
