"""The graph of operations: shapes, forward pass, interval bounds (sound by sampling), gradients, the chain
special case and the simplification that composes linear nodes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nnblocks import Identity, Layer, LeakyReLU, Network, ReLU
from nnblocks.activations import HardTanh
from nnblocks.graph import Elementwise, Graph, Linear, Node, WindowMax


def random_graph(rng: np.random.Generator, n_in: int = 4) -> Graph:
    """A small DAG: dense -> relu -> (maxpool over pairs | sparse linear) -> residual sum -> dense."""
    h = int(rng.integers(2, 6)) * 2
    nodes = [
        Node(Linear([rng.normal(size=(h, n_in))], rng.normal(size=h)), (0,), (h,), "fc1"),
        Node(Elementwise(ReLU(), h), (1,), (h,), "relu1"),
        Node(WindowMax(np.arange(h).reshape(-1, 2), [h]), (2,), (h // 2,), "pool"),
        Node(Linear([sp.random(h // 2, h, density=0.4, random_state=int(rng.integers(1 << 30)))]), (2,), (h // 2,)),
        Node(Linear([np.eye(h // 2), -np.eye(h // 2)], rng.normal(size=h // 2)), (3, 4), (h // 2,), "residual"),
        Node(Elementwise(LeakyReLU(0.1), h // 2), (5,), (h // 2,)),
        Node(WindowMax(np.array([[0, h // 2], [1, -1]]), [h // 2, h // 2]), (6, 5), (2,), "max2"),
        Node(Linear([rng.normal(size=(3, 2)), rng.normal(size=(3, h // 2))], rng.normal(size=3)), (7, 6), (3,)),
        Node(Elementwise(HardTanh(-2.0, 2.0), 3), (8,), (3,)),
    ]
    return Graph((n_in,), nodes)


def reference(g: Graph, x: np.ndarray) -> np.ndarray:
    """The same function written out by hand from the nodes' parameters (one sample)."""
    t = [x]
    for node in g.nodes:
        op, ins = node.op, [t[i] for i in node.inputs]
        if isinstance(op, Linear):
            t.append(sum(op.matrix(i).toarray() @ v for i, v in enumerate(ins)) + op.bias)
        elif isinstance(op, Elementwise):
            t.append(op.activation(ins[0]))
        else:
            cat = np.concatenate(ins)
            t.append(np.array([max(cat[i] for i in row if i >= 0) for row in op.windows]))
    return t[g.output]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_forward_equals_reference_and_bounds_are_sound(seed):
    rng = np.random.default_rng(seed)
    g = random_graph(rng)
    X = rng.uniform(-1, 1, size=(200, 4))
    Y = g.forward(X)
    assert Y.shape == (200, 3)
    for x, y in zip(X[:5], Y[:5]):
        np.testing.assert_allclose(y, reference(g, x), rtol=1e-12, atol=1e-12)
    lo, hi = -np.ones(4), np.ones(4)
    bounds = g.interval_bounds(lo, hi)
    vals = g.values(np.vstack([X, lo, hi]))
    for (bl, bu), v in zip(bounds, vals):
        assert np.all(v >= bl) and np.all(v <= bu)


