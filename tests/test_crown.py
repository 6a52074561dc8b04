"""Linear bound propagation: CROWN and alpha-CROWN bounds are sound on random graphs and domains (sampled inputs,
box vertices, ball surfaces), inside the interval bounds (alpha-CROWN inside CROWN), equal to the LP of the same
relaxation (HiGHS through scipy.optimize.linprog), no tighter than the triangle-relaxation LP; output_bounds
batched equals box by box."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

import nnblocks as nb
from nnblocks.activations import HardTanh, PiecewiseLinear
from nnblocks.bounds import InputDomain, compute_bounds, output_bounds
from nnblocks.bounds.alpha import alpha_crown
from nnblocks.bounds.crown import BallDomain, _Crown, crown, domain_of
from nnblocks.bounds.linear_relax import elementwise_lines, kink_lower_line, window_max_lines
from nnblocks.graph import Elementwise, Graph, Linear, Node, WindowMax

# a general continuous piecewise-linear activation: slopes 0.5, -1, 2, -0.3, breakpoints -1, 0, 2
ZIGZAG = PiecewiseLinear([-1.0, 0.0, 2.0], [0.5, -1.0, 2.0, -0.3], [0.0, -1.5, -1.5, 3.1])
ACTS = [nb.ReLU(), nb.LeakyReLU(0.1), HardTanh(-1.0, 1.0), ZIGZAG]


def random_graph(rng: np.random.Generator, n_in: int) -> Graph:
    """Dense -> act -> (window max | sparse linear) -> residual sum -> act -> dense, activations drawn from ACTS."""
    h = int(rng.integers(2, 5)) * 2
    a1, a2 = (ACTS[int(i)] for i in rng.integers(0, len(ACTS), 2))
    nodes = [
        Node(Linear([rng.normal(size=(h, n_in))], rng.normal(size=h) * 0.3), (0,), (h,)),
        Node(Elementwise(a1, h), (1,), (h,)),
        Node(WindowMax(np.arange(h).reshape(-1, 2), [h]), (2,), (h // 2,)),
        Node(Linear([sp.random(h // 2, h, density=0.5, random_state=int(rng.integers(1 << 30)))]), (2,), (h // 2,)),
        Node(Linear([np.eye(h // 2), -np.eye(h // 2)], rng.normal(size=h // 2) * 0.3), (3, 4), (h // 2,)),
        Node(Elementwise(a2, h // 2), (5,), (h // 2,)),
        Node(Linear([rng.normal(size=(3, h // 2)), rng.normal(size=(3, h // 2))], rng.normal(size=3)), (6, 5), (3,)),
    ]
    return Graph((n_in,), nodes)


def random_network(rng: np.random.Generator, sizes: list[int], acts: list | None = None) -> nb.Network:
    layers = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        act = nb.Identity() if k == len(sizes) - 2 else (acts[k] if acts else nb.ReLU())
        layers.append(nb.Layer(rng.normal(size=(b, a)) / np.sqrt(a), rng.normal(size=b) * 0.3, act))
    return nb.Network(layers)


def random_domain(rng: np.random.Generator, n: int, kind: str) -> InputDomain:
    lo = rng.uniform(-1.5, 0.0, n)
    hi = lo + rng.uniform(0.2, 2.0, n)
    if kind == "box":
        return InputDomain.box(lo, hi)
    c = rng.uniform(lo, hi)
    norm = {"l1": 1, "l2": 2, "linf": "inf"}[kind]
    return InputDomain.ball(c, norm, float(rng.uniform(0.1, 1.5)), lo, hi)


def samples(rng: np.random.Generator, dom: InputDomain, N: int = 10_000) -> np.ndarray:
    """N points of the domain (uniform in the box, pulled into the ball), the box vertices when there is no ball,
    and points of the ball's surface (clipped into the box, which keeps them in the ball: the center is in it)."""
    lo, hi = dom.lower, dom.upper
    n = lo.size
    X = rng.uniform(lo, hi, size=(N, n))
    if not dom.has_ball:
        V = np.array(list(itertools.product(*zip(lo, hi))))
        return np.concatenate([X, V])
    c, r, p = dom.center, dom.radius, dom.norm
    D = rng.normal(size=(N, n))
    if p == 1:
        D = rng.laplace(size=(N, n))
        S = D / np.abs(D).sum(axis=1, keepdims=True)
    elif p == 2:
        S = D / np.linalg.norm(D, axis=1, keepdims=True)
    else:
        S = np.sign(D) * rng.uniform(0, 1, size=(N, n))
        S[np.arange(N), rng.integers(0, n, N)] = np.sign(rng.normal(size=N))
    surface = np.clip(c + r * S, lo, hi)
    inner = np.clip(c + r * S * rng.uniform(0, 1, size=(N, 1)), lo, hi)
    Xb = np.clip(X, c - r, c + r)
    inside = dom.contains(Xb, tol=0.0)
    pts = np.concatenate([surface, inner, Xb[inside]])
    assert np.all(dom.contains(pts, tol=1e-12))
    return pts


