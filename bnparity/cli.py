"""``bnparity``: measure your own BatchNorm adapter against every row of the matrix.

    bnparity measure numpy_batchnorm.adapter:NumpyBatchNorm

Bad arguments get one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from reports.committed import committed_cells

EPILOG = "Every value comes from the committed matrix (reports/CONVENTIONS.md), measured by the suites."


class Parser(argparse.ArgumentParser):
    """argparse, but an error is one line (``bnparity: <what>``) and status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message}\n")


def measure(args) -> int:
    from suites.measure import MeasureError, comparison, declaration, measure, shown

    try:
        conventions, observations = measure(args.adapter)
    except MeasureError as error:
        print(f"bnparity measure: {error}", file=sys.stderr)
        return 2
    print(f"# {args.adapter}, measured by every probe of the conventions matrix\n")
    print("from adapters.conventions import BeyondRange, Conventions, HalfPrecision, HalfStep\n")
    print(declaration(conventions, observations))
    print("\nClosest implementations of the committed matrix (reports/CONVENTIONS.md):")
    print("\n".join(comparison(shown(observations), committed_cells())[: args.closest]))
    return 0


def parser() -> Parser:
    main = Parser(prog="bnparity", description=__doc__.split("\n")[0], epilog=EPILOG)
    verbs = main.add_subparsers(dest="verb", required=True, parser_class=Parser, metavar="VERB")
    verb = verbs.add_parser("measure", help="run every probe on your adapter class; print its declaration",
                            description="Run every row's probe on an adapter class and print the Conventions(...) "
                                        "declaration it observed, with the closest implementations of the matrix.")
    verb.add_argument("adapter", metavar="MODULE:CLASS", help="the adapter class to measure, importable from here")
    verb.add_argument("--closest", type=int, default=5, help="how many committed implementations to compare with")
    verb.set_defaults(run=measure)
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
