"""Data-parallel BatchNorm: one global batch split across replicas, in each framework's own
data-parallel machinery, run in worker processes that set up the replicas (``registry.py``)."""
