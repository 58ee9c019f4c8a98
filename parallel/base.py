"""The interface of a data-parallel run."""

from __future__ import annotations

import abc

import numpy as np


class UnequalSlicesRefused(Exception):
    """The machinery takes only slices of one size per replica: raised, with the framework's own
    message, where it refused replicas of unequal batch sizes (JAX builds one array over the devices)."""


class DataParallel(abc.ABC):
    """One data-parallel run of a BatchNorm, in its framework's own machinery."""

    #: What the run does, row id -> value, checked against the observation.
    declared: dict[str, str]

    @abc.abstractmethod
    def steps(self, steps: list, decay: float, epsilon: float) -> list[dict]:
        """Training steps on ``steps`` (per step, per replica: an (N, C) batch; N may differ between
        replicas), each replica's moving statistics carried to its next step. Per step: ``output``
        (per replica), ``mean`` and ``variance`` (replicas, C), ``read``: the moving statistics
        as a script reads them outside the replicas after the step (``mean`` and ``variance``, with
        a leading replica axis where the read returns one value per replica), and ``inference``: each
        replica's output in inference mode on replica 0's batch of the step, after the step."""

    def scenarios(self, scenarios: list, epsilon: float) -> list:
        """``steps`` for each (steps, decay) of ``scenarios``, each with a fresh layer; a scenario whose
        unequal slices the machinery refused gives its ``UnequalSlicesRefused`` in its place. A run
        whose set-up is costly (spawned processes) overrides this to do them all in one."""
        return [self._attempt(steps, decay, epsilon) for steps, decay in scenarios]

    def _attempt(self, steps: list, decay: float, epsilon: float):
        try:
            return self.steps(steps, decay, epsilon)
        except UnequalSlicesRefused as refusal:
            return refusal


def per_replica(values) -> np.ndarray:
    """Values of each replica stacked in float64 (replicas, ...)."""
    return np.stack([np.asarray(v, np.float64) for v in values])
