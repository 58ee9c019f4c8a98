"""MLX's BatchNorm (``mlx.nn.BatchNorm``), on its Linux CPU build (``mlx[cpu]``)."""
