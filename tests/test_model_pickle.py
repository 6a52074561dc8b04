"""Models that nnblocks builds itself (FJ/ARFJ, robust counterparts) pickle and clone: no rule closures kept."""

from __future__ import annotations

import pickle

import numpy as np
import pyomo.environ as pyo
import pytest

from nnblocks import Identity, Layer, Network, ReLU, solve
from nnblocks.adversarial import arfj_model, fj_model
from nnblocks.robust import DiscreteUncertaintySet, KernelUncertaintySet


def _net(seed: int) -> Network:
    rng = np.random.default_rng(seed)
    return Network([Layer(rng.normal(size=(5, 3)), rng.normal(size=5), ReLU()),
                    Layer(rng.normal(size=(3, 5)), rng.normal(size=3), Identity())])


def _same_optimum(m: pyo.ConcreteModel, solver: str) -> None:
    copies = [pickle.loads(pickle.dumps(m)), m.clone()]
    want = solve(m, solver=solver).objective
    for c in copies:
        assert solve(c, solver=solver).objective == pytest.approx(want, rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("norm", [1, "inf"])
def test_fj_and_arfj_models_pickle(norm):
    net = _net(0)
    x_bar = np.full(3, 0.5)
    target = int(np.argsort(net.forward(x_bar[None])[0])[-2])
    _same_optimum(fj_model(net, x_bar, target, norm=norm, heuristic=False), "scip_direct")
    _same_optimum(arfj_model([net, _net(1)], x_bar, target, norm=norm, heuristic=False), "scip_direct")


def _counterpart_model(U) -> pyo.ConcreteModel:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(2), bounds=(0, 1))
    m.budget = pyo.Constraint(expr=m.x[0] + m.x[1] == 1)
    rc = U.robust_counterpart(m, m.x)
    m.obj = pyo.Objective(expr=rc.value)
    return m


def test_robust_counterparts_pickle():
    rng = np.random.default_rng(3)
    data = rng.normal(size=(30, 2))
    _same_optimum(_counterpart_model(DiscreteUncertaintySet(data)), "appsi_highs")
    _same_optimum(_counterpart_model(KernelUncertaintySet.fit(data, q=0.5)), "appsi_highs")
