"""Models holding nnblocks' blocks pickle with the standard library and clone: a process pool or a Dask
worker gets the same model and solves it to the same optimum.

Every formulation, every activation kind, a fixed pattern, the three norm balls and both margin forms;
the round trip is checked by solving the copy, not only by unpickling it.
"""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
import pyomo.environ as pyo
import pytest

from nnblocks import HardSigmoid, HardTanh, Identity, Layer, LeakyReLU, Network, PiecewiseLinear, ReLU, ReLU6
from nnblocks.blocks import NetworkBlock, NormBall, TargetMargin
from nnblocks.solve import SolveStatus, solve

ACTIVATIONS = {
    "relu": ReLU(),
    "leaky": LeakyReLU(0.2),
    "hardtanh": HardTanh(-0.5, 1.0),
    "relu6": ReLU6(),
    "hardsigmoid": HardSigmoid(),
    "identity": Identity(),
    "pwl": PiecewiseLinear([-0.5, 0.25, 1.0], [0.5, -1.0, 2.0, 0.0], [0.0, -0.75, -1.5, 0.5]),
}
FORMULATIONS = ["bigm", "hull", "relaxation", "pattern", "bigm_fixed"]


def network(kind: str, seed: int = 0) -> Network:
    """2-5-4-2 with ``kind`` on both hidden layers and an identity output."""
    rng = np.random.default_rng(seed)
    sizes = [2, 5, 4, 2]
    layers = []
    for k in range(1, len(sizes)):
        W = rng.normal(size=(sizes[k], sizes[k - 1])) * 2.0 / np.sqrt(sizes[k - 1])
        b = rng.normal(scale=0.3, size=sizes[k])
        layers.append(Layer(W, b, ACTIVATIONS[kind] if k < len(sizes) - 1 else Identity()))
    return Network(layers)


def network_model(net: Network, formulation: str) -> pyo.ConcreteModel:
    """max y_0 over the box [-1, 1]^2 with the network in ``formulation``."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(net.n_inputs), bounds=(-1.0, 1.0), initialize=0.0)
    x0 = np.array([0.3, -0.2])
    if formulation == "pattern":
        m.nn = NetworkBlock(net, inputs=m.x, formulation="pattern", pattern=net.activation_pattern(x0))
    elif formulation == "bigm_fixed":
        m.nn = NetworkBlock()
        m.nn.build(net, inputs=m.x, formulation="bigm")
        m.nn.fix_pattern(net.activation_pattern(x0))
    else:
        m.nn = NetworkBlock()
        m.nn.build(net, inputs=m.x, formulation=formulation)
    m.obj = pyo.Objective(expr=m.nn.outputs[0], sense=pyo.maximize)
    return m


def optimum(m, solver: str = "highs") -> float:
    res = solve(m, solver=solver)
    assert res.status == SolveStatus.OPTIMAL, res
    return float(res.objective)


def round_trip(m, protocol: int = pickle.HIGHEST_PROTOCOL):
    """The model through the standard library's pickle, as a process pool sends it."""
    return pickle.loads(pickle.dumps(m, protocol=protocol))


def assert_same_optimum(m, solver: str = "highs", protocols=(pickle.HIGHEST_PROTOCOL,)) -> None:
    """The unpickled copies (one per protocol) and ``m.clone()`` solve to the optimum of ``m``."""
    expected = optimum(m, solver)
    for copy in [*(round_trip(m, p) for p in protocols), m.clone()]:
        assert optimum(copy, solver) == pytest.approx(expected, rel=1e-7, abs=1e-7)


@pytest.mark.parametrize("kind", list(ACTIVATIONS))
@pytest.mark.parametrize("formulation", FORMULATIONS)
def test_network_models_pickle_and_clone_to_the_same_optimum(kind, formulation):
    m = network_model(network(kind), formulation)
    assert_same_optimum(m, protocols=(pickle.DEFAULT_PROTOCOL, pickle.HIGHEST_PROTOCOL))