def assert_inside(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
    assert np.all(values >= lo), float(np.min(values - lo))
    assert np.all(values <= hi), float(np.min(hi - values))


# -- relaxations -------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from(ACTS))
def test_element_lines_are_below_and_above_the_activation(seed, act):
    rng = np.random.default_rng(seed)
    lo = rng.normal(size=300) * 2
    hi = lo + np.abs(rng.normal(size=300)) * 3 * (rng.uniform(size=300) > 0.1)
    lo[:5] = act.breakpoints[0] if act.breakpoints.size else lo[:5]  # intervals starting on a breakpoint
    hi[:5] = np.maximum(hi[:5], lo[:5])
    sL, qL, sU, qU = elementwise_lines(act, lo, hi)
    Z = lo[:, None] + (hi - lo)[:, None] * np.linspace(0, 1, 301)
    f = act(Z)
    assert np.all(sL[:, None] * Z + qL[:, None] <= f)
    assert np.all(sU[:, None] * Z + qU[:, None] >= f)
    if act.n_pieces == 2 and act.slopes[0] < act.slopes[1]:
        s, q = kink_lower_line(act, lo, hi, rng.uniform(-0.5, 1.5, size=300))  # clipped to [0, 1]
        assert np.all(s[:, None] * Z + q[:, None] <= f)


def test_relu_lines_are_the_triangle_and_crowns_adaptive_slope():
    lo, hi = np.array([-1.0, -3.0, 0.5, -2.0]), np.array([2.0, 1.0, 3.0, -0.5])
    sL, qL, sU, qU = elementwise_lines(nb.ReLU(), lo, hi)
    np.testing.assert_allclose(sU, [2 / 3, 1 / 4, 1.0, 0.0])
    np.testing.assert_allclose(qU, [2 / 3, 3 / 4, 0.0, 0.0], atol=1e-12)
    np.testing.assert_array_equal(sL, [1.0, 0.0, 1.0, 0.0])
    assert np.all(np.abs(qL) < 1e-12) and np.all(qL <= 0)


def test_window_max_lines():
    op = WindowMax(np.array([[0, 1, 2], [2, 3, -1]]), [4])
    lo = np.array([[0.0, 1.0, -1.0, 3.0]])
    hi = np.array([[0.5, 2.0, 1.5, 4.0]])
    index, decided, cap = window_max_lines(op, lo, hi)
    np.testing.assert_array_equal(index, [[1, 3]])
    np.testing.assert_array_equal(decided, [[False, True]])
    np.testing.assert_array_equal(cap, [[2.0, 4.0]])


# -- soundness ---------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**31 - 1), st.sampled_from(["box", "l1", "l2", "linf"]))
def test_crown_is_sound_and_inside_interval_on_random_graphs(seed, kind):
    rng = np.random.default_rng(seed)
    n = 3
    g = random_graph(rng, n)
    dom = random_domain(rng, n, kind)
    res = crown(g, domain_of(dom, n))
    X = samples(rng, dom)
    vals = g.values(X)
    ibox = g.interval_bounds(*dom.effective_box())
    for t, (lo, hi) in enumerate(res.tensors):
        assert_inside(vals[t], lo, hi)
        assert np.all(lo >= ibox[t][0]) and np.all(hi <= ibox[t][1])
    assert_inside(vals[-1], res.lower, res.upper)
    C = rng.normal(size=(4, 3))
    rc = crown(g, domain_of(dom, n), C)
    assert_inside(vals[-1] @ C.T, rc.lower, rc.upper)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**31 - 1), st.sampled_from(["box", "l2", "linf"]))
