"""ONNX export and import round trip: from_onnx(to_onnx(graph)) computes graph.forward and has the same
sparse Linear maps; the operations the export writes (Gather on computed tensors, ReduceSum, ReduceMean,
ReduceMax, ReduceMin, Sum) each against onnxruntime on random shapes and opsets; their lowerings
(nnblocks.graph.lower.gather, reduce_sum, reduce_mean, reduce_max) against numpy.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from test_graph_io import random_activation

from nnblocks import LeakyReLU, ReLU
from nnblocks.graph import Elementwise, Graph, Linear, Node, WindowMax
from nnblocks.graph import lower as L
from nnblocks.io import UnsupportedOperationError, from_onnx
from nnblocks.io.onnx_graph_export import graph_to_onnx

HYP = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------------------------
# the lowerings against numpy
# ---------------------------------------------------------------------------------------------
def run(op, x: np.ndarray) -> np.ndarray:
    return op.forward([x.reshape(x.shape[0], -1)])


@st.composite
def shapes_and_axes(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    r = len(shape)
    axes = draw(st.lists(st.integers(-r, r - 1), unique_by=lambda a: a % r, max_size=r))
    return shape, axes


@settings(max_examples=60, deadline=None)
@given(shapes_and_axes(), st.booleans(), st.integers(0, 2**16))
def test_reductions_equal_numpy(shape_axes, keepdims, seed):
    shape, axes = shape_axes
    x = np.random.default_rng(seed).normal(size=(3, *shape))
    np_axes = tuple(a % len(shape) + 1 for a in axes) if axes else tuple(range(1, len(shape) + 1))
    for lower, ref in ((L.reduce_sum, np.sum), (L.reduce_mean, np.mean), (L.reduce_max, np.max)):
        op, out = lower(shape, axes, keepdims)
        want = ref(x, axis=np_axes, keepdims=keepdims)
        assert out == want.shape[1:]
        assert isinstance(op, WindowMax if lower is L.reduce_max else Linear)
        np.testing.assert_allclose(run(op, x), want.reshape(3, -1), rtol=1e-13, atol=1e-13)
    lin, _ = L.reduce_sum(shape, axes, keepdims)
    assert lin.nnz == int(np.prod(shape))  # one term per input entry


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.data())
def test_gather_equals_numpy_take(shape, data):
    shape = tuple(shape)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    ind_shape = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2)))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    ind = rng.integers(-n, n, size=ind_shape)
    x = rng.normal(size=(2, *shape))
    op, out = L.gather(shape, ind, axis)
    want = np.take(x, np.where(ind < 0, ind + n, ind), axis=axis % len(shape) + 1)
    assert out == want.shape[1:]
    assert np.array_equal(run(op, x), want.reshape(2, -1))
    W = op.matrix(0)
    assert np.array_equal(np.diff(W.indptr), np.ones(W.shape[0])) and np.all(W.data == 1.0)  # a selection


def test_lowering_refusals():
    with pytest.raises(ValueError, match="gather: index 3 is out of range for axis 1 of size 3"):
        L.gather((2, 3), [0, 3], 1)
    with pytest.raises(ValueError, match="gather: index -4 is out of range"):
        L.gather((2, 3), [-4], 1)
    with pytest.raises(ValueError, match="reduce_sum: axis 2 is out of range"):
        L.reduce_sum((2, 3), [2])
    with pytest.raises(ValueError, match="reduce_max: axes .* name an axis twice"):
        L.reduce_max((2, 3), [1, -1])


# ---------------------------------------------------------------------------------------------
# the round trip on random graphs
# ---------------------------------------------------------------------------------------------
@st.composite
def graphs(draw) -> Graph:
    """A random graph on (C, H, W) samples: convolutions, activations, max pooling with padding, residual
    sums, sparse and dense Linear maps of the whole tensor, elementwise maxima of two tensors, and a dense or
    sparse head."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    shape = (draw(st.integers(1, 3)), draw(st.integers(3, 6)), draw(st.integers(3, 6)))
    nodes: list[Node] = []
    shapes = [shape]
    cur = 0

    def add(op, inputs, out_shape, name):
        nonlocal cur
        nodes.append(Node(op, tuple(inputs), tuple(out_shape), name))
        shapes.append(tuple(out_shape))
        cur = len(nodes)

    def weight(m, n):
        if draw(st.booleans()):
            return rng.normal(size=(m, n))
        W = sp.random_array((m, n), density=draw(st.sampled_from([0.05, 0.2])), rng=rng, format="csr")
        return W if W.nnz else sp.csr_array(([1.0], ([0], [0])), shape=(m, n))

    for step in range(draw(st.integers(1, 6))):
        s = shapes[cur]
        n = int(np.prod(s))
        same = [t for t, sh in enumerate(shapes) if sh == s]
        kind = draw(st.sampled_from(["conv", "act", "maxpool", "residual", "linear", "max"]))
        try:
            if kind == "conv":
                w = rng.normal(size=(draw(st.integers(1, 3)), s[0], *[draw(st.integers(1, 3))] * 2))
                op, out = L.conv(s, w, rng.normal(size=w.shape[0]), [draw(st.integers(1, 2))] * 2,
                                 [draw(st.integers(0, 1)) for _ in range(4)], [1, 1], 1)
            elif kind == "act":
                op, out = Elementwise(random_activation(draw, rng), n), s
            elif kind == "maxpool":
                k = draw(st.integers(1, 3))
                op, out = L.max_pool(s, [k, k], [draw(st.integers(1, 2))] * 2,
                                     [draw(st.integers(0, k // 2)) for _ in range(4)], None, draw(st.booleans()))
            elif kind == "residual":
                other = draw(st.sampled_from(same))
                add(Linear([sp.eye_array(n), weight(n, n)], rng.normal(size=n)), [cur, other], s, f"res{step}")
                continue
            elif kind == "linear":
                op, out = Linear([weight(n, n)], rng.normal(size=n)), s
            else:
                other = draw(st.sampled_from(same))
                add(WindowMax(np.stack([np.arange(n), n + np.arange(n)], 1), [n, n]), [cur, other], s, f"max{step}")
                continue
        except ValueError:
            continue
        add(op, [cur], out, f"{kind}{step}")
    n = int(np.prod(shapes[cur]))
    m = draw(st.integers(1, 4))
    add(Linear([weight(m, n)], rng.normal(size=m)), [cur], (m,), "head")
    return Graph(shape, nodes)


def linear_nnz(graph: Graph) -> list[int]:
    return [node.op.nnz for node in graph.nodes if isinstance(node.op, Linear)]


def budget(graph: Graph) -> int:
    """The Linear nonzeros of the simplified graph, a maximum over windows of one place counted as the
    selection it is (and is exported as)."""
    g = graph.simplified()
    ones = [n.op.out_size for n in g.nodes if isinstance(n.op, WindowMax) and n.op.windows.shape[1] == 1]
    return sum(linear_nnz(g)) + sum(ones)


def round_trip(graph: Graph, dtype: str, sparse: bool | None) -> Graph:
    back = from_onnx(graph_to_onnx(graph, dtype=dtype, sparse=sparse), as_graph=True)
    assert isinstance(back, Graph)
    return back


def assert_close(got: np.ndarray, want: np.ndarray, rel: float) -> None:
    err = np.abs(got - want).max() / max(1.0, float(np.abs(want).max()))
    assert err <= rel, f"error {err:.2e} relative to the largest output"


@HYP
@given(graphs(), st.sampled_from([None, True, False]))
def test_round_trip_computes_the_graph_without_new_nonzeros(graph, sparse):
    """float64 export: the re-import equals graph.forward to 1e-9; it has no more Linear nonzeros than the
    simplified graph (fewer where a selection read by a max is folded into the max's windows, or two weights
    on one tensor are added), and re-exporting it gives back exactly its Linear nonzeros and kinds of
    operations."""
    X = np.random.default_rng(1).normal(scale=2.0, size=(8, *graph.input_shape))
    want = graph.forward(X)
    back = round_trip(graph, "float64", sparse)
    assert back.input_shape == graph.input_shape and back.output_shape == graph.output_shape
    assert_close(back.forward(X), want, 1e-9)
    assert sum(linear_nnz(back)) <= budget(graph)
    again = round_trip(back, "float64", sparse)
    assert linear_nnz(again) == linear_nnz(back)
    assert [type(n.op) for n in again.nodes] == [type(n.op) for n in back.nodes]
    assert_close(again.forward(X), want, 1e-9)


@HYP
@given(graphs(), st.sampled_from([None, True]))
def test_round_trip_in_float32(graph, sparse):
    X = np.random.default_rng(2).normal(size=(8, *graph.input_shape))
    back = round_trip(graph, "float32", sparse)
    assert_close(back.forward(X), graph.forward(X), 1e-5)
    assert sum(linear_nnz(back)) <= budget(graph)


def sparse_cnn(rng: np.random.Generator) -> Graph:
    """conv -> relu -> padded max pool -> sparse Linear -> relu -> residual sum with a sparse weight ->
    leaky relu -> sparse head reading two tensors."""
    s = (2, 7, 6)
    conv, c_out = L.conv(s, rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3), [1, 1], [1, 0, 1, 1], [1, 1], 1)
    pool, p_out = L.max_pool(c_out, [3, 3], [2, 2], [1, 1, 1, 1])
    n, m = int(np.prod(c_out)), int(np.prod(p_out))

    def sparse(rows, density):
        return sp.random_array((rows, m), density=density, rng=rng, format="csr")

    nodes = [
        Node(conv, (0,), c_out, "conv"),
        Node(Elementwise(ReLU(), n), (1,), c_out, "relu"),
        Node(pool, (2,), p_out, "pool"),
        Node(Linear([sparse(m, 0.1)], rng.normal(size=m)), (3,), p_out, "sparse"),
        Node(Elementwise(ReLU(), m), (4,), p_out, "relu2"),
        Node(Linear([sp.eye_array(m), sparse(m, 0.1)], rng.normal(size=m)), (5, 3), p_out, "residual"),
        Node(Elementwise(LeakyReLU(0.125), m), (6,), p_out, "leaky"),
        Node(Linear([sparse(5, 0.2), sp.eye_array(5, m, format="csr")], rng.normal(size=5)), (7, 4), (5,), "head"),
    ]
    return Graph(s, nodes)


def test_sparse_cnn_round_trip_keeps_every_linear():
    """Each sparse Linear comes back with exactly its nonzeros (Gather -> Mul -> ReduceSum composed back),
    the max pool as the same windows, for float64 and float32 exports."""
    rng = np.random.default_rng(3)
    graph = sparse_cnn(rng)
    ref = graph.simplified()
    X = rng.normal(size=(16, *graph.input_shape))
    for dtype, rel in (("float64", 1e-9), ("float32", 1e-5)):
        back = round_trip(graph, dtype, None)
        assert [type(n.op) for n in back.nodes] == [type(n.op) for n in ref.nodes]
        assert linear_nnz(back) == linear_nnz(ref)
        for u, v in zip(back.nodes, ref.nodes):
            if isinstance(u.op, WindowMax):  # the same places (the export repeats a place for an unused one)
                assert [set(w[w >= 0]) for w in u.op.windows] == [set(w[w >= 0]) for w in v.op.windows]
            if isinstance(u.op, Linear):  # the same pattern on each input tensor (in any order)
                pu = {t: u.op.matrix(i).toarray() != 0 for i, t in enumerate(u.inputs)}
                pv = {t: v.op.matrix(i).toarray() != 0 for i, t in enumerate(v.inputs)}
                assert pu.keys() == pv.keys() and all(np.array_equal(pu[t], pv[t]) for t in pu)
        assert_close(back.forward(X), graph.forward(X), rel)


# ---------------------------------------------------------------------------------------------
# the operations alone against onnxruntime
# ---------------------------------------------------------------------------------------------
def tensor(name: str, value, dtype=np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def model_of(nodes, in_shape, inits=(), opset=17) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def check(model, ps, n=6, seed=0) -> Graph:
    X = np.random.default_rng(seed).normal(size=(n, *ps)).astype(np.float32)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    if len(ps) == len(sess.get_inputs()[0].shape):  # one sample, no batch axis
        want = np.stack([sess.run(None, {"x": x})[0].ravel() for x in X])
    else:
        want = sess.run(None, {"x": X})[0].reshape(n, -1)
    net = from_onnx(model, as_graph=True)
    assert_close(net.forward(X.astype(np.float64)).reshape(n, -1), want.astype(np.float64), 1e-5)
    return net


OPSETS = [13, 18, 21]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.data(), st.sampled_from(OPSETS))
def test_gather_on_a_computed_tensor(ps, data, opset):
    shape = ["N", *ps]
    r = len(shape)
    axis = data.draw(st.sampled_from([a for a in range(-r, r) if a % r != 0]))
    n = shape[axis]
    ind_shape = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2)))
    ind = np.random.default_rng(data.draw(st.integers(0, 99))).integers(-n, n, size=ind_shape)
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Gather", ["r", "i"], ["g"], name="gather", axis=axis),
             helper.make_node("Neg", ["g"], ["y"])]
    net = check(model_of(nodes, shape, [tensor("i", ind, np.int64)], opset), tuple(ps))
    lin = [nd.op for nd in net.nodes if isinstance(nd.op, Linear)]
    assert len(lin) == 1 and np.all(np.diff(lin[0].matrix(0).indptr) == 1)  # one selection, the negation folded


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.data(),
       st.sampled_from(["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin"]), st.sampled_from(OPSETS),
       st.sampled_from([0, 1]))
