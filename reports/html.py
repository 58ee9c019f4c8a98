"""HTML fragments for the pytest-html report, rendered from what the run recorded.

Every piece of text that did not come from this module (observations, evidence, error messages,
test ids, framework reprs) passes through :func:`text`, so a framework message containing
``<script>`` is shown, never run.
"""

from __future__ import annotations

import html
import shlex

from . import plots
from .matrix import ROWS

STYLE = """<style>
.bnparity h2 { margin-top: 1.2em; }
.bnparity-scroll { overflow-x: auto; max-width: 100%; }
#bnparity-matrix, .bnparity-table { border-collapse: collapse; font-size: 12px; }
#bnparity-matrix th, #bnparity-matrix td, .bnparity-table th, .bnparity-table td {
  border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; text-align: left; }
#bnparity-matrix thead th { background: #f0f0f0; position: sticky; top: 0; }
#bnparity-matrix thead tr:nth-child(2) th { top: 1.6em; }
#bnparity-matrix th.family { text-align: center; background: #e2e6ec; }
#bnparity-matrix tbody th, #bnparity-matrix thead th[rowspan] { position: sticky; left: 0; z-index: 2; background: #fafafa;
  min-width: 16em; max-width: 22em; }
#bnparity-matrix .swatch { display: inline-block; margin: 2px 4px 0 0; padding: 0 4px; font-size: 11px; font-weight: normal; }
#bnparity-matrix td.mismatch { background: #f8c9c9; }
#bnparity-matrix td.not-run, #bnparity-matrix th.not-run { background: #eee; color: #888; }
#bnparity-matrix .declared { display: block; font-weight: bold; color: #a00; }
.bnparity-table td.mismatch { background: #f8c9c9; }
.bnparity-table td.not-run { background: #eee; color: #888; }
.bnparity-figure { max-width: 100%; }
.bnparity-rerun { font-family: monospace; background: #f4f4f4; padding: 2px 4px; }
.bnparity-compare { margin: 0.5em 0; }
#bnparity-matrix.comparing td[data-impl]:not(.compared), #bnparity-matrix.comparing th[data-impl]:not(.compared),
#bnparity-matrix.comparing tr.families { display: none; }
#bnparity-environment { margin: 1em 0; }
</style>"""

#: The comparison selector: two implementations chosen (or given in the address, ``#compare=A,B``) show only the
#: rows where their observations differ, and only their two columns; the environment folded after the matrix.
COMPARE_SCRIPT = """<script>
(function () {
  const table = document.getElementById('bnparity-matrix');
  const first = document.getElementById('bnparity-compare-a'), second = document.getElementById('bnparity-compare-b');
  const result = document.getElementById('bnparity-compare-result');
  const value = (row, impl) => { const cell = row.querySelector('td[data-impl="' + CSS.escape(impl) + '"]');
                                 return cell ? cell.textContent : null; };
  function apply() {
    const rows = [...table.tBodies[0].rows];
    const comparing = first.value !== '' && second.value !== '';
    table.classList.toggle('comparing', comparing);
    table.querySelectorAll('[data-impl]').forEach((cell) => cell.classList.toggle(
      'compared', comparing && (cell.dataset.impl === first.value || cell.dataset.impl === second.value)));
    let differ = 0;
    rows.forEach((row) => { const differs = !comparing || value(row, first.value) !== value(row, second.value);
                            row.hidden = !differs; if (comparing && differs) differ += 1; });
    result.textContent = comparing ? differ + ' of ' + rows.length + ' rows differ' : '';
  }
  first.addEventListener('change', apply);
  second.addEventListener('change', apply);
  document.getElementById('bnparity-compare-clear').addEventListener('click', () => { first.value = ''; second.value = ''; apply(); });
  const asked = decodeURIComponent(location.hash).match(/compare=([^,]+),(.+)$/);
  if (asked) { first.value = asked[1]; second.value = asked[2]; apply(); }
  const folded = document.getElementById('bnparity-environment');
  for (const id of ['environment-header', 'environment']) {
    const part = document.getElementById(id);
    if (part) folded.appendChild(part);
  }
})();
</script>"""


def text(value) -> str:
    """Any value as HTML-escaped text."""
    return html.escape(str(value), quote=True)


#: Background colours for the values of a row that are not its most common one, in order of appearance.
VALUE_COLOURS = ("#fde2a7", "#c9e4f8", "#d8f0c8", "#ead7f5", "#f9d0e3", "#cdeee9", "#f3e3c6", "#dcdcf7")