def test_alpha_crown_is_sound_and_inside_crown(seed, kind):
    pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    n = 3
    g = random_graph(rng, n)
    dom = random_domain(rng, n, kind)
    C = rng.normal(size=(4, 3))
    rc = crown(g, domain_of(dom, n), C)
    ra = alpha_crown(g, domain_of(dom, n), C, iterations=5)
    vals = g.values(samples(rng, dom))
    for t, (lo, hi) in enumerate(ra.tensors):
        assert_inside(vals[t], lo, hi)
        assert np.all(lo >= rc.tensors[t][0]) and np.all(hi <= rc.tensors[t][1])
    assert_inside(vals[-1] @ C.T, ra.lower, ra.upper)
    assert np.all(ra.lower >= rc.lower) and np.all(ra.upper <= rc.upper)


@pytest.mark.parametrize("kind", ["box", "l1", "l2", "linf"])
def test_compute_bounds_crown_on_networks(kind):
    rng = np.random.default_rng(7)
    net = random_network(rng, [4, 12, 12, 3], [nb.ReLU(), ZIGZAG])
    dom = random_domain(rng, 4, kind)
    ib = compute_bounds(net, dom, method="interval")
    cb = compute_bounds(net, dom, method="crown")
    assert cb.method == "crown" and len(cb) == 3
    pre = net.pre_activations(samples(rng, dom))
    for k, (lb, ilb) in enumerate(zip(cb.layers, ib.layers)):
        assert_inside(pre[k], lb.lower, lb.upper)
        assert np.all(lb.lower >= ilb.lower) and np.all(lb.upper <= ilb.upper)
    assert cb.layers[-1].width.mean() < ib.layers[-1].width.mean()


# -- oracles -----------------------------------------------------------------------------------
def relaxation_lp(net: nb.Network, eng: _Crown, dom: InputDomain, c: np.ndarray) -> float:
    """min c . a^K over the relaxation CROWN used (its lines, no other bound), x in the box, by HiGHS."""
    g = eng.graph
    sizes = g.sizes
    offs = np.cumsum([0, *sizes])
    nv = offs[-1]
    A_eq, b_eq, A_ub, b_ub = [], [], [], []
    for k, node in enumerate(g.nodes):
        y = slice(offs[k + 1], offs[k + 2])
        if isinstance(node.op, Linear):
            rows = np.zeros((node.op.out_size, nv))
            rows[:, y] = -np.eye(node.op.out_size)
            for W, s in zip(node.op.weights, node.inputs):
                rows[:, offs[s]:offs[s + 1]] += W.toarray() if sp.issparse(W) else W
            A_eq.append(rows)
            b_eq.append(-node.op.bias)
        else:
            sL, qL, sU, qU = (a[0] for a in eng.relax[k])
            z = node.inputs[0]
            m = node.op.size
            lower = np.zeros((m, nv))  # sL z + qL <= y
            lower[:, offs[z]:offs[z + 1]] = np.diag(sL)
            lower[:, y] = -np.eye(m)
            upper = np.zeros((m, nv))  # y <= sU z + qU
            upper[:, offs[z]:offs[z + 1]] = -np.diag(sU)
            upper[:, y] = np.eye(m)
            A_ub += [lower, upper]
            b_ub += [-qL, qU]
    cost = np.zeros(nv)
    cost[offs[g.output]:offs[g.output + 1]] = c
    bounds = [(dom.lower[i], dom.upper[i]) for i in range(sizes[0])] + [(None, None)] * (nv - sizes[0])
    res = linprog(cost, A_ub=np.vstack(A_ub), b_ub=np.concatenate(b_ub), A_eq=np.vstack(A_eq),
                  b_eq=np.concatenate(b_eq), bounds=bounds, method="highs")
    assert res.status == 0
    return float(res.fun)


