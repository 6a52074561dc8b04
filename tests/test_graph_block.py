"""NetworkBlock on a Graph as a specification: every formulation encodes y = f(x) exactly (or relaxes it soundly).

Oracles: ``Graph.forward`` for a fixed input; for optimisation over a box the maximum over every pattern (a
piece per Elementwise element, an argmax per window) of the LP of the pattern's linear region, written here
directly from the nodes' parameters (scipy's HiGHS, independent of the block's code); for a window maximum
over free variables the closed form (max of the L, max of the U) and the LP per argmax.
"""

from __future__ import annotations

import itertools
import pickle

import highspy
import numpy as np
import pyomo.environ as pyo
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from nnblocks import HardTanh, Identity, Layer, LeakyReLU, Network, ReLU
from nnblocks.blocks import NetworkBlock, NormBall, TargetMargin
from nnblocks.blocks.graph_encoding import activation_pattern
from nnblocks.graph import Elementwise, Graph, Linear, Node, WindowMax
from nnblocks.solve import SolveStatus, solve, write
from tests.test_blocks import EXACT, make_activation

SOLVERS = ["highs", "scip_direct"]
KINDS = ["relu", "leaky", "hardtanh", "pwl", "relu6"]
SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- random graphs ------------------------------------------------------------------------------
def random_graph(rng: np.random.Generator, n_in: int, widths: list[int], n_out: int = 1) -> Graph:
    """A DAG of random steps over the tensors built so far: dense or sparse linear + activation, a residual
    two-input linear + activation, a window maximum over windows of one tensor (some places unused), an
    elementwise max of two tensors; then a (two-input, where possible) linear output."""
    nodes: list[Node] = []
    sizes = [n_in]

    def add(op, inputs, size):
        nodes.append(Node(op, tuple(inputs), (size,)))
        sizes.append(size)
        return len(sizes) - 1

    for w in widths:
        step = rng.choice(["dense", "sparse", "residual", "pool", "max2"])
        src = int(rng.integers(len(sizes)))
        act = Elementwise(make_activation(str(rng.choice(KINDS)), rng), w)
        if step == "pool" and sizes[src] >= 2:
            k = int(rng.integers(2, min(3, sizes[src]) + 1))
            windows = np.array([rng.choice(sizes[src], size=k, replace=False) for _ in range(w)])
            windows[rng.random(windows.shape) < 0.2] = -1
            windows[:, 0] = np.abs(windows[:, 0])  # at least one place used
            windows[windows[:, 0] < 0, 0] = 0
            add(WindowMax(windows, [sizes[src]]), [src], w)
            continue
        if step == "max2" and len(sizes) >= 2:
            a, b = (int(t) for t in rng.choice(len(sizes), size=2, replace=False))
            W1 = rng.normal(size=(w, sizes[a])) / np.sqrt(sizes[a])
            t1 = add(Linear([W1], rng.normal(scale=0.3, size=w)), [a], w)
            W2 = rng.normal(size=(w, sizes[b])) / np.sqrt(sizes[b])
            t2 = add(Linear([W2], rng.normal(scale=0.3, size=w)), [b], w)
            add(WindowMax(np.column_stack([np.arange(w), w + np.arange(w)]), [w, w]), [t1, t2], w)
            continue
        if step == "residual" and len(sizes) >= 2:
            a, b = (int(t) for t in rng.choice(len(sizes), size=2, replace=False))
            Ws = [rng.normal(size=(w, sizes[t])) / np.sqrt(sizes[t]) for t in (a, b)]
            lin = add(Linear(Ws, rng.normal(scale=0.3, size=w)), [a, b], w)
        else:
            W = rng.normal(size=(w, sizes[src])) * 1.5 / np.sqrt(sizes[src])
            if step == "sparse":
                W = sp.csr_array(W * (rng.random(W.shape) < 0.5))
            lin = add(Linear([W], rng.normal(scale=0.3, size=w)), [src], w)
        add(act, [lin], w)
    last = len(sizes) - 1
    reads = [last] + ([int(rng.integers(last))] if last > 1 and rng.random() < 0.5 else [])
    Ws = [rng.normal(size=(n_out, sizes[t])) / np.sqrt(sizes[t]) for t in reads]
    add(Linear(Ws, rng.normal(scale=0.3, size=n_out)), reads, n_out)
    return Graph((n_in,), nodes)