def matrix_section(result: dict) -> str:
    """The conventions matrix of this run: one row per convention, one column per implementation.

    Built to be read at a glance with twenty-some columns: columns grouped under their family, the
    row names kept in view while scrolling sideways, and in each row the most common observed value
    left white while every other value gets a colour of its own, named in the row's legend.
    """
    families: dict[str, list[str]] = {}
    for impl_id, data in result["implementations"].items():
        families.setdefault(data["framework"], []).append(impl_id)
    impls = {i: result["implementations"][i] for ids in families.values() for i in ids}
    groups = "".join(f'<th colspan="{len(ids)}" class="family">{text(family)}</th>' for family, ids in families.items())
    head = "".join(
        f'<th data-impl="{text(i)}" class="{"" if d["status"] == "run" else "not-run"}">{text(i)}<br><small>{text(d["version"])}</small>'
        f'<br><small class="execution">runs as {text(d["execution"])}</small>'
        f'{"" if d["status"] == "run" else "<br><small>" + text(d["status"]) + "</small>"}</th>'
        for i, d in impls.items()
    )
    body = []
    for row in ROWS:
        observed = [d["cells"][row.id]["observed"] for d in impls.values() if row.id in d["cells"]]
        counts = {value: observed.count(value) for value in observed}
        common = max(counts, key=counts.get) if counts else None
        others = [value for value in counts if value != common]
        colours = {value: VALUE_COLOURS[k % len(VALUE_COLOURS)] for k, value in enumerate(others)}
        cells = []
        for impl_id, data in impls.items():
            cell = data["cells"].get(row.id)
            if cell is None:
                status = data["status"] if data["status"] != "run" else "not observed"
                cells.append(f'<td data-impl="{text(impl_id)}" class="not-run">{text(status)}</td>')
                continue
            mismatch = cell["observed"] != cell["declared"]
            declared = f'<span class="declared">declared: {text(cell["declared"])}</span>' if mismatch else ""
            colour = colours.get(cell["observed"])
            style = f' style="background: {colour}"' if colour and not mismatch else ""
            classes = "mismatch" if mismatch else ("observed differs" if colour else "observed")
            cells.append(f'<td data-impl="{text(impl_id)}" class="{classes}"{style} title="{text(cell["evidence"])}">'
                         f'{text(cell["observed"])}{declared}</td>')
        legend = "".join(f'<span class="swatch" style="background: {c}">{text(v)}</span>' for v, c in colours.items())
        legend = f'<br><small class="legend">most common: {text(common)}</small>{legend}' if colours else ""
        body.append(f'<tr data-row="{text(row.id)}"><th title="{text(row.porting)}">{text(row.title)}<br><small>{text(row.id)}</small>{legend}</th>'
                    f'{"".join(cells)}</tr>')
    run = sum(d["status"] == "run" for d in impls.values())
    options = '<option value="">(choose)</option>' + "".join(f'<option value="{text(i)}">{text(i)}</option>' for i in impls)
    return (
        f'{STYLE}<section class="bnparity" id="bnparity-matrix-section"><h2>Conventions matrix of this run</h2>'
        f"<p>{run} of {len(impls)} implementations observed, grouped by family. Each cell is what this run measured "
        "(hover for the evidence, and over a row title for what it means when you port). In each row the most common "
        "value is white and every other value has a colour of its own, named under the row title; a red cell is one "
        "where the observation differs from the adapter's declaration, which is shown beneath it; grey columns were not run.</p>"
        f'<div class="bnparity-compare">Compare <select id="bnparity-compare-a">{options}</select> with '
        f'<select id="bnparity-compare-b">{options}</select> <button id="bnparity-compare-clear">show all</button> '
        '<span id="bnparity-compare-result"></span></div>'
        f'<div class="bnparity-scroll"><table id="bnparity-matrix"><thead><tr class="families"><th rowspan="2">convention</th>{groups}</tr>'
        f'<tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div></section>'
        '<details id="bnparity-environment"><summary>Environment: Python, platform, and the version of every package</summary></details>'
        f"{COMPARE_SCRIPT}"
    )


