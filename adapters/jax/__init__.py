"""The JAX family: an own functional BatchNorm, Flax linen and NNX, Haiku and Equinox, each run
inside ``jax.jit`` as its users run it (``compiled.py``), with one Adam step shared by the founding
question's networks (``adam.py``)."""
