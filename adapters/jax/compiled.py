"""How every JAX implementation runs: its training and inference steps inside one ``jax.jit``.

Nobody trains a Flax, Haiku or Equinox model op by op; op by op, each step costs milliseconds of
dispatch and every operation compiles again for each new shape. Each JAX adapter therefore calls
a module-level jitted function, compiled once per structure (the static arguments), batch shape
and dtype and shared by every layer of that implementation; momentum and epsilon are traced
arguments wherever the library accepts an array for them, so a new decay does not recompile.
``eager()`` runs the same functions under ``jax.disable_jit``, which is what the compiled-vs-eager
test compares against.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


class JitCompiled:
    """Mixin for an Adapter whose steps are jitted functions (registry execution "jax.jit")."""

    def eager(self):
        return jax.disable_jit()


def static(native: dict, *traced: str) -> tuple:
    """The native arguments less the traced ones, as a hashable ``static_argnames`` value;
    a ``dtype`` name becomes the JAX dtype the layer's constructor takes, so ``dict(config)`` builds it."""
    return tuple(sorted((k, jnp.dtype(v) if k == "dtype" else v) for k, v in native.items() if k not in traced))


def device_array(value, dtype) -> jax.Array:
    """``value`` as a JAX array of ``dtype``, converted by NumPy on the host.

    ``jnp.asarray`` stages its argument through an operation that compiles once per shape and
    dtype (``jit(stage)``, ``jit(convert_element_type)``); NumPy (with ml_dtypes' bfloat16)
    converts for free and ``device_put`` only copies.
    """
    return jax.device_put(np.asarray(value).astype(jnp.dtype(dtype)))


def leaf_names(tree) -> list[str]:
    """The name of each leaf of ``tree`` (its last key, past an NNX variable's ``.value``), in the order
    ``jax.tree_util`` flattens it."""
    names = []
    for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]:
        keys = [str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path]
        names.append(keys[-2] if keys[-1] == "value" and len(keys) > 1 else keys[-1])
    return names
