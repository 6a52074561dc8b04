"""One exit-code convention for the solving commands: 0 = answer obtained (its status printed), 1 = no answer,
2 = bad input."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from nnblocks.cli import EXIT_BAD_INPUT, EXIT_NO_SOLUTION, EXIT_OK, app
from nnblocks.network import Network
from tests.models import small_cli_network

runner = CliRunner()


def _invoke(args):
    return runner.invoke(app, args, env={"COLUMNS": "1000"})


def _small(tmp_path):
    _, path, img, _, target = small_cli_network(tmp_path)
    return path, img, target


def test_the_codes():
    assert (EXIT_OK, EXIT_NO_SOLUTION, EXIT_BAD_INPUT) == (0, 1, 2)


def test_fj_certificate_of_no_example_within_the_distance_exits_1(tmp_path):
    path, img, target = _small(tmp_path)
    out = tmp_path / "r.json"
    res = _invoke(["fj", "-n", str(path), "--image", str(img), "--target", str(target), "--max-distance", "1e-4",
                   "--json", str(out)])
    assert res.exit_code == EXIT_NO_SOLUTION, res.output
    rec = json.loads(out.read_text())
    assert rec["status"] == "infeasible" and rec["certificate"] is True  # the result is still written


def _patched(monkeypatch, name, **changes):
    """Make the library's ``name`` (fj or arfj) return its real result with ``changes`` applied."""
    import nnblocks.adversarial as adv

    real = getattr(adv, name)
    monkeypatch.setattr(adv, name, lambda *a, **k: replace(real(*a, **k), **changes))


@pytest.mark.parametrize("command", ["fj", "arfj"])
@pytest.mark.parametrize(("status", "with_example", "code"), [
    ("optimal", True, EXIT_OK),
    ("time_limit", True, EXIT_OK),
    ("time_limit_no_solution", False, EXIT_NO_SOLUTION),
    ("infeasible", False, EXIT_NO_SOLUTION),
])
def test_fj_arfj_exit_codes_follow_the_status(tmp_path, monkeypatch, command, status, with_example, code):
    from nnblocks.solve import SolveStatus

    path, img, target = _small(tmp_path)
    changes = {"status": SolveStatus(status)}
    if not with_example:
        changes.update(x_adv=None, verified=False, distance=None)
    _patched(monkeypatch, command, **changes)
    nets = ["-n", str(path)] if command == "fj" else [str(path), str(path)]
    res = _invoke([command, *nets, "--image", str(img), "--target", str(target)])
    assert res.exit_code == code, res.output
    assert status in res.output


def test_an_example_that_fails_the_check_exits_1(tmp_path, monkeypatch):
    from nnblocks.solve import SolveStatus

    path, img, target = _small(tmp_path)
    _patched(monkeypatch, "fj", status=SolveStatus.ERROR, verified=False, message="misses the margin by 0.1")
    res = _invoke(["fj", "-n", str(path), "--image", str(img), "--target", str(target)])
    assert res.exit_code == EXIT_NO_SOLUTION and "misses the margin" in res.output


def test_sample_outer_with_too_few_acceptances_exits_1(tmp_path, monkeypatch):
    import nnblocks.datasets
    import nnblocks.sampling
    from nnblocks.sampling import OuterSample

    path, _, _ = _small(tmp_path)
    net = Network.load(path)
    data = tmp_path / "idx"
    data.mkdir()
    rng = np.random.default_rng(0)
    monkeypatch.setattr(nnblocks.datasets, "fashion_mnist", lambda p: (rng.uniform(size=(60, 4)), np.zeros(60)))
    sample = OuterSample(networks=[net], seeds=[1], distances=[0.0], eps=0.2, n=3, tries=5,
                         tried_seeds=[1, 2, 3, 4, 5], tried_distances=[0.0, 1, 1, 1, 1])
    monkeypatch.setattr(nnblocks.sampling, "outer", lambda *a, **k: sample)
    res = _invoke(["sample", "outer", str(tmp_path / "out"), "--data", str(data), "--network", str(path), "--n", "3"])
    assert res.exit_code == EXIT_NO_SOLUTION, res.output
    assert "only 1 of 3 networks accepted" in res.output
    assert (tmp_path / "out" / "outer_1.npz").is_file()
