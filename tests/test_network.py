"""Network: validation, forward pass against a per-neuron oracle, patterns, parameters, persistence."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnblocks import HardSigmoid, HardTanh, Identity, Layer, LeakyReLU, Network, PiecewiseLinear, ReLU, ReLU6


def lemma4_iii() -> PiecewiseLinear:
    """The 4-piece activation of Goerigk & Kurtz, Lemma 4 (iii)."""
    return PiecewiseLinear([0.0, 0.5, 1.0], [-1.0, 1.0, -1.0, 1.0], [0.0, 0.0, 1.0, -1.0])


@st.composite
def pwl_activations(draw, max_pieces: int = 4) -> PiecewiseLinear:
    """Random continuous PWL function: distinct breakpoints, any slopes, intercepts by continuity."""
    n = draw(st.integers(1, max_pieces))
    t = np.array(sorted(draw(st.sets(st.integers(-12, 12), min_size=n - 1, max_size=n - 1)))) / 4.0
    a = np.array(draw(st.lists(st.integers(-8, 8), min_size=n, max_size=n))) / 4.0
    c = draw(st.integers(-4, 4)) / 2.0 + np.concatenate([[0.0], np.cumsum((a[:-1] - a[1:]) * t)])
    return PiecewiseLinear(t, a, c)


def naive_eval(act: PiecewiseLinear, z: float) -> tuple[int, float]:
    """Piece p with t_{p-1} < z <= t_p found by scanning, and its value a_p z + c_p."""
    lo, hi = act.piece_bounds()
    for p in range(act.n_pieces):
        if lo[p] < z <= hi[p]:
            return p, act.slopes[p] * z + act.intercepts[p]
    raise AssertionError("no piece contains z")


@st.composite
def activations(draw) -> PiecewiseLinear:
    return draw(
        st.one_of(
            st.sampled_from(
                [ReLU(), Identity(), HardSigmoid(), ReLU6(), LeakyReLU(0.1), HardTanh(-0.5, 1.5), lemma4_iii()]
            ),
            pwl_activations(),
        )
    )


@st.composite
def networks(draw, max_layers: int = 4) -> Network:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    sizes = draw(st.lists(st.integers(1, 5), min_size=2, max_size=max_layers + 1))
    return Network(
        [Layer(rng.normal(size=(o, i)), rng.normal(size=o), draw(activations())) for i, o in zip(sizes[:-1], sizes[1:])]
    )


def naive_forward(net: Network, x: np.ndarray) -> tuple[np.ndarray, tuple[tuple[int, ...], ...]]:
    """Neuron by neuron: a_j = sum_i W_ji h_i + b_j, h_j = sigma(a_j); also the active pieces."""
    h = [float(v) for v in x]
    pattern = []
    for layer in net.layers:
        new_h, pieces = [], []
        for j in range(layer.n_out):
            a = sum(float(layer.W[j, i]) * h[i] for i in range(layer.n_in)) + float(layer.b[j])
            p, v = naive_eval(layer.activation, a)
            new_h.append(v)
            pieces.append(p)
        h = new_h
        pattern.append(tuple(pieces))
    return np.array(h), tuple(pattern)


def small_net() -> Network:
    return Network(
        [
            Layer([[1.0, -1.0], [0.5, 2.0], [-1.0, 0.0]], [0.0, -1.0, 0.5], ReLU()),
            Layer([[1.0, 1.0, 1.0]], [0.25], lemma4_iii()),
        ]
    )


# ---------------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------------
def test_shapes_must_chain():
    with pytest.raises(ValueError, match="do not chain: layer 0 has 3 outputs but layer 1 expects 2"):
        Network([Layer(np.ones((3, 2)), np.zeros(3), ReLU()), Layer(np.ones((1, 2)), np.zeros(1), Identity())])


@pytest.mark.parametrize(
    ("W", "b", "match"),
    [
        ([[1.0, np.nan]], [0.0], "W contains NaN"),
        ([[1.0, np.inf]], [0.0], "W contains NaN or infinite"),
        ([[1.0, 1.0]], [-np.inf], "b contains NaN or infinite"),
        ([[1.0, 1.0]], [0.0, 1.0], r"bias b must have shape \(1,\)"),
        ([1.0, 1.0], [0.0], "2-D array"),
    ],
)
def test_layer_validation(W, b, match):
    with pytest.raises(ValueError, match=match):
        Layer(W, b, ReLU())


def test_layer_needs_an_nnblocks_activation_and_network_needs_layers():
    with pytest.raises(TypeError, match="activation must be an nnblocks activation"):
        Layer(np.eye(2), np.zeros(2), np.maximum)
    with pytest.raises(ValueError, match="at least one layer"):
        Network([])
    with pytest.raises(TypeError, match="layer 0 must be an nnblocks.Layer"):
        Network([(np.eye(2), np.zeros(2), ReLU())])


def test_layer_arrays_are_copied_and_read_only():
    W = np.eye(2)
    layer = Layer(W, np.zeros(2), ReLU())
    W[0, 0] = 5.0
    assert layer.W[0, 0] == 1.0
    with pytest.raises(ValueError):
        layer.W[0, 0] = 2.0


def test_structure():
    net = small_net()
    assert net.n_inputs == 2 and net.n_outputs == 1 and len(net) == 2
    assert net.layer_sizes == (2, 3, 1)
    assert net.n_parameters == 2 * 3 + 3 + 3 + 1
    assert "2-3-1" in repr(net)
    with pytest.raises(ValueError, match="input has 3 features, the network expects 2"):
        net.forward(np.ones(3))


# ---------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(networks(), st.integers(0, 2**32 - 1))
def test_forward_matches_per_neuron_oracle(net, seed):
    X = np.random.default_rng(seed).normal(scale=2.0, size=(8, net.n_inputs))
    Y = net.forward(X)
    patterns = net.activation_pattern(X)
    assert Y.shape == (8, net.n_outputs) and Y.dtype == np.float64
    for x, y, pat in zip(X, Y, patterns):
        y_ref, pat_ref = naive_forward(net, x)
        np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
        assert pat == pat_ref
        np.testing.assert_allclose(net.forward(x), y, rtol=1e-13, atol=1e-13)  # single input: 1-D in, 1-D out
        assert net.activation_pattern(x) == pat
    A = net.pre_activations(X)
    assert [a.shape for a in A] == [(8, n) for n in net.layer_sizes[1:]]
    np.testing.assert_array_equal(net.layers[-1].activation(A[-1]), Y)


def test_forward_flattens_image_batches():
    net = Network([Layer(np.arange(6.0).reshape(1, 6), [0.0], Identity())])
    X = np.arange(12.0).reshape(2, 2, 3)
    np.testing.assert_array_equal(net.forward(X), [[55.0], [145.0]])
    np.testing.assert_array_equal(net(X), net.forward(X))


def test_activation_patterns_are_hashable_and_count_distinct_regions():
    net = small_net()
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, size=(500, 2))
    patterns = net.activation_pattern(X)
    assert len(patterns) == 500
    assert all(isinstance(p, tuple) and all(isinstance(layer, tuple) for layer in p) for p in patterns)
    distinct = set(patterns)
    oracle = {naive_forward(net, x)[1] for x in X}
    assert distinct == oracle
    assert 1 < len(distinct) <= 2**3 * 4
    # a pattern fixes the network to an affine map: inputs sharing one agree with its linearisation
    counts = {p: patterns.count(p) for p in distinct}
    assert sum(counts.values()) == 500


def test_pattern_at_a_breakpoint_is_the_lower_piece():
    net = Network([Layer(np.eye(2), np.zeros(2), ReLU())])
    assert net.activation_pattern(np.array([0.0, 1.0])) == ((0, 1),)


# ---------------------------------------------------------------------------------------------
# parameters
# ---------------------------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(networks())
def test_parameters_round_trip(net):
    theta = net.parameters()
    assert theta.shape == (net.n_parameters,)
    assert net.with_parameters(theta) == net
    # layout: W^1 row-major, b^1, W^2, b^2, ...
    first = net.layers[0]
    np.testing.assert_array_equal(theta[: first.W.size], first.W.ravel())
    np.testing.assert_array_equal(theta[first.W.size : first.W.size + first.b.size], first.b)
    perturbed = net.with_parameters(theta + 1.0)
    assert [layer.activation for layer in perturbed.layers] == [layer.activation for layer in net.layers]
    for a, b in zip(net.layers, perturbed.layers):
        np.testing.assert_array_equal(b.W, a.W + 1.0)
        np.testing.assert_array_equal(b.b, a.b + 1.0)


def test_with_parameters_errors():
    net = small_net()
    with pytest.raises(ValueError, match="has 12 entries, the network has 13"):
        net.with_parameters(np.zeros(12))
    theta = net.parameters()
    theta[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        net.with_parameters(theta)


# ---------------------------------------------------------------------------------------------
# persistence
# ---------------------------------------------------------------------------------------------
def test_save_load_round_trip_keeps_named_activations(tmp_path):
    acts = [ReLU(), LeakyReLU(0.3), HardTanh(-0.5, 1.5), ReLU6(), HardSigmoid(), Identity(), lemma4_iii()]
    rng = np.random.default_rng(1)
    net = Network([Layer(rng.normal(size=(2, 2)), rng.normal(size=2), a) for a in acts])
    net.save(tmp_path / "net.npz")
    back = Network.load(tmp_path / "net.npz")
    assert back == net
    assert [type(layer.activation) for layer in back.layers] == [type(a) for a in acts]
    assert back.layers[1].activation.alpha == 0.3
    X = rng.normal(size=(10, 2))
    np.testing.assert_array_equal(back.forward(X), net.forward(X))
    with np.load(tmp_path / "net.npz") as data:
        assert int(data["n_layers"]) == len(acts)
        assert str(data["kind1"]) == "LeakyReLU(alpha=0.3)"
        np.testing.assert_array_equal(data["W0"], net.layers[0].W)
    # an open binary file is read as well
    with open(tmp_path / "net.npz", "rb") as fh:
        assert Network.load(io.BytesIO(fh.read())) == net


@settings(max_examples=20, deadline=None)
@given(networks())
def test_save_load_round_trip_random(tmp_path_factory, net):
    path = tmp_path_factory.mktemp("npz") / "n.npz"
    net.save(path)
    assert Network.load(path) == net


def test_load_rejects_foreign_npz(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not an nnblocks network file"):
        Network.load(tmp_path / "other.npz")


def test_load_rejects_truncated_and_malformed_npz(tmp_path):
    """Every failure names the file and what is wrong with it (never a bare KeyError or a pickle hint)."""
    layer0 = dict(W0=np.ones((2, 3)), b0=np.zeros(2), breakpoints0=[0.0], slopes0=[0.0, 1.0], intercepts0=[0.0, 0.0])
    np.savez(tmp_path / "trunc.npz", n_layers=np.array(2), **layer0)
    with pytest.raises(ValueError, match=r"trunc.npz is truncated .*'n_layers' is 2 but layer 1 lacks .*'W1'"):
        Network.load(tmp_path / "trunc.npz")
    partial = {k: v for k, v in layer0.items() if k != "slopes0"}
    np.savez(tmp_path / "partial.npz", n_layers=np.array(1), **partial)
    with pytest.raises(ValueError, match=r"layer 0 lacks the entries 'slopes0'"):
        Network.load(tmp_path / "partial.npz")
    for bad in (np.array(0), np.array(1.5), np.array([1, 2])):
        np.savez(tmp_path / "n.npz", n_layers=bad, **layer0)
        with pytest.raises(ValueError, match=r"n.npz: 'n_layers' must be a positive integer"):
            Network.load(tmp_path / "n.npz")
    np.savez(tmp_path / "objects.npz", n_layers=np.array(1), W0=np.array([[1, None]], dtype=object))
    with pytest.raises(ValueError, match=r"objects.npz is not a readable nnblocks network file: .*[Oo]bject"):
        Network.load(tmp_path / "objects.npz")
    np.save(tmp_path / "single.npy", np.zeros(3))
    (tmp_path / "single.npz").write_bytes((tmp_path / "single.npy").read_bytes())
    (tmp_path / "garbage.npz").write_bytes(b"\x00" * 64)
    for name in ("single.npz", "garbage.npz"):
        with pytest.raises(ValueError, match=rf"{name} is not an nnblocks network file: not an .npz"):
            Network.load(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        Network.load(tmp_path / "missing.npz")
