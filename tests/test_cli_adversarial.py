"""The adversarial commands of the ``nnblocks`` command line (typer's CliRunner)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from nnblocks.activations import ReLU
from nnblocks.cli import app
from nnblocks.network import Layer, Network

runner = CliRunner()


def _small(tmp_path, seed=1):
    rng = np.random.default_rng(seed)
    net = Network([Layer(rng.normal(size=(6, 4)), rng.normal(scale=0.3, size=6), ReLU()),
                   Layer(rng.normal(size=(3, 6)) / 2, rng.normal(scale=0.3, size=3), ReLU())])
    path = tmp_path / "net.npz"
    net.save(path)
    X = rng.uniform(size=(2000, 4))
    Y = net.forward(X)
    true = int(np.argmax(Y[0]))
    target = next(t for t in range(3) if t != true and
                  ((Y[:, t] >= 1.2 * np.delete(Y, t, axis=1).max(axis=1) + 1e-3) & (Y[:, t] > 0.01)).any())
    img = tmp_path / "x.npy"
    np.save(img, X[0])
    return net, path, img, true, target


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