@st.composite
def graphs(draw, max_steps=3, max_width=4):
    n_in = draw(st.integers(2, 3))
    widths = [draw(st.integers(2, max_width)) for _ in range(draw(st.integers(1, max_steps)))]
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return random_graph(rng, n_in, widths, draw(st.integers(1, 2))), rng


def box_model(g: Graph, formulation="bigm", lo=-1.0, hi=1.0, **kw) -> pyo.ConcreteModel:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(g.n_inputs), bounds=(lo, hi), initialize=0.0)
    m.nn = NetworkBlock(g, inputs=m.x, formulation=formulation, **kw)
    return m


def optimise(m, expr, sense=pyo.maximize, solver="highs") -> float:
    m.del_component("obj")
    m.obj = pyo.Objective(expr=expr, sense=sense)
    res = solve(m, solver=solver, **EXACT.get(solver, {"mip_gap": 0.0}))
    assert res.status == SolveStatus.OPTIMAL, res
    return float(res.objective)


# -- the oracle: the LP of a pattern's region -----------------------------------------------------
def patterns(g: Graph):
    """Every pattern: per Elementwise node a piece per element, per WindowMax node a used place per window."""
    keys, choices = [], []
    for k, node in enumerate(g.nodes):
        if isinstance(node.op, Elementwise):
            keys.append(k)
            choices.append(list(itertools.product(range(node.op.activation.n_pieces), repeat=node.size)))
        elif isinstance(node.op, WindowMax):
            keys.append(k)
            choices.append(list(itertools.product(*[np.flatnonzero(row >= 0).tolist() for row in node.op.windows])))
    for combo in itertools.product(*choices):
        yield {k: np.array(c) for k, c in zip(keys, combo)}


def n_patterns(g: Graph) -> float:
    n = 1.0
    for node in g.nodes:
        if isinstance(node.op, Elementwise):
            n *= node.op.activation.n_pieces ** node.size
        elif isinstance(node.op, WindowMax):
            n *= float(np.prod((node.op.windows >= 0).sum(axis=1)))
    return n


def region_lp(g: Graph, pattern, lo, hi, c_out: np.ndarray) -> float | None:
    """max c_out . y over the pattern's region within the box [lo, hi], all tensors as LP variables."""
    off = np.concatenate([[0], np.cumsum(g.sizes)])
    n = int(off[-1])
    A_eq, b_eq, A_ub, b_ub = [], [], [], []

    def row(entries):
        r = np.zeros(n)
        for i, v in entries:
            r[i] += v
        return r

    for k, node in enumerate(g.nodes):
        out = off[k + 1]
        if isinstance(node.op, Linear):
            for j in range(node.size):
                ent = [(out + j, 1.0)]
                for i, t in enumerate(node.inputs):
                    Wi = node.op.matrix(i).toarray()
                    ent += [(off[t] + c, -Wi[j, c]) for c in range(g.sizes[t])]
                A_eq.append(row(ent))
                b_eq.append(node.op.bias[j])
        elif isinstance(node.op, Elementwise):
            act, p, src = node.op.activation, pattern[k], off[node.inputs[0]]
            t_lo, t_hi = act.piece_bounds()
            for j in range(node.size):
                A_eq.append(row([(out + j, 1.0), (src + j, -act.slopes[p[j]])]))
                b_eq.append(act.intercepts[p[j]])
                if np.isfinite(t_hi[p[j]]):
                    A_ub.append(row([(src + j, 1.0)]))
                    b_ub.append(t_hi[p[j]])
                if np.isfinite(t_lo[p[j]]):
                    A_ub.append(row([(src + j, -1.0)]))
                    b_ub.append(-t_lo[p[j]])
        else:
            cat = np.concatenate([off[t] + np.arange(g.sizes[t]) for t in node.inputs])
            for j, w in enumerate(node.op.windows):
                star = cat[w[pattern[k][j]]]
                A_eq.append(row([(out + j, 1.0), (star, -1.0)]))
                b_eq.append(0.0)
                for q in w[w >= 0]:
                    A_ub.append(row([(cat[q], 1.0), (star, -1.0)]))
                    b_ub.append(0.0)
    cost = np.zeros(n)
    cost[off[g.output]:off[g.output] + g.n_outputs] = -c_out
    bounds = [(lo, hi)] * g.n_inputs + [(None, None)] * (n - g.n_inputs)
    res = linprog(cost, A_ub=np.array(A_ub) if A_ub else None, b_ub=b_ub or None, A_eq=np.array(A_eq),
                  b_eq=b_eq, bounds=bounds, method="highs")
    if res.status == 2:
        return None
    assert res.status == 0, res.message
    return float(-res.fun)


