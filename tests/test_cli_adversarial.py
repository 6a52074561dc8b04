"""The adversarial commands of the ``nnblocks`` command line (typer's CliRunner)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from nnblocks.cli import app
from nnblocks.network import Network
from tests.models import small_cli_network

runner = CliRunner()


def _small(tmp_path, seed=1):
    return small_cli_network(tmp_path, seed)


@pytest.mark.parametrize("command", [[], ["demo"], ["fj"], ["arfj"], ["sample"], ["sample", "inner"],
                                     ["sample", "outer"], ["evaluate"]])
def test_help(command):
    res = runner.invoke(app, [*command, "--help"])
    assert res.exit_code == 0, res.output
    assert "Usage" in res.output


def test_fj_command_writes_json_model_and_plot(tmp_path):
    net, path, img, true, target = _small(tmp_path)
    out, lp, png = tmp_path / "r.json", tmp_path / "m.lp", tmp_path / "p.png"
    res = runner.invoke(app, ["fj", "-n", str(path), "--image", str(img), "--target", str(target), "--json", str(out),
                              "--write-model", str(lp), "--plot", str(png)])
    assert res.exit_code == 0, res.output
    rec = json.loads(out.read_text())
    assert rec["status"] == "optimal" and rec["verified"] is True
    for key in ("objective", "bound", "time_s", "n_vars", "n_binaries", "n_constraints"):
        assert key in rec
    x = np.asarray(rec["x_adv"])
    assert np.argmax(net.forward(x)) == target
    assert lp.stat().st_size > 0 and png.stat().st_size > 0


def test_arfj_command_and_evaluate(tmp_path):
    net, path, img, true, target = _small(tmp_path)
    out = tmp_path / "r.json"
    res = runner.invoke(app, ["arfj", str(path), str(path), "--image", str(img), "--target", str(target),
                              "--json", str(out)])
    assert res.exit_code == 0, res.output
    rec = json.loads(out.read_text())
    assert rec["verified"] is True
    res = runner.invoke(app, ["evaluate", str(out), "--true", str(true), "--target", str(target), "-n", str(path)])
    assert res.exit_code == 0, res.output
    assert "100.00%" in res.output  # the example fools the network it was computed for


def test_sample_inner_respects_eps(tmp_path):
    net, path, *_ = _small(tmp_path)
    res = runner.invoke(app, ["sample", "inner", str(tmp_path / "s"), "-n", str(path), "--eps", "0.1", "--n", "2"])
    assert res.exit_code == 0, res.output
    for i in (1, 2):
        s = Network.load(tmp_path / "s" / f"inner_{i}.npz")
        assert np.abs(s.parameters() - net.parameters()).sum() == pytest.approx(0.1)


def test_clear_errors(tmp_path):
    net, path, img, true, target = _small(tmp_path)
    res = runner.invoke(app, ["fj", "-n", str(tmp_path / "missing.npz")])
    assert res.exit_code != 0 and "not found" in res.output
    res = runner.invoke(app, ["fj", "-n", str(path), "--image", str(img), "--target", str(target),
                              "--solver", "no_such_solver"])
    assert res.exit_code != 0
    res = runner.invoke(app, ["fj", "-n", str(path), "--image", "abc"])
    assert res.exit_code != 0 and "image" in res.output


@pytest.mark.slow
def test_demo_on_the_shipped_network(tmp_path):
    png = tmp_path / "demo.png"
    res = runner.invoke(app, ["demo", "--plot", str(png)])
    assert res.exit_code == 0, res.output
    assert "optimal" in res.output and "True" in res.output
    assert png.stat().st_size > 0


# ---------------------------------------------------------------------------------------------------
# bad input: usage errors (exit code 2) that show the message
# ---------------------------------------------------------------------------------------------------
def _invoke(args):
    """Run the command line on a terminal wide enough for long paths in the error panel."""
    return runner.invoke(app, args, env={"COLUMNS": "1000"})


def _said(res) -> str:
    """The output with the error panel's frame and line breaks removed."""
    return re.sub(r"[\s│╭╮╰╯─]+", " ", res.output)


def _no_solve(monkeypatch):
    """Fail the test if a command reaches the solver."""
    import nnblocks.adversarial as adv

    def boom(*args, **kwargs):
        raise AssertionError("the command solved although its input was bad")

    for name in ("fj", "arfj", "fj_model", "arfj_model"):
        monkeypatch.setattr(adv, name, boom)


@pytest.mark.parametrize("args, message", [
    (["--target", "7"], "target must be a class index in 0..2, got 7"),
    (["--gamma", "-1"], "gamma must be finite and >= 0, got -1.0"),
    (["--config", "fast"], "unknown config 'fast'"),
    (["--norm", "l3"], "unknown norm 'l3': use 1, 2 or 'inf'"),
    (["--time-limit", "-3"], "Invalid value for '--time-limit': the time limit must be a positive number of seconds"),
    (["--time-limit", "0"], "the time limit must be a positive number of seconds, got 0.0"),
    (["--solver", "no_such_solver"], "unknown solver 'no_such_solver'; available solvers"),
])
def test_fj_bad_options_are_usage_errors(tmp_path, args, message):
    net, path, img, true, target = _small(tmp_path)
    base = ["fj", "-n", str(path), "--image", str(img), "--target", str(target)]
    res = _invoke(base + args)
    assert res.exit_code == 2, res.output
    assert message in _said(res)


