"""Shipped networks by name on the command line, ``nnblocks models``, ``--version``, ``solvers``, and the README
and the CLI working from an installed wheel in another directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from conftest import ROOT
from typer.testing import CliRunner

from nnblocks.cli import app

runner = CliRunner()


def _invoke(args):
    return runner.invoke(app, args, env={"COLUMNS": "1000"})


def test_info_takes_a_shipped_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = _invoke(["info", "nominal"])
    assert res.exit_code == 0, res.output
    assert "784-8-8-8-10" in res.output and "parameters: 6514" in res.output
    res = _invoke(["info", "outer_3.onnx"])
    assert res.exit_code == 0 and "outer_3.onnx" in res.output


def test_an_existing_file_wins_over_a_shipped_name(tmp_path, monkeypatch):
    from nnblocks import Layer, Network, ReLU

    monkeypatch.chdir(tmp_path)
    Network([Layer(np.ones((2, 3)), np.zeros(2), ReLU())]).save(tmp_path / "nominal.npz")
    res = _invoke(["info", "nominal.npz"])
    assert res.exit_code == 0 and "3-2" in res.output


def test_unknown_name_lists_the_shipped_ones(tmp_path):
    res = _invoke(["info", "nomnal"])
    assert res.exit_code == 2
    said = " ".join(res.output.replace("│", " ").split())
    assert "network file not found: nomnal" in said and "outer_eval_15" in said and "nnblocks models" in said


def test_models_lists_every_shipped_network():
    from nnblocks.datasets import load_shipped

    res = _invoke(["models"])
    assert res.exit_code == 0, res.output
    rows = {line.split("│")[1].strip(): line for line in res.output.splitlines() if line.count("│") >= 5}
    names = ["nominal", "greybox", *(f"outer_{i}" for i in range(1, 6)), *(f"outer_eval_{i}" for i in range(1, 16))]
    for name in names:
        assert name in rows, name
        cells = [c.strip() for c in rows[name].split("│")[1:-1]]
        assert cells[1].endswith(f"{name}.onnx") and os.path.isfile(cells[1])
        net = load_shipped(name)
        assert cells[2:4] == [str(net.n_inputs), str(net.n_outputs)]
        assert cells[4] == "Shipped Fashion-MNIST networks"
    assert "nominal_images" not in rows


@pytest.mark.slow
def test_fj_and_sample_take_shipped_names(tmp_path):
    import json

    out = tmp_path / "r.json"
    res = _invoke(["fj", "--network", "outer_2", "--image", "3", "--target", "2", "--json", str(out),
                   "--time-limit", "120"])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["verified"] is True
    res = _invoke(["sample", "inner", str(tmp_path / "s"), "--network", "outer_1", "--n", "1"])
    assert res.exit_code == 0, res.output


def test_fj_help_names_the_default_network():
    res = _invoke(["fj", "--help"])
    assert res.exit_code == 0
    assert "default: shipped nominal" in " ".join(res.output.replace("│", " ").split())


@pytest.mark.parametrize("command", [["fj"], ["arfj"], ["demo"], ["robust", "obj"], ["robust", "feas"],
                                     ["robust", "path"]])
def test_every_solving_command_takes_tee(command):
    res = _invoke([*command, "--help"])
    assert res.exit_code == 0 and "--tee" in res.output


def test_version():
    from importlib.metadata import version

    res = _invoke(["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"nnblocks {version('nnblocks')}"


def test_solvers_lists_installed_solvers_and_defaults():
    from nnblocks.solve import _DEFAULTS, available_solvers

    res = _invoke(["solvers"])
    assert res.exit_code == 0, res.output
    rows = {cells[0]: cells for line in res.output.splitlines() if line.count("│") >= 4
            for cells in [[c.strip() for c in line.split("│")[1:-1]]]}
    for name in available_solvers():
        assert rows[name][1] == "yes"
    for cls, name in _DEFAULTS.items():
        assert cls in rows[name][2].split(", ")


def _readme_first_snippet() -> str:
    return re.findall(r"```python\n(.+?)```", (ROOT / "README.md").read_text(), re.S)[0]


@pytest.mark.slow
def test_readme_and_cli_work_from_a_built_wheel_in_another_directory(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    (wheel,) = wheels.glob("nnblocks-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run([sys.executable, "-c", "import nnblocks; print(nnblocks.__file__)"], cwd=elsewhere,
                           env=env, capture_output=True, text=True, check=True)
    assert where.stdout.strip().startswith(str(site)), where.stdout  # the wheel's copy, not the source tree
    res = subprocess.run([sys.executable, "-m", "nnblocks.cli", "info", "nominal"], cwd=elsewhere, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "784-8-8-8-10" in res.stdout
    snippet = elsewhere / "snippet.py"
    snippet.write_text(_readme_first_snippet())
    res = subprocess.run([sys.executable, str(snippet)], cwd=elsewhere, env=env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split()[0] == "optimal"
    assert (elsewhere / "fj.mps").stat().st_size > 0


def test_fj_tee_shows_the_solver_log(tmp_path, capfd):
    from nnblocks import Layer, Network, ReLU

    rng = np.random.default_rng(1)
    net = Network([Layer(rng.normal(size=(6, 4)), rng.normal(scale=0.3, size=6), ReLU()),
                   Layer(rng.normal(size=(3, 6)) / 2, rng.normal(scale=0.3, size=3), ReLU())])
    net.save(tmp_path / "net.npz")
    np.save(tmp_path / "x.npy", rng.uniform(size=4))
    args = ["fj", "-n", str(tmp_path / "net.npz"), "--image", str(tmp_path / "x.npy"), "--target", "0"]
    res = _invoke(args)
    quiet = capfd.readouterr().out + res.output
    res = _invoke([*args, "--tee"])
    loud = capfd.readouterr().out + res.output
    assert res.exit_code == 0, res.output
    assert "presolving" not in quiet and "presolving" in loud


def _shell_lines(path) -> list[str]:
    blocks = re.findall(r"```bash\n(.+?)```", path.read_text(), re.S)
    return [ln.strip() for block in blocks for ln in block.splitlines() if "nnblocks " in ln]


@pytest.mark.parametrize("page", ["README.md", "docs/cli.md"])
def test_command_line_snippets_use_shipped_names_not_checkout_paths(page, tmp_path, monkeypatch):
    lines = _shell_lines(ROOT / page)
    assert lines
    for line in lines:
        assert "models/" not in line, line
    monkeypatch.chdir(tmp_path)  # the quick ones run from a directory outside the checkout
    for line in lines:
        if line.startswith(("nnblocks info ", "nnblocks models")):
            res = _invoke(line.split()[1:])
            assert res.exit_code == 0, (line, res.output)
