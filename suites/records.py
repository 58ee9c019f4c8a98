"""The names under which a test records what it observed (pytest ``user_properties``, which
pytest-xdist carries from every worker to the controller), for the report to gather."""

CELL = "bnparity_cell"  #: one conventions-matrix cell (a section's cells: ``Section.record``)
COMPARISON = "bnparity_comparison"  #: one comparison with its errors and tolerance
SEED = "bnparity_seed"  #: what the founding question's network gave in one implementation
IMPL = "bnparity_impl"  #: the implementation or column a test runs on
EXAMPLES = "bnparity_examples"  #: the property suite's example counts, per implementation
