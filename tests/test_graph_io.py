"""Graph files and ONNX export: Graph.save/load is exact, and the exported ONNX model evaluated by onnxruntime
equals Graph.forward (float64: 1e-6 relative to the largest output; float32 to float32 rounding).

Random graphs are built from the lowerings (convolutions, max and average pooling, residual sums of two
tensors, concatenation, elementwise maxima of two tensors, dense layers) and every activation kind
(named ones and random piecewise-linear functions).
"""

from __future__ import annotations

import io

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnblocks as nb
from nnblocks import HardSigmoid, HardTanh, Identity, Layer, LeakyReLU, Network, PiecewiseLinear, ReLU, ReLU6
from nnblocks.graph import Elementwise, Graph, Linear, Node, WindowMax
from nnblocks.graph import lower as L
from nnblocks.graph.serialize import FORMAT
from nnblocks.io import load_network, save_network, to_onnx
from nnblocks.io.onnx import to_onnx as network_to_onnx
from nnblocks.io.onnx_graph_export import graph_to_onnx

HYP = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run_ort(model, X: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    dtype = np.float64 if inp.type == "tensor(double)" else np.float32
    return sess.run(None, {inp.name: X.astype(dtype)})[0]


# ---------------------------------------------------------------------------------------------
# random graphs
# ---------------------------------------------------------------------------------------------
def random_pwl(rng: np.random.Generator) -> PiecewiseLinear:
    t = np.unique(rng.normal(size=int(rng.integers(1, 4))))
    a = rng.normal(size=t.size + 1)
    c = np.concatenate([[rng.normal()], np.zeros(t.size)])
    for i in range(t.size):  # continuity at every breakpoint
        c[i + 1] = c[i] + (a[i] - a[i + 1]) * t[i]
    return PiecewiseLinear(t, a, c)


def random_activation(draw, rng):
    kind = draw(st.sampled_from(["relu", "leaky", "hardtanh", "relu6", "hardsigmoid", "pwl", "identity"]))
    return {
        "relu": ReLU, "leaky": lambda: LeakyReLU(float(rng.uniform(0.01, 0.5))),
        "hardtanh": lambda: HardTanh(-0.5, 0.8), "relu6": ReLU6, "hardsigmoid": HardSigmoid,
        "pwl": lambda: random_pwl(rng), "identity": Identity,
    }[kind]()


@st.composite
def graphs(draw) -> Graph:
    """A random graph on (C, H, W) samples: conv / pooling / residual / concat / max-of-two steps, an optional
    dense head."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    shape = (draw(st.integers(1, 3)), draw(st.integers(3, 7)), draw(st.integers(3, 7)))
    nodes: list[Node] = []
    shapes = [shape]  # of every tensor
    cur = 0

    def add(op, inputs, out_shape, name):
        nonlocal cur
        nodes.append(Node(op, tuple(inputs), tuple(out_shape), name))
        shapes.append(tuple(out_shape))
        cur = len(nodes)

    for step in range(draw(st.integers(1, 6))):
        s = shapes[cur]
        n = int(np.prod(s))
        same = [t for t, sh in enumerate(shapes) if sh == s]
        kind = draw(st.sampled_from(["conv", "act", "maxpool", "avgpool", "residual", "concat", "max"]))
        try:
            if kind == "conv":
                g = draw(st.sampled_from([g for g in (1, 2) if s[0] % g == 0]))
                k = [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
                w = rng.normal(size=(g * draw(st.integers(1, 2)), s[0] // g, *k))
                op, out = L.conv(s, w, rng.normal(size=w.shape[0]) if draw(st.booleans()) else None,
                                 [draw(st.integers(1, 2))] * 2, [draw(st.integers(0, 1)) for _ in range(4)],
                                 [draw(st.integers(1, 2))] * 2, g)
            elif kind == "act":
                op, out = Elementwise(random_activation(draw, rng), n), s
            elif kind == "maxpool":
                k = draw(st.integers(1, 3))
                op, out = L.max_pool(s, [k, k], [draw(st.integers(1, 2))] * 2, [draw(st.integers(0, k // 2))] * 4,
                                     None, draw(st.booleans()))
            elif kind == "avgpool":
                k = draw(st.integers(1, 3))
                op, out = L.avg_pool(s, [k, k], [draw(st.integers(1, 2))] * 2, [draw(st.integers(0, k // 2))] * 4,
                                     draw(st.booleans()), draw(st.booleans()))
            elif kind == "residual":  # x_cur + D x_other with a dense or a sparse second weight
                other = draw(st.sampled_from(same))
                W2 = rng.normal(size=(n, n)) if draw(st.booleans()) else sp.diags_array(rng.normal(size=n))
                add(Linear([sp.eye_array(n), W2], rng.normal(size=n)), [cur, other], s, f"res{step}")
                continue
            elif kind == "concat":
                other = draw(st.sampled_from(same))
                op, out = L.concat([s, s], 0)
                add(op, [cur, other], out, f"cat{step}")
                continue
            else:  # elementwise max of two tensors
                other = draw(st.sampled_from(same))
                add(WindowMax(np.stack([np.arange(n), n + np.arange(n)], 1), [n, n]), [cur, other], s, f"max{step}")
                continue
        except ValueError:  # the lowering refuses this configuration on this shape
            continue
        add(op, [cur], out, f"{kind}{step}")
    if draw(st.booleans()) or not nodes:
        n = int(np.prod(shapes[cur]))
        m = draw(st.integers(1, 4))
        add(Linear([rng.normal(size=(m, n))], rng.normal(size=m)), [cur], (m,), "dense")
    return Graph(shape, nodes)


def inputs(graph: Graph, n: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=2.0, size=(n, *graph.input_shape))


# ---------------------------------------------------------------------------------------------
# save / load
# ---------------------------------------------------------------------------------------------
def assert_same_graph(a: Graph, b: Graph) -> None:
    assert a.input_shape == b.input_shape and a.output == b.output and len(a.nodes) == len(b.nodes)
    for u, v in zip(a.nodes, b.nodes):
        assert (type(u.op), u.inputs, u.shape, u.name) == (type(v.op), v.inputs, v.shape, v.name)
        if isinstance(u.op, Linear):
            assert len(u.op.weights) == len(v.op.weights)
            for W, V in zip(u.op.weights, v.op.weights):
                assert sp.issparse(W) == sp.issparse(V)
                Wd = W.toarray() if sp.issparse(W) else W
                Vd = V.toarray() if sp.issparse(V) else V
                assert np.array_equal(Wd, Vd)
            assert np.array_equal(u.op.bias, v.op.bias)
        elif isinstance(u.op, Elementwise):
            assert u.op.activation == v.op.activation and repr(u.op.activation) == repr(v.op.activation)
        else:
            assert np.array_equal(u.op.windows, v.op.windows) and u.op.in_sizes == v.op.in_sizes


@HYP
@given(graphs())
def test_save_load_round_trip_is_exact(graph):
    buf = io.BytesIO()
    graph.save(buf)
    buf.seek(0)
    back = Graph.load(buf)
    assert_same_graph(graph, back)
    X = inputs(graph)
    assert np.array_equal(back.forward(X), graph.forward(X))


def test_save_network_and_load_network_dispatch_on_graphs(tmp_path):
    rng = np.random.default_rng(0)
    graph = Graph.from_network(Network([Layer(rng.normal(size=(4, 3)), rng.normal(size=4), ReLU()),
                                        Layer(rng.normal(size=(2, 4)), rng.normal(size=2), Identity())]))
    save_network(graph, tmp_path / "g.npz")
    back = load_network(tmp_path / "g.npz")
    assert isinstance(back, Graph)
    assert_same_graph(graph, back)
    net = graph.to_network()
    save_network(net, tmp_path / "n.npz")
    assert load_network(tmp_path / "n.npz") == net  # a network file is still a Network
    save_network(graph, tmp_path / "g.onnx")
    X = inputs(graph)
    np.testing.assert_allclose(run_ort(onnx.load(str(tmp_path / "g.onnx")), X), graph.forward(X),
                               rtol=1e-4, atol=1e-4)


def test_loading_refuses_other_files_and_unknown_versions_by_name(tmp_path):
    graph = Graph((2,), [Node(Elementwise(ReLU(), 2), (0,), (2,), "relu")])
    path = tmp_path / "g.npz"
    graph.save(path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["format"] = np.array("nnblocks-graph-99")
    np.savez(tmp_path / "future.npz", **arrays)
    with pytest.raises(ValueError, match=r"'nnblocks-graph-99'.*reads 'nnblocks-graph-1'"):
        Graph.load(tmp_path / "future.npz")
    with pytest.raises(ValueError, match=r"'nnblocks-graph-99'"):
        load_network(tmp_path / "future.npz")
    arrays["format"] = np.array(FORMAT)
    arrays["kind0"] = np.array("softmax")
    np.savez(tmp_path / "kind.npz", **arrays)
    with pytest.raises(ValueError, match=r"node 0 has an unknown operation kind 'softmax'"):
        Graph.load(tmp_path / "kind.npz")
    del arrays["slopes0"]
    arrays["kind0"] = np.array("elementwise")
    np.savez(tmp_path / "cut.npz", **arrays)
    with pytest.raises(ValueError, match=r"entry 'slopes0' is missing"):
        Graph.load(tmp_path / "cut.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(2))
    with pytest.raises(ValueError, match="not an nnblocks graph file"):
        Graph.load(tmp_path / "other.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="not an nnblocks graph file"):
        Graph.load(tmp_path / "text.npz")


# ---------------------------------------------------------------------------------------------
# ONNX export against onnxruntime
# ---------------------------------------------------------------------------------------------
@HYP
@given(graphs(), st.sampled_from([None, True, False]))
def test_onnx_export_equals_forward_in_onnxruntime(graph, sparse):
    X = inputs(graph)
    ref = graph.forward(X)
    scale = max(1.0, float(np.abs(ref).max()))
    model = graph_to_onnx(graph, dtype="float64", sparse=sparse)
    got = run_ort(model, X)
    assert got.shape == (len(X), *graph.output_shape)
    np.testing.assert_allclose(got.reshape(len(X), -1), ref, rtol=0, atol=1e-6 * scale)
    got32 = run_ort(graph_to_onnx(graph, sparse=sparse), X)  # float32: float32 rounding through the graph
    np.testing.assert_allclose(got32.reshape(len(X), -1), ref, rtol=0, atol=1e-3 * scale)


def test_window_maxima_with_unused_places_are_exact():
    """Padding places (-1) of a max pool window never win, even when every real value is very negative."""
    op, out = L.max_pool((1, 3, 3), [3, 3], [2, 2], [1, 1, 1, 1])
    graph = Graph((1, 3, 3), [Node(op, (0,), out, "pool")])
    assert (np.asarray(op.windows) < 0).any()
    X = -1e300 * np.abs(inputs(graph)) - 1e300
    got = run_ort(graph_to_onnx(graph, dtype="float64"), X)
    assert np.array_equal(got.reshape(len(X), -1), graph.forward(X))


def test_to_onnx_dispatches_and_keeps_the_network_export(tmp_path):
    rng = np.random.default_rng(1)
    net = Network([Layer(rng.normal(size=(3, 2)), rng.normal(size=3), LeakyReLU(0.2)),
                   Layer(rng.normal(size=(1, 3)), rng.normal(size=1), Identity())])
    assert to_onnx(net, dtype="float64") == network_to_onnx(net, dtype="float64")
    assert nb.to_onnx is to_onnx
    graph = Graph.from_network(net)
    X = rng.normal(size=(5, 2))
    model = to_onnx(graph, tmp_path / "g.onnx", dtype="float64")
    assert (tmp_path / "g.onnx").exists()
    np.testing.assert_allclose(run_ort(model, X), net.forward(X), rtol=1e-12, atol=1e-12)


def test_a_torch_residual_cnn_exports_to_onnxruntime():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)
            self.bn = nn.BatchNorm2d(3)

        def forward(self, x):
            return torch.relu(x + self.bn(self.conv(x)))

    model = nn.Sequential(nn.Conv2d(1, 3, 3, stride=2, padding=1), nn.ReLU(), Block(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(12, 4)).double().eval()
    graph = nb.from_torch(model, input_shape=(1, 9, 7))
    X = inputs(graph)
    with torch.no_grad():
        ref = model(torch.from_numpy(X)).numpy()
    got = run_ort(to_onnx(graph, dtype="float64"), X)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6 * max(1.0, float(np.abs(ref).max())))
