"""nnblocks.verify on graphs of operations (convolutions, max and average pooling, residual sums): never a wrong
answer.

Oracle: the graph is piecewise affine; fixing the phase of every ReLU and the winning place of every max window
makes it affine on a polytope of inputs, so min over the input set of the violation max_i (A f(x) - b)_i is the
least of one LP per (phase, place) pattern (scipy's HiGHS). ``sat`` iff that minimum is <= 0; specs are drawn
away from the boundary (|minimum| >= 1e-3). Every counterexample is re-checked by onnxruntime on the graph's ONNX
export and by the spec. A Graph that is a dense chain is verified as its Network: the same answers.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import onnxruntime as ort
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

import nnblocks as nb
from nnblocks.graph import Elementwise, Graph, Linear, Node, WindowMax
from nnblocks.graph import lower as L
from nnblocks.spec import Disjunct, Spec
from nnblocks.verify import STAGES, VerifyStatus
from nnblocks.verify.falsify import backward, forward_slopes
from tests.test_verify import random_spec as dense_random_spec

MAX_PATTERNS = 600


# -- random small graphs ---------------------------------------------------------------------------------------
def _dense(n: int, m: int, rng) -> Linear:
    return Linear([rng.standard_normal((m, n)) / np.sqrt(n)], 0.3 * rng.standard_normal(m))


def random_graph(rng: np.random.Generator, kind: str) -> Graph:
    """A tiny graph of one of the shapes "conv-maxpool", "conv-avgpool", "residual", "max-of-two" (a few ReLUs and
    max windows: enumerable), with a dense head of 2-3 outputs."""
    c, h = 1, int(rng.integers(3, 5))
    shape = (c, h, h)
    n0 = c * h * h
    nodes: list[Node] = []

    def add(op, inputs, out_shape, name):
        nodes.append(Node(op, tuple(inputs), tuple(out_shape), name))
        return len(nodes)

    w = rng.standard_normal((1, c, 2, 2))
    op, out = L.conv(shape, w, 0.3 * rng.standard_normal(1), [h - 2, h - 2] if h > 3 else [1, 1])
    t = add(op, [0], out, "conv")
    n = int(np.prod(out))
    t = add(Elementwise(nb.ReLU(), n), [t], out, "relu")
    if kind == "conv-maxpool":
        op, out = L.max_pool(out, [2, 2], [1, 1])
        t = add(op, [t], out, "maxpool")
    elif kind == "conv-avgpool":
        op, out = L.avg_pool(out, [2, 2], [1, 1])
        t = add(op, [t], out, "avgpool")
        t = add(Elementwise(nb.ReLU(), int(np.prod(out))), [t], out, "relu2")
    elif kind == "residual":  # relu(W2 relu(conv x) + x') with x' a selection of the input
        sel = sp.csr_array((np.ones(n), (np.arange(n), rng.choice(n0, n, replace=False))), shape=(n, n0))
        t = add(Linear([rng.standard_normal((n, n)) / np.sqrt(n), sel], 0.2 * rng.standard_normal(n)), [t, 0],
                out, "res")
        t = add(Elementwise(nb.ReLU(), n), [t], out, "relu2")
    else:  # elementwise max of the ReLU layer and an affine map of the input
        u = add(_dense(n0, n, rng), [0], out, "side")
        t = add(WindowMax(np.stack([np.arange(n), n + np.arange(n)], 1), [n, n]), [t, u], out, "max")
    m = int(rng.integers(2, 4))
    add(_dense(int(np.prod(out)), m, rng), [t], (m,), "head")
    return Graph(shape, nodes)


# -- oracle: one LP per pattern --------------------------------------------------------------------------------
def _choices(graph: Graph) -> list[list[int]]:
    """Per node, the number of pieces of each of its outputs' patterns (ReLU 2, a window its valid places)."""
    out = []
    for node in graph.nodes:
        if isinstance(node.op, Elementwise):
            out.append([2] * node.op.size)
        elif isinstance(node.op, WindowMax):
            out.append([int((row >= 0).sum()) for row in node.op.windows])
        else:
            out.append([])
    return out