@pytest.mark.parametrize("kind", list(ACTIVATIONS))
def test_an_unpickled_block_keeps_its_api(kind):
    net = network(kind)
    m = network_model(net, "hull")
    r = round_trip(m)
    assert r.nn.formulation == "hull" and r.nn.n_binaries == m.nn.n_binaries
    assert all(a is b for a, b in zip(r.nn.inputs, r.x.values()))  # still the copy's own input variables
    for k in range(1, len(net) + 1):
        assert r.nn.unstable(k).tolist() == m.nn.unstable(k).tolist()
    # the pre-activation expressions and fix/unfix work on the copy
    x = np.array([0.4, -0.7])
    for i, v in enumerate(x):
        r.x[i].fix(float(v))
    r.nn.fix_pattern(net.activation_pattern(x))
    assert optimum(r) == pytest.approx(net.forward(x)[0], abs=1e-6)
    pre = [pyo.value(r.nn.pre(1)[j]) for j in range(net.layers[0].n_out)]
    assert np.allclose(pre, net.layers[0].W @ x + net.layers[0].b, atol=1e-6)
    r.nn.unfix_pattern()


@pytest.mark.parametrize(
    ("norm", "solver"), [(1, "highs"), ("inf", "highs"), pytest.param(2, "scip_direct", marks=pytest.mark.slow)]
)
def test_norm_balls_pickle_and_clone(norm, solver):
    """min ||x - c|| with the network's output above a level; the L2 ball's radius constraint is quadratic."""
    net = network("relu")
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(2), bounds=(-1.0, 1.0))
    m.nn = NetworkBlock()
    m.nn.build(net, inputs=m.x)
    c = np.array([0.1, 0.2])
    level = float(net.forward(c)[0]) + 0.5
    m.level = pyo.Constraint(expr=m.nn.outputs[0] >= level)
    m.ball = NormBall(m.x, c, norm=norm, radius=1.5)
    m.obj = pyo.Objective(expr=m.ball.distance)
    assert_same_optimum(m, solver=solver)
    r = round_trip(m)
    assert r.ball.norm == m.ball.norm and r.ball.radius == 1.5
    assert r.ball.terms[0] is r.x[0]


@pytest.mark.parametrize("kind", ["ratio", "difference"])
def test_margin_blocks_pickle_and_clone(kind):
    """min ||x - c||_1 such that output 1 wins (the Fischetti–Jo model), through pickle and clone."""
    hidden = list(network("relu").layers[:-1])
    net = Network([*hidden, Layer(np.array([[1.0, -1.0, 0.5, 0.0], [-0.5, 1.0, 0.0, 1.0]]), np.zeros(2), ReLU())])
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(2), bounds=(-1.0, 1.0))
    m.nn = NetworkBlock(net, inputs=m.x)
    m.ball = NormBall(m.x, np.zeros(2), norm=1)
    m.margin = TargetMargin(m.nn.outputs, target=1, gamma=0.1, kind=kind)
    m.obj = pyo.Objective(expr=m.ball.distance)
    assert_same_optimum(m)
    r = round_trip(m)
    assert r.margin.target == 1 and r.margin.kind == kind and r.margin.satisfied()


def test_one_line_blocks_pickle_and_an_indexed_block_too():
    net = network("hardtanh")
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(2), bounds=(-1.0, 1.0))
    m.a = NetworkBlock(net, inputs=m.x, formulation="hull", bounds="lp")
    m.nets = NetworkBlock(range(2))
    for i in range(2):
        m.nets[i].build(network("leaky", seed=i + 1), inputs=m.x)
    m.obj = pyo.Objective(expr=m.a.outputs[0] + m.nets[0].outputs[1] - m.nets[1].outputs[0], sense=pyo.maximize)
    assert_same_optimum(m)
    r = round_trip(m)
    assert type(r.a) is type(m.a) and type(r.nets) is type(m.nets)


def _solve_in_worker(payload: bytes) -> float:
    return optimum(pickle.loads(payload))


@pytest.mark.slow
def test_a_fresh_process_unpickles_and_solves_the_model():
    """What a process pool does: a new interpreter (spawn) finds every class by name and solves the copy."""
    m = network_model(network("pwl"), "hull")
    expected = optimum(m)
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        got = pool.submit(_solve_in_worker, pickle.dumps(m)).result(timeout=120)
    assert got == pytest.approx(expected, rel=1e-7, abs=1e-7)