def test_arfj_bad_options_are_usage_errors(tmp_path):
    net, path, img, true, target = _small(tmp_path)
    base = ["arfj", str(path), str(path), "--image", str(img)]
    res = _invoke([*base, "--target", "5"])
    assert res.exit_code == 2 and "target must be a class index in 0..2, got 5" in _said(res)
    res = _invoke([*base, "--target", str(target), "--time-limit", "-1"])
    assert res.exit_code == 2 and "the time limit must be a positive number of seconds" in _said(res)


def test_fj_norm_names_of_the_library(tmp_path):
    net, path, img, true, target = _small(tmp_path)
    out = tmp_path / "r.json"
    res = _invoke(["fj", "-n", str(path), "--image", str(img), "--target", str(target), "--norm", "l2",
                   "--json", str(out)])
    assert res.exit_code == 0, res.output
    rec = json.loads(out.read_text())
    assert rec["norm"] == 2 and rec["verified"] is True


@pytest.mark.parametrize("command", [["fj"], ["arfj"], ["demo"]])
def test_target_equal_to_the_true_class_of_a_shipped_image_is_refused(monkeypatch, command):
    _no_solve(monkeypatch)
    res = _invoke([*command, "--image", "2", "--target", "2"])
    assert res.exit_code == 2, res.output
    assert "Invalid value for '--target': 2 is the true class of image 2 (Pullover): choose another" in _said(res)


@pytest.mark.parametrize("option", ["--json", "--plot", "--write-model"])
def test_output_paths_are_checked_before_solving(tmp_path, monkeypatch, option):
    net, path, img, true, target = _small(tmp_path)
    _no_solve(monkeypatch)
    suffix = {"--json": ".json", "--plot": ".png", "--write-model": ".lp"}[option]
    missing = tmp_path / "nodir" / f"out{suffix}"
    for command in (["fj", "-n", str(path)], ["arfj", str(path)]):
        res = _invoke([*command, "--image", str(img), "--target", str(target), option, str(missing)])
        assert res.exit_code == 2, res.output
        said = _said(res)
        assert f"Invalid value for '{option}'" in said and f"directory {missing.parent} does not exist" in said
    directory = tmp_path / f"dir{suffix}"
    directory.mkdir()
    res = _invoke(["fj", "-n", str(path), "--image", str(img), "--target", str(target), option, str(directory)])
    assert res.exit_code == 2 and f"{directory} is a directory, expected a file path" in _said(res)
    res = _invoke(["demo", "--plot", str(missing)])
    assert res.exit_code == 2 and "does not exist" in _said(res)


def test_write_model_suffix_is_checked_before_solving(tmp_path, monkeypatch):
    net, path, img, true, target = _small(tmp_path)
    _no_solve(monkeypatch)
    res = _invoke(["fj", "-n", str(path), "--image", str(img), "--target", str(target),
                   "--write-model", str(tmp_path / "m.txt")])
    assert res.exit_code == 2 and "needs a .lp or .mps path" in _said(res)


def test_evaluate_bad_input_is_a_usage_error(tmp_path):
    net, path, img, true, target = _small(tmp_path)
    base = ["-n", str(path)]
    res = _invoke(["evaluate", str(img), "--true", str(true), "--target", str(true), *base])
    assert res.exit_code == 2 and f"true class and target class must differ, both are {true}" in _said(res)
    nan = tmp_path / "nan.npy"
    np.save(nan, np.full(4, np.nan))
    res = _invoke(["evaluate", str(nan), "--true", str(true), "--target", str(target), *base])
    assert res.exit_code == 2 and "x_adv contains NaN or infinite entries" in _said(res)
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros(7))
    res = _invoke(["evaluate", str(wrong), "--true", str(true), "--target", str(target), *base])
    assert res.exit_code == 2 and "input has 7 features, the network expects 4" in _said(res)


def test_evaluate_needs_an_example_in_the_result_file(tmp_path):
    net, path, img, true, target = _small(tmp_path)
    none = tmp_path / "none.json"
    none.write_text(json.dumps({"status": "infeasible", "x_adv": None}))
    res = _invoke(["evaluate", str(none), "--true", "0", "--target", "1", "-n", str(path)])
    assert res.exit_code == 2 and "holds no example: its x_adv is null (status 'infeasible')" in _said(res)
    nokey = tmp_path / "nokey.json"
    nokey.write_text(json.dumps({"status": "optimal"}))
    res = _invoke(["evaluate", str(nokey), "--true", "0", "--target", "1", "-n", str(path)])
    assert res.exit_code == 2 and "has no 'x_adv' entry" in _said(res)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    res = _invoke(["evaluate", str(bad), "--true", "0", "--target", "1", "-n", str(path)])
    assert res.exit_code == 2 and "is not valid JSON" in _said(res)


def test_sample_inner_bad_eps_is_a_usage_error_and_writes_nothing(tmp_path):
    net, path, *_ = _small(tmp_path)
    out = tmp_path / "s"
    res = _invoke(["sample", "inner", str(out), "-n", str(path), "--eps", "-1"])
    assert res.exit_code == 2 and "eps must be a positive finite number, got -1.0" in _said(res)
    assert not out.exists()
