"""The columns of each further section of the matrix (``adapters.rows.SECTIONS``): the conversion
paths and the data-parallel runs, and what installs what they need. Here, above ``converters/``
and ``parallel/``, so that the rows they declare against stay below them."""

from __future__ import annotations

from adapters.registry import Column
from adapters.rows import COMPILED, CONVERTERS, DATA_PARALLEL, FOLDING, FROZEN, MIXED_PRECISION, SECTIONS, Section
from converters.registry import PATHS
from parallel.registry import RUNS
from workflows import registry as workflows

#: section key -> (its columns by id, the extras that install them, what observes a column where it runs:
#: "module:function", column id -> {row: (observed, evidence)})
_COLUMNS: dict[str, tuple[dict[str, Column], str, str]] = {
    CONVERTERS.key: (PATHS, "converters", "suites.converter_checks:observe"),
    DATA_PARALLEL.key: (RUNS, "jax,tensorflow,torch", "suites.parallel_checks:observe"),
    FROZEN.key: (workflows.FROZEN, "all", "suites.frozen_checks:observe"),
    MIXED_PRECISION.key: (workflows.MIXED_PRECISION, "all", "suites.mixed_precision_checks:observe"),
    COMPILED.key: (workflows.COMPILED, "all", "suites.compiled_checks:observe"),
    FOLDING.key: (workflows.FOLDING, "all", "suites.folding_checks:observe"),
}
assert set(_COLUMNS) == {section.key for section in SECTIONS}, "every section needs its columns here"


#: The suite of the conventions, which observes the implementations' rows.
CONVENTIONS_SUITE = "suites/test_conventions.py"


def matrix_suites() -> tuple[str, ...]:
    """The suites that observe every cell of the matrix: the conventions', then each section's."""
    return (CONVENTIONS_SUITE, *(section.suite for section in SECTIONS))


def regenerate_command() -> str:
    """The command that rewrites the committed matrix."""
    return f"pytest {' '.join(matrix_suites())} --update-conventions"


def columns(section: Section) -> dict[str, Column]:
    """The section's columns, by id, in the order the matrix shows them."""
    return _COLUMNS[section.key][0]


def extra(section: Section) -> str:
    """The extras that install what the section's columns run."""
    return _COLUMNS[section.key][1]


def column(column_id: str) -> Column | None:
    """The column of any section with this id, or None."""
    return next((found[column_id] for found, _, _ in _COLUMNS.values() if column_id in found), None)


def observer(column_id: str) -> str:
    """"module:function" that observes every row of the column, where the column runs."""
    return next(observe for found, _, observe in _COLUMNS.values() if column_id in found)
