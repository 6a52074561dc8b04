"""compute_bounds on a Graph: every tensor's interval bounds contain every value the graph takes on the domain
(10^4 sampled inputs and the box's vertices), the ball rules only tighten, and Elementwise nodes get the
LayerBounds the encodings read."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnblocks import Identity, Layer, Network, ReLU
from nnblocks.bounds import GraphBounds, InputDomain, compute_bounds, layer_bounds
from nnblocks.graph import Elementwise, Graph
from tests.test_graph_core import random_graph


def ball_samples(rng, center, norm, radius, lo, hi, n):
    """n points of the ball (p-norm) clipped into the box: clipping towards the center stays in the ball."""
    d = center.size
    u = rng.normal(size=(n, d))
    if norm == 1:
        u = rng.exponential(size=(n, d)) * rng.choice([-1, 1], size=(n, d))
    if norm == "inf":
        u = rng.uniform(-1, 1, size=(n, d))
        r = np.ones((n, 1))
    else:
        u /= np.linalg.norm(u, ord=norm, axis=1, keepdims=True)
        r = rng.uniform(0, 1, size=(n, 1)) ** (1 / d)
    return np.clip(center + radius * r * u, lo, hi)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([None, 1, 2, "inf"]))
def test_every_tensor_bound_contains_sampled_values_and_vertices(seed, norm):
    rng = np.random.default_rng(seed)
    g = random_graph(rng)
    lo, hi = -np.ones(4), np.ones(4)
    if norm is None:
        dom = InputDomain.box(lo, hi)
        X = rng.uniform(lo, hi, size=(10_000, 4))
        X = np.vstack([X, np.array(list(itertools.product(*zip(lo, hi))))])
    else:
        c = rng.uniform(-0.5, 0.5, 4)
        dom = InputDomain.ball(c, norm, 0.6, lo, hi)
        X = ball_samples(rng, c, norm, 0.6, lo, hi, 10_000)
        assert np.all(dom.contains(X))
    gb = compute_bounds(g, dom, method="interval")
    assert isinstance(gb, GraphBounds) and len(gb) == len(g) + 1
    for t, V in enumerate(g.values(X)):
        assert np.all(V >= gb.lower[t]) and np.all(V <= gb.upper[t]), t
    # the ball rules only tighten the box's bounds
    if norm is not None:
        box = compute_bounds(g, dom.effective_box())
        for t in range(len(g) + 1):
            assert np.all(gb.lower[t] >= box.lower[t]) and np.all(gb.upper[t] <= box.upper[t])
    # every Elementwise node: the LayerBounds of its input, as layer_bounds gives them
    for k, node in enumerate(g.nodes):
        if isinstance(node.op, Elementwise):
            B, t = gb.nodes[k], node.inputs[0]
            ref = layer_bounds(gb.lower[t], gb.upper[t], node.op.activation)
            np.testing.assert_array_equal(B.first_piece, ref.first_piece)
            np.testing.assert_array_equal(B.lower, gb.lower[t])
    json.dumps(gb.as_dict(), allow_nan=False)


def test_chain_graph_bounds_equal_the_network_bounds_on_a_box():
    rng = np.random.default_rng(3)
    net = Network([Layer(rng.normal(size=(6, 3)), rng.normal(size=6), ReLU()),
                   Layer(rng.normal(size=(2, 6)), rng.normal(size=2), Identity())])
    nb = compute_bounds(net, (-np.ones(3), np.ones(3)))
    gb = compute_bounds(Graph.from_network(net), (-np.ones(3), np.ones(3)))
    np.testing.assert_allclose(gb.nodes[1].lower, nb.layers[0].lower, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(gb.upper[3], nb.layers[1].upper, rtol=1e-9, atol=1e-9)
    # both sound: the first layer's bounds are the same up to their rounding margins


def test_graph_bounds_refuse_other_methods_and_wrong_dimensions():
    g = random_graph(np.random.default_rng(0))
    with pytest.raises(ValueError, match="for a Graph"):
        compute_bounds(g, (-1.0, 1.0), method="lp")
    with pytest.raises(ValueError, match="dimension"):
        compute_bounds(g, InputDomain.box(np.zeros(3), np.ones(3)))


def test_graph_methods_take_a_checked_time_limit(monkeypatch):
    """compute_bounds hands its time limit to the graph methods (alpha-CROWN spends it) and checks it first."""
    import nnblocks.bounds.compute as compute

    seen = {}

    def spy(graph, domain, *, output_constraints=None, time_limit=None, **_):
        seen["time_limit"] = time_limit
        return compute.GRAPH_METHODS["interval"](graph, domain)

    g = random_graph(np.random.default_rng(3))
    box = InputDomain(lower=-np.ones(4), upper=np.ones(4))
    monkeypatch.setitem(compute.GRAPH_METHODS, "spy", spy)
    compute_bounds(g, box, method="spy", time_limit=2.5)
    assert seen["time_limit"] == 2.5
    with pytest.raises(ValueError, match="time_limit must be positive"):
        compute_bounds(g, box, method="crown", time_limit=-1.0)
