"""The floor the full suite is measured against: import the three frameworks, one BatchNorm step each.

Nothing of bnparity is imported: this is what any cross-framework check must pay at least.
"""

import os

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")

import torch  # noqa: E402

torch.nn.BatchNorm1d(4)(torch.from_numpy(x))

import keras  # noqa: E402

keras.layers.BatchNormalization()(x, training=True)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

jax.jit(lambda v: (v - v.mean(0)) / jnp.sqrt(v.var(0) + 1e-3))(x).block_until_ready()
