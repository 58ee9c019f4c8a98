"""``bnparity``: the committed conventions matrix's answers in a terminal, and the measurement of your own
BatchNorm adapter.

    bnparity port tensorflow-keras3 torch-batchnorm1d --momentum 0.99
    bnparity show keras3 flax_linen --only-differences
    bnparity measure numpy_batchnorm.adapter:NumpyBatchNorm
    bnparity test -k mine           # bnparity's suites on your adapter, from your own repository

Bad arguments get one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys

from reports.committed import committed, committed_cells

from .answers import AnswerError, as_text, port, show

EPILOG = ("Implementations are named as in the matrix (tensorflow-keras3), or by a short form that names one "
          "(flax_linen, mlx). Every convention comes from the committed matrix (reports/CONVENTIONS.md), measured by the suites.")


class Parser(argparse.ArgumentParser):
    """argparse, but an error is one line (``bnparity: <what>``) and status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message}\n")


def run_port(args) -> list[str]:
    return port(committed(), args.source, args.target, args.momentum, args.epsilon)


def run_show(args) -> list[str]:
    matrix = committed()
    ids, table = show(matrix, args.implementations, args.only_differences)
    if args.json:
        return [json.dumps({row: dict(zip(ids, values)) for row, values in table}, indent=2)]
    return as_text(ids, table, width=10**6 if args.wide else 36)


def run_measure(args) -> list[str]:
    from suites.measure import comparison, declaration, measure, shown

    conventions, observations = measure(args.adapter)
    return [f"# {args.adapter}, measured by every probe of the conventions matrix", "",
            "from adapters.conventions import BeyondRange, Conventions, HalfPrecision, HalfStep", "",
            declaration(conventions, observations), "",
            "Closest implementations of the committed matrix (reports/CONVENTIONS.md):",
            *comparison(shown(observations), committed_cells())[: args.closest]]


#: bnparity's pytest plugins, as its own conftest.py loads them.
PLUGINS = ("reports.plugin", "suites.scheduling", "suites.ending")


def run_test(args) -> int:
    """bnparity's suites, installed, run by pytest from here: your adapters (entry points, ``--bnparity-impl``)
    are columns; the report and the matrix go to ``reports/out/`` here."""
    import pytest

    plugins = [argument for plugin in PLUGINS for argument in ("-p", plugin)]
    return int(pytest.main([*plugins, "--pyargs", "suites", *args.pytest_arguments]))


def parser() -> Parser:
    main = Parser(prog="bnparity", description=__doc__.split("\n")[0], epilog=EPILOG)
    verbs = main.add_subparsers(dest="verb", required=True, parser_class=Parser, metavar="VERB")
    verb = verbs.add_parser("port", help="what to set when porting a layer from SOURCE to TARGET, and what still differs",
                            description="The target's native momentum and epsilon for the source's (the momentum inverted "
                                        "where the conventions say so, the epsilon carried over), the state names to map, "
                                        "and every row of the committed matrix where the two still differ.", epilog=EPILOG)
    verb.add_argument("source", help="the implementation you port from")
    verb.add_argument("target", help="the implementation you port to")
    verb.add_argument("--momentum", type=float, help="the source's native momentum (default: the source's default)")
    verb.add_argument("--epsilon", type=float, help="the source's epsilon (default: the source's default)")
    verb.set_defaults(run=run_port)
    verb = verbs.add_parser("show", help="the committed matrix's rows for the named implementations, side by side",
                            description="The committed matrix's rows for the named implementations, side by side.", epilog=EPILOG)
    verb.add_argument("implementations", nargs="+", metavar="IMPL")
    verb.add_argument("--only-differences", action="store_true", help="only the rows where they differ")
    verb.add_argument("--json", action="store_true", help="row -> implementation -> value, as JSON")
    verb.add_argument("--wide", action="store_true", help="never cut a value")
    verb.set_defaults(run=run_show)
    verb = verbs.add_parser("measure", help="run every probe on your adapter class; print its declaration",
                            description="Run every row's probe on an adapter class and print the Conventions(...) "
                                        "declaration it observed, with the closest implementations of the matrix.")
    verb.add_argument("adapter", metavar="MODULE:CLASS", help="the adapter class to measure, importable from here")
    verb.add_argument("--closest", type=int, default=5, help="how many committed implementations to compare with")
    verb.set_defaults(run=run_measure)
    verb = verbs.add_parser("test", help="run bnparity's suites (installed) with pytest from here; other arguments go to pytest",
                            description="Run bnparity's suites on every registered implementation, your own adapters (entry "
                                        "points, --bnparity-impl) included, from any directory: every argument after `test` "
                                        "goes to pytest (-k, -m, -n, -x, --bnparity-impl, --bnparity-out ...).")
    verb.set_defaults(run=run_test)
    return main


def main(argv: list[str] | None = None) -> int:
    from suites.measure import MeasureError

    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments[:1] == ["test"] and not {"-h", "--help"} & set(arguments[1:2]):
        args = parser().parse_args(["test"])
        args.pytest_arguments = arguments[1:]
        return run_test(args)
    args = parser().parse_args(arguments)
    try:
        lines = args.run(args)
    except (AnswerError, MeasureError) as error:
        print(f"bnparity {args.verb}: {error}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
