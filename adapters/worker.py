"""Implementations that need a process-wide switch run in a worker process of their own.

TensorFlow 1's layers need ``TF_USE_LEGACY_KERAS=1`` and graph mode; Keras 3 chooses its backend
(``KERAS_BACKEND``) once per process. Either would change what the other implementations in the
test process see, so such an implementation names a worker kind in the registry
(``Implementation.worker``, one of ``processes.WORKERS``), and this module runs it there:

- In the test process the adapter class is the implementation's own, with :class:`InWorker` in
  front of it (``in_worker``): validation, translation and layout stay in the test process, and
  each native verb (build, train, infer, read, write, defaults, names, dtypes, the founding
  network, eager mode) is one request to the worker. The adapter module must therefore import
  its framework only when a verb runs, never at import.
- One worker per kind per test process, started on first use (or earlier, by ``prestart``, so its
  framework import overlaps other work), reused by every layer of that kind, replaced when it has died.
- Every request is bounded in time (``BNPARITY_WORKER_TIMEOUT`` seconds, default 300, which covers
  a framework import on a loaded machine). A worker that exits or does not answer in time is
  killed, the request raises :class:`WorkerError` naming the implementation, the verb, what
  happened and the end of the worker's stderr, and the next request starts a fresh worker: a
  crash or a hang fails one test and never hangs the run.
- An exception the framework raises in the worker is not a fault of the worker: it travels back
  as :class:`FrameworkError` with its original type in the message, the observation a test records.

Requests and answers are length-prefixed pickles on the worker's stdin and original stdout; what
a framework prints goes to its stderr, kept in a temporary file for error messages.

    python -m adapters.worker    # the worker's side; started by Worker, with the kind's environment
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib
import os
import pickle
import pkgutil
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
import weakref
from typing import Any, ClassVar

import numpy as np

from .base import TypedArray, with_id
from .exiting import remove_generated_sources
from .imports import hide
from .processes import ENVIRONMENTS, ROOT, WORKERS

HEADER = struct.Struct("<Q")
#: Seconds a request may take before its worker is killed, unless BNPARITY_WORKER_TIMEOUT says otherwise.
DEFAULT_TIMEOUT_S = 300.0


class WorkerError(RuntimeError):
    """A worker process exited, hung or could not be started: a fault, not an observation."""


class FrameworkError(RuntimeError):
    """An exception raised by the framework in the worker; the message starts with its original type."""


def request_timeout() -> float:
    """Seconds one request may take (``BNPARITY_WORKER_TIMEOUT``), checked before any worker starts."""
    value = os.environ.get("BNPARITY_WORKER_TIMEOUT", "")
    if not value:
        return DEFAULT_TIMEOUT_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ValueError(f"BNPARITY_WORKER_TIMEOUT={value!r} must be a positive number of seconds")
    return seconds


# -- framing ---------------------------------------------------------------------------------------


def send(stream, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def read_exactly(fd: int, size: int, deadline: float | None) -> bytes:
    """``size`` bytes from ``fd``; EOFError at end of stream, TimeoutError past ``deadline``."""
    chunks, left = [], size
    while left:
        # past the deadline only an answer already there is read: one asked for early may be read late
        if deadline is not None and not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            raise TimeoutError
        chunk = os.read(fd, left)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def receive(fd: int, deadline: float | None = None) -> Any:
    (size,) = HEADER.unpack(read_exactly(fd, HEADER.size, deadline))
    return pickle.loads(read_exactly(fd, size, deadline))


# -- the test process's side -----------------------------------------------------------------------


class Worker:
    """One worker process of a kind (``processes.WORKERS``), owned by the test process."""

    _running: ClassVar[dict[str, Worker]] = {}
    #: Every worker this process started, live or replaced, closed together at exit (``close_all``).
    _started: ClassVar[list[Worker]] = []

    def __init__(self, kind: str):


        self.kind = kind
        self.stderr = tempfile.TemporaryFile()
        python = sys.executable
        if WORKERS[kind].environment is not None:
            environment = ENVIRONMENTS[WORKERS[kind].environment]
            if not environment.built():
                raise WorkerError(f"the {kind} worker runs in the environment {environment.directory}, which is not built "
                                  f"({environment.python} is missing): {environment.how_to_build()}")
            python = environment.python
        env = dict(os.environ, **WORKERS[kind].env, BNPARITY_WORKER=kind, BNPARITY_WORKER_IMPORTS=",".join(WORKERS[kind].imports),
                   BNPARITY_WORKER_HIDDEN=",".join(WORKERS[kind].hidden))
        if "XLA_FLAGS" in WORKERS[kind].env:  # added to the run's XLA flags (its thread pool, its compiler), not instead
            env["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {WORKERS[kind].env['XLA_FLAGS']}".strip()
        env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH", "")) if p)
        # A session of its own: killing it kills what it started too (the ranks of a data-parallel run,
        # the onnx2tf worker the converters worker starts). A worker started by a worker stays in its
        # parent's session for that reason.
        self.process = subprocess.Popen(
            [python, "-m", "adapters.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.stderr, env=env, cwd=ROOT, start_new_session="BNPARITY_WORKER" not in os.environ,
        )
        #: Handles of layers whose adapters are gone, sent with the next request so the worker drops
        #: them. A finalizer may run in the middle of a request, so it only appends here.
        self.released: list[int] = []
        #: Requests sent and not yet answered, oldest first (``submit``).
        self.pending: list[Pending] = []
        Worker._started.append(self)
        if len(Worker._started) == 1:
            atexit.register(Worker.close_all)

    @classmethod
    def get(cls, kind: str) -> Worker:
        """The live worker of ``kind``, started (or replaced, if it has died) as needed."""
        worker = cls._running.get(kind)
        if worker is None or worker.process.poll() is not None:
            worker = cls._running[kind] = cls(kind)
        return worker

    @classmethod
    def prestart(cls, kind: str) -> None:
        """Start the worker of ``kind`` now, without waiting for it: its framework import runs
        while the test process does other work."""
        cls.get(kind)

    def call(self, verb: str, *arguments, timeout: float | None = None) -> Any:
        """Run ``verb`` in the worker and return its answer; see the module docstring for failures."""
        return self.submit(verb, *arguments, timeout=timeout).result()

    def submit(self, verb: str, *arguments, timeout: float | None = None) -> Pending:
        """Send ``verb`` and return at once: the worker runs it while this process goes on, and
        ``result()`` waits for the answer (bounded by ``timeout`` from now, as ``call``'s). Requests
        are answered in the order they were sent."""
        timeout = request_timeout() if timeout is None else timeout
        released, self.released[:] = list(self.released), []
        pending = Pending(self, verb, time.monotonic() + timeout, timeout)
        try:
            send(self.process.stdin, (verb, arguments, released))
        except (BrokenPipeError, OSError):
            pending.error = self.fault(verb, f"exited with code {self.wait()}")
            return pending
        self.pending.append(pending)
        return pending

    def collect(self, until: Pending) -> None:
        """Read answers, oldest request first, up to and including ``until``'s."""
        while self.pending and not until.done:
            pending = self.pending.pop(0)
            try:
                answer = receive(self.process.stdout.fileno(), pending.deadline)
            except TimeoutError:
                self.kill()
                pending.error = self.fault(pending.verb, f"did not answer within {pending.timeout:g} s "
                                                         "(BNPARITY_WORKER_TIMEOUT) and was killed")
            except (EOFError, BrokenPipeError, OSError):
                code = self.wait()
                self.kill()  # what it started (a data-parallel run's ranks) must not outlive it
                pending.error = self.fault(pending.verb, f"exited with code {code}")
            else:
                if answer[0] == "error":
                    pending.error = FrameworkError(f"{answer[1]}: {answer[2]}")
                else:
                    pending.value = answer[1]
            pending.done = True
            if pending.error is not None and isinstance(pending.error, WorkerError):
                for lost in self.pending:  # the process is gone: nothing else it was asked will come
                    lost.error, lost.done = pending.error, True
                self.pending.clear()

    def fault(self, verb: str, what: str) -> WorkerError:
        self.stderr.seek(0, os.SEEK_END)
        self.stderr.seek(max(0, self.stderr.tell() - 3000))
        tail = self.stderr.read().decode(errors="replace").strip()
        said = f"; its stderr ends:\n{tail}" if tail else "; it wrote nothing to stderr"
        return WorkerError(f"the {self.kind} worker (pid {self.process.pid}) {what} during {verb!r}; "
                           f"the next request starts a fresh one{said}")

    def wait(self) -> int | None:
        try:
            return self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.process.returncode

    def kill(self) -> None:
        """Kill the worker and every process it started (its session's process group)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
            self.wait()

    @classmethod
    def close_all(cls) -> None:
        """At exit: every worker told to stop (its stdin closed) before any is waited for, so that
        they finish together rather than one after another (a test process may own five)."""
        live = [worker for worker in cls._started if worker.process.poll() is None]
        for worker in live:
            with contextlib.suppress(OSError):
                worker.process.stdin.close()
        for worker in live:
            worker.wait()


class Pending:
    """A request sent to a worker (``Worker.submit``) whose answer is read when it is wanted."""

    def __init__(self, worker: Worker, verb: str, deadline: float, timeout: float):
        self.worker, self.verb, self.deadline, self.timeout = worker, verb, deadline, timeout
        self.done, self.value, self.error = False, None, None

    def result(self) -> Any:
        """The answer, waiting for it; the worker's failure or the framework's error is raised here."""
        if not self.done and self.error is None:
            self.worker.collect(self)
        if self.error is not None:
            raise self.error
        return self.value


class InWorker:
    """Placed in front of an adapter class (``in_worker``): its native verbs run in the worker.

    The adapter's ``__init__`` (validation, ``native_arguments``) runs here; ``_build`` asks the
    worker to build the same adapter for the same spec and keeps its handle.
    """

    worker_kind: ClassVar[str]
    adapter_target: ClassVar[str]  #: "module:Class" of the adapter the worker builds

    def _request(self, verb: str, *arguments):
        return self._worker.call(verb, self._handle, *arguments)

    def _build(self) -> None:
        self._worker = Worker.get(self.worker_kind)
        self._handle = self._worker.call("build", self.adapter_target, self.id, self.spec, getattr(self, "framework_defaults", False))
        weakref.finalize(self, self._worker.released.append, self._handle)

    def _train(self, batch):
        return TypedArray(*self._request("_train", batch))

    def _infer(self, batch):
        return TypedArray(*self._request("_infer", batch))

    def _read(self):
        return tuple(TypedArray(*value) for value in self._request("_read"))

    def _write(self, state) -> None:
        self._request("_write", state)

    def native_defaults(self) -> dict:
        return self._request("native_defaults")

    def native_state_names(self) -> tuple:
        return self._request("native_state_names")

    def native_dtypes(self) -> dict:
        return self._request("native_dtypes")

    def native_weight_order(self):
        return self._request("native_weight_order")

    def moving_dtype(self) -> str:
        return self._request("moving_dtype")

    def _founding_network(self, *arguments) -> dict:
        return {name: TypedArray(*value) for name, value in self._request("_founding_network", *arguments).items()}

    @contextlib.contextmanager
    def eager(self):
        self._request("enter_eager")
        try:
            yield
        finally:
            self._request("exit_eager")


@functools.cache
def in_worker(adapter: type, kind: str, target: str) -> type:
    """``adapter`` (``target``: its "module:Class") run in the worker of ``kind``: a subclass with
    :class:`InWorker` in front."""
    return type(adapter.__name__, (InWorker, adapter), {"worker_kind": kind, "adapter_target": target,
                                                        "__module__": adapter.__module__, "__doc__": adapter.__doc__})


# -- the worker's side -----------------------------------------------------------------------------


def transferable(value: Any) -> Any:
    """A framework array as (float64 values, dtype name); containers element by element."""
    from .base import dtype_name

    if isinstance(value, (tuple, list)):
        return type(value)(transferable(v) for v in value)
    if isinstance(value, dict):
        return {k: transferable(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    array = np.asarray(value)
    return array.astype(np.float64), dtype_name(getattr(value, "dtype", array.dtype))


class Host:
    """The adapters built in this worker, by handle."""

    def __init__(self):
        self.adapters: dict[int, Any] = {}
        self.contexts: dict[int, Any] = {}
        self.next_handle = 0

    def build(self, target: str, impl_id: str, spec, framework_defaults: bool = False) -> int:
        """The adapter for ``spec``, or, with ``framework_defaults``, its layer built without a momentum or an epsilon."""
        adapter_type = with_id(pkgutil.resolve_name(target), impl_id)
        adapter = adapter_type.with_framework_defaults(spec) if framework_defaults else adapter_type(spec)
        handle, self.next_handle = self.next_handle, self.next_handle + 1
        self.adapters[handle] = adapter
        return handle

    def run(self, verb: str, arguments: tuple) -> Any:
        if verb == "build":
            return self.build(*arguments)
        if verb == "call":  # a function of plain values, "module:function", run here (the converters' and data-parallel checks)
            target, *rest = arguments
            return pkgutil.resolve_name(target)(*rest)
        handle, *rest = arguments
        adapter = self.adapters[handle]
        if verb == "enter_eager":
            self.contexts[handle] = adapter.eager()
            self.contexts[handle].__enter__()
            return None
        if verb == "exit_eager":
            self.contexts.pop(handle).__exit__(None, None, None)
            return None
        result = getattr(adapter, verb)(*rest)
        if verb not in ("_train", "_infer", "_read", "_founding_network"):
            return result
        sent = transferable(result)
        if verb == "_train":
            adapter.output_dtype = sent[1]  # what native_dtypes() reports for the last training output
        return sent

    def release(self, handles: list[int]) -> None:
        for handle in handles:
            self.adapters.pop(handle, None)


def serve() -> None:
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever a framework prints goes to stderr, never into the answers
    sys.stdout = sys.stderr
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the test process, which then closes us
    hide(filter(None, os.environ.get("BNPARITY_WORKER_HIDDEN", "").split(",")))  # WorkerKind.hidden
    for module in filter(None, os.environ.get("BNPARITY_WORKER_IMPORTS", "").split(",")):
        importlib.import_module(module)  # the framework import, while the test process works on
    requests, host = sys.stdin.buffer.fileno(), Host()
    while True:
        try:
            verb, arguments, released = receive(requests)
        except EOFError:
            # The test process is done with us, and every answer is written and flushed (``send``).
            # Exit now, skipping the interpreter's teardown of the frameworks loaded here (a second
            # or more each, at the end of every run, which the test process would wait for).
            answers.close()
            remove_generated_sources()
            sys.stderr.flush()
            os._exit(0)
        host.release(released)
        try:
            answer = ("ok", host.run(verb, arguments))
        except Exception as error:  # the framework's error travels to the test as the observation
            answer = ("error", type(error).__name__, str(error))
        send(answers, answer)


if __name__ == "__main__":
    serve()