def min_violation(graph: Graph, d: Disjunct) -> float:
    """min over the disjunct's input set of max_i (A f(x) - b)_i, by one LP per pattern of ReLU phases and window
    winners."""
    n = graph.n_inputs
    sizes = [c for per in _choices(graph) for c in per]
    assert np.prod(sizes, dtype=float) <= MAX_PATTERNS
    best = np.inf
    for pattern in itertools.product(*[range(c) for c in sizes]):
        it = iter(pattern)
        aff = [(np.eye(n), np.zeros(n))]  # tensor t = M x + c
        rows, rhs = [], []
        for node in graph.nodes:
            op = node.op
            if isinstance(op, Linear):
                M = sum(np.asarray(op.matrix(i) @ aff[s][0]) for i, s in enumerate(node.inputs))
                c = sum(op.matrix(i) @ aff[s][1] for i, s in enumerate(node.inputs)) + op.bias
            elif isinstance(op, Elementwise):
                Mz, cz = aff[node.inputs[0]]
                on = np.array([next(it) for _ in range(op.size)], dtype=bool)
                rows.append(np.where(on[:, None], -Mz, Mz))  # on: z >= 0, off: z <= 0
                rhs.append(np.where(on, cz, -cz))
                M, c = Mz * on[:, None], cz * on
            else:
                Mc = np.vstack([aff[s][0] for s in node.inputs])
                cc = np.concatenate([aff[s][1] for s in node.inputs])
                M, c = np.zeros((op.out_size, n)), np.zeros(op.out_size)
                for j, row in enumerate(op.windows):
                    places = row[row >= 0]
                    win = places[next(it)]
                    for p in places:  # the winner is at least every other place: x_p - x_win <= 0
                        if p != win:
                            rows.append((Mc[p] - Mc[win])[None])
                            rhs.append(np.array([cc[win] - cc[p]]))
                    M[j], c[j] = Mc[win], cc[win]
            aff.append((np.asarray(M, dtype=float), np.asarray(c, dtype=float)))
        Mo, co = aff[graph.output]
        R, r = d.output_A @ Mo, d.output_A @ co - d.output_b
        P = np.vstack(rows)
        A_ub = np.vstack([np.c_[P, np.zeros(P.shape[0])],
                          np.c_[R, -np.ones(R.shape[0])],
                          np.c_[d.input_A, np.zeros(d.input_A.shape[0])]])
        b_ub = np.concatenate([np.concatenate(rhs), -r, d.input_b])
        res = linprog(np.r_[np.zeros(n), 1.0], A_ub=A_ub, b_ub=b_ub,
                      bounds=[*zip(d.lower, d.upper), (-1e6, None)], method="highs")
        if res.status == 0:
            best = min(best, res.fun)
    return best


def random_spec(rng: np.random.Generator, graph: Graph, polytope: bool = False) -> tuple[Spec, bool] | None:
    """A spec of 1-2 disjuncts of 1-2 rows on one random box, decided by this file's pattern-LP oracle."""
    return dense_random_spec(rng, graph, polytope, max_disjuncts=2, violation=min_violation)


