"""Adapters: one interface to every BatchNorm implementation, the neutral description, the float64 reference.

Nothing here imports a framework; `registry.IMPLEMENTATIONS[id].load()` does, on first use.
"""
