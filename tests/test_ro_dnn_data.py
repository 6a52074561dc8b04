"""Readers of the ro-dnn layout: the authors' scenario data, networks, kernel sets and path graph."""

from __future__ import annotations

import numpy as np
import pytest

from nnblocks.activations import Identity, ReLU
from nnblocks.datasets import load_instance, load_path
from nnblocks.datasets.ro_dnn import load_ro_dnn_network
from tests.conftest import shared_data

pytestmark = pytest.mark.shared_data


@pytest.mark.parametrize("dim, type_, instance", [(2, 1, 26), (2, 3, 21), (20, 1, 1), (20, 2, 7)])
def test_instance_shapes_and_facts(dim, type_, instance):
    inst = load_instance(shared_data("ro-dnn"), dim, type_, instance)
    net = inst.network
    assert net.layer_sizes == (dim, 50, 50, 50)
    assert [type(layer.activation) for layer in net.layers] == [ReLU, ReLU, Identity]
    assert all(not layer.b.any() for layer in net.layers)
    assert inst.center.shape == (50,)
    assert inst.train.shape == (500, dim) and np.all(inst.train >= 0)
    # rows 0-24 are uniform outliers in [0, 300]^n, identical across types for the same instance
    assert np.all(inst.train[:25] <= 300)
    other = load_instance(shared_data("ro-dnn"), dim, 1 + type_ % 3, instance) if dim == 20 else None
    if other is not None:
        np.testing.assert_array_equal(inst.train[:25], other.train[:25])
    if dim == 2 or instance == 1:
        assert inst.test.shape == (10_000, dim)
        assert sorted(inst.kernels) == [round(0.40 + 0.05 * i, 2) for i in range(11)]
        ker = inst.kernels[0.9]
        assert ker.alphas.shape == (500,) and ker.alphas.sum() == pytest.approx(1.0, abs=1e-6)
        assert np.all(ker.alphas[ker.sv] > 1e-5)
        np.testing.assert_allclose(ker.Q, ker.Q.T)
        assert ker.theta > 0
    else:
        assert inst.test is None and inst.kernels == {}


def test_network_file_orientation_is_outputs_by_inputs():
    base = shared_data("ro-dnn", "2d", "nn")
    net, center = load_ro_dnn_network([base / f"W-1-26-3-{k}.txt" for k in (1, 2, 3)], base / "c-1-26-3.txt")
    W1 = np.loadtxt(base / "W-1-26-3-1.txt", delimiter=",")
    x = np.array([120.0, 80.0])
    W2 = np.loadtxt(base / "W-1-26-3-2.txt", delimiter=",")
    W3 = np.loadtxt(base / "W-1-26-3-3.txt", delimiter=",")
    np.testing.assert_allclose(net.forward(x), W3 @ np.maximum(W2 @ np.maximum(W1 @ x, 0), 0))
    assert center.shape == (50,)


def test_path_graph_keeps_parallel_arcs():
    p = load_path(shared_data("ro-dnn"))
    G = p.graph
    assert G.number_of_nodes() == 65 and G.number_of_edges() == 189
    assert p.train.shape == (570, 189) and p.test.shape == (571, 189)
    assert np.all(p.train > 0)
    indices = sorted(d["index"] for _, _, d in G.edges(data=True))
    assert indices == list(range(189))
    for t, h, key, d in G.edges(keys=True, data=True):
        assert key == d["index"] and tuple(p.arcs[key]) == (t, h)
    pairs = {}
    for t, h in p.arcs:
        pairs[(t, h)] = pairs.get((t, h), 0) + 1
    n_parallel = sum(c - 1 for c in pairs.values())
    assert n_parallel > 0 and G.number_of_edges() == len(pairs) + n_parallel
    assert p.network.layer_sizes == (189, 50, 50, 50)
    assert p.kernel.Q.shape == (189, 189) and p.kernel.quantile == 0.95
    assert len(p.pairs) == 10 and all(s in G and t in G for s, t in p.pairs)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="ro-dnn"):
        load_instance(tmp_path, 2, 1, 26)
    with pytest.raises(ValueError, match="dim"):
        load_instance(tmp_path, 3, 1, 1)
