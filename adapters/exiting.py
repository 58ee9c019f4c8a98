"""What a process that ends without Python's teardown (``os._exit``: the suites' pytest processes,
``suites/ending.py``, and the worker processes, ``adapters/worker.py``) still does first.

TensorFlow's AutoGraph writes the source of every function it converts to a file in the temporary
folder (``__autograph_generated_file*.py``) and deletes it in an exit handler, which such a process
never runs: `pytest suites/test_compiled.py -k tensorflow` alone left 21 files behind. Each is a module in ``sys.modules``
named as its file, so a process removes exactly the files it wrote, and no other process's.
"""

from __future__ import annotations

import contextlib
import os
import sys

#: The prefix of AutoGraph's module names and files (``tensorflow/python/autograph/pyct/loader.py``).
AUTOGRAPH_PREFIX = "__autograph_generated_file"


def remove_generated_sources() -> None:
    """Delete the source files AutoGraph wrote in this process (none where TensorFlow never converted a function)."""
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if name.startswith(AUTOGRAPH_PREFIX) and path and os.path.basename(path).startswith(AUTOGRAPH_PREFIX):
            with contextlib.suppress(OSError):
                os.remove(path)
