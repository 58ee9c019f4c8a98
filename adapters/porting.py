"""Carrying a BatchNorm layer from one implementation to another without changing its numbers.

A port is three things: the description (translated to the target's native arguments by its
adapter), the four state tensors (copied under the target's own names), and the conventions no
native argument can carry, which are named plainly rather than silently dropped.
"""

from __future__ import annotations

from dataclasses import replace

from .base import Adapter
from .registry import implementation

#: Conventions that change the numbers when they differ, and what a port cannot do about them.
GAPS = {
    "moving_variance_update": "no native argument changes which variance enters the moving average: "
    "inference after the port is identical, but further training drifts (the moving variances differ by "
    "(1-d)·Σd^(k-j)·var_j/(n-1) after k steps)",
    "train_normalize_variance": "no native argument changes what normalizes a training batch: with the moving "
    "statistics instead of the batch's own, training outputs differ from the second step on",
    "first_step": "no native argument changes the first-step rule: a ported layer trained further from fresh "
    "statistics starts differently",
    "one_pass_variance": "the batch variance is computed as E[x^2] - E[x]^2 on one side: where the mean is large "
    "against the spread it loses digits the other side keeps",
    "batch_size_1": "one value per channel raises in one and runs in the other",
}


def port(source: Adapter, target_id: str, epsilon: float | None = None) -> tuple[Adapter, dict[str, str]]:
    """Build ``target_id`` for the source's description and copy the four tensors into it.

    ``epsilon`` overrides the translated epsilon (to measure what the target's default would do).
    Returns the target and the map from the source's native state names to the target's.
    """
    spec = source.spec if epsilon is None else replace(source.spec, epsilon=epsilon)
    target = implementation(target_id).create(spec)
    target.set_state(source.state())
    return target, dict(zip(source.native_state_names(), target.native_state_names()))


def gaps(source: Adapter, target: Adapter) -> dict[str, str]:
    """The conventions in which source and target differ and that no native argument reproduces."""
    mine, theirs = source.declared, target.declared
    return {name: why for name, why in GAPS.items() if getattr(mine, name) != getattr(theirs, name)}
