"""solve() returns solutions exact in their integer variables: a network block's outputs equal the forward pass.

A solver accepts a binary within its integrality tolerance of 0 or 1; through a big-M row that error is
multiplied by M. The tests loosen SCIP's tolerance (numerics/feastol) to make such solutions common.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
import pytest

from nnblocks import Identity, Layer, Network, ReLU
from nnblocks.blocks import NetworkBlock
from nnblocks.solve import SolveStatus, solve

LOOSE = {"numerics/feastol": 1e-3}


def _model(seed: int):
    rng = np.random.default_rng(seed)
    net = Network([Layer(3 * rng.normal(size=(8, 3)), rng.normal(size=8), ReLU()),
                   Layer(rng.normal(size=(6, 8)), rng.normal(size=6), ReLU()),
                   Layer(rng.normal(size=(1, 6)), rng.normal(size=1), Identity())])
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(3), bounds=(-1, 1))
    m.nn = NetworkBlock(net, inputs=m.x, formulation="bigm", bounds="interval")
    m.obj = pyo.Objective(expr=m.nn.outputs[0] - 0.3 * m.x[0], sense=pyo.maximize)
    return m, net


def _output_error(m, net) -> float:
    x = np.array([m.x[j].value for j in range(3)])
    y = float(net.forward(x[None])[0, 0])
    return abs(pyo.value(m.nn.outputs[0]) - y) / max(1.0, abs(y))


def test_polished_outputs_equal_the_forward_pass():
    raw, polished = [], []
    for seed in range(6):
        m, net = _model(seed)
        r = solve(m, "scip_direct", polish=False, **LOOSE)
        assert r.status == SolveStatus.OPTIMAL
        raw.append(_output_error(m, net))
        m, net = _model(seed)
        r = solve(m, "scip_direct", **LOOSE)
        assert r.status == SolveStatus.OPTIMAL
        polished.append(_output_error(m, net))
        assert r.objective == pytest.approx(pyo.value(m.obj), abs=1e-9)  # the objective of the loaded point
        if any(a.outcome == "polished" for a in r.attempts):
            assert not r.retried  # polishing is not a re-solve
    assert max(raw) > 1e-5  # the loose tolerance does produce inexact solutions
    assert max(polished) < 1e-9


def test_a_polish_that_fails_keeps_the_first_solution(monkeypatch):
    import importlib

    s = importlib.import_module("nnblocks.solve.interfaces")  # the module solve() calls the solver through

    m, _ = _model(3)
    first = solve(m, "scip_direct", polish=False, **LOOSE)
    values = {v.name: v.value for v in m.component_data_objects(pyo.Var)}
    m, _ = _model(3)
    real = s._solve_once
    calls = []

    def failing(model, name, *args):
        calls.append(name)
        r = real(model, name, *args)
        if len(calls) > 1:  # the polishing solve
            r.status = SolveStatus.ERROR
        return r

    monkeypatch.setattr(s, "_solve_once", failing)
    r = solve(m, "scip_direct", retry=False, **LOOSE)
    assert len(calls) == 2
    assert r.objective == pytest.approx(first.objective)
    assert r.attempts[-1].outcome.startswith("polish not kept")
    after = {v.name: v.value for v in m.component_data_objects(pyo.Var)}
    assert after.keys() == values.keys()
    assert all(after[k] == pytest.approx(values[k]) for k in values if values[k] is not None)
    assert not any(v.fixed for v in m.component_data_objects(pyo.Var))
