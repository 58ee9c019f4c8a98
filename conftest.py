"""Project-wide pytest configuration: one marker per framework, so ``-m torch`` selects like ``-k torch``.

Nothing here imports a framework: adapters are loaded by the tests that use them.
"""

from __future__ import annotations

from adapters.registry import FRAMEWORKS


def pytest_configure(config):
    for framework in FRAMEWORKS:
        config.addinivalue_line("markers", f"{framework}: cases that run a {framework} implementation")

pytest_plugins = ["reports.plugin", "suites.scheduling", "suites.ending"]