def confirm_with_onnxruntime(graph: Graph, spec: Spec, x: np.ndarray, tmp_path) -> None:
    path = tmp_path / "graph.onnx"
    nb.to_onnx(graph, path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [1 if not isinstance(s, int) else s for s in inp.shape]
    dtype = np.float64 if inp.type == "tensor(double)" else np.float32
    y = sess.run(None, {inp.name: x.reshape(shape).astype(dtype)})[0].ravel()
    assert spec.counterexample_check(x, y.astype(np.float64), tol=1e-4) is not None


KINDS = ("conv-maxpool", "conv-avgpool", "residual", "max-of-two")


# -- against the oracle ----------------------------------------------------------------------------------------
@settings(max_examples=16, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(KINDS), polytope=st.booleans())
def test_verify_on_graphs_agrees_with_enumeration(seed, kind, polytope, tmp_path):
    rng = np.random.default_rng(seed)
    graph = random_graph(rng, kind)
    # convolution and average pooling are Linear nodes: that graph is a dense chain, verified as its Network
    assert (graph.to_network() is None) == (kind != "conv-avgpool")
    drawn = random_spec(rng, graph, polytope)
    if drawn is None:
        return
    spec, expect_sat = drawn
    r = nb.verify(graph, spec, time_limit=30, seed=seed)
    assert r.status in (VerifyStatus.SAT, VerifyStatus.UNSAT), r.message
    assert (r.status is VerifyStatus.SAT) == expect_sat, (r.status, r.stage)
    if r.status is VerifyStatus.SAT:
        assert np.array_equal(r.y, graph.forward(r.x))
        assert spec.disjuncts[r.disjunct].satisfied_by(r.x, r.y)
        confirm_with_onnxruntime(graph, spec, r.x, tmp_path)
    else:
        assert r.refuted == list(range(len(spec.disjuncts)))


@functools.cache
def _graph_instances(want_sat: bool, per_kind: int = 1, seed: int = 3):
    rng = np.random.default_rng(seed)
    out = []
    for kind in KINDS:
        found = 0
        while found < per_kind:
            graph = random_graph(rng, kind)
            drawn = random_spec(rng, graph)
            if drawn is not None and drawn[1] == want_sat:
                out.append((kind, graph, drawn[0]))
                found += 1
    return tuple(out)


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_alone_is_sound_on_graphs(stage, tmp_path):
    """Alone, a stage may leave an instance open, but what it says agrees with the oracle; the MILP stage
    decides every instance of these tiny graphs."""
    for want_sat in (True, False):
        for kind, graph, spec in _graph_instances(want_sat):
            r = nb.verify(graph, spec, time_limit=1 if stage == "falsify" else 20, stages=[stage])
            assert r.stage in (None, stage)
            if r.status is VerifyStatus.SAT:
                assert want_sat, kind
                confirm_with_onnxruntime(graph, spec, r.x, tmp_path)
            elif r.status is VerifyStatus.UNSAT:
                assert not want_sat, kind
            else:
                assert stage != "milp", (kind, r.status, r.message)


def test_milp_modes_agree_on_graphs():
    for want_sat in (True, False):
        for kind, graph, spec in _graph_instances(want_sat):
            for mode in ("each", "one"):
                r = nb.verify(graph, spec, time_limit=20, stages=["milp"], milp_mode=mode)
                assert r.status is (VerifyStatus.SAT if want_sat else VerifyStatus.UNSAT), (kind, mode, r.message)


def test_graph_gradient_of_the_attack_equals_graph_gradient():
    rng = np.random.default_rng(0)
    for kind in KINDS:
        graph = random_graph(rng, kind)
        X = rng.standard_normal((7, graph.n_inputs))
        G_out = rng.standard_normal((7, graph.n_outputs))
        Y, tape = forward_slopes(graph, X)
        np.testing.assert_array_equal(Y, graph.forward(X))
        np.testing.assert_allclose(backward(graph, tape, G_out), graph.gradient(X, G_out), rtol=1e-12, atol=1e-12)


def test_a_chain_graph_is_verified_as_its_network():
    """Graph.from_network(net) gives the same answers, stages and counterexamples as net."""
    from tests.test_verify import _instances

    for want_sat in (True, False):
        for net, spec in _instances(3, want_sat, seed=5):
            a = nb.verify(net, spec, time_limit=20, seed=1)
            b = nb.verify(Graph.from_network(net), spec, time_limit=20, seed=1)
            assert (a.status, a.stage, a.disjunct, a.refuted) == (b.status, b.stage, b.disjunct, b.refuted)
            if a.x is not None:
                np.testing.assert_array_equal(a.x, b.x)


def test_verify_reads_a_graph_from_onnx(tmp_path):
    rng = np.random.default_rng(2)
    graph = random_graph(rng, "residual")
    path = tmp_path / "g.onnx"
    nb.to_onnx(graph, path)
    x0 = np.zeros(graph.n_inputs)
    y0 = graph.forward(x0)
    spec = Spec(graph.n_inputs, graph.n_outputs, (Disjunct(x0 - 0.1, x0 + 0.1, np.zeros((0, graph.n_inputs)),
                                                           np.zeros(0), np.eye(graph.n_outputs)[:1],
                                                           np.array([y0[0] + 1e-3])),))
    r = nb.verify(path, spec, time_limit=10)
    assert r.status is VerifyStatus.SAT
    confirm_with_onnxruntime(graph, spec, r.x, tmp_path)
