"""How a pytest process of a run ends: at its first exit handler, without the frameworks' teardown.

When a run is over, every result is written (the terminal summary, the report, the matrix), but a
process that has loaded frameworks is far from over: Python runs their exit handlers (JAX's clears
every backend and compiled program) and then tears the interpreter down, module by module, PyTorch's
included, seconds that change no result. So a process of a run ends as soon as the
interpreter starts to exit (``exit_without_teardown``, registered after every framework's exit
handler, so run before them), with the status Python would have exited with:

- a pytest-xdist worker (the controller reads its results, not its status);
- the run of the ``pytest`` command itself (``pytest`` or ``python -m pytest``), with pytest's exit
  status. Not a ``pytest.main()`` that another program calls, which goes on after it returns, nor a
  run started inside a run.

Such a process also skips the garbage collections pytest forces when a run is over
(``pytest_configure``). It ends as Python would, every exit handler and the teardown included,
where something at exit may still have work to do: ``BNPARITY_TEARDOWN=1`` (a framework's profiler
or debug dump written at exit: tinygrad's ``PROFILE``, for one), a tracer or profiler (a debugger,
``coverage run``; coverage loaded at all, as pytest-cov loads it), an exception that ended pytest
after its run (Python prints it and exits with 1), or a standard output pytest found broken
(``pytest | head``: pytest exits with 1 there, whatever its tests did).
"""

from __future__ import annotations

import atexit
import os
import sys

import pytest

from adapters.exiting import remove_generated_sources

#: Set to "1" to let every pytest process of a run end as Python ends a program (see the docstring).
TEARDOWN_VARIABLE = "BNPARITY_TEARDOWN"

#: The run of the pytest command in this process: "config" (its configuration) and "stdout" (what
#: its standard output was when it started, ``os.fstat``), from its start; "status" (the exit status
#: its main hook returned), from its end.
PROGRAM: dict = {}


def run_by_the_pytest_command() -> bool:
    """Whether this interpreter runs the ``pytest`` command (``pytest``, ``py.test``) or ``python -m
    pytest``, rather than a program that calls ``pytest.main()``."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None:
        return spec.name == "pytest.__main__"
    return os.path.basename(getattr(main, "__file__", None) or "") in ("pytest", "py.test")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_cmdline_main(config):
    """Note the run of the pytest command (the first configuration of a process that pytest runs)
    and the exit status its main hook returns, which is the one pytest exits with."""
    outermost = not PROGRAM and run_by_the_pytest_command()
    if outermost:
        PROGRAM.update(config=config, stdout=standard_output())
    status = yield
    if outermost and status is not None:
        PROGRAM["status"] = int(status)
    return status


def ends_without_teardown(config) -> bool:
    """Whether this process ends at its first exit handler (the module's docstring)."""
    return not teardown_wanted() and (hasattr(config, "workerinput") or config is PROGRAM.get("config"))


#: The pytest this module's early end was checked against: its exit handlers, its main hook's status and the
#: unraisableexception plugin's private stash key. Another version is refused (``require_tested``) until checked.
TESTED_WITH = {"pytest": "9.2.0"}


def require_tested(tested_with: dict[str, str], what: str) -> None:
    """Refuse to run with a version of a package that ``what`` relies on the private behaviour of, other than
    the one it was checked against: loudly, rather than end a run early or schedule it wrongly in silence."""
    from adapters.registry import installed_version

    for distribution, version in tested_with.items():
        found = installed_version(distribution)
        if found != version:
            raise pytest.UsageError(f"{what} relies on {distribution} {version}'s internals and {distribution} {found} is installed: "
                                    f"install {distribution}=={version} (pyproject.toml pins it), or check {what} against "
                                    f"{found} and update its TESTED_WITH")


def pytest_configure(config):
    """In a process that ends without teardown, no garbage collection at the end of the run.

    pytest's unraisableexception plugin collects all garbage twice when a run is over (at
    unconfigure and at cleanup), to report a finalizer that raises in garbage left at the end (as a
    bare warning after the run's summary; Python's own teardown, skipped here too, would print it
    as "Exception ignored in"), a fifth of a second each with PyTorch loaded. ``BNPARITY_TEARDOWN=1`` keeps them. The plugin's own setting (a private
    stash key of the pinned pytest) sets the number of collections; where pytest does not have it,
    nothing changes."""
    if ends_without_teardown(config):
        require_tested(TESTED_WITH, "suites/ending.py")
        try:
            from _pytest.unraisableexception import gc_collect_iterations_key
        except ImportError:
            return
        config.stash[gc_collect_iterations_key] = 0


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """Register ``exit_without_teardown`` if this process is one that ends so (the module's
    docstring); registered last, it is the first exit handler to run."""
    if not ends_without_teardown(config):
        return
    # a worker's status is 0; the pytest command's is read at exit (None): pytest unconfigures
    # within its main hook, before the hook returns it
    status = 0 if hasattr(config, "workerinput") else None
    atexit.register(exit_without_teardown, status, getattr(sys, "last_value", None))


def teardown_wanted() -> bool:
    """Whether something may still need the exit handlers or the teardown: the user says so, or a
    tracer, a profiler or coverage is at work."""
    return (os.environ.get(TEARDOWN_VARIABLE) == "1" or sys.gettrace() is not None or sys.getprofile() is not None
            or "coverage" in sys.modules)


def standard_output():
    """What file descriptor 1 is (``os.fstat``), or None if it is closed."""
    try:
        return os.fstat(1)
    except OSError:
        return None


def exit_without_teardown(status: int | None, last_value_at_unconfigure) -> None:
    """End the process with ``status`` (None: the status the pytest command's main hook returned),
    after closing bnparity's worker processes (``Worker.close_all``, an exit handler the frameworks'
    would otherwise precede) and flushing the standard streams, and before the frameworks' exit
    handlers and the interpreter's teardown. Returns instead, leaving the exit to Python, where the
    exit status may not be that one: an exception ended pytest after its run (``sys.last_value`` is
    set anew when Python reports one), a stream cannot be flushed, or pytest found its standard
    output broken (it then points file descriptor 1 at the null device and exits with 1)."""
    if status is None:
        status = PROGRAM.get("status")
        if status is None or not same_file(PROGRAM["stdout"], standard_output()):
            return
    if getattr(sys, "last_value", None) is not last_value_at_unconfigure:
        return
    worker = sys.modules.get("adapters.worker")
    if worker is not None:
        worker.Worker.close_all()
    remove_generated_sources()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001  (whatever it is, Python's own exit reports it)
            return
    os._exit(status)


def same_file(before, now) -> bool:
    """Whether two ``os.fstat`` results (or None, for a closed descriptor) are of one file."""
    if before is None or now is None:
        return before is now
    return os.path.samestat(before, now)
