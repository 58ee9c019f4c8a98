"""What a framework imports at its own import, wherever it is installed, and bnparity never uses.

TensorFlow 2.21 imports JAX when it is installed (``tensorflow/lite/python/util.py``, for TFLite's
JAX interop), and Keras 3.15 imports matplotlib (its image gallery), h5py (the legacy H5 format)
and PIL (its image utilities), each in a try/except ImportError. With every framework of the suite
installed, that made ``-k tensorflow`` import JAX, and cost every process that imports TensorFlow
and Keras about a second and 150 MiB. So TensorFlow and Keras are imported with these hidden (``hidden``), in the test
process, and in the worker processes that import them (``processes.WorkerKind.hidden``); they behave
as they do where these packages are not installed, which is the same for every BatchNorm.
"""

from __future__ import annotations

import contextlib
import sys

#: Imported by TensorFlow, used only by TFLite's JAX interop.
TENSORFLOW_UNUSED = ("jax",)
#: Imported by Keras 3, used only by its image gallery, legacy H5 saving and image utilities.
KERAS_UNUSED = ("matplotlib", "h5py", "PIL")
#: What a process that imports TensorFlow and its Keras (3, or tf_keras) keeps out.
TENSORFLOW_KERAS_UNUSED = (*TENSORFLOW_UNUSED, *KERAS_UNUSED)


def hide(modules) -> list[str]:
    """From now on, ``import`` of any of ``modules`` that is not imported yet raises ImportError, as if
    it were not installed (for good in a worker process, ``processes.WorkerKind.hidden``); returns those."""
    hid = [module for module in modules if module not in sys.modules]
    for module in hid:
        sys.modules[module] = None
    return hid


@contextlib.contextmanager
def hidden(*modules: str):
    """``hide`` within the block only: afterwards each imports as usual (a test process that runs the
    TensorFlow family may run the JAX family next)."""
    hid = hide(modules)
    try:
        yield
    finally:
        for module in hid:
            if module in sys.modules and sys.modules[module] is None:
                del sys.modules[module]
