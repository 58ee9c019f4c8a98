"""The answers ``bnparity port`` and ``bnparity show`` give, from the committed matrix.

Every convention shown is a cell of the committed matrix (``reports/conventions.json``), measured by
the suites; the native arguments come from the adapters' own translation of the neutral description
(``native_arguments``, which the suites check against each framework), computed without building a layer.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.porting import GAPS
from adapters.registry import IMPLEMENTATIONS
from adapters.rows import ROWS
from adapters.spec import BatchNormSpec, SpecError


class AnswerError(ValueError):
    """A question bnparity cannot answer as asked: the message says why, in one line."""


def resolve(name: str, matrix: dict) -> str:
    """An implementation id of the committed matrix from ``name``: the id itself, or a short form that
    names one implementation (its name after the family, ``keras3``; its family, ``mlx``)."""
    known = list(matrix["implementations"])
    if name in known:
        return name
    candidates = [i for i in known if i.split("-", 1)[1] == name or i.split("-", 1)[0] == name]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise AnswerError(f"{name!r} is ambiguous: {', '.join(candidates)}")
    raise AnswerError(f"unknown implementation {name!r}; known: {', '.join(known)}")


def cells(matrix: dict, impl_id: str) -> dict[str, dict]:
    return matrix["implementations"][impl_id]["cells"]


@dataclass(frozen=True)
class NativeArguments:
    """The momentum and epsilon arguments one implementation takes, by their native names."""

    momentum_name: str
    momentum: float | None
    epsilon_name: str
    epsilon: float

    def __str__(self) -> str:
        momentum = "(none: a cumulative average)" if self.momentum is None else f"{self.momentum:.6g}"
        return f"{self.momentum_name}={momentum}, {self.epsilon_name}={self.epsilon:.6g}"


def native_arguments(impl_id: str, decay: float, epsilon: float) -> NativeArguments:
    """The native momentum and epsilon arguments that make ``impl_id`` follow ``decay`` and ``epsilon``,
    by the adapter's own translation (its module is imported; no layer is built)."""
    adapter_type = IMPLEMENTATIONS[impl_id].load()
    translator = object.__new__(adapter_type)
    translator.spec = BatchNormSpec(1, decay=decay, epsilon=epsilon)
    try:
        native = translator.native_arguments()
    except SpecError as refusal:
        raise AnswerError(f"{impl_id} cannot take decay {decay:g} and epsilon {epsilon:g}: {refusal}") from None
    momentum_name = adapter_type.momentum_argument
    epsilon_name = next((key for key, value in native.items() if key != momentum_name and isinstance(value, float) and value == epsilon),
                        "epsilon")
    return NativeArguments(momentum_name, native.get(momentum_name), epsilon_name, epsilon)


def decay_of(matrix: dict, impl_id: str, momentum: float) -> float:
    """The decay (weight of the old value) that ``momentum`` means to ``impl_id``, as its matrix row measured."""
    weight = cells(matrix, impl_id)["momentum_weight"]["observed"]
    if weight not in ("old", "new"):
        raise AnswerError(f"{impl_id}'s momentum weighs {weight!r} in the matrix: no native momentum to translate")
    return momentum if weight == "old" else 1.0 - momentum


def port(matrix: dict, source: str, target: str, momentum: float | None = None, epsilon: float | None = None) -> list[str]:
    """What porting ``source`` to ``target`` takes and leaves different, as lines of text."""
    source, target = resolve(source, matrix), resolve(target, matrix)
    mine, theirs = cells(matrix, source), cells(matrix, target)
    if momentum is None:
        default = mine["default_momentum"]["observed"]
        if default == "required":
            raise AnswerError(f"{source} has no default momentum: say --momentum")
        momentum = float(default)
    epsilon = float(mine["default_epsilon"]["observed"]) if epsilon is None else epsilon
    decay = decay_of(matrix, source, momentum)
    source_arguments = native_arguments(source, decay, epsilon)
    target_arguments = native_arguments(target, decay, epsilon)
    lines = [f"Porting {source} to {target}", "",
             f"  {source}: {source_arguments}",
             f"  {target}: {target_arguments}"]
    notes = []
    if mine["momentum_weight"]["observed"] != theirs["momentum_weight"]["observed"]:
        notes.append(f"the momentum is inverted: {source} weighs the {mine['momentum_weight']['observed']} value, "
                     f"{target} the {theirs['momentum_weight']['observed']} one (decay {decay:.6g} both)")
    if theirs["default_epsilon"]["observed"] != f"{epsilon:g}":
        notes.append(f"say {target_arguments.epsilon_name}={epsilon:g}: {target}'s default is {theirs['default_epsilon']['observed']}")
    lines += [f"  ({note})" for note in notes]
    source_names = mine["state_names"]["observed"].split(", ")
    target_names = theirs["state_names"]["observed"].split(", ")
    lines += ["", "State (moving mean, moving variance, gamma, beta):"]
    lines += [f"  {a} -> {b}" for a, b in zip(source_names, target_names)]
    renaming = dict(zip(source_names, target_names))
    orders = {impl: cells(matrix, impl)["weight_order"]["observed"] for impl in (source, target)}
    if "not said" not in orders.values():
        renamed = [renaming.get(name, name) for name in orders[source].split(", ")]
        same = renamed == orders[target].split(", ")
        lines += ["", "In the order each framework's own list of the layer's weights holds them"
                  f"{'' if same else ' (a positional copy must be reordered)'}:",
                  *(f"  {impl}: {order}" for impl, order in orders.items())]
    differing = [row for row in ROWS if row.id not in ("momentum_weight", "default_momentum", "default_epsilon", "state_names", "weight_order")
                 and mine[row.id]["observed"] != theirs[row.id]["observed"]]
    lines += ["", f"Where they still differ ({len(differing)} of {len(ROWS)} rows of the matrix):" if differing
              else "Nothing else differs: every other row of the matrix agrees."]
    for row in differing:
        lines += [f"- {row.title} ({row.id}): {source} {mine[row.id]['observed']!r}, {target} {theirs[row.id]['observed']!r}",
                  f"    {source}: {mine[row.id]['evidence']}",
                  f"    {target}: {theirs[row.id]['evidence']}",
                  f"    {GAPS.get(row.field_name, row.porting)}"]
    return lines


def show(matrix: dict, names: list[str], only_differences: bool = False) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The committed matrix's rows for the named implementations: (their ids, [(row id, values)])."""
    ids = [resolve(name, matrix) for name in names]
    table = [(row.id, [cells(matrix, i).get(row.id, {}).get("observed", "not observed") for i in ids]) for row in ROWS]
    if only_differences:
        table = [(row, values) for row, values in table if len(set(values)) > 1]
    return ids, table


def as_text(ids: list[str], table: list[tuple[str, list[str]]], width: int = 36) -> list[str]:
    """The table in columns, each cell cut to ``width`` characters."""
    def cut(text):
        return text if len(text) <= width else text[: width - 1] + "…"

    first = max([len("row"), *(len(row) for row, _ in table)])
    columns = [max([len(cut(i)), *(len(cut(values[n])) for _, values in table)]) for n, i in enumerate(ids)]
    lines = ["  ".join(["row".ljust(first), *(cut(i).ljust(w) for i, w in zip(ids, columns))]).rstrip()]
    lines += ["  ".join([row.ljust(first), *(cut(v).ljust(w) for v, w in zip(values, columns))]).rstrip() for row, values in table]
    return lines
