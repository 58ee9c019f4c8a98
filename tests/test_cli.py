"""The ``bnparity`` command, as a user runs it: the installed console script, from a directory outside the
checkout, on real pairs of implementations; bad arguments get one line and status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

COMMAND = Path(sys.executable).with_name("bnparity")


def bnparity(tmp_path, *arguments) -> subprocess.CompletedProcess:
    if not COMMAND.exists():
        pytest.skip(f"{COMMAND} is not installed: pip install -e .")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(COMMAND), *arguments], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_porting_keras3_to_pytorch_inverts_the_momentum_carries_epsilon_and_names_what_differs(tmp_path):
    done = bnparity(tmp_path, "port", "tensorflow-keras3", "torch-batchnorm1d", "--momentum", "0.99")
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "tensorflow-keras3: momentum=0.99, epsilon=0.001" in out
    assert "torch-batchnorm1d: momentum=0.01, eps=0.001" in out  # PyTorch weighs the new value; Keras's epsilon, not 1e-5
    assert "say eps=0.001: torch-batchnorm1d's default is 1e-05" in out
    assert "  moving_mean -> running_mean\n  moving_variance -> running_var\n  gamma -> weight\n  beta -> bias" in out
    assert "(moving_variance_update): tensorflow-keras3 'biased', torch-batchnorm1d 'unbiased'" in out
    # Keras's get_weights() and PyTorch's state_dict() list the four in corresponding places
    assert ("In the order each framework's own list of the layer's weights holds them:\n"
            "  tensorflow-keras3: gamma, beta, moving_mean, moving_variance\n"
            "  torch-batchnorm1d: weight, bias, running_mean, running_var") in out
    assert "stored 8, factor 2" in out  # the measured size, from the matrix's evidence


def test_porting_pytorch_to_flax_by_a_short_name_with_the_sources_defaults(tmp_path):
    done = bnparity(tmp_path, "port", "torch-batchnorm1d", "flax_linen")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "torch-batchnorm1d: momentum=0.1, eps=1e-05" in done.stdout
    assert "jax-flax_linen: momentum=0.9, epsilon=1e-05" in done.stdout
    assert "say epsilon" not in done.stdout  # Flax's default is PyTorch's
    assert "  running_var -> var\n  weight -> scale" in done.stdout
    assert ("holds them (a positional copy must be reordered):\n  torch-batchnorm1d: weight, bias, running_mean, running_var\n"
            "  jax-flax_linen: mean, var, bias, scale") in done.stdout  # Flax's variables flatten statistics first
    assert "(variance_robustness): torch-batchnorm1d 'accurate', jax-flax_linen 'lossy'" in done.stdout


def test_porting_tf1_to_keras3_keeps_the_momentum_and_names_the_half_precision_difference(tmp_path):
    done = bnparity(tmp_path, "port", "tensorflow-tf1", "tensorflow-keras3", "--momentum", "0.5")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "tensorflow-tf1: momentum=0.5, epsilon=0.001" in done.stdout and "tensorflow-keras3: momentum=0.5, epsilon=0.001" in done.stdout
    assert "inverted" not in done.stdout
    assert "(half_precision): tensorflow-tf1 'float16: output float16, moving float32" in done.stdout


def test_show_lists_the_rows_side_by_side_and_as_json(tmp_path):
    done = bnparity(tmp_path, "show", "keras3", "flax_linen", "--only-differences")
    assert done.returncode == 2 and "'keras3' is ambiguous: tensorflow-keras3, torch-keras3, jax-keras3" in done.stderr
    done = bnparity(tmp_path, "show", "tensorflow-keras3", "flax_linen", "--only-differences", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert rows["default_epsilon"] == {"tensorflow-keras3": "0.001", "jax-flax_linen": "1e-05"}
    assert "momentum_weight" not in rows  # both weigh the old value
    done = bnparity(tmp_path, "show", "mlx", "tinygrad")
    assert done.returncode == 0 and done.stdout.splitlines()[0].split() == ["row", "mlx-batchnorm", "tinygrad-batchnorm"]


@pytest.mark.parametrize("arguments, message", [
    (("port", "nope", "torch-batchnorm1d"), "bnparity port: unknown implementation 'nope'; known: tensorflow-tf1, "),
    (("port", "tensorflow-keras3", "torch", "--momentum", "0.9"), "bnparity port: 'torch' is ambiguous: torch-batchnorm1d, torch-batchnorm2d, torch-keras3"),
    (("port", "tensorflow-keras3"), "bnparity port: the following arguments are required: target"),
    (("measure", "no_such_module_bnparity:Adapter"), "bnparity measure: cannot import 'no_such_module_bnparity' (for no_such_module_bnparity:Adapter)"),
    (("measure", "json"), "bnparity measure: 'json' must be 'module:Class'"),
    (("frobnicate",), "bnparity: argument VERB: invalid choice: 'frobnicate'"),
])
def test_a_bad_argument_is_one_line_and_status_2(tmp_path, arguments, message):
    done = bnparity(tmp_path, *arguments)
    assert done.returncode == 2
    assert done.stderr.startswith(message) and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("verb", ["port", "show", "measure"])
def test_every_verb_has_help(tmp_path, verb):
    done = bnparity(tmp_path, verb, "--help")
    assert done.returncode == 0 and f"usage: bnparity {verb}" in done.stdout


def test_what_the_readme_shows_is_what_the_commands_print(tmp_path):
    """Every ``$ bnparity ...`` block of README.md: each line it shows is a line the command prints now (a line
    cut with "…" a line's start, "[...]" a cut), so the guide cannot drift from the committed matrix."""
    import re
    import shlex

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = re.findall(r"```text\n\$ (bnparity [^\n]*)\n(.*?)```", readme, flags=re.S)
    assert len(blocks) == 3
    for command, shown in blocks:
        done = bnparity(tmp_path, *shlex.split(command)[1:])
        assert done.returncode == 0, done.stderr[-2000:]
        printed = done.stdout.splitlines()
        for line in shown.splitlines():
            if line.strip() == "[...]":
                continue
            found = any(p.startswith(line[:-1]) for p in printed) if line.endswith("…") else line in printed
            assert found, f"{command}: README shows {line!r}, which it no longer prints"
