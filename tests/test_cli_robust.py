"""The robust commands: plot at every status, the time limit held (final evaluation included), one exit-code
convention, --tee, --write-model and messages that name the flag."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from nnblocks.cli import app
from nnblocks.robust import DiscreteUncertaintySet, robust_obj
from nnblocks.robust.base import WorstCase
from nnblocks.robust.problems import RobustSolution

runner = CliRunner()


def _invoke(args):
    return runner.invoke(app, args, env={"COLUMNS": "1000"})


def _said(res) -> str:
    return re.sub(r"[\s│╭╮╰╯─]+", " ", res.output)


def _train(tmp_path, n: int = 2, m: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    path = tmp_path / "train.txt"
    np.savetxt(path, 100 + 10 * rng.normal(size=(m, n)), delimiter=", ")
    return path


class _SlowSet:
    """A discrete set whose oracle takes ``delay`` seconds unless its time limit is shorter (then it gives up)."""

    def __init__(self, points, delay: float) -> None:
        self._inner = DiscreteUncertaintySet(points)
        self.delay = delay

    @property
    def dim(self) -> int:
        return self._inner.dim

    def worst_case(self, x, time_limit: float | None = None) -> WorstCase:
        if time_limit is not None and time_limit < self.delay:
            time.sleep(time_limit)
            return WorstCase(np.zeros(self.dim), -np.inf, None, "time_limit_no_solution", "slow", time_limit)
        time.sleep(self.delay)
        return self._inner.worst_case(x)


def test_robust_time_limit_covers_the_oracles_and_the_final_evaluation():
    points = 100 + np.random.default_rng(1).normal(size=(30, 3))
    U = _SlowSet(points, delay=3.0)
    t0 = time.perf_counter()
    sol = robust_obj(U, rhs=0.5, method="scenarios", time_limit=1.0)
    wall = time.perf_counter() - t0
    assert wall < 1.0 + 0.5, wall
    assert sol.status == "time_limit"
    assert "time limit" in sol.message and "gap 0" not in sol.message


def test_robust_without_time_limit_evaluates_the_worst_case():
    points = 100 + np.random.default_rng(1).normal(size=(30, 3))
    sol = robust_obj(_SlowSet(points, delay=0.0), rhs=0.5, method="scenarios")
    assert sol.status == "robust_optimal"
    assert sol.robust_value == pytest.approx((points @ sol.x).max())


def _solution(status: str, x) -> RobustSolution:
    return RobustSolution(problem="obj", method="scenarios", status=status, x=x, objective=None, robust_value=None,
                          worst_case=None, time=0.1, iterations=1, certified=False, message=f"stopped: {status}")


@pytest.mark.parametrize(("status", "has_x", "code"), [
    ("robust_optimal", True, 0),
    ("time_limit", True, 0),
    ("time_limit", False, 1),
    ("master_infeasible", False, 1),
    ("subsolver_failure", False, 1),
])
def test_robust_plot_is_written_whatever_the_status_and_exit_codes(tmp_path, monkeypatch, status, has_x, code):
    import nnblocks.robust

    x = np.array([0.5, -0.2]) if has_x else None
    monkeypatch.setattr(nnblocks.robust, "robust_obj", lambda *a, **k: _solution(status, x))
    png = tmp_path / "p.png"
    res = _invoke(["robust", "obj", "--data", str(_train(tmp_path)), "--method", "discrete", "--plot", str(png)])
    assert res.exit_code == code, res.output
    assert status in res.output
    assert png.stat().st_size > 0


def test_robust_plot_that_cannot_be_drawn_is_refused_before_solving(tmp_path, monkeypatch):
    import nnblocks.robust

    def no_solve(*args, **kwargs):
        raise AssertionError("solved despite bad input")

    monkeypatch.setattr(nnblocks.robust, "robust_obj", no_solve)
    res = _invoke(["robust", "obj", "--data", str(_train(tmp_path, n=3)), "--method", "discrete", "--plot",
                   str(tmp_path / "p.png")])
    assert res.exit_code == 2, res.output
    assert "Invalid value for '--plot'" in _said(res)


@pytest.mark.parametrize("quantile", ["1.5", "-0.1"])
@pytest.mark.parametrize("method", ["kernel", "nn"])
def test_quantile_errors_name_the_flag(tmp_path, quantile, method):
    res = _invoke(["robust", "obj", "--data", str(_train(tmp_path)), "--method", method, "--quantile", quantile])
    assert res.exit_code == 2, res.output
    said = _said(res)
    assert "Invalid value for '--quantile'" in said and quantile in said
    assert "nu" not in said.split("--quantile", 1)[1]


def test_robust_write_model_and_tee(tmp_path, capfd):
    lp = tmp_path / "final.lp"
    res = _invoke(["robust", "obj", "--data", str(_train(tmp_path)), "--method", "kernel", "--quantile", "0.8",
                   "--write-model", str(lp), "--tee"])
    assert res.exit_code == 0, res.output
    text = lp.read_text()
    assert "minimize" in text.lower() or "min" in text.lower()
    assert "c_" in text or "x" in text
    log = capfd.readouterr().out + res.output
    assert "HiGHS" in log or "highs" in log.lower()  # the solver's log was shown


def test_robust_write_model_of_scenario_generation(tmp_path):
    mps = tmp_path / "final.mps"
    res = _invoke(["robust", "obj", "--data", str(_train(tmp_path)), "--method", "discrete", "--write-model",
                   str(mps)])
    assert res.exit_code == 0, res.output
    assert "ROWS" in mps.read_text()


def test_robust_write_model_suffix_is_checked_before_solving(tmp_path):
    res = _invoke(["robust", "obj", "--data", str(_train(tmp_path)), "--method", "discrete", "--write-model",
                   str(tmp_path / "m.txt")])
    assert res.exit_code == 2 and "needs a .lp or .mps path" in _said(res)


def test_robust_network_takes_a_shipped_name(tmp_path):
    data = tmp_path / "data.npy"
    np.save(data, np.random.default_rng(0).uniform(size=(5, 784)))
    center = tmp_path / "c.txt"
    center.write_text(", ".join(["0.5"] * 10))
    res = _invoke(["robust", "obj", "--data", str(data), "--method", "nn", "--network", "nosuchnet",
                   "--center", str(center)])
    assert res.exit_code == 2 and "nor a shipped network name" in _said(res)