def test_reductions_on_a_computed_tensor(ps, data, op, opset, keepdims):
    shape = ["N", *ps]
    r = len(shape)
    axes = data.draw(st.lists(st.sampled_from([a for a in range(-r, r) if a % r != 0]), unique_by=lambda a: a % r,
                              min_size=1))
    as_input = opset >= (13 if op == "ReduceSum" else 18)
    inits = [tensor("axes", axes, np.int64)] if as_input else []
    attrs = {} if as_input else {"axes": axes}
    nodes = [helper.make_node("Abs", ["x"], ["a"]),
             helper.make_node(op, ["a", "axes"] if as_input else ["a"], ["y"], name="reduce", keepdims=keepdims,
                              **attrs)]
    check(model_of(nodes, shape, inits, opset), tuple(ps))


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin"])
def test_reductions_without_axes(op, opset):
    """No axes: every axis (of a single sample, rank-1 input), or nothing with noop_with_empty_axes."""
    nodes = [helper.make_node(op, ["x"], ["y"], keepdims=0)]
    check(model_of(nodes, [5], opset=opset), (5,), n=3)
    if opset >= (13 if op == "ReduceSum" else 18):
        nodes = [helper.make_node("Relu", ["x"], ["r"]),
                 helper.make_node(op, ["r", ""], ["y"], noop_with_empty_axes=1)]
        net = check(model_of(nodes, ["N", 2, 3], opset=opset), (2, 3))
        assert [type(nd.op) for nd in net.nodes] == [Elementwise]