def enumerated_max(g: Graph, lo, hi, c_out) -> float:
    vals = [region_lp(g, p, lo, hi, c_out) for p in patterns(g)]
    return max(v for v in vals if v is not None)


# -- 1. a fixed input gives the forward pass ------------------------------------------------------
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("formulation", ["bigm", "hull", "pattern"])
@SETTINGS
@given(data=graphs())
def test_fixed_input_gives_forward_pass(formulation, solver, data):
    g, rng = data
    x0 = rng.uniform(-1, 1, g.n_inputs)
    kw = {"pattern": activation_pattern(g, x0)} if formulation == "pattern" else {}
    m = box_model(g, formulation, **kw)
    for i, v in enumerate(x0):  # fixed through its bounds (scip_direct refuses constraints without free vars)
        m.x[i].setlb(float(v))
        m.x[i].setub(float(v))
        m.x[i].value = float(v)
    optimise(m, m.nn.outputs[0], solver=solver)
    vals = g.values(x0)
    np.testing.assert_allclose([pyo.value(v) for v in m.nn.outputs], vals[g.output][0], atol=1e-6, rtol=1e-6)
    for t in range(len(g) + 1):  # every tensor, through the public view
        if t > 0 and isinstance(g.nodes[t - 1].op, Linear) and not g.consumers()[t] and t != g.output:
            continue
        got = [pyo.value(m.nn.tensor(t)[j]) for j in range(g.sizes[t])]
        np.testing.assert_allclose(got, vals[t][0], atol=1e-6, rtol=1e-6)
    assert m.nn.inputs == [m.x[i] for i in range(g.n_inputs)]


@SETTINGS
@given(data=graphs())
def test_relaxation_is_exact_where_the_bounds_fix_every_piece(data):
    g, rng = data
    x0 = rng.uniform(-1, 1, g.n_inputs)
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(g.n_inputs), bounds={i: (float(v), float(v)) for i, v in enumerate(x0)}, initialize=0.0)
    m.nn = NetworkBlock(g, inputs=m.x, formulation="relaxation")
    assert m.nn.n_binaries == 0
    optimise(m, m.nn.outputs[0])
    np.testing.assert_allclose([pyo.value(v) for v in m.nn.outputs], g.forward(x0), atol=1e-6, rtol=1e-6)


# -- 2. the MILP optimum is the best pattern region -----------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("solver", SOLVERS)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=graphs(max_steps=2, max_width=3))
def test_max_output_equals_pattern_enumeration(solver, data):
    g, rng = data
    assume(n_patterns(g) <= 400)
    c = rng.normal(size=g.n_outputs)
    oracle = enumerated_max(g, -1.0, 1.0, c)
    for formulation in ("bigm", "hull"):
        m = box_model(g, formulation)
        v = optimise(m, sum(float(ci) * y for ci, y in zip(c, m.nn.outputs)), solver=solver)
        assert v == pytest.approx(oracle, rel=1e-6, abs=1e-6), formulation
        x = np.array([pyo.value(m.x[i]) for i in range(g.n_inputs)])
        assert c @ g.forward(x) == pytest.approx(v, abs=1e-5)  # the optimum is a true network value
    r = box_model(g, "relaxation")
    assert optimise(r, sum(float(ci) * y for ci, y in zip(c, r.nn.outputs))) >= oracle - 1e-6


# -- 3. window maxima: exact by enumeration, stable windows get no binary ------------------------------
def max_pool_graph(lo: np.ndarray, windows: np.ndarray) -> Graph:
    return Graph((lo.size,), [Node(WindowMax(windows, [lo.size]), (0,), (windows.shape[0],))])