@pytest.mark.parametrize("seed", range(4))
def test_crown_equals_the_lp_of_its_own_relaxation(seed):
    rng = np.random.default_rng(seed)
    net = random_network(rng, [3, 8, 8, 2], [ACTS[seed % 4], ACTS[(seed + 1) % 4]])
    dom = random_domain(rng, 3, "box")
    g = Graph.from_network(net)
    eng = _Crown(g, domain_of(dom, 3), None)
    eng.run()
    res = crown(g, domain_of(dom, 3))
    for j in range(2):
        for sign in (1.0, -1.0):
            c = np.zeros(2)
            c[j] = sign
            lp = relaxation_lp(net, eng, dom, c)
            ours = res.lower[0, j] if sign > 0 else -res.upper[0, j]
            assert ours <= lp + 1e-9 * (1 + abs(lp))
            assert ours == pytest.approx(lp, rel=1e-7, abs=1e-7)


@pytest.mark.parametrize("seed", range(3))
def test_triangle_lp_is_at_least_as_tight_as_alpha_crown(seed):
    pytest.importorskip("torch")
    rng = np.random.default_rng(10 + seed)
    net = random_network(rng, [3, 10, 10, 2])
    dom = random_domain(rng, 3, "box")
    lp = compute_bounds(net, dom, method="lp", only_unstable=False)
    al = compute_bounds(net, dom, method="alpha-crown")
    cr = compute_bounds(net, dom, method="crown")
    for a, b, c in zip(lp.layers, al.layers, cr.layers):
        tol = 1e-6 * (1 + np.abs(b.lower) + np.abs(b.upper))
        moot = a.upper <= 0  # the LP skips the lower bound of a neuron it proves inactive (h = 0 there)
        assert np.all((a.lower >= b.lower - tol) | moot) and np.all(a.upper <= b.upper + tol)
        assert np.all(b.lower >= c.lower) and np.all(b.upper <= c.upper)


# -- output_bounds -----------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["interval", "crown", "alpha-crown"])
def test_output_bounds_batched_equals_box_by_box(method):
    if method == "alpha-crown":
        pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    net = random_network(rng, [4, 16, 16, 3])
    lo = rng.uniform(-1, 0, size=(5, 4))
    hi = lo + rng.uniform(0.05, 1.0, size=(5, 4))
    C = rng.normal(size=(2, 3))
    ob = output_bounds(net, lo, hi, C, method=method, alpha_iterations=3)
    assert ob.lower.shape == (5, 2) and ob.method == method and len(ob.layers) == 3
    for b in range(5):
        one = output_bounds(net, lo[b], hi[b], C, method=method, alpha_iterations=3)
        np.testing.assert_allclose(one.lower[0], ob.lower[b], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(one.upper[0], ob.upper[b], rtol=1e-9, atol=1e-12)
        X = rng.uniform(lo[b], hi[b], size=(2000, 4))
        assert_inside(net.forward(X) @ C.T, ob.lower[b], ob.upper[b])


def test_output_bounds_relu_split():
    rng = np.random.default_rng(5)
    net = random_network(rng, [3, 10, 10, 2])
    lo, hi = -np.ones(3), np.ones(3)
    free = output_bounds(net, lo, hi, method="crown")
    unstable = (free.layers[0][0][0] < 0) & (free.layers[0][1][0] > 0)
    j = int(np.flatnonzero(unstable)[0])
    split = np.zeros((2, 20), dtype=np.int8)
    split[0, j], split[1, j] = 1, -1
    ob = output_bounds(net, np.stack([lo, lo]), np.stack([hi, hi]), method="crown", relu_split=split)
    X = rng.uniform(lo, hi, size=(20000, 3))
    pre = net.pre_activations(X)[0][:, j]
    Y = net.forward(X)
    for b, mask in enumerate([pre >= 0, pre <= 0]):
        assert_inside(Y[mask], ob.lower[b], ob.upper[b])
    # a phase the bounds exclude: an infeasible box
    stable_off = np.flatnonzero(free.layers[0][1][0] < 0)
    if stable_off.size:
        split = np.zeros((1, 20), dtype=np.int8)
        split[0, stable_off[0]] = 1
        ob = output_bounds(net, lo, hi, method="crown", relu_split=split)
        assert ob.infeasible[0] and ob.lower[0, 0] == np.inf and ob.upper[0, 0] == -np.inf


def test_output_bounds_errors():
    net = random_network(np.random.default_rng(0), [3, 4, 2])
    with pytest.raises(ValueError, match="unknown output_bounds method"):
        output_bounds(net, -np.ones(3), np.ones(3), method="zonotope")
    with pytest.raises(ValueError, match="3 entries per box"):
        output_bounds(net, -np.ones(4), np.ones(4))
    with pytest.raises(ValueError, match="finite"):
        output_bounds(net, -np.inf, np.ones(3))
    with pytest.raises(ValueError, match="C must have shape"):
        output_bounds(net, -np.ones(3), np.ones(3), C=np.ones((2, 5)))
    with pytest.raises(ValueError, match="relu_split"):
        output_bounds(net, -np.ones(3), np.ones(3), relu_split=np.zeros(7))
    with pytest.raises(ValueError, match="output_constraints need method='lp'"):
        compute_bounds(net, (-np.ones(3), np.ones(3)), method="crown", output_constraints=(np.ones((1, 2)), [0.0]))


def test_batch_domain_with_ball_is_sound():
    rng = np.random.default_rng(11)
    net = random_network(rng, [5, 10, 3])
    g = Graph.from_network(net)
    c = rng.uniform(-0.5, 0.5, size=(3, 5))
    dom = BallDomain(c - 1, c + 1, c, 2, 0.3)
    res = crown(g, dom)
    for b in range(3):
        d = InputDomain.ball(c[b], 2, 0.3, c[b] - 1, c[b] + 1)
        assert_inside(net.forward(samples(rng, d, 3000)), res.lower[b], res.upper[b])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**31 - 1), st.sampled_from(["box", "l1", "l2", "linf"]), st.booleans(), st.booleans())