def test_static_batch_of_one_may_be_reduced():
    nodes = [helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=0)]
    check(model_of(nodes, [1, 2, 3], [tensor("axes", [0, 2], np.int64)], 13), (2, 3), n=1)


def test_sum_of_computed_tensors_and_constants():
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Neg", ["x"], ["n"]),
             helper.make_node("Sum", ["r", "n", "c", "r"], ["y"], name="sum")]
    net = check(model_of(nodes, ["N", 2, 3], [tensor("c", np.arange(3.0))]), (2, 3))
    assert [type(nd.op) for nd in net.nodes] == [Elementwise, Linear]


def test_gather_then_reduce_sum_is_one_sparse_linear():
    """The sparse export's pattern written by hand: Gather -> Mul -> Reshape -> ReduceSum -> Add is one Linear
    with the weight's nonzeros."""
    rng = np.random.default_rng(4)
    cols = np.array([[0, 3], [2, 0], [1, 2]])
    vals = np.array([[1.5, -2.0], [0.5, 0.0], [3.0, 0.25]])
    nodes = [helper.make_node("Gather", ["x", "cols"], ["g"], axis=1),
             helper.make_node("Mul", ["g", "vals"], ["p"]),
             helper.make_node("Reshape", ["p", "shape"], ["q"]),
             helper.make_node("ReduceSum", ["q", "two"], ["s"], keepdims=0),
             helper.make_node("Add", ["s", "b"], ["y"])]
    inits = [tensor("cols", cols.ravel(), np.int64), tensor("vals", vals.ravel()),
             tensor("shape", [-1, 3, 2], np.int64), tensor("two", [2], np.int64), tensor("b", rng.normal(size=3))]
    net = check(model_of(nodes, ["N", 4], inits, 13), (4,))
    assert len(net.nodes) == 1 and net.nodes[0].op.nnz == 5


