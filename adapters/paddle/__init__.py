"""PaddlePaddle's BatchNorm layers (``paddle.nn.BatchNorm1D``/``2D``), on its CPU wheel."""
