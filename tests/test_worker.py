"""Worker processes (``adapters/worker.py``): reused, bounded in time, replaced when they die or hang.

The machinery is exercised with a worker kind that imports no framework, so these tests take
seconds; one test kills the worker of a real implementation in the middle of a run.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from adapters.processes import ENVIRONMENTS, ROOT, WORKERS, Environment, WorkerKind
from adapters.registry import implementation
from adapters.spec import BatchNormSpec
from adapters.worker import FrameworkError, Worker, WorkerError, request_timeout

KIND = "machinery-test"


@pytest.fixture
def register_kind(monkeypatch):
    """Register a ``WorkerKind`` as the machinery tests' kind (``KIND``); at the end, its worker
    is closed and forgotten, whichever test started it."""
    yield lambda kind: monkeypatch.setitem(WORKERS, KIND, kind)
    running = Worker._running.pop(KIND, None)
    if running is not None:
        running.close()


@pytest.fixture
def worker(register_kind):
    register_kind(WorkerKind())
    return Worker.get(KIND)


def test_a_worker_is_started_once_and_reused(worker):
    worker.call("call", "time:sleep", 0)
    assert Worker.get(KIND) is worker
    assert worker.call("call", "time:sleep", 0) is None


def test_a_worker_killed_during_a_request_fails_it_naming_the_worker_and_the_next_gets_a_fresh_one(worker):
    threading.Timer(0.5, os.kill, (worker.process.pid, signal.SIGKILL)).start()
    with pytest.raises(WorkerError, match=rf"the {KIND} worker \(pid {worker.process.pid}\) exited with code -9 during 'call'"):
        worker.call("call", "time:sleep", 30)
    fresh = Worker.get(KIND)
    assert fresh is not worker and fresh.process.pid != worker.process.pid
    assert fresh.call("call", "time:sleep", 0) is None


def test_a_hung_worker_is_killed_after_the_timeout_and_the_next_request_gets_a_fresh_one(worker):
    start = time.monotonic()
    with pytest.raises(WorkerError, match=r"did not answer within 1 s \(BNPARITY_WORKER_TIMEOUT\) and was killed"):
        worker.call("call", "time:sleep", 60, timeout=1)
    assert time.monotonic() - start < 10
    assert worker.process.poll() is not None, "the hung worker must be gone"
    assert Worker.get(KIND).call("call", "time:sleep", 0) is None


def test_a_worker_that_dies_at_start_says_why(register_kind):
    register_kind(WorkerKind(imports=("no_such_framework_bnparity",)))
    with pytest.raises(WorkerError, match=r"(?s)exited with code 1 during 'call'.*No module named 'no_such_framework_bnparity'"):
        Worker.get(KIND).call("call", "time:sleep", 0)


def test_an_exception_in_the_worker_is_an_observation_not_a_fault(worker):
    with pytest.raises(FrameworkError, match=r"^ModuleNotFoundError: No module named 'no_such_module_bnparity'"):
        worker.call("build", "no_such_module_bnparity:Adapter", "mine-nothing", BatchNormSpec(2))
    assert worker.call("call", "time:sleep", 0) is None, "the worker survives a framework's exception"


@pytest.mark.parametrize("value", ["0", "-3", "soon"])
def test_a_bad_timeout_is_refused_before_any_worker_starts(monkeypatch, value):
    monkeypatch.setenv("BNPARITY_WORKER_TIMEOUT", value)
    with pytest.raises(ValueError, match="BNPARITY_WORKER_TIMEOUT"):
        request_timeout()


def test_killing_the_worker_of_a_real_implementation_fails_one_step_and_the_next_layer_runs():
    impl = implementation("tensorflow-tf1")
    if impl.missing():
        pytest.skip(f"tensorflow-tf1 needs {', '.join(impl.missing())}, not installed (pip install -e '.[tensorflow]')")
    spec = BatchNormSpec(2, decay=0.5)
    batch = np.array([[0.0, 1.0], [1.0, 3.0]])
    layer = impl.create(spec)
    layer.train_step(batch)
    os.kill(Worker.get(impl.worker).process.pid, signal.SIGKILL)
    with pytest.raises(WorkerError, match=r"the tensorflow1 worker \(pid \d+\) exited with code -9 during '_train'"):
        layer.train_step(batch)
    fresh = impl.create(spec)
    fresh.train_step(batch)
    np.testing.assert_allclose(fresh.state().mean, [0.25, 1.0])


def test_submitted_requests_run_while_the_test_process_goes_on_and_answer_in_order(worker):
    started = time.monotonic()
    first, second = worker.submit("call", "time:sleep", 0.5), worker.submit("call", "os:getpid")
    assert time.monotonic() - started < 0.4, "submit waited for the worker"
    assert second.result() == worker.process.pid and first.result() is None
    assert worker.call("call", "time:sleep", 0) is None


def test_a_submitted_request_that_hangs_fails_with_the_timeout_and_so_does_the_one_behind_it(worker):
    hung, behind = worker.submit("call", "time:sleep", 60, timeout=1), worker.submit("call", "time:sleep", 0)
    with pytest.raises(WorkerError, match=rf"the {KIND} worker \(pid \d+\) did not answer within 1 s"):
        behind.result()
    with pytest.raises(WorkerError, match="did not answer within 1 s"):
        hung.result()
    assert Worker.get(KIND).call("call", "time:sleep", 0) is None


def test_an_answer_that_came_in_time_is_read_after_the_deadline(worker):
    """An observation asked for early (``cases.request_observations``) may be wanted long after its
    worker answered: the answer is there, so it is read, not taken for a hung worker."""
    asked = worker.submit("call", "os:getpid", timeout=0.5)
    time.sleep(1.0)
    assert asked.result() == worker.process.pid
    assert worker.process.poll() is None, "the worker was killed for an answer it had given"


def test_at_exit_every_worker_is_closed_and_exits_cleanly(monkeypatch):
    """``Worker.close_all`` (registered with atexit) tells every live worker to stop, then waits:
    each exits with code 0 once its stdin closes, and none is left running."""
    monkeypatch.setattr(Worker, "_started", [])  # only this test's workers: the run's own keep serving
    kinds = (KIND, KIND + "-second")
    for kind in kinds:
        monkeypatch.setitem(WORKERS, kind, WorkerKind())
    workers = [Worker.get(kind) for kind in kinds]
    for started in workers:
        assert started.call("call", "time:sleep", 0) is None
    Worker.close_all()
    assert [started.process.returncode for started in workers] == [0, 0]
    for kind in kinds:
        Worker._running.pop(kind, None)


def test_a_data_parallel_worker_killed_mid_run_fails_the_run_and_leaves_no_rank_behind():
    """The torch-ddp worker spawns two ranks (parallel/torch_ddp.py); killed in the middle, its run
    fails with the worker's error, its ranks die with it, and the next request gets a fresh worker."""
    pytest.importorskip("torch")
    Worker.get("torch-ddp").kill()  # a fresh worker: one that ran the DDP runs keeps their results and spawns no ranks
    worker = Worker.get("torch-ddp")
    group = worker.process.pid
    pending = worker.submit("call", "suites.parallel_checks:observe", "torch-ddp-no_broadcast")
    deadline = time.monotonic() + 60
    while len(children_of(group)) < 2 and time.monotonic() < deadline:  # the ranks are up
        time.sleep(0.2)
    assert len(children_of(group)) >= 2, "the ranks never started"
    os.kill(worker.process.pid, signal.SIGKILL)
    with pytest.raises(WorkerError, match=rf"the torch-ddp worker \(pid {group}\) exited with code -9"):
        pending.result()
    deadline = time.monotonic() + 10
    while children_of(group) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert children_of(group) == [], "a rank outlived its worker"
    assert Worker.get("torch-ddp").call("call", "time:sleep", 0) is None


