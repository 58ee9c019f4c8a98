"""TensorFlow 1's ``tf.compat.v1.layers.batch_normalization``, the founding question's own API.

The layer runs in graph mode with a Session and the ``UPDATE_OPS`` collection, in a child process
(``adapters.keras.tf1_worker``) because it needs ``TF_USE_LEGACY_KERAS=1`` and eager execution turned
off before anything else uses TensorFlow. This module imports no framework: it starts the worker
on first use and talks to it over pipes. Momentum weighs the old value, the default epsilon is
1e-3, and the moving variance is the biased one on 2-D and 3-D input; a 4-D batch takes the fused
kernel, which stores the unbiased one.
"""

from __future__ import annotations

import atexit
import os
import pickle
import subprocess
import sys
import weakref
from pathlib import Path

import numpy as np

from ..base import Adapter, State
from .arguments import TF_KERAS, KerasArguments

ROOT = Path(__file__).resolve().parents[1]


class FrameworkError(RuntimeError):
    """An exception raised by TensorFlow in the worker; the message names its original type."""


class Worker:
    """The child process that owns TensorFlow 1; one per test process, started on first use."""

    _running: Worker | None = None

    def __init__(self):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "adapters.keras.tf1_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=ROOT,
        )
        #: Handles of layers whose adapters are gone, sent with the next build to be reused. A
        #: finalizer may run in the middle of a call, so it only appends here; never talks to the worker.
        self.released: list[int] = []
        atexit.register(self.close)

    @classmethod
    def get(cls) -> Worker:
        if cls._running is None or cls._running.process.poll() is not None:
            cls._running = cls()
        return cls._running

    def call(self, verb: str, *arguments):
        pickle.dump((verb, arguments), self.process.stdin)
        self.process.stdin.flush()
        try:
            answer = pickle.load(self.process.stdout)
        except EOFError:
            raise RuntimeError(f"the TensorFlow 1 worker exited with code {self.process.wait()} during {verb!r}") from None
        if answer[0] == "error":
            raise FrameworkError(f"{answer[1]}: {answer[2]}")
        return answer[1]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=30)


class Tf1BatchNorm(KerasArguments, Adapter):
    id = "tensorflow-tf1"
    declared = TF_KERAS
    framework_name = "TensorFlow 1"

    def native_defaults(self) -> dict:
        return self.worker.call("defaults")

    def native_state_names(self) -> tuple:
        # "batch_normalization/moving_mean" -> "moving_mean", the key a checkpoint ends in
        return tuple(name.split("/")[-1] for name in self.worker.call("names", self.handle))

    def native_dtypes(self) -> dict:
        return self.worker.call("dtypes", self.handle)

    def moving_dtype(self) -> str:
        return self.native_dtypes()["moving"]

    def _founding_network(self, kernel, second_kernel, x, y, learning_rate) -> dict:
        return self.worker.call("founding_network", self.native, kernel, second_kernel, x, y, learning_rate)

    def _build(self) -> None:
        self.worker = Worker.get()
        shape = [None] * self.spec.ndim  # any batch size and spatial size, the channel count fixed
        shape[self.spec.channel_axis] = self.spec.num_features
        released, self.worker.released[:] = list(self.worker.released), []
        self.handle = self.worker.call("build", self.native, shape, released)
        weakref.finalize(self, self.worker.released.append, self.handle)

    def _train(self, batch: np.ndarray):
        return self.worker.call("train", self.handle, batch)

    def _infer(self, batch: np.ndarray):
        return self.worker.call("infer", self.handle, batch)

    def _read(self) -> tuple:
        c = self.spec.num_features
        mean, variance, gamma, beta = self.worker.call("read", self.handle)
        return mean, variance, np.ones(c) if gamma is None else gamma, np.zeros(c) if beta is None else beta

    def _write(self, state: State) -> None:
        self.worker.call("write", self.handle, list(state))
