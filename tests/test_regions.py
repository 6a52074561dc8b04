"""Activation regions (Theorem 1): on a point's region the affine maps reproduce the forward pass, and the point
satisfies the region's inequalities."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnblocks import HardSigmoid, HardTanh, Identity, Layer, LeakyReLU, Network, PiecewiseLinear, ReLU, ReLU6
from nnblocks.regions import RegionMaps, piece_matrix, pre_activation_maps, region_inequalities, region_maps

NAMED = [ReLU(), LeakyReLU(0.1), HardTanh(-0.5, 2.0), ReLU6(), HardSigmoid(), Identity()]


@st.composite
def pwl_activations(draw, max_pieces: int = 4) -> PiecewiseLinear:
    """A random continuous PWL function (distinct breakpoints, intercepts by continuity)."""
    n = draw(st.integers(1, max_pieces))
    t = np.array(sorted(draw(st.sets(st.integers(-8, 8), min_size=n - 1, max_size=n - 1)))) / 4.0
    a = np.array(draw(st.lists(st.integers(-8, 8), min_size=n, max_size=n))) / 4.0
    c0 = draw(st.integers(-4, 4)) / 2.0
    c = c0 + np.concatenate([[0.0], np.cumsum((a[:-1] - a[1:]) * t)])
    return PiecewiseLinear(t, a, c)


@st.composite
def networks(draw) -> Network:
    """1 to 4 dense layers of width 1..5 with named or random PWL activations and random weights."""
    sizes = draw(st.lists(st.integers(1, 5), min_size=2, max_size=5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    layers = []
    for k in range(len(sizes) - 1):
        act = draw(st.one_of(st.sampled_from(NAMED), pwl_activations()))
        layers.append(Layer(rng.normal(size=(sizes[k + 1], sizes[k])), rng.normal(size=sizes[k + 1]), act))
    return Network(layers)


@settings(max_examples=150, deadline=None)
@given(net=networks(), seed=st.integers(0, 2**32 - 1))
def test_region_maps_equal_the_forward_pass_and_the_point_lies_in_its_region(net, seed):
    X = np.random.default_rng(seed).normal(scale=2.0, size=(6, net.n_inputs))
    maps = region_maps(net, piece_matrix(net, X))
    assert isinstance(maps, RegionMaps) and len(maps) == X.shape[0]
    pre = net.pre_activations(X)
    for k, a in enumerate(pre):
        np.testing.assert_allclose(np.einsum("pij,pj->pi", maps.A[k], X) + maps.g[k], a, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(np.einsum("pij,pj->pi", maps.M, X) + maps.m, net.forward(X), rtol=1e-9, atol=1e-9)
    for x, (G, h) in zip(X, region_inequalities(net, maps)):
        assert G.shape == (h.size, net.n_inputs)
        assert np.all(G @ x <= h + 1e-9 * (1.0 + np.abs(h)))


@settings(max_examples=50, deadline=None)
@given(net=networks(), seed=st.integers(0, 2**32 - 1))
def test_a_pattern_row_holds_for_one_point_as_for_a_batch(net, seed):
    X = np.random.default_rng(seed).normal(size=(3, net.n_inputs))
    batch = region_maps(net, piece_matrix(net, X))
    one = region_maps(net, piece_matrix(net, X[1]))
    assert len(one) == 1
    np.testing.assert_allclose(one.M[0], batch.M[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(one.m[0], batch.m[1], rtol=1e-12, atol=1e-12)


def test_a_region_inequality_is_violated_outside_the_region():
    # one ReLU neuron a = c: the region "active" is c >= 0, "inactive" c <= 0
    net = Network([Layer([[1.0]], [0.0], ReLU()), Layer([[2.0]], [1.0], Identity())])
    maps = region_maps(net, np.array([[1], [0]]))
    (G1, h1), (G0, h0) = region_inequalities(net, maps)
    assert np.all(G1 @ [0.5] <= h1) and not np.all(G1 @ [-0.5] <= h1)
    assert np.all(G0 @ [-0.5] <= h0) and not np.all(G0 @ [0.5] <= h0)
    np.testing.assert_allclose(maps.M[:, 0, 0], [2.0, 0.0])
    np.testing.assert_allclose(maps.m[:, 0], [1.0, 1.0])


def test_pre_activation_maps_with_slopes_of_a_linearisation():
    """Any diagonal slopes (here a leaky surrogate of ReLU) give the maps of that linearised network."""
    rng = np.random.default_rng(3)
    W1, b1, W2, b2 = rng.normal(size=(4, 3)), rng.normal(size=4), rng.normal(size=(2, 4)), rng.normal(size=2)
    net = Network([Layer(W1, b1, ReLU()), Layer(W2, b2, Identity())])
    s = np.array([1.0, 0.1, 0.1, 1.0])
    (A1, A2), (g1, g2) = pre_activation_maps(net, [s])
    x = rng.normal(size=3)
    np.testing.assert_allclose(A1 @ x + g1, W1 @ x + b1)
    np.testing.assert_allclose(A2 @ x + g2, W2 @ (s * (W1 @ x + b1)) + b2)
    # a batch of two slope vectors gives two maps
    (B1, B2), _ = pre_activation_maps(net, [np.vstack([s, np.ones(4)])])
    assert B1.shape == (2, 4, 3) and B2.shape == (2, 2, 3)
    np.testing.assert_allclose(B2[0], A2)


def test_a_network_without_multi_piece_layers_has_one_empty_pattern():
    net = Network([Layer(np.eye(2), [1.0, -1.0], Identity())])
    pieces = piece_matrix(net, np.zeros((3, 2)))
    assert pieces.shape == (3, 0)
    maps = region_maps(net, pieces)
    assert maps.M.shape == (3, 2, 2) and [G.shape for G, _ in region_inequalities(net, maps)] == [(0, 2)] * 3


def test_bad_input_is_named():
    net = Network([Layer(np.eye(2), np.zeros(2), ReLU()), Layer(np.ones((1, 2)), [0.0], Identity())])
    with pytest.raises(ValueError, match="2 columns"):
        region_maps(net, np.zeros((1, 3), dtype=int))
    with pytest.raises(ValueError, match=r"0\.\.1"):
        region_maps(net, np.array([[0, 2]]))
    with pytest.raises(TypeError, match="integer"):
        region_maps(net, np.array([[0.0, 1.0]]))
    with pytest.raises(TypeError, match="Network"):
        piece_matrix("net", np.zeros(2))
    with pytest.raises(ValueError, match="slopes of layer 1"):
        pre_activation_maps(net, [np.ones(3)])
    with pytest.raises(ValueError, match="one array per hidden layer"):
        pre_activation_maps(net, [])
