"""PyTorch's BatchNorm layers (``torch.nn.BatchNorm1d``/``2d``)."""
