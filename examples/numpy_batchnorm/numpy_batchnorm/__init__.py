"""An example of a BatchNorm of one's own, tested by bnparity: ``layer.py`` is the layer (plain
NumPy, no bnparity in it), ``adapter.py`` drives it through bnparity's interface, and the entry
point in ``pyproject.toml`` registers it, so every suite and the matrix run it as a column."""
