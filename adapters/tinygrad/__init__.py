"""tinygrad's BatchNorm (``tinygrad.nn.BatchNorm``), on its CPU device (kernels compiled by clang)."""