def children_of(group: int) -> list[int]:
    """The live processes of a process group, read from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == group and fields[0] != "Z" and int(entry) != group:
                found.append(int(entry))
    return found


def test_a_worker_whose_environment_is_not_built_says_how_to_build_it(monkeypatch, tmp_path):
    monkeypatch.setitem(ENVIRONMENTS, "ghost", Environment(str(tmp_path / ".venv-ghost"), "environments/ghost.txt"))
    monkeypatch.setitem(WORKERS, KIND, WorkerKind(environment="ghost"))
    with pytest.raises(WorkerError, match=r"the machinery-test worker runs in the environment .*\.venv-ghost, which is not built "
                                          r"\(.*bin/python is missing\): python3 -m venv .*\.venv-ghost && .*/bin/pip install -r environments/ghost.txt"):
        Worker.get(KIND)
    assert KIND not in Worker._running


def test_an_environment_of_its_own_runs_its_interpreter_with_its_own_pins():
    """The onnx2tf worker answers from onnx2tf's environment: its TensorFlow is the one that environment
    pins (environments/onnx2tf.txt), not the test process's."""
    environment = ENVIRONMENTS[WORKERS["onnx2tf"].environment]
    if not environment.built():
        pytest.skip(f"the onnx2tf environment is not built ({environment.how_to_build()})")
    pinned = dict(line.strip().split("==") for line in open(os.path.join(ROOT, environment.requirements)) if "==" in line)
    worker = Worker.get("onnx2tf")
    assert worker.call("call", "importlib.metadata:version", "tensorflow") == pinned["tensorflow"] == environment.version("tensorflow")
    assert worker.call("call", "importlib.metadata:version", "numpy") == pinned["numpy"] != np.__version__


