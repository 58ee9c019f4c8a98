"""The interface of a data-parallel run."""

from __future__ import annotations

import abc

import numpy as np


class DataParallel(abc.ABC):
    """One data-parallel run of a BatchNorm, in its framework's own machinery."""

    #: What the run does, row id -> value, checked against the observation.
    declared: dict[str, str]

    @abc.abstractmethod
    def steps(self, steps: np.ndarray, decay: float, epsilon: float) -> list[dict[str, np.ndarray]]:
        """Training steps on ``steps`` (steps, replicas, N, C), each replica's moving statistics carried
        to its next step: per step, outputs and moving statistics per replica."""

    def scenarios(self, scenarios: list, epsilon: float) -> list[list[dict[str, np.ndarray]]]:
        """``steps`` for each (steps, decay) of ``scenarios``, each with a fresh layer. A run whose
        set-up is costly (spawned processes) does them all in one."""
        return [self.steps(steps, decay, epsilon) for steps, decay in scenarios]