@pytest.mark.parametrize("formulation", ["bigm", "hull", "relaxation"])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_window_max_over_free_variables_is_exact(formulation, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 6))
    lo = rng.uniform(-1, 1, n)
    hi = lo + rng.uniform(0, 1.5, n)
    w = np.full((1, n), -1)  # one window over a random subset of the variables, its unused places last
    chosen = rng.permutation(n)[: int(rng.integers(1, n + 1))]
    w[0, : chosen.size] = chosen
    g = max_pool_graph(lo, w)
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(n), bounds={i: (lo[i], hi[i]) for i in range(n)})
    m.nn = NetworkBlock(g, inputs=m.x, formulation=formulation)
    y = m.nn.outputs[0]
    S = w[0][w[0] >= 0]
    if formulation != "relaxation":  # the max and min of y are those of the max of free variables
        assert optimise(m, y) == pytest.approx(hi[S].max(), abs=1e-7)
        assert optimise(m, y, pyo.minimize) == pytest.approx(lo[S].max(), abs=1e-7)
    # a linear objective over (x, y): the best argmax by enumeration (LP per argmax); the hull is ideal, so
    # its LP relaxation attains it too
    c = rng.normal(size=n)
    best = enumerated_max_pool(lo, hi, S, c)
    assert optimise(m, y + sum(float(ci) * m.x[i] for i, ci in enumerate(c))) == pytest.approx(best, abs=1e-7)


def enumerated_max_pool(lo, hi, S, c) -> float:
    """max y + c.x with y = max_{i in S} x_i, x in [lo, hi]: the best LP over the argmax i."""
    best = -np.inf
    n = lo.size
    for i in S:
        A = [np.eye(n)[q] - np.eye(n)[i] for q in S if q != i]  # x_q - x_i <= 0
        cost = -(c + np.eye(n)[i])
        res = linprog(cost, A_ub=np.array(A) if A else None, b_ub=np.zeros(len(A)) if A else None,
                      bounds=list(zip(lo, hi)), method="highs")
        if res.status == 0:
            best = max(best, -res.fun)
    return best


def test_elements_the_bounds_rule_out_get_no_binary():
    lo = np.array([0.0, 2.0, 1.5, -1.0, 0.5])
    hi = np.array([1.0, 3.0, 2.5, 0.0, 0.6])
    # window 0: element 1 dominates 0 and 3 (L_1 = 2 > U); 1 and 2 overlap -> 2 binaries;
    # window 1: element 4 dominates 3 -> y = x_4, no binary
    g = max_pool_graph(lo, np.array([[0, 1, 2, 3], [3, 4, -1, -1]]))
    for formulation in ("bigm", "hull"):
        m = pyo.ConcreteModel()
        m.x = pyo.Var(range(5), bounds={i: (lo[i], hi[i]) for i in range(5)})
        m.nn = NetworkBlock(g, inputs=m.x, formulation=formulation)
        assert m.nn.n_binaries == 2
        assert sorted(m.nn.node(0).z.keys()) == [(0, 1), (0, 2)]
        np.testing.assert_array_equal(m.nn.unstable(0), [0])
        assert optimise(m, m.nn.outputs[1] - m.x[4]) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("formulation", ["bigm", "hull"])
@SETTINGS
@given(data=graphs())
def test_only_unstable_elements_get_binaries(formulation, data):
    g, _ = data
    m = box_model(g, formulation)
    expected = 0
    for k, node in enumerate(g.nodes):
        if isinstance(node.op, Elementwise):
            B = m.nn.bounds.nodes[k]
            reach = np.asarray(B.last_piece) - np.asarray(B.first_piece) + 1
            unstable = np.flatnonzero(reach > 1)
            np.testing.assert_array_equal(m.nn.unstable(k), unstable)
            expected += unstable.size if node.op.activation == ReLU() else int(reach[unstable].sum()) - unstable.size
        elif isinstance(node.op, WindowMax):
            lo = np.concatenate([m.nn.bounds.lower[t] for t in node.inputs])
            hi = np.concatenate([m.nn.bounds.upper[t] for t in node.inputs])
            for row in node.op.windows:
                e = row[row >= 0]
                cand = [i for i in e if not any(lo[q] > hi[i] for q in e if q != i)]
                expected += len(cand) if len(cand) > 1 else 0
    assert m.nn.n_binaries == expected


