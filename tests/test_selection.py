"""``-k`` and ``-m`` mean what pytest means: a family's word selects what its marker selects, a
section's case (a conversion path, a data-parallel run, a workflow column) carries the markers of every
framework it runs, ``section`` and its section's key, and is found by its id; nothing rewrites an expression."""

from __future__ import annotations

import pytest

from adapters.registry import FRAMEWORKS, IMPLEMENTATIONS
from converters.registry import PATHS

from .test_lazy_imports import run_python

EXPRESSIONS = [(), ("-k", "not torch"), ("-k", "tensorflow-keras3-to-onnx-export"), ("-k", "convert and tensorflow"),
               ("-m", "frozen"), ("-k", "torch and not section"),
               *(("-k", family) for family in FRAMEWORKS), *(("-m", family) for family in FRAMEWORKS)]


@pytest.fixture(scope="module")
def collected() -> dict[tuple[str, ...], dict[str, list[str]]]:
    """Each selection of EXPRESSIONS -> node id -> its markers, collected over the suites in one fresh interpreter."""
    found = run_python(
        "import json, pytest\n"
        "class Seen:\n"
        "    def pytest_collection_finish(self, session):\n"
        "        self.items = {i.nodeid: sorted({m.name for m in i.iter_markers()}) for i in session.items}\n"
        "results = []\n"
        f"for expression in {EXPRESSIONS!r}:\n"
        "    seen = Seen()\n"
        "    code = pytest.main(['suites', '--collect-only', '-q', '-p', 'no:cacheprovider', *expression], plugins=[seen])\n"
        "    assert code in (0, 5), code\n"
        "    results.append(getattr(seen, 'items', {}))\n"
        "print(json.dumps(results))"
    )
    return dict(zip(EXPRESSIONS, found))


@pytest.mark.parametrize("family", FRAMEWORKS)
def test_a_familys_word_selects_what_its_marker_selects(collected, family):
    by_word, by_marker = collected[("-k", family)], collected[("-m", family)]
    assert by_word and set(by_word) == set(by_marker)
    assert all(family in markers for markers in by_word.values())
    ids = {i for i, impl in IMPLEMENTATIONS.items() if impl.framework == family}
    assert {i for i in ids if any(f"[{i}-" in nodeid for nodeid in by_word)} == ids  # every implementation of it


def test_not_a_family_keeps_every_case_that_does_not_run_it(collected):
    everything, kept = collected[()], collected[("-k", "not torch")]
    assert set(kept) == {nodeid for nodeid, markers in everything.items() if "torch" not in markers}
    assert any("[tensorflow-keras3-to-onnx-export-" in nodeid for nodeid in kept)  # a TensorFlow conversion path
    assert any("[jax-flax_linen-pmap-" in nodeid for nodeid in kept)  # a JAX data-parallel run


def test_a_paths_full_id_selects_its_cases(collected):
    cases = collected[("-k", "tensorflow-keras3-to-onnx-export")]
    assert len(cases) == 7 and all("test_conversion_does_what_the_path_declares[tensorflow-keras3-to-onnx-export-" in n
                                   for n in cases)


def test_a_sections_word_and_a_family_select_the_paths_that_run_it(collected):
    cases = collected[("-k", "convert and tensorflow")]
    paths = {nodeid.split("[", 1)[1].rsplit("-", 1)[0] for nodeid in cases}
    assert all("::test_conversion_does_what_the_path_declares[" in nodeid for nodeid in cases)
    assert paths == {path_id for path_id, path in PATHS.items() if "tensorflow" in path.frameworks}


def test_a_sections_marker_selects_its_suite_and_not_section_leaves_the_implementations(collected):
    from adapters.rows import FROZEN
    from suites.sections import columns

    frozen = collected[("-m", "frozen")]
    assert {nodeid.split("::")[0] for nodeid in frozen} == {FROZEN.suite}
    assert len(frozen) == len(columns(FROZEN)) * len(FROZEN.rows)
    alone = collected[("-k", "torch and not section")]
    assert alone and not any("section" in markers for markers in alone.values())
    assert {i for i, impl in IMPLEMENTATIONS.items() if impl.framework == "torch"} <= {
        i for i in IMPLEMENTATIONS if any(f"[{i}-" in nodeid for nodeid in alone)}

