"""A function for TensorFlow's AutoGraph to convert, in a worker or in a test process of its own: the
tests that a process ending without teardown leaves none of AutoGraph's files behind (``adapters/exiting.py``)."""

from __future__ import annotations

import sys


def convert_with_autograph() -> list[str]:
    """Have AutoGraph convert a function (a Python ``if`` on a tensor), and return the source files it wrote."""
    import tensorflow as tf

    from adapters.exiting import AUTOGRAPH_PREFIX

    def step(x):
        return x * 2.0 if tf.reduce_sum(x) > 0 else x

    tf.function(step)(tf.ones(2))
    return [module.__file__ for name, module in sys.modules.items() if name.startswith(AUTOGRAPH_PREFIX)]