def _near_kink(g: Graph, x: np.ndarray, tol: float = 1e-5) -> bool:
    """Whether x lies within tol of a breakpoint of an activation or of a tie in a window maximum."""
    vals = g.values(x)
    for node in g.nodes:
        ins = [vals[t][0] for t in node.inputs]
        if isinstance(node.op, Elementwise) and node.op.activation.breakpoints.size:
            if np.min(np.abs(ins[0][:, None] - node.op.activation.breakpoints)) < tol:
                return True
        if isinstance(node.op, WindowMax):
            cat = np.append(np.concatenate(ins), -np.inf)
            w = np.sort(cat[np.where(node.op.windows >= 0, node.op.windows, -1)], axis=1)
            # a tie of two exact zeros is two inactive ReLUs: locally constant, not a kink
            gap = np.where((w[:, -1] == 0.0) & (w[:, -2] == 0.0), np.inf, w[:, -1] - w[:, -2])
            if w.shape[1] > 1 and np.min(gap) < tol:
                return True
    return False


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_gradient_matches_finite_differences(seed):
    rng = np.random.default_rng(seed)
    g = random_graph(rng)
    x = rng.uniform(-1, 1, size=4)
    assume(not _near_kink(g, x))
    c = rng.normal(size=3)
    grad = g.gradient(x, c)
    assert grad.shape == (4,)
    eps = 1e-7
    fd = np.array([(c @ g.forward(x + eps * e) - c @ g.forward(x - eps * e)) / (2 * eps) for e in np.eye(4)])
    np.testing.assert_allclose(grad, fd, rtol=1e-4, atol=1e-5)


def test_chain_round_trip():
    rng = np.random.default_rng(0)
    net = Network([Layer(rng.normal(size=(5, 3)), rng.normal(size=5), ReLU()),
                   Layer(rng.normal(size=(2, 5)), rng.normal(size=2), Identity())])
    g = Graph.from_network(net)
    X = rng.normal(size=(20, 3))
    np.testing.assert_array_equal(g.forward(X), net.forward(X))
    back = g.to_network()
    assert back == net
    assert random_graph(rng).to_network() is None


def test_simplified_composes_permutations_but_not_convolution_chains():
    rng = np.random.default_rng(1)
    P = np.eye(6)[rng.permutation(6)]
    nodes = [
        Node(Linear([rng.normal(size=(6, 4))], rng.normal(size=6)), (0,), (6,)),
        Node(Linear([P]), (1,), (2, 3)),            # a transpose/reshape: a permutation
        Node(Linear([np.diag(rng.uniform(1, 2, 6))], rng.normal(size=6)), (2,), (6,)),  # batch norm
        Node(Elementwise(ReLU(), 6), (3,), (6,)),
        Node(Linear([rng.normal(size=(2, 6))]), (4,), (2,)),
    ]
    g = Graph((4,), nodes)
    s = g.simplified()
    assert len(s) == 3
    X = rng.normal(size=(30, 4))
    np.testing.assert_allclose(s.forward(X), g.forward(X), rtol=1e-12, atol=1e-12)
    # two sparse maps whose product has more nonzeros than both together (as two convolutions) stay apart
    A, B = (sp.random(40, 40, density=0.15, random_state=s) for s in (2, 3))
    assert (B @ A).nnz > A.nnz + B.nnz
    g2 = Graph((40,), [Node(Linear([A]), (0,), (40,)), Node(Linear([B]), (1,), (40,))])
    assert len(g2.simplified()) == 2


def test_interval_handles_unbounded_inputs_without_nan():
    op = Linear([np.array([[1.0, 0.0], [0.0, -2.0]])], [0.5, 0.0])
    lo, hi = op.interval([np.array([[-np.inf, 0.0]])], [np.array([[1.0, 1.0]])])
    assert lo[0, 0] == -np.inf and hi[0, 0] >= 1.5
    assert np.isfinite(lo[0, 1]) and lo[0, 1] <= -2.0 and hi[0, 1] >= 0.0


@pytest.mark.parametrize("bad, message", [
    (lambda: Graph((2,), [Node(Linear([np.ones((3, 4))]), (0,), (3,))]), "expects a tensor of size 4"),
    (lambda: Graph((2,), [Node(Linear([np.ones((3, 2))]), (1,), (3,))]), "not computed before it"),
    (lambda: Graph((2,), [Node(Linear([np.ones((3, 2))]), (0,), (2,))]), "writes 3 values"),
    (lambda: WindowMax(np.array([[-1, -1]]), [2]), "at least one index"),
    (lambda: Linear([np.array([[np.nan]])]), "NaN"),
])
def test_bad_graphs_are_refused_by_name(bad, message):
    with pytest.raises(ValueError, match=message):
        bad()