def comparison_cells(comparisons: list[dict], cells: list[dict] = ()) -> dict[str, str]:
    """The quantity, error and tolerance columns of one test: one line per comparison; for a
    convention probe, the observation against the declaration."""
    if not comparisons:
        observed = "<br>".join(
            text(f'{c["row"]}: observed {c["observed"]!r}, declared {c["declared"]!r}') for c in cells
        )
        return {"quantity": observed, "abs": "", "rel": "", "tolerance": ""}

    def lines(values):
        return "<br>".join(values)

    return {
        "quantity": lines(text(c["quantity"]) + ("" if c["passed"] else " <b>(failed)</b>") for c in comparisons),
        "abs": lines(f'{c["max_abs_error"]:.3g}' for c in comparisons),
        "rel": lines(f'{c["max_rel_error"]:.3g}' for c in comparisons),
        "tolerance": lines(
            text(f'{c["dtype"]}: rtol {c["tolerance"]["rtol"]:g}, atol {c["tolerance"]["atol"]:g}') for c in comparisons
        ),
    }


def failure_details(nodeid: str, comparisons: list[dict]) -> str:
    """For a failed test: each failed comparison's worst values side by side, a plot, the rerun command."""
    parts = [f'<div class="bnparity">Rerun exactly this case: <span class="bnparity-rerun">{text("pytest " + shlex.quote(nodeid))}</span>']
    for c in comparisons:
        if c["passed"]:
            continue
        rows = "".join(
            f"<tr><td>{text(index)}</td><td>{actual!r}</td><td>{expected!r}</td><td>{abs(actual - expected):.3g}</td></tr>"
            for index, actual, expected in c.get("worst", ())
        )
        parts.append(
            f'<p><b>{text(c["quantity"])}</b>: {text(c["message"])}</p>'
            f'<table class="bnparity-table"><tr><th>index</th><th>actual</th><th>expected</th><th>|error|</th></tr>{rows}</table>'
        )
        if "steps" in c:
            uri = plots.failure(c["quantity"], c["steps"]["actual"], c["steps"]["expected"])
            parts.append(f'<img class="bnparity-figure" alt="{text(c["quantity"])} per step" src="{uri}">')
    return "".join(parts).replace("\n", " ") + "</div>"


def figure_section(section_id: str, title: str, explanation: str, uri: str) -> str:
    return (
        f'<section class="bnparity" id="{section_id}"><h2>{text(title)}</h2><p>{explanation}</p>'
        f'<img class="bnparity-figure" alt="{text(title)}" src="{uri}"></section>'
    )


PRINTED_ROWS = (
    ("moving_mean", "moving mean"),
    ("moving_variance", "moving variance"),
    ("gamma", "gamma"),
    ("beta", "beta"),
    ("kernel", "hidden kernel"),
    ("bn_1 given the printed kernel", "bn_1 (inference, printed kernel)"),
)


def section_table(section, columns: dict) -> str:
    """A further section of the matrix (``matrix.SECTIONS``): a row per check, a column per path or run."""
    header = "".join(f"<th>{text(column_id)}<br><small>{text(data['version'])}</small></th>" for column_id, data in columns.items())
    rows = []
    for row in section.rows:
        cells = []
        for data in columns.values():
            cell = data["cells"].get(row.id)
            if cell is None:
                cells.append(f'<td class="not-run">{text(data["status"])}</td>')
            elif cell["observed"] != cell["declared"]:
                cells.append(f'<td class="mismatch" title="{text(cell["evidence"])}">{text(cell["observed"])}'
                             f'<br><small>declared: {text(cell["declared"])}</small></td>')
            else:
                cells.append(f'<td title="{text(cell["evidence"])}">{text(cell["observed"])}</td>')
        rows.append(f'<tr><th title="{text(row.porting)}">{text(row.title)}<br><small>{row.id}</small></th>{"".join(cells)}</tr>')
    return (
        f'<section class="bnparity" id="bnparity-{section.key}"><h2>{text(section.title)}</h2><p>{text(section.intro)} '
        "Hover a cell for the evidence, a row title for what it means.</p>"
        f'<div class="bnparity-scroll"><table id="bnparity-{section.key}-table" class="bnparity-table"><thead><tr>'
        f"<th>check</th>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table></div></section>"
    )