def test_refusals_name_the_node():
    def refused(nodes, inits, match, shape=("N", 2, 3), opset=13, err=ValueError):
        with pytest.raises(err, match=match):
            from_onnx(model_of(nodes, list(shape), inits, opset), as_graph=True)

    refused([helper.make_node("Gather", ["x", "i"], ["y"], name="g", axis=2)], [tensor("i", [0, 3], np.int64)],
            r"Gather 'g': index 3 is out of range for axis 2 of size 3")
    refused([helper.make_node("Gather", ["x", "i"], ["y"], name="g", axis=-1)], [tensor("i", [-4], np.int64)],
            r"Gather 'g': index -4 is out of range")
    refused([helper.make_node("Gather", ["x", "i"], ["y"], name="g", axis=0)], [tensor("i", [0], np.int64)],
            r"Gather 'g' selects along the batch axis")
    refused([helper.make_node("Gather", ["x", "i"], ["y"], name="g", axis=3)], [tensor("i", [0], np.int64)],
            r"Gather 'g': axis 3 is out of range")
    refused([helper.make_node("Gather", ["c", "x"], ["y"], name="g", axis=0)], [tensor("c", np.arange(4.0))],
            r"'Gather'.*'g'.*only the first operand", err=UnsupportedOperationError)
    for op in ("ReduceSum", "ReduceMax"):
        refused([helper.make_node(op, ["x", "axes"], ["y"], name="red")], [tensor("axes", [0], np.int64)],
                f"{op} 'red' reduces over the batch axis", opset=18)
        refused([helper.make_node(op, ["x"], ["y"], name="red")], [],
                f"{op} 'red' reduces over the batch axis", opset=18)
        refused([helper.make_node(op, ["x", "axes"], ["y"], name="red")], [tensor("axes", [5], np.int64)],
                f"{op} 'red': axis 5 is out of range", opset=18)
