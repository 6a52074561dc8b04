"""Errors through the command line: one line on stderr, exit code 2, no traceback; messages name the flag."""

from __future__ import annotations

import builtins
import re

import pytest
from typer.testing import CliRunner

from nnblocks.cli import app
from tests.models import small_cli_network

runner = CliRunner()


def _invoke(args, **kwargs):
    return runner.invoke(app, args, env={"COLUMNS": "1000"}, **kwargs)


def _said(res) -> str:
    return re.sub(r"[\s│╭╮╰╯─]+", " ", res.output)


def _one_line_error(res) -> str:
    """The single 'Error: ...' line of a library error (stderr), checked to come without a traceback."""
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
    return lines[0]


def _small(tmp_path):
    _, path, img, _, _ = small_cli_network(tmp_path)
    return path, img


def test_solver_that_cannot_take_the_problem_is_one_line(tmp_path):
    path, img = _small(tmp_path)
    res = _invoke(["fj", "-n", str(path), "--image", str(img), "--target", "0", "--norm", "2", "--solver", "highs"])
    line = _one_line_error(res)
    assert "solver 'highs' cannot solve this" in line and "scip_direct" in line


@pytest.mark.slow
def test_fj_norm_2_with_highs_on_the_shipped_network_is_one_line():
    line = _one_line_error(_invoke(["fj", "--norm", "2", "--solver", "highs"]))
    assert "cannot solve this" in line


def test_sample_outer_without_data_names_the_flag(tmp_path, monkeypatch):
    monkeypatch.delenv("NNBLOCKS_FASHION_MNIST", raising=False)
    res = _invoke(["sample", "outer", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    said = _said(res)
    assert "Invalid value for '--data'" in said and "Fashion-MNIST" in said and "Traceback" not in said
    res = _invoke(["sample", "outer", str(tmp_path / "out"), "--data", str(tmp_path / "nowhere")])
    assert res.exit_code == 2 and "directory not found" in _said(res)


def test_sample_outer_without_torch_is_one_line(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now fails as if it were not installed
    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    data = tmp_path / "idx"
    data.mkdir()
    line = _one_line_error(_invoke(["sample", "outer", str(tmp_path / "out"), "--data", str(data)]))
    assert "'torch'" in line and "pip install 'nnblocks[torch]'" in line


def test_a_library_error_outside_the_option_checks_is_one_line(tmp_path, monkeypatch):
    import nnblocks.adversarial as adv
    from nnblocks.solve import SolverError

    path, img = _small(tmp_path)

    def fails(*args, **kwargs):
        raise SolverError("solver 'x' ended with status 'error'\n(second line)")

    monkeypatch.setattr(adv, "fj", fails)
    line = _one_line_error(_invoke(["fj", "-n", str(path), "--image", str(img), "--target", "0"]))
    assert line == "Error: solver 'x' ended with status 'error' (second line)"


def test_missing_files_are_one_line(tmp_path):
    res = _invoke(["info", str(tmp_path / "missing.onnx")])
    assert res.exit_code == 2 and "network file not found" in _said(res) and "Traceback" not in res.output


@pytest.mark.parametrize(("args", "flag", "text"), [
    (["--gamma", "-1"], "--gamma", "gamma must be finite and >= 0"),
    (["--max-distance", "-1"], "--max-distance", "max_distance must be finite and >= 0"),
    (["--config", "fast"], "--config", "unknown config 'fast'"),
    (["--norm", "3"], "--norm", "norm"),
    (["--solver", "nope"], "--solver", "unknown solver 'nope'"),
])
def test_fj_messages_name_the_flag(tmp_path, args, flag, text):
    path, img = _small(tmp_path)
    res = _invoke(["fj", "-n", str(path), "--image", str(img), "--target", "0", *args])
    assert res.exit_code == 2, res.output
    said = _said(res)
    assert f"Invalid value for '{flag}'" in said and text in said


def test_arfj_takes_a_norm(tmp_path):
    path, img = _small(tmp_path)
    res = _invoke(["arfj", str(path), str(path), "--image", str(img), "--target", "0", "--norm", "3"])
    assert res.exit_code == 2 and "Invalid value for '--norm'" in _said(res)


def test_sample_inner_messages_name_the_flag(tmp_path):
    path, _ = _small(tmp_path)
    res = _invoke(["sample", "inner", str(tmp_path / "s"), "-n", str(path), "--eps", "-1"])
    assert res.exit_code == 2 and "Invalid value for '--eps'" in _said(res)


def test_warnings_are_one_line(tmp_path, monkeypatch):
    import warnings

    import nnblocks.sampling

    path, _ = _small(tmp_path)
    real = nnblocks.sampling.inner

    def warns(*args, **kwargs):
        warnings.warn("something to know\nover two lines", UserWarning, stacklevel=2)
        return real(*args, **kwargs)

    monkeypatch.setattr(nnblocks.sampling, "inner", warns)
    res = _invoke(["sample", "inner", str(tmp_path / "s"), "-n", str(path), "--n", "1"])
    assert res.exit_code == 0, res.output
    assert "Warning: something to know over two lines" in res.stderr
