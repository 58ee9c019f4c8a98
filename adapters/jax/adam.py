"""The founding question's optimizer for every JAX implementation: one step of optax's Adam.

Epsilon is 1e-8, as in ``tf.train.AdamOptimizer`` and ``torch.optim.Adam``; it matters for the
hidden kernel, whose gradient is small enough for epsilon to shorten Adam's first step.
"""

from __future__ import annotations

import optax


def first_adam_updates(grads, params, learning_rate: float):
    """The updates of Adam's first step from freshly initialized moments, to apply to ``params``."""
    adam = optax.adam(learning_rate, eps=1e-8)
    updates, _ = adam.update(grads, adam.init(params), params)
    return updates