# -- 4. patterns, addressing ------------------------------------------------------------------------
@pytest.mark.parametrize("formulation", ["bigm", "hull"])
@SETTINGS
@given(data=graphs(max_steps=2, max_width=3))
def test_fix_pattern_gives_the_region_lp_and_unfix_restores_the_milp(formulation, data):
    g, rng = data
    m = box_model(g, formulation)
    c = np.ones(g.n_outputs)
    milp = optimise(m, sum(m.nn.outputs))
    x0 = rng.uniform(-1, 1, g.n_inputs)
    pattern = activation_pattern(g, x0)
    m.nn.fix_pattern(pattern)
    assert {k: p.tolist() for k, p in m.nn.pattern.items()} == {k: p.tolist() for k, p in pattern.items()}
    fixed = optimise(m, sum(m.nn.outputs))
    assert fixed == pytest.approx(region_lp(g, pattern, -1.0, 1.0, c), rel=1e-6, abs=1e-6)
    assert fixed <= milp + 1e-6
    m.nn.unfix_pattern()
    assert m.nn.pattern is None
    assert optimise(m, sum(m.nn.outputs)) == pytest.approx(milp, rel=1e-6, abs=1e-6)


def test_elements_are_addressed_by_tensor_and_node(rng):
    W = rng.normal(size=(6, 3))
    nodes = [Node(Linear([W], rng.normal(size=6)), (0,), (2, 3)),
             Node(Elementwise(ReLU(), 6), (1,), (2, 3)),
             Node(WindowMax(np.array([[0, 1, 2], [3, 4, 5]]), [6]), (2,), (2,)),
             Node(Linear([np.eye(2), rng.normal(size=(2, 6))]), (3, 2), (2,))]
    g = Graph((3,), nodes)
    m = box_model(g)
    nn = m.nn
    assert nn.tensor(2)[(1, 2)] is nn.tensor(2)[5] is nn.node(1).x[5]
    assert nn.tensor(3)[1] is nn.node(2).x[1]
    assert nn.pre(1) is nn.node(1).pre
    assert len(nn.tensor(1)) == 6 and nn.tensor(1).shape == (2, 3)
    with pytest.raises(KeyError, match="encoded inside node 1"):
        nn.node(0)  # the convolution-like Linear read by the ReLU only: no variables of its own
    with pytest.raises(KeyError, match="elements 0..5"):
        nn.tensor(2)[6]
    with pytest.raises(TypeError, match="Graph"):
        box_model(Network([Layer(W, np.zeros(6), ReLU())])).nn.tensor(1)
    x0 = np.array([0.2, -0.4, 0.7])
    for i, v in enumerate(x0):
        m.x[i].fix(float(v))
    optimise(m, nn.outputs[0])
    vals = g.values(x0)
    np.testing.assert_allclose([pyo.value(nn.tensor(1)[j]) for j in range(6)], vals[1][0], atol=1e-7)
    np.testing.assert_allclose([pyo.value(nn.pre(1)[j]) for j in range(6)], vals[1][0], atol=1e-7)


def test_bad_graph_builds_give_clear_errors(rng):
    g = Graph((2,), [Node(Linear([rng.normal(size=(3, 2))]), (0,), (3,)),
                     Node(WindowMax(np.array([[0, 1], [1, 2]]), [3]), (1,), (2,))])
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(2))
    with pytest.raises(ValueError, match="finite bounds"):
        m.nn = NetworkBlock(g, inputs=m.x)
    m.y = pyo.Var(range(2), bounds=(-1, 1))
    with pytest.raises(ValueError, match="dict"):
        m.nn = NetworkBlock(g, inputs=m.y, formulation="pattern", pattern=[[0, 0]])
    with pytest.raises(ValueError, match="no element at place"):
        m.nn = NetworkBlock(g, inputs=m.y, formulation="pattern", pattern={1: [0, 2]})
    with pytest.raises(ValueError, match="for a Graph|Graph must be"):
        m.nn = NetworkBlock(g, inputs=m.y, bounds="lp")