def test_packed_chain_pass_equals_the_general_pass_and_is_sound(seed, kind, only_unstable, with_C):
    """On a Network's graph the packed rows (only those each box needs) give the general (B, R, n) pass's bounds
    to 1e-9, for every tensor and the output rows, with any activation and relu_split; both sound on samples."""
    rng = np.random.default_rng(seed)
    n_in = int(rng.integers(2, 5))
    sizes = [n_in, *rng.integers(3, 12, size=int(rng.integers(1, 4))).tolist(), int(rng.integers(1, 4))]
    acts = [ACTS[int(i)] for i in rng.integers(0, len(ACTS), len(sizes))]
    net = random_network(rng, sizes, acts)
    g = Graph.from_network(net)
    B = int(rng.integers(1, 7))
    doms = [random_domain(rng, n_in, kind) for _ in range(B)]
    lo = np.stack([d.lower for d in doms])
    hi = np.stack([d.upper for d in doms])
    if kind == "box":
        bd = BallDomain(lo, hi)
    else:  # one ball radius and norm for all boxes, centers per box
        r = float(doms[0].radius)
        c = np.stack([d.center for d in doms])
        bd = BallDomain(lo, hi, c, doms[0].norm, r)
        doms = [InputDomain.ball(c[b], doms[0].norm, r, lo[b], hi[b]) for b in range(B)]
    C = rng.normal(size=(2, sizes[-1])) if with_C else None
    total = sum(node.op.size for node in g.nodes if isinstance(node.op, Elementwise))
    split = None
    if rng.uniform() < 0.3 and all(a.n_pieces == 2 for a in acts[:-1]):
        split = rng.integers(-1, 2, size=(B, total)).astype(np.int8) * (rng.uniform(size=(B, total)) < 0.2)
    fast = crown(g, bd, C, split, only_unstable=only_unstable, packed=True)
    slow = crown(g, bd, C, split, only_unstable=only_unstable, packed=False)
    for (a_lo, a_hi), (b_lo, b_hi) in zip(fast.tensors, slow.tensors):
        np.testing.assert_allclose(a_lo, b_lo, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(a_hi, b_hi, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(fast.infeasible, slow.infeasible)
    ok = ~fast.infeasible
    np.testing.assert_allclose(fast.lower[ok], slow.lower[ok], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(fast.upper[ok], slow.upper[ok], rtol=1e-9, atol=1e-9)
    if split is not None:
        return  # soundness under fixed phases: test_output_bounds_relu_split
    for b, d in enumerate(doms):
        X = samples(rng, d, 2000)
        Y = net.forward(X) if C is None else net.forward(X) @ C.T
        for res in (fast, slow):
            assert_inside(Y, res.lower[b], res.upper[b])
        for k, pre in enumerate(net.pre_activations(X)):
            t = [i + 1 for i, node in enumerate(g.nodes) if isinstance(node.op, Linear)][k]
            assert_inside(pre, fast.tensors[t][0][b], fast.tensors[t][1][b])


def test_packed_pass_on_many_boxes_is_fast_and_equal():
    """200 boxes of width 0.1 of a 5-50x6-5 network: the packed pass equals the general one and takes well under
    a second of CPU (the general pass took 1.7 s)."""
    import time

    rng = np.random.default_rng(0)
    net = random_network(rng, [5, *[50] * 6, 5])
    c = rng.uniform(-1, 1, size=(200, 5))
    C = np.eye(5)[1:] - np.eye(5)[[0]]
    start = time.process_time()
    ob = output_bounds(net, c - 0.05, c + 0.05, C)
    cpu = time.process_time() - start
    g = Graph.from_network(net)
    slow = crown(g, BallDomain(c - 0.05, c + 0.05), C, only_unstable=True, packed=False)
    np.testing.assert_allclose(ob.lower, slow.lower, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ob.upper, slow.upper, rtol=1e-9, atol=1e-9)
    assert cpu < 1.0, cpu


@pytest.mark.parametrize("method", ["crown", "alpha-crown", "pipeline"])
def test_compute_bounds_of_a_graph_by_every_registered_method(method):
    """compute_bounds(graph, ..., method) returns GraphBounds inside the interval ones, sound on samples."""
    if method != "crown":
        pytest.importorskip("torch")
    from nnblocks.bounds import GraphBounds

    rng = np.random.default_rng(7)
    g = random_graph(rng, 3)
    for kind in ("box", "l2"):
        dom = random_domain(rng, 3, kind)
        res = compute_bounds(g, dom, method=method)
        ref = compute_bounds(g, dom, method="interval")
        assert isinstance(res, GraphBounds) and res.method == method and len(res) == len(ref)
        vals = g.values(samples(rng, dom, 3000))
        for t in range(len(res)):
            assert np.all(res.lower[t] >= ref.lower[t]) and np.all(res.upper[t] <= ref.upper[t])
            assert_inside(vals[t], res.lower[t], res.upper[t])
        assert set(res.nodes) == set(ref.nodes)
    with pytest.raises(ValueError, match="unknown bounds method"):
        compute_bounds(g, dom, method="zonotope")


@pytest.mark.parametrize("method", ["crown", "alpha-crown", "pipeline"])
def test_network_block_accepts_every_method_name(method):
    """NetworkBlock(bounds=name) for every registered name: the encoding's optimum is the network's maximum."""
    if method != "crown":
        pytest.importorskip("torch")
    import pyomo.environ as pyo

    from nnblocks.blocks import NetworkBlock

    rng = np.random.default_rng(2)
    net = random_network(rng, [2, 6, 6, 1])
    m = pyo.ConcreteModel()
    m.nn = NetworkBlock(net, input_bounds=(-np.ones(2), np.ones(2)), bounds=method)
    assert m.nn.bounds.method == method
    X = rng.uniform(-1, 1, size=(5000, 2))
    for k, pre in enumerate(net.pre_activations(X)):
        assert_inside(pre, m.nn.bounds.layers[k].lower, m.nn.bounds.layers[k].upper)
    g = Graph.from_network(net)
    m.g = NetworkBlock(g, input_bounds=(-np.ones(2), np.ones(2)), bounds=method)
    assert m.g.bounds.method == method
    with pytest.raises(ValueError, match="bounds must be one of"):
        NetworkBlock(net, input_bounds=(-np.ones(2), np.ones(2)), bounds="zonotope")