def examples_section(examples: list[dict], not_drawn: list[tuple[str, str, str]]) -> str:
    """How many examples the property suite drew for each implementation, by kind of batch, and the
    regions it leaves out for some (each measured elsewhere)."""
    kinds = sorted({key for record in examples for key in record} - {"impl", "profile", "examples", "refused", "not drawn"})
    profile = ", ".join(sorted({record["profile"] for record in examples}))
    header = "".join(f"<th>{text(label)}</th>" for label in ("implementation", "examples run", *kinds, "refused", "not drawn"))
    rows = "".join(
        "<tr>" + "".join(f"<td>{text(value)}</td>" for value in (
            record["impl"], record.get("examples", 0), *(record.get(kind, 0) for kind in kinds),
            record.get("refused", 0), record.get("not drawn", 0))) + "</tr>"
        for record in sorted(examples, key=lambda r: r["impl"])
    )
    left_out = "".join(f"<li><code>{text(impl)}</code>: {text(region)}, measured by {text(by)}</li>" for impl, region, by in not_drawn)
    return (
        '<section class="bnparity" id="bnparity-examples"><h2>Property-based examples</h2>'
        f"<p><code>suites/test_properties.py</code> under the hypothesis profile <code>{text(profile)}</code>: random "
        "valid descriptions and batches, each implementation against the float64 reference of its declaration. "
        "Examples run include hypothesis's shrinking of a failure; a description the implementation has no native "
        "arguments for is refused (SpecError) and not counted as run.</p>"
        f'<table class="bnparity-table"><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>'
        f"<p>Not drawn, because a strict xfail or a matrix row measures it:</p><ul>{left_out}</ul></section>"
    )


def founding_section(seeds: list[dict], printed: dict) -> str:
    """The answer to the founding question, with what each implementation gave in this run."""
    def number(value):
        values = value if isinstance(value, list) else [value]
        return ", ".join(f"{v:.8g}" for v in values)

    header = "".join(f"<th>{text(label)}</th>" for _, label in PRINTED_ROWS)
    printed_row = "".join(f"<td>{text(number(printed[key]))}</td>" for key, _ in PRINTED_ROWS)
    rows = "".join(
        f'<tr><td>{text(s["impl"])}</td><td>{"yes" if s["follows_tensorflow"] else "no"}</td><td>{s["epsilon"]:g}</td>'
        + "".join(f"<td>{text(number(s['values'][key]))}</td>" for key, _ in PRINTED_ROWS)
        + "</tr>"
        for s in seeds
    )
    return (
        '<section class="bnparity" id="bnparity-founding-question"><h2>The founding question: why is the moving mean '
        "not the batch mean after one step?</h2>"
        "<p>A TensorFlow 1 user trained dense &rarr; <code>batch_normalization(momentum=0.5)</code> &rarr; ReLU &rarr; "
        "dense &rarr; <code>batch_normalization(momentum=0.5)</code> for one Adam step on x = [0, 1] and saw a moving "
        "mean of 0.3514931 where the hidden outputs were 0 and 1.404974. The batch statistics were taken with the "
        "kernel <em>before</em> Adam's step, W0 = 4 &times; 0.3514931 = 1.4059724, so the batch mean was 0.7029862. "
        "TensorFlow's moving mean starts at 0 and blends from the very first step: 0.5 &times; 0 + 0.5 &times; 0.7029862 "
        "= 0.3514931. The moving variance starts at 1 and receives the <em>biased</em> batch variance: 0.5 &times; 1 + "
        "0.5 &times; 0.4941896 = 0.74709475. Momentum is not applied &lsquo;from the second batch&rsquo;; what the asker "
        "expected is a <em>debiased</em> average, which Haiku keeps and Equinox's <code>mode='ema'</code> imitates by "
        "copying the first batch. PyTorch blends too but stores the unbiased variance (0.99418956), and so does "
        "tf_keras's fused kernel on 4-D input. Momentum 0.5 is the one value where TensorFlow's convention (weight "
        "of the old value) and PyTorch's (weight of the new one) coincide, which hides the inversion here.</p>"
        "<p>What each implementation gave for the question's network in this run (the second kernel, random in the "
        "question, is 1.0; bn_1 is computed given the printed kernel 1.404974 with the implementation's default "
        "epsilon; the hidden kernel itself depends on Adam's epsilon and the random second kernel and is not "
        "asserted):</p>"
        f'<div class="bnparity-scroll"><table class="bnparity-table" id="bnparity-founding-table"><tr><th>implementation</th>'
        f"<th>TensorFlow's conventions</th><th>epsilon</th>{header}</tr>"
        f"<tr><td><b>printed in the question</b></td><td>yes</td><td>0.001</td>{printed_row}</tr>{rows}</table></div></section>"
    )
