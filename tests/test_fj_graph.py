"""FJ on graphs of operations: the same optimum as the dense Network it equals, as the paper configuration's
model of the same graph, verified examples on the shipped CNN, the CNN's files against onnxruntime, the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from nnblocks.activations import Identity, ReLU
from nnblocks.adversarial import FJProblem, build_model, fj
from nnblocks.adversarial.heuristic import graph_incumbent, logit_graph
from nnblocks.adversarial.model import pool_first
from nnblocks.bounds import compute_bounds
from nnblocks.cli import app
from nnblocks.graph import Elementwise, Graph, Linear, Node
from nnblocks.graph.lower import conv, max_pool
from nnblocks.network import Layer, Network
from nnblocks.solve import SolveStatus
from tests.conftest import shared_data


def _dense(rng, sizes, output_relu=True) -> Network:
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        act = ReLU() if k < len(sizes) - 2 or output_relu else Identity()
        layers.append(Layer(rng.normal(size=(n_out, n_in)), rng.normal(scale=0.3, size=n_out), act))
    return Network(layers)


def _conv_graph(rng, pool: bool, side: int = 5) -> Graph:
    """conv(1->2, 2x2) - ReLU - [max pool 2x2, stride 1] - conv(2->2, 2x2) - ReLU - dense 3 (logits)."""
    nodes: list[Node] = []
    shape: tuple[int, ...] = (1, side, side)

    def add(op, out_shape):
        nodes.append(Node(op, (len(nodes),), tuple(out_shape)))

    op, shape = conv(shape, rng.normal(size=(2, 1, 2, 2)), rng.normal(scale=0.3, size=2))
    add(op, shape)
    add(Elementwise(ReLU(), int(np.prod(shape))), shape)
    if pool:
        op, shape = max_pool(shape, (2, 2), (1, 1), (0, 0, 0, 0))
        add(op, shape)
    op, shape = conv(shape, rng.normal(size=(2, 2, 2, 2)), rng.normal(scale=0.3, size=2))
    add(op, shape)
    add(Elementwise(ReLU(), int(np.prod(shape))), shape)
    n = int(np.prod(shape))
    add(Linear([rng.normal(size=(3, n))], rng.normal(scale=0.3, size=3)), (3,))
    return Graph((1, side, side), nodes)


def _image_and_target(graph_or_net, rng, n0):
    """An input in [0, 1]^n0 and a target class other than its predicted one."""
    x = rng.uniform(0.2, 0.8, size=n0)
    y = graph_or_net.forward(x)
    return x, int(np.argsort(y)[-2])


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_graph_from_a_network_has_the_network_s_optimum(seed):
    rng = np.random.default_rng(seed)
    net = _dense(rng, [6, 5, 4, 3], output_relu=False)
    x = rng.uniform(0.2, 0.8, size=6)
    target = int(np.argsort(net.forward(x))[-2])
    a = fj(net, x, target, gamma=0.1, domain=(-5.0, 5.0))
    b = fj(Graph.from_network(net), x, target, gamma=0.1, domain=(-5.0, 5.0))
    assert a.status == b.status  # seed 0: infeasible for both (the target cannot win within the box)
    if a.status == SolveStatus.INFEASIBLE:
        return
    assert a.status == SolveStatus.OPTIMAL
    assert b.verified and b.objective == pytest.approx(a.objective, rel=1e-6, abs=1e-7)
    assert np.abs(b.x_adv - x).sum() == pytest.approx(b.distance, abs=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_conv_graph_has_the_optimum_of_its_dense_equivalent(seed):
    rng = np.random.default_rng(seed)
    g = _conv_graph(rng, pool=False)
    net = g.to_network()
    assert net is not None  # conv, ReLU, conv, ReLU, dense: a chain of dense layers
    x, target = _image_and_target(g, rng, g.n_inputs)
    a = fj(net, x, target)
    b = fj(g, x, target)
    assert a.status == b.status == SolveStatus.OPTIMAL
    assert b.verified and b.objective == pytest.approx(a.objective, rel=1e-5, abs=1e-6)
    y = g.forward(b.x_adv)
    assert y[target] >= np.delete(y, target).max() + 0.2 - 1e-6 * max(1.0, np.abs(y).max())


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_max_pool_graph_has_the_optimum_of_the_plain_model(seed):
    # the default configuration (heuristic, CROWN over the ball, pool before the ReLU, cutoff) against the
    # paper configuration (interval big-M over the box, the graph as given): the same optimum
    rng = np.random.default_rng(seed)
    g = _conv_graph(rng, pool=True)
    x, target = _image_and_target(g, rng, g.n_inputs)
    a = fj(g, x, target, config="paper", mip_gap=0.0)
    b = fj(g, x, target, mip_gap=0.0)
    assert a.status == b.status == SolveStatus.OPTIMAL
    assert a.verified and b.verified
    assert b.objective == pytest.approx(a.objective, rel=1e-5, abs=1e-6)
    assert np.abs(b.x_adv - x).sum() == pytest.approx(b.distance, abs=1e-9)


def test_pool_first_is_the_same_function_with_fewer_activations():
    rng = np.random.default_rng(7)
    g = _conv_graph(rng, pool=True)
    p = pool_first(g)
    X = rng.uniform(-1, 2, size=(200, g.n_inputs))
    np.testing.assert_allclose(p.forward(X), g.forward(X), rtol=0, atol=1e-12)
    acts = [n.size for n in g.nodes if isinstance(n.op, Elementwise)]
    acts_p = [n.size for n in p.nodes if isinstance(n.op, Elementwise)]
    assert acts_p[0] < acts[0] and acts_p[1:] == acts[1:]


def test_the_graph_heuristic_gives_a_verified_point_on_its_segment():
    rng = np.random.default_rng(3)
    g = _conv_graph(rng, pool=True)
    x, target = _image_and_target(g, rng, g.n_inputs)
    inc = graph_incumbent([g], x, np.zeros(g.n_inputs), np.ones(g.n_inputs), target, 0.2, "difference", None)
    assert inc is not None
    y = g.forward(inc.x)
    assert y[target] >= np.delete(y, target).max() + 0.2 - 1e-7
    assert inc.distance == pytest.approx(np.abs(inc.x - x).sum())
    res = fj(g, x, target)
    assert res.objective <= inc.distance * (1 + 1e-7) + 1e-7


def test_a_relu_output_graph_drops_its_output_relu_and_keeps_the_ratio_margin():
    rng = np.random.default_rng(4)
    net = _dense(rng, [5, 6, 3])
    g = Graph.from_network(net)
    assert len(logit_graph(g)) == len(g) - 1
    x = rng.uniform(0.2, 0.8, size=5)
    y = net.forward(x)
    target = int(np.argsort(y)[-2])
    if y[target] <= 0:
        pytest.skip("target output is 0")
    p = FJProblem([g], x, target)
    assert p.margin == "ratio"
    _, rec = build_model(p)
    assert rec.logits
    assert fj(g, x, target).objective == pytest.approx(fj(net, x, target).objective, rel=1e-6, abs=1e-7)


def test_graph_bounds_are_checked():
    rng = np.random.default_rng(5)
    g = _conv_graph(rng, pool=True)
    x, target = _image_and_target(g, rng, g.n_inputs)
    gb = compute_bounds(g, (0.0, 1.0))
    assert fj(g, x, target, bounds=[gb]).verified
    with pytest.raises(ValueError, match="bounds='lp' is not available for a Graph"):
        fj(g, x, target, bounds="lp")
    other = compute_bounds(_conv_graph(rng, pool=False), (0.0, 1.0))
    with pytest.raises(ValueError, match=r"bounds\[0\] have tensor sizes"):
        fj(g, x, target, bounds=[other])
    narrow = compute_bounds(g, (x, x))
    with pytest.raises(ValueError, match="exclude an input of the domain"):
        fj(g, x, target, bounds=[narrow])
    with pytest.raises(TypeError, match="must be an nnblocks.Network or an nnblocks.graph.Graph"):
        fj("net", x, target)


# -- the shipped CNN --------------------------------------------------------------------------------------
def test_the_shipped_cnn_is_a_graph_equal_to_onnxruntime():
    ort = pytest.importorskip("onnxruntime")
    from nnblocks.datasets import fashion_mnist, load_shipped, shipped_model
    from nnblocks.io import from_onnx

    X, y = fashion_mnist(shared_data("fashion-mnist"), "test")
    X = X[:500]
    g = from_onnx(shipped_model("cnn"))
    assert isinstance(g, Graph) and g.input_shape == (1, 28, 28)
    session = ort.InferenceSession(str(shipped_model("cnn")), providers=["CPUExecutionProvider"])
    Y = session.run(None, {"x": X.astype(np.float32).reshape(-1, 1, 28, 28)})[0].astype(np.float64)
    Yg = g.forward(X)
    assert np.max(np.abs(Yg - Y)) <= 1e-5 * np.max(np.abs(Y))
    stored = load_shipped("cnn")
    np.testing.assert_array_equal(stored.forward(X), Yg)
    assert np.mean(np.argmax(Yg, axis=1) == y[:500]) > 0.75


@pytest.mark.slow
def test_fj_on_the_shipped_cnn_gives_a_verified_example():
    from nnblocks.datasets import load_shipped, nominal_images

    g = load_shipped("cnn")
    X, _, _ = nominal_images()
    x, target = X[2], 6  # a pullover -> shirt
    res = fj(g, x, target, time_limit=20)
    assert res.status in (SolveStatus.OPTIMAL, SolveStatus.TIME_LIMIT, SolveStatus.FEASIBLE)
    assert res.verified
    y = g.forward(res.x_adv)
    assert y[target] >= np.delete(y, target).max() + 0.2 - 1e-6 * max(1.0, np.abs(y).max())
    assert res.distance == pytest.approx(np.abs(res.x_adv - x).sum())
    assert res.bound is not None and res.bound <= res.distance + 1e-6


@pytest.mark.slow
def test_the_cli_finds_a_verified_example_on_the_shipped_cnn(tmp_path):
    out = tmp_path / "res.json"
    res = CliRunner().invoke(app, ["fj", "--network", "cnn", "--image", "2", "--target", "6", "--time-limit", "15",
                                   "--json", str(out)])
    assert res.exit_code == 0, res.output
    import json

    data = json.loads(out.read_text())
    assert data["verified"] is True and data["status"] in ("optimal", "time_limit", "feasible")


@pytest.mark.parametrize("seed", [4])
def test_arfj_over_graphs_has_the_optimum_of_the_extensive_form(seed):
    from nnblocks.adversarial import arfj

    rng = np.random.default_rng(seed)
    g1 = _conv_graph(rng, pool=True, side=4)
    g2 = Graph(g1.input_shape, [
        Node(Linear([np.asarray(W.toarray() if hasattr(W, "toarray") else W) * (1 + 0.2 * rng.normal(size=W.shape))
                     for W in n.op.weights], n.op.bias), n.inputs, n.shape) if isinstance(n.op, Linear) else n
        for n in g1.nodes])
    x, target = _image_and_target(g1, rng, g1.n_inputs)
    a = arfj([g1, g2], x, target, config="paper", mip_gap=0.0, domain=(-3.0, 3.0))  # the extensive form
    b = arfj([g1, g2], x, target, mip_gap=0.0, domain=(-3.0, 3.0))  # scenario generation
    assert a.status == b.status == SolveStatus.OPTIMAL
    assert b.n_networks_model == 2  # the first round's example fails on g2
    assert a.verified and b.verified
    assert b.objective == pytest.approx(a.objective, rel=1e-5, abs=1e-6)
    for g in (g1, g2):
        y = g.forward(b.x_adv)
        assert y[target] >= np.delete(y, target).max() + 0.2 - 1e-6 * max(1.0, np.abs(y).max())
