"""Project-wide pytest configuration: bnparity's plugins (the report and matrix, the scheduling of a run over
one worker per family with its markers, the early end of a finished run); ``bnparity test`` loads the same.

Nothing here imports a framework: adapters are loaded by the tests that use them.
"""

from __future__ import annotations

pytest_plugins = ["reports.plugin", "suites.scheduling", "suites.ending"]