# -- 5. pickling, export, the chain special case ----------------------------------------------------
@pytest.mark.parametrize("formulation", ["bigm", "hull", "relaxation", "pattern"])
def test_graph_model_pickles_and_clones(formulation):
    rng = np.random.default_rng(5)
    g = random_graph(rng, 3, [4, 3, 3], 2)
    kw = {"pattern": activation_pattern(g, np.zeros(3))} if formulation == "pattern" else {}
    m = box_model(g, formulation, **kw)
    m.obj = pyo.Objective(expr=m.nn.outputs[0], sense=pyo.maximize)
    expected = solve(m, solver="highs").objective
    for copy in (pickle.loads(pickle.dumps(m, protocol=pickle.HIGHEST_PROTOCOL)), m.clone()):
        res = solve(copy, solver="highs")
        assert res.status == SolveStatus.OPTIMAL
        assert res.objective == pytest.approx(expected, rel=1e-7, abs=1e-7)
        assert copy.nn.tensor(len(g))[0] is copy.nn.outputs[0]


@pytest.mark.parametrize("formulation", ["bigm", "hull"])
def test_written_lp_file_has_the_same_optimum(tmp_path, formulation):
    rng = np.random.default_rng(7)
    g = random_graph(rng, 3, [4, 3, 3], 2)
    m = box_model(g, formulation)
    m.obj = pyo.Objective(expr=m.nn.outputs[0] - 0.5 * m.nn.outputs[1], sense=pyo.minimize)
    res = solve(m, solver="highs")
    assert res.status == SolveStatus.OPTIMAL
    path = write(m, tmp_path / "x.lp")
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    assert h.readModel(str(path)) == highspy.HighsStatus.kOk
    h.run()
    assert h.getInfo().objective_function_value == pytest.approx(res.objective, rel=1e-7, abs=1e-7)


@pytest.mark.parametrize("formulation", ["bigm", "hull"])
def test_a_network_and_its_graph_give_the_same_fj_optimum(formulation):
    rng = np.random.default_rng(12)
    net = Network([Layer(rng.normal(size=(6, 4)), rng.normal(scale=0.3, size=6), ReLU()),
                   Layer(rng.normal(size=(5, 6)) / 2, rng.normal(scale=0.3, size=5), LeakyReLU(0.1)),
                   Layer(rng.normal(size=(3, 5)), rng.normal(scale=0.3, size=3), Identity())])
    x0 = rng.uniform(0.2, 0.8, 4)
    Y = net.forward(rng.uniform(0, 1, size=(10_000, 4)))
    wins = [t for t in range(3)
            if t != np.argmax(net.forward(x0)) and np.any(Y[:, t] >= np.delete(Y, t, 1).max(1) + 0.05)]
    target = wins[0]  # a class that wins somewhere in the box, but not at x0
    values = []
    for model in (net, Graph.from_network(net)):
        m = pyo.ConcreteModel()
        m.x = pyo.Var(range(4), bounds=(0.0, 1.0))
        m.nn = NetworkBlock(model, inputs=m.x, formulation=formulation)
        m.ball = NormBall(m.x, x0, norm=1)
        m.margin = TargetMargin(m.nn.outputs, target=target, gamma=0.05, kind="difference")
        values.append(optimise(m, m.ball.distance, pyo.minimize))
        x = np.array([pyo.value(m.x[i]) for i in range(4)])
        assert net.forward(x)[target] >= np.delete(net.forward(x), target).max() + 0.05 - 1e-6
    assert values[0] == pytest.approx(values[1], rel=1e-7, abs=1e-7)
    assert values[0] > 0


# -- 6. convolution and pooling graphs, at scale ------------------------------------------------------
def _lowering():
    try:
        from nnblocks.graph import lower as lw
    except ImportError:
        pytest.skip("nnblocks.graph.lower is not available")
    return lw


