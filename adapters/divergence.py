"""A known divergence: a case where an implementation knowingly does not do what the reference of its
declaration computes, stated as data: bnparity's own list (``suites/divergences.py``) and an outside
adapter's ``known_divergences`` alike. Each becomes a strict xfail naming the row of the matrix that
explains it and what was measured."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Divergence:
    """One known divergence, matched by structure: the test function, the implementation and the values
    of the test's other parameters (``where``, as pairs), never by a test id's text."""

    test: str  #: the test function's name
    impl: str  #: the implementation id (in a section's test, the column's id)
    convention: str  #: the row of the matrix that explains it
    reason: str  #: what was measured
    where: tuple[tuple[str, object], ...] = ()  #: (parameter, value) pairs the case must have

    def matches(self, test: str, params: dict) -> bool:
        return (test == self.test and params.get("impl_id", params.get("column_id")) == self.impl
                and all(name in params and params[name] == value for name, value in self.where))

    def describe(self) -> str:
        return f"{self.convention}: {self.reason}"

    def __str__(self) -> str:
        where = ", ".join(f"{name}={value!r}" for name, value in self.where)
        return f"{self.test}[{self.impl}{', ' + where if where else ''}] ({self.convention})"


def where(**values) -> tuple[tuple[str, object], ...]:
    return tuple(values.items())
