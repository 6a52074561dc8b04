"""``nnblocks info`` reports what is in a network file."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from nnblocks import HardTanh, Layer, Network, ReLU
from nnblocks.cli import app


def test_info_lists_layers_and_parameter_count(tmp_path) -> None:
    rng = np.random.default_rng(0)
    net = Network([Layer(rng.normal(size=(5, 3)), rng.normal(size=5), ReLU()),
                   Layer(rng.normal(size=(2, 5)), rng.normal(size=2), HardTanh(-1, 2))])
    path = tmp_path / "net.npz"
    net.save(path)
    result = CliRunner().invoke(app, ["info", str(path)], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "3-5-2" in result.output
    assert "HardTanh(lo=-1.0, hi=2.0)" in result.output
    assert f"parameters: {net.n_parameters}" in result.output


def test_info_names_an_unknown_suffix(tmp_path) -> None:
    path = tmp_path / "net.txt"
    path.write_text("x")
    result = CliRunner().invoke(app, ["info", str(path)])
    assert result.exit_code != 0
    assert ".onnx" in str(result.exception) or ".onnx" in result.output


def test_info_names_a_missing_file(tmp_path) -> None:
    result = CliRunner().invoke(app, ["info", str(tmp_path / "missing.npz")])
    assert result.exit_code == 2
    assert "network file not found" in result.output and "Traceback" not in result.output


def test_info_unknown_suffix_is_a_usage_error(tmp_path) -> None:
    path = tmp_path / "net.txt"
    path.write_text("x")
    result = CliRunner().invoke(app, ["info", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "supported suffixes are .onnx, .npz" in result.output