def conv_graph(rng, in_shape=(1, 4, 4)):
    """conv 2x2 (pad 1, stride 1) -> relu -> maxpool 2x2 stride 2 -> dense -> output."""
    lw = _lowering()
    c1, s1 = lw.conv(in_shape, rng.normal(size=(2, in_shape[0], 2, 2)), rng.normal(scale=0.2, size=2),
                     strides=(1, 1), pads=(1, 1, 1, 1))
    n1 = int(np.prod(s1))
    pool, s2 = lw.max_pool(s1, (2, 2), (2, 2), (0, 0, 1, 1))
    n2 = int(np.prod(s2))
    nodes = [Node(c1, (0,), s1), Node(Elementwise(ReLU(), n1), (1,), s1), Node(pool, (2,), s2),
             Node(Linear([rng.normal(size=(2, n2)) / np.sqrt(n2)], rng.normal(size=2)), (3,), (2,))]
    return Graph(in_shape, nodes)


@pytest.mark.parametrize("formulation", ["bigm", "hull", "pattern"])
def test_conv_and_maxpool_graph_solved_at_a_fixed_input_is_the_forward_pass(formulation):
    rng = np.random.default_rng(2)
    g = conv_graph(rng)
    for x0 in rng.uniform(-1, 1, size=(3, g.n_inputs)):
        kw = {"pattern": activation_pattern(g, x0)} if formulation == "pattern" else {}
        m = box_model(g, formulation, **kw)
        for i, v in enumerate(x0):
            m.x[i].setlb(float(v))
            m.x[i].setub(float(v))
        optimise(m, m.nn.outputs[0])
        np.testing.assert_allclose([pyo.value(v) for v in m.nn.outputs], g.forward(x0), atol=1e-6, rtol=1e-6)


def test_conv_and_maxpool_graph_bigm_and_hull_agree_with_sampling():
    rng = np.random.default_rng(4)
    g = conv_graph(rng, (1, 3, 3))
    vals = []
    for formulation in ("bigm", "hull"):
        m = box_model(g, formulation)
        vals.append(optimise(m, m.nn.outputs[0]))
        x = np.array([pyo.value(m.x[i]) for i in range(g.n_inputs)])
        assert g.forward(x)[0] == pytest.approx(vals[-1], abs=1e-6)
    assert vals[0] == pytest.approx(vals[1], rel=1e-7, abs=1e-7)
    sampled = g.forward(rng.uniform(-1, 1, size=(20_000, g.n_inputs)))[:, 0].max()
    assert sampled <= vals[0] + 1e-7


def test_a_convolution_row_has_kernel_times_channels_terms():
    lw = _lowering()
    rng = np.random.default_rng(0)
    c1, s1 = lw.conv((3, 32, 32), rng.normal(size=(8, 3, 4, 4)), rng.normal(size=8), strides=(2, 2),
                     pads=(1, 1, 1, 1))
    assert c1.out_size == 2048
    g = Graph((3, 32, 32), [Node(c1, (0,), s1), Node(Elementwise(LeakyReLU(0.1), 2048), (1,), s1)])
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(3072), bounds=(0.0, 1.0))
    m.nn = NetworkBlock(g, inputs=m.x)
    rows = list(m.nn.node(1).affine.values())
    assert len(rows) > 1000
    n_terms = [len(c.body.linear_vars) for c in rows]
    assert max(n_terms) == 3 * 4 * 4 + 1  # kernel x channels input terms and the pre-activation variable a


def test_max_pool_after_relu_has_no_binary_where_a_window_is_stable():
    rng = np.random.default_rng(3)
    g = conv_graph(rng)
    m = box_model(g, "bigm", lo=-1.0, hi=1.0)
    lo, hi = m.nn.bounds.lower[2], m.nn.bounds.upper[2]
    pool = g.nodes[2].op
    expected = 0
    for row in pool.windows:
        e = row[row >= 0]
        cand = [i for i in e if not any(lo[q] > hi[i] for q in e if q != i)]
        expected += len(cand) if len(cand) > 1 else 0
    assert len(m.nn.node(2).z) == expected


