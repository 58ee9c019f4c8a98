"""The report in a real browser: headless Chromium renders the matrix and the results table,
visibly, with no JavaScript error, and leaves a screenshot in ``reports/out/``.

Without Chromium the test skips with its reason, unless ``BNPARITY_REQUIRE_BROWSER=1`` (set by
``.ci/run``), where a missing browser is a failure: CI must run this test.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from reports.matrix import ROWS

from .report_run import ROOT, run_pytest

#: Installed first in the page, before pytest-html's own script: records every error and, once the
#: page has rendered, what is visible. The report itself is opened unchanged for the screenshot.
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', (e) => window.__errors.push(String(e.message)));
const consoleError = console.error;
console.error = (...args) => { window.__errors.push(args.join(' ')); consoleError(...args); };
window.addEventListener('load', () => setTimeout(() => {
  const visible = (el) => !!el && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const matrix = document.getElementById('bnparity-matrix');
  const rows = [...document.querySelectorAll('#results-table tbody.results-table-row')];
  const shownRows = matrix ? [...matrix.tBodies[0].rows].filter(visible).map((row) => row.dataset.row) : [];
  const shownColumns = matrix ? [...matrix.tHead.rows[1].cells].filter(visible).map((cell) => cell.dataset.impl) : [];
  const environment = document.getElementById('environment');
  document.documentElement.dataset.check = JSON.stringify({
    shownRows, shownColumns, compared: (document.getElementById('bnparity-compare-result') || {}).textContent,
    environmentFolded: !!environment && !!environment.closest('details#bnparity-environment'),
    matrixBeforeEnvironment: !!matrix && !!environment && !!(matrix.compareDocumentPosition(environment) & Node.DOCUMENT_POSITION_FOLLOWING),
    matrixVisible: visible(matrix), matrixRows: matrix ? matrix.rows.length : 0,
    resultsVisible: visible(document.getElementById('results-table')),
    resultRows: rows.length, visibleResultRows: rows.filter(visible).length, errors: window.__errors,
  });
}, 200));
</script>"""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def run_chromium(page: Path, profile: Path, *mode: str, fragment: str = "") -> subprocess.CompletedProcess:
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0",
               f"--user-data-dir={profile}", "--virtual-time-budget=10000", *mode, page.as_uri() + fragment]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


@pytest.fixture
def browser():
    if chromium() is None:
        if os.environ.get("BNPARITY_REQUIRE_BROWSER") == "1":
            pytest.fail("BNPARITY_REQUIRE_BROWSER=1 but no chromium on PATH (apt-get install chromium)")
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium); CI installs it")
    return chromium()


def test_report_renders_in_headless_chromium(browser, tmp_path):
    done = run_pytest(tmp_path, "suites/test_conventions.py", "suites/test_founding_question.py", "-k", "onnx or jax-own")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    report = tmp_path / "report.html"
    probed = tmp_path / "probed.html"
    probed.write_text(report.read_text().replace("<head>", "<head>" + PROBE, 1))

    dumped = run_chromium(probed, tmp_path / "profile-dom", "--dump-dom")
    match = re.search(r'data-check="([^"]*)"', dumped.stdout)
    assert match, f"the page never finished rendering: {dumped.stderr[-2000:]}"
    check = json.loads(html.unescape(match.group(1)))
    assert check["errors"] == [], check["errors"]
    assert "Uncaught" not in dumped.stderr, dumped.stderr[-2000:]
    assert check["matrixVisible"] and check["matrixRows"] == 2 + len(ROWS)  # two header rows (families, implementations), one per convention
    assert check["resultsVisible"] and check["resultRows"] > 40 and check["visibleResultRows"] == check["resultRows"]
    assert check["environmentFolded"] and check["matrixBeforeEnvironment"], "the report opens on the matrix, the environment folded after it"
    assert check["compared"] == "" and len(check["shownRows"]) == len(ROWS)

    # The comparison selector, chosen through the address: only the rows where the two differ, only their columns.
    matrix = json.loads((tmp_path / "conventions.json").read_text())["implementations"]
    differ = [row.id for row in ROWS if matrix["onnx-reference"]["cells"][row.id]["observed"] != matrix["jax-own"]["cells"][row.id]["observed"]]
    dumped = run_chromium(probed, tmp_path / "profile-compare", "--dump-dom", fragment="#compare=onnx-reference,jax-own")
    check = json.loads(html.unescape(re.search(r'data-check="([^"]*)"', dumped.stdout).group(1)))
    assert check["errors"] == [], check["errors"]
    assert differ and check["shownRows"] == differ
    assert check["shownColumns"] == ["onnx-reference", "jax-own"] or check["shownColumns"] == ["jax-own", "onnx-reference"]
    assert check["compared"] == f"{len(differ)} of {len(ROWS)} rows differ"

    out = ROOT / "reports" / "out"
    out.mkdir(parents=True, exist_ok=True)
    screenshot = out / "report-screenshot.png"
    shot = run_chromium(report, tmp_path / "profile-shot", f"--screenshot={screenshot}", "--window-size=1400,2400")
    assert screenshot.exists() and screenshot.stat().st_size > 50_000, shot.stderr[-2000:]
