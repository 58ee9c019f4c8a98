"""A convention that changed between releases is declared per release, so the matrix stays true
for whoever installs another version than the pinned one."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "version, moving_variance_update, batch_size_1",
    [
        ("0.31.0", "biased", "runs: variance 0"),
        ("0.32.0", "biased", "runs: variance 0"),
        ("0.32.1", "unbiased", "raises"),  # ml-explore/mlx PR #3817
        ("0.32.4", "unbiased", "raises"),
        ("0.33.0rc1", "unbiased", "raises"),
        ("1.0", "unbiased", "raises"),
    ],
)
def test_mlx_declares_the_running_variance_of_each_release(version, moving_variance_update, batch_size_1):
    pytest.importorskip("mlx.core", reason="mlx is not installed: pip install -e '.[mlx]'")
    from adapters.mlx.nn import declared_for

    declared = declared_for(version)
    assert (declared.moving_variance_update, declared.batch_size_1) == (moving_variance_update, batch_size_1)
