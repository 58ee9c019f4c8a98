"""bnparity's command (``bnparity``): the answers of the committed conventions matrix in a terminal,
and the measurement of your own BatchNorm adapter. The suites themselves run under pytest."""