def start_a_worker_here() -> int:
    """Run in a worker: start a worker of its own, as the converters worker starts onnx2tf's, and return its pid."""
    WORKERS[KIND] = WorkerKind()
    nested = Worker.get(KIND)
    assert nested.call("call", "time:sleep", 0) is None
    return nested.process.pid


def test_a_worker_started_by_a_worker_dies_with_it(worker):
    nested = worker.call("call", "tests.test_worker:start_a_worker_here")
    assert nested in children_of(worker.process.pid), "the nested worker must be in its parent's session"
    worker.kill()
    deadline = time.monotonic() + 10
    while nested in children_of(worker.process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert nested not in children_of(worker.process.pid), "a worker outlived the worker that started it"


def test_a_worker_that_ran_tensorflows_autograph_leaves_none_of_its_files_behind(register_kind, monkeypatch, tmp_path):
    """A worker ends without its exit handlers (``os._exit``), AutoGraph's deletion of its files among them."""
    pytest.importorskip("tensorflow")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    register_kind(WorkerKind())
    worker = Worker.get(KIND)
    written = worker.call("call", "tests.autograph:convert_with_autograph")
    assert written and all(Path(path).parent == tmp_path and Path(path).exists() for path in written), written
    worker.close()
    assert not [path for path in written if Path(path).exists()], "the worker left AutoGraph's files behind"


def test_a_hidden_package_cannot_be_imported_in_the_worker(register_kind):
    register_kind(WorkerKind(hidden=("sqlite3",)))
    with pytest.raises(FrameworkError, match="ModuleNotFoundError: import of sqlite3 halted"):
        Worker.get(KIND).call("call", "importlib:import_module", "sqlite3")


def loaded_here(names: list[str]) -> list[str]:
    """Run in a worker: which of ``names`` its process has imported."""
    import sys

    return [name for name in names if sys.modules.get(name) is not None]


def test_keras_on_pytorch_runs_in_its_worker_without_what_it_never_uses():
    """Keras 3 imports JAX, matplotlib, h5py and PIL where they are installed, each in a try/except;
    its PyTorch worker hides them (processes.WORKERS), and a layer still trains there."""
    impl = implementation("torch-keras3")
    if impl.missing():
        pytest.skip(f"torch-keras3 needs {', '.join(impl.missing())}, not installed (pip install -e '.[torch]')")
    layer = impl.create(BatchNormSpec(4))
    layer.train_step(np.ones((2, 4)))
    hidden = list(WORKERS["keras-torch"].hidden)
    assert set(hidden) >= {"jax", "matplotlib", "h5py", "PIL"}
    assert Worker.get("keras-torch").call("call", "tests.test_worker:loaded_here", ["keras", "torch", *hidden]) == ["keras", "torch"]


def test_a_worker_kind_adds_its_xla_flags_to_the_runs(monkeypatch, register_kind):
    """A kind that sets XLA_FLAGS (two JAX devices for the data-parallel runs) keeps the run's own
    (one thread, the compiler's settings: suites/scheduling.py), rather than replacing them."""
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
    register_kind(WorkerKind({"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}))
    flags = Worker.get(KIND).call("call", "os:getenv", "XLA_FLAGS")
    assert flags.split() == ["--xla_cpu_multi_thread_eigen=false", "--xla_force_host_platform_device_count=2"]