def test_relu6_and_hardtanh_pieces_in_graphs_are_exact(rng):
    g = Graph((2,), [Node(Linear([rng.normal(size=(3, 2)) * 3]), (0,), (3,)),
                     Node(Elementwise(HardTanh(-0.5, 0.5), 3), (1,), (3,)),
                     Node(Linear([rng.normal(size=(1, 3))]), (2,), (1,))])
    c = np.ones(1)
    oracle = enumerated_max(g, -1.0, 1.0, c)
    for formulation in ("bigm", "hull"):
        m = box_model(g, formulation)
        assert optimise(m, m.nn.outputs[0]) == pytest.approx(oracle, rel=1e-6, abs=1e-6)


@st.composite
def conv_graphs(draw):
    """Random convolution -> activation -> max pool -> dense graphs from nnblocks.graph.lower (padding, stride,
    dilation, groups drawn)."""
    lw = _lowering()
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    groups = draw(st.sampled_from([1, 2]))
    C = groups * draw(st.integers(1, 2))
    H, W = draw(st.integers(3, 5)), draw(st.integers(3, 5))
    k, d = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    s, p = draw(st.integers(1, 2)), draw(st.integers(0, 1))
    M = groups * draw(st.integers(1, 2))
    c1, s1 = lw.conv((C, H, W), rng.normal(size=(M, C // groups, k, k)), rng.normal(scale=0.3, size=M),
                     strides=(s, s), pads=(p, p, p, p), dilations=(d, d), groups=groups)
    n1 = int(np.prod(s1))
    act = make_activation(draw(st.sampled_from(KINDS)), rng)
    nodes = [Node(c1, (0,), s1), Node(Elementwise(act, n1), (1,), s1)]
    if min(s1[1:]) >= 2:
        pool, s2 = lw.max_pool(s1, (2, 2), (draw(st.integers(1, 2)),) * 2, (0, 0, 0, 0))
        nodes.append(Node(pool, (2,), s2))
    n2 = nodes[-1].size
    nodes.append(Node(Linear([rng.normal(size=(2, n2)) / np.sqrt(n2)], rng.normal(size=2)), (len(nodes),), (2,)))
    return Graph((C, H, W), nodes), rng


@pytest.mark.parametrize("formulation", ["bigm", "hull", "pattern"])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=conv_graphs())
def test_random_conv_graphs_solved_at_a_fixed_input_are_the_forward_pass(formulation, data):
    g, rng = data
    x0 = rng.uniform(-1, 1, g.n_inputs)
    kw = {"pattern": activation_pattern(g, x0)} if formulation == "pattern" else {}
    m = box_model(g, formulation, **kw)
    for i, v in enumerate(x0):
        m.x[i].setlb(float(v))
        m.x[i].setub(float(v))
        m.x[i].value = float(v)
    optimise(m, m.nn.outputs[0])
    np.testing.assert_allclose([pyo.value(v) for v in m.nn.outputs], g.forward(x0), atol=1e-6, rtol=1e-6)


def test_oval21_cifar_base_kw_builds_and_solves_to_its_forward_pass():
    from tests.conftest import shared_data

    path = shared_data("vnncomp", "oval21", "onnx", "cifar_base_kw.onnx")
    onnx_graph = pytest.importorskip("nnblocks.io.onnx_graph")
    g = onnx_graph.graph_from_onnx(path)
    rng = np.random.default_rng(0)
    x0, eps = rng.uniform(0, 1, g.n_inputs), 2 / 255
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(g.n_inputs), bounds={i: (max(0.0, v - eps), min(1.0, v + eps)) for i, v in enumerate(x0)})
    m.nn = NetworkBlock(g, inputs=m.x, ball=dict(center=x0, norm="inf", radius=eps))
    assert 0 < m.nn.n_binaries < 2048 + 1024 + 100
    # every convolution row holds kernel x channels input terms at most (and the FJ slack and output)
    conv_rows = [len(c.body.linear_vars) for c in m.nn.node(1).component_data_objects(pyo.Constraint)
                 if c.parent_component().local_name in ("affine", "affine_stable")]
    assert conv_rows and max(conv_rows) <= 3 * 4 * 4 + 2
    for i, v in enumerate(x0):
        m.x[i].fix(float(v))
    optimise(m, m.nn.outputs[0])
    np.testing.assert_allclose([pyo.value(v) for v in m.nn.outputs], g.forward(x0), atol=1e-6, rtol=1e-6)
