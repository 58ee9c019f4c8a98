"""Sonnet 2's BatchNorm (``snt.BatchNorm``), on the pinned TensorFlow: a column of the tensorflow family."""
