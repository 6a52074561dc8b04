"""Specification of nnblocks.bounds: sound pre-activation bounds over a box, optionally ∩ a norm ball."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from nnblocks import HardSigmoid, HardTanh, Identity, Layer, LeakyReLU, Network, PiecewiseLinear, ReLU, ReLU6
from nnblocks.bounds import InputDomain, LayerBounds, NetworkBounds, compute_bounds

N_SAMPLES = 10_000


# ---------------------------------------------------------------------------------------------
# random networks and domains
# ---------------------------------------------------------------------------------------------
def random_pwl(rng: np.random.Generator, n_pieces: int) -> PiecewiseLinear:
    """A random continuous piecewise-linear function with n_pieces pieces."""
    t = np.sort(rng.choice(np.arange(-30, 31), size=n_pieces - 1, replace=False) / 10.0)
    a = rng.uniform(-2.0, 2.0, size=n_pieces)
    c = np.empty(n_pieces)
    c[0] = rng.uniform(-1.0, 1.0)
    for p in range(1, n_pieces):  # continuity at t_{p-1}
        c[p] = a[p - 1] * t[p - 1] + c[p - 1] - a[p] * t[p - 1]
    return PiecewiseLinear(t, a, c)


def random_activation(rng: np.random.Generator, kind: str):
    return {
        "relu": ReLU,
        "leaky": lambda: LeakyReLU(0.1),
        "hardtanh": lambda: HardTanh(-1.0, 1.5),
        "relu6": ReLU6,
        "hardsigmoid": HardSigmoid,
        "identity": Identity,
        "pwl3": lambda: random_pwl(rng, 3),
        "pwl4": lambda: random_pwl(rng, 4),
    }[kind]()


KINDS = ["relu", "leaky", "hardtanh", "relu6", "hardsigmoid", "identity", "pwl3", "pwl4"]


def random_network(rng: np.random.Generator, sizes: list[int], kinds: list[str]) -> Network:
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        W = rng.normal(size=(n_out, n_in)) * 1.5 / np.sqrt(n_in)
        b = rng.normal(size=n_out) * 0.5
        layers.append(Layer(W, b, random_activation(rng, kinds[k % len(kinds)])))
    return Network(layers)


def random_domain(rng: np.random.Generator, n: int, norm) -> InputDomain:
    lower = rng.uniform(-2.0, 0.5, size=n)
    upper = lower + rng.uniform(0.0, 2.5, size=n)
    if norm is None:
        return InputDomain.box(lower, upper)
    center = rng.uniform(lower, upper)
    radius = float(rng.uniform(0.05, 2.0))
    return InputDomain(lower, upper, center, norm, radius)


def sample_domain(rng: np.random.Generator, dom: InputDomain, n_samples: int = N_SAMPLES) -> np.ndarray:
    """Points of the domain: uniform in the box ∩ [c - r, c + r] (kept if in the ball), points of the
    ball projected onto the box (with the center inside the box, projection moves every coordinate towards
    the center, so it stays in the ball), and extreme points (box vertices, ball vertices / sphere points,
    projected)."""
    n = dom.dim
    lo, hi = dom.lower, dom.upper
    m = n_samples // 4
    elo, ehi = dom.effective_box()
    pts = [rng.uniform(elo, ehi, size=(m, n)), np.where(rng.random((m, n)) < 0.5, elo, ehi)]
    if dom.center is not None:
        c, r = dom.center, dom.radius
        assert np.all((c >= lo) & (c <= hi))
        if dom.norm == 1:
            g = rng.exponential(size=(m, n)) * rng.choice([-1.0, 1.0], size=(m, n))
            g /= np.abs(g).sum(axis=1, keepdims=True)
            extreme = np.zeros((m, n))
            extreme[np.arange(m), rng.integers(0, n, size=m)] = rng.choice([-1.0, 1.0], size=m)
        elif dom.norm == 2:
            g = rng.normal(size=(m, n))
            g /= np.linalg.norm(g, axis=1, keepdims=True)
            extreme = g.copy()
        else:
            g = rng.uniform(-1.0, 1.0, size=(m, n))
            extreme = rng.choice([-1.0, 1.0], size=(m, n))
        inside = c + r * np.tile(g, (2, 1)) * rng.random((2 * m, 1)) ** (1.0 / n)
        pts += [np.clip(inside, lo, hi), np.clip(c + r * extreme, lo, hi)]
    else:
        pts += [rng.uniform(lo, hi, size=(m, n)), np.where(rng.random((m, n)) < 0.5, lo, hi)]
    X = np.concatenate(pts)
    X = X[dom.contains(X, tol=0.0)]
    assert len(X) >= n_samples // 2
    return X


def assert_inside(net: Network, nb: NetworkBounds, X: np.ndarray) -> None:
    """Every sampled pre-/post-activation lies inside the bounds, and its piece inside the piece range."""
    H = X
    for k, (layer, lb) in enumerate(zip(net.layers, nb.layers), start=1):
        A = H @ layer.W.T + layer.b
        H = layer.activation(A)
        assert np.all(A >= lb.lower), f"layer {k}: pre-activation below its lower bound"
        assert np.all(A <= lb.upper), f"layer {k}: pre-activation above its upper bound"
        assert np.all(H >= lb.post_lower), f"layer {k}: post-activation below its lower bound"
        assert np.all(H <= lb.post_upper), f"layer {k}: post-activation above its upper bound"
        piece_lo, piece_hi = layer.activation.piece_bounds()
        assert np.all(A >= piece_lo[lb.first_piece]) and np.all(A <= piece_hi[lb.last_piece])


# ---------------------------------------------------------------------------------------------
# soundness: interval bounds
# ---------------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=4),
    norm=st.sampled_from([None, 1, 2, "inf"]),
)
def test_interval_bounds_contain_every_sample(seed, sizes, kinds, norm):
    rng = np.random.default_rng(seed)
    net = random_network(rng, sizes, kinds)
    dom = random_domain(rng, sizes[0], norm)
    nb = compute_bounds(net, dom)
    assert nb.method == "interval" and len(nb.layers) == len(net.layers)
    for lb in nb.layers:
        assert np.all(lb.lower <= lb.upper) and np.all(lb.post_lower <= lb.post_upper)
        assert np.all(lb.first_piece <= lb.last_piece)
    assert_inside(net, nb, sample_domain(rng, dom))


@pytest.mark.parametrize("norm", [1, 2, "inf"])
def test_first_layer_interval_against_exact_lp(rng, norm):
    """Over box ∩ L1 / box ∩ Linf the first-layer interval is exact; over box ∩ L2 no wider than
    the dual-norm and the box intervals, and never narrower than the exact range (scipy LP / sampling)."""
    n, m = 6, 5
    W = rng.normal(size=(m, n))
    b = rng.normal(size=m)
    net = Network([Layer(W, b, ReLU())])
    lo, hi = -np.ones(n), np.ones(n) * 0.5
    c = rng.uniform(lo, hi)
    dom = InputDomain(lo, hi, c, norm, 0.8)
    lb = compute_bounds(net, dom).layers[0]
    if norm == 2:
        spread = 0.8 * np.linalg.norm(W, axis=1)
        assert np.all(lb.upper <= W @ c + b + spread + 1e-9) and np.all(lb.lower >= W @ c + b - spread - 1e-9)
        X = sample_domain(rng, dom)
        A = X @ W.T + b
        assert np.all(A.max(axis=0) <= lb.upper) and np.all(A.min(axis=0) >= lb.lower)
        return
    # exact LP over x = c + dp - dm, dp, dm >= 0 (and the box), sum(dp + dm) <= r (L1) or |x - c| <= r (Linf)
    if norm == 1:
        bounds = [(max(0, l_ - c_), h_ - c_) for l_, h_, c_ in zip(lo, hi, c)]
        bounds += [(0, c_ - l_) for l_, c_ in zip(lo, c)]
        A_ub, b_ub = np.ones((1, 2 * n)), [0.8]
    else:
        bounds = [(0, min(h_ - c_, 0.8)) for h_, c_ in zip(hi, c)] + [(0, min(c_ - l_, 0.8)) for l_, c_ in zip(lo, c)]
        A_ub, b_ub = None, None
    for j in range(m):
        cost = np.concatenate([W[j], -W[j]])
        lmin = linprog(cost, A_ub=A_ub, b_ub=b_ub, bounds=bounds).fun + W[j] @ c + b[j]
        lmax = -linprog(-cost, A_ub=A_ub, b_ub=b_ub, bounds=bounds).fun + W[j] @ c + b[j]
        assert lb.lower[j] <= lmin + 1e-12 and lb.upper[j] >= lmax - 1e-12
        assert lb.lower[j] == pytest.approx(lmin, abs=1e-8) and lb.upper[j] == pytest.approx(lmax, abs=1e-8)


def test_hand_computed_example():
    """x in [0, 1]^2; a^1 = (x1 - x2, x1 + x2 - 1); ReLU; a^2 = h1 - 2 h2 + 0.5 (identity)."""
    net = Network(
        [
            Layer([[1.0, -1.0], [1.0, 1.0]], [0.0, -1.0], ReLU()),
            Layer([[1.0, -2.0]], [0.5], Identity()),
        ]
    )
    nb = compute_bounds(net, InputDomain.box([0.0, 0.0], [1.0, 1.0]))
    l1, l2 = nb.layers
    np.testing.assert_allclose(l1.lower, [-1.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(l1.upper, [1.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(l1.post_lower, [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(l1.post_upper, [1.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(l2.lower, [-1.5], atol=1e-12)  # 0 - 2 * 1 + 0.5
    np.testing.assert_allclose(l2.upper, [1.5], atol=1e-12)  # 1 - 0 + 0.5
    assert (l1.n_unstable, l1.n_active, l1.n_inactive) == (2, 0, 0)
    # over the L1 ball of radius 0.5 around (0.5, 0.5) (inside the box): x1 - x2 in [-0.5, 0.5],
    # x1 + x2 - 1 in [-0.5, 0.5]
    nb = compute_bounds(net, InputDomain([0, 0], [1, 1], [0.5, 0.5], 1, 0.5))
    np.testing.assert_allclose(nb.layers[0].lower, [-0.5, -0.5], atol=1e-12)
    np.testing.assert_allclose(nb.layers[0].upper, [0.5, 0.5], atol=1e-12)
    # a ball that leaves x1 - x2 >= 0.2: center (0.8, 0.2), Linf radius 0.1 -> x1 - x2 in [0.4, 0.8]
    nb = compute_bounds(net, InputDomain([0, 0], [1, 1], [0.8, 0.2], "inf", 0.1))
    np.testing.assert_allclose(nb.layers[0].lower[0], 0.4, atol=1e-12)
    np.testing.assert_allclose(nb.layers[0].upper[0], 0.8, atol=1e-12)
    assert nb.layers[0].n_active == 1 and nb.layers[0].stable.tolist() == [True, False]


def test_stability_counts_and_summary():
    W = np.array([[1.0], [-1.0], [1.0], [0.5]])
    b = np.array([2.0, -2.0, 0.0, 10.0])
    net = Network([Layer(W, b, ReLU()), Layer(np.ones((1, 4)), [0.0], Identity())])
    nb = compute_bounds(net, (-1.0, 1.0))  # scalar box broadcast
    lb = nb.layers[0]
    assert (lb.n_active, lb.n_inactive, lb.n_unstable, lb.n_stable) == (2, 1, 1, 3)
    rows = nb.summary()
    assert rows[0] == {**rows[0], "layer": 1, "n": 4, "active": 2, "inactive": 1, "unstable": 1, "stable": 3}
    assert rows[0]["mean_width"] == pytest.approx(np.mean([2, 2, 2, 1]))
    # identity layer: one piece, always stable, counted active (last piece) and never inactive
    assert (nb.layers[1].n_active, nb.layers[1].n_inactive) == (1, 0)
    assert isinstance(nb.layers[0], LayerBounds) and nb.time >= 0


def test_infinite_box():
    """Unbounded inputs: bounds may be infinite, but never NaN and never wrongly finite."""
    W = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, -1.0], [0.0, 0.0]])
    net = Network([Layer(W, np.zeros(4), ReLU()), Layer(np.array([[1.0, 1.0, 0.0, 1.0]]), [0.0], HardTanh())])
    nb = compute_bounds(net, InputDomain.box([0.0, -np.inf], [np.inf, 1.0]))
    l1 = nb.layers[0]
    assert l1.lower[0] <= 0 and l1.upper[0] == np.inf
    assert l1.lower[1] == -np.inf and l1.upper[1] == pytest.approx(2.0)
    assert l1.lower[2] == pytest.approx(-1.0) and l1.upper[2] == np.inf  # x1 - x2 in [0 - 1, inf)
    assert l1.lower[3] == pytest.approx(0.0, abs=1e-300) and l1.upper[3] == pytest.approx(0.0, abs=1e-300)
    assert l1.first_piece[0] == l1.last_piece[0] == 1 and l1.stable[3]  # x1 >= 0: active
    assert not np.isnan(nb.layers[1].lower).any() and nb.layers[1].post_upper[0] == 1.0
    # with a ball the domain is bounded again
    nb = compute_bounds(net, InputDomain([0.0, -np.inf], [np.inf, 1.0], [1.0, 0.0], 2, 1.0))
    assert np.all(np.isfinite(nb.layers[0].lower)) and np.all(np.isfinite(nb.layers[0].upper))


def test_pieces_of_degenerate_and_boundary_intervals():
    net = Network([Layer(np.array([[0.0], [1.0], [-1.0]]), np.array([0.0, 0.0, 0.0]), ReLU())])
    lb = compute_bounds(net, InputDomain.box([0.5], [1.0])).layers[0]
    # neuron 0 is constantly 0 (= the breakpoint): stable; neuron 1 = x > 0 active; neuron 2 = -x < 0 inactive
    assert lb.lower[0] == lb.upper[0] == 0.0 and lb.stable.all()
    assert lb.first_piece.tolist() == [0, 1, 0] and (lb.n_active, lb.n_inactive) == (1, 2)
    # a neuron exactly on the breakpoint at one end of its range: soundness first, it may stay unstable
    # (rounding margins), but its piece range always covers the pieces the samples use
    lb = compute_bounds(net, InputDomain.box([0.0], [1.0])).layers[0]
    assert lb.first_piece[1] <= 1 == lb.last_piece[1] and lb.first_piece[2] == 0 <= lb.last_piece[2]


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: InputDomain([0.0, 0.0], [1.0]), "different shapes"),
        (lambda: InputDomain([0.0, 0.0], [1.0, 1.0], [np.nan, 0.0], 1, 1.0), "NaN"),
        (lambda: InputDomain([0.0, 0.0], [1.0, 1.0], [0.5, 0.5], 1, -1.0), "radius"),
        (lambda: InputDomain([0.0, 0.0], [1.0, 1.0], [0.5, 0.5], 3, 1.0), "norm"),
        (lambda: InputDomain([0.0, 0.0], [1.0, 1.0], [0.5, 0.5, 0.5], 2, 1.0), "center has shape"),
        (lambda: InputDomain([0.0, 2.0], [1.0, 1.0]), "empty box"),
        (lambda: InputDomain([0.0, np.nan], [1.0, 1.0]), "NaN"),
        (lambda: InputDomain([0.0, 0.0], [1.0, 1.0], [3.0, 3.0], "inf", 1.0), "empty domain"),
        (lambda: InputDomain([0.0, 0.0], [1.0, 1.0], [0.5, 0.5], 2, None), "center, norm and radius"),
    ],
)
def test_invalid_domains(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_invalid_calls():
    net = Network([Layer(np.ones((2, 3)), np.zeros(2), ReLU())])
    with pytest.raises(ValueError, match="dimension 2.*expects 3"):
        compute_bounds(net, InputDomain.box(np.zeros(2), np.ones(2)))
    with pytest.raises(ValueError, match="unknown bounds method"):
        compute_bounds(net, (0, 1), method="zonotope")
    with pytest.raises(TypeError, match="domain"):
        compute_bounds(net, "box")


# ---------------------------------------------------------------------------------------------
# LP tightening
# ---------------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    sizes=st.lists(st.integers(1, 6), min_size=3, max_size=5),
    kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=4),
    norm=st.sampled_from([None, 1, 2, "inf"]),
    only_unstable=st.booleans(),
)
def test_lp_bounds_are_sound_and_inside_interval_bounds(seed, sizes, kinds, norm, only_unstable):
    rng = np.random.default_rng(seed)
    net = random_network(rng, sizes, kinds)
    dom = random_domain(rng, sizes[0], norm)
    ib = compute_bounds(net, dom)
    lb = compute_bounds(net, dom, method="lp", only_unstable=only_unstable)
    assert lb.method == "lp" and lb.complete and not lb.infeasible
    for i, l in zip(ib.layers, lb.layers):
        assert np.all(l.lower >= i.lower) and np.all(l.upper <= i.upper)
        assert np.all(l.lower <= l.upper)
        assert np.all(l.post_lower >= i.post_lower) and np.all(l.post_upper <= i.post_upper)
        assert l.n_stable >= i.n_stable
    assert_inside(net, lb, sample_domain(rng, dom))


def test_lp_hand_computed_triangle_and_hull():
    # |x| = relu(x) + relu(-x) over [-1, 1]: interval [0, 2], triangle relaxation h_i <= (1 +- x) / 2 -> [0, 1]
    net = Network([Layer([[1.0], [-1.0]], [0.0, 0.0], ReLU()), Layer([[1.0, 1.0]], [0.0], Identity())])
    ib = compute_bounds(net, ([-1.0], [1.0]))
    lb = compute_bounds(net, ([-1.0], [1.0]), method="lp")
    assert ib.layers[1].upper[0] == pytest.approx(2.0)
    assert lb.layers[1].lower[0] == pytest.approx(0.0, abs=1e-9)
    assert lb.layers[1].upper[0] == pytest.approx(1.0, abs=1e-9)
    # hardtanh(x) - x / 2 over [-2, 2]: interval [-2, 2]; the convex hull of the graph (vertices (-2, -1),
    # (-1, -1), (1, 1), (2, 1)) gives the exact range [-0.5, 0.5]
    # (sigma has a fourth piece z - 9 beyond 10: neuron 2, a = x + 20 in [18, 22], is stable with h = x + 11,
    # so y = h1 - h2 / 2 + 5.5 = hardtanh(x) - x / 2)
    sigma = PiecewiseLinear([-1.0, 1.0, 10.0], [0.0, 1.0, 0.0, 1.0], [-1.0, 0.0, 1.0, -9.0])
    net = Network([Layer([[1.0], [1.0]], [0.0, 20.0], sigma), Layer([[1.0, -0.5]], [5.5], Identity())])
    ib = compute_bounds(net, ([-2.0], [2.0]))
    lb = compute_bounds(net, ([-2.0], [2.0]), method="lp")
    assert ib.layers[1].lower[0] == pytest.approx(-2.0) and ib.layers[1].upper[0] == pytest.approx(2.0)
    assert lb.layers[1].lower[0] == pytest.approx(-0.5, abs=1e-9)
    assert lb.layers[1].upper[0] == pytest.approx(0.5, abs=1e-9)


def test_lp_output_constraints_tighten_earlier_layers():
    # h = relu(x), y = h1 + h2 over [-1, 1]^2; with y <= 0.5 every x_i <= h_i <= 0.5
    net = Network([Layer(np.eye(2), np.zeros(2), ReLU()), Layer([[1.0, 1.0]], [0.0], Identity())])
    nb = compute_bounds(net, ([-1.0, -1.0], [1.0, 1.0]), method="lp", output_constraints=(np.array([[1.0]]), [0.5]))
    assert not nb.infeasible
    np.testing.assert_allclose(nb.layers[0].upper, [0.5, 0.5], atol=1e-9)
    np.testing.assert_allclose(nb.layers[0].lower, [-1.0, -1.0], atol=1e-9)
    assert nb.layers[1].upper[0] == pytest.approx(0.5, abs=1e-9)
    # y <= -1 is impossible (y >= 0): proven infeasible
    nb = compute_bounds(net, ([-1.0, -1.0], [1.0, 1.0]), method="lp", output_constraints=[([1.0], [-1.0])])
    assert nb.infeasible


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    sizes=st.lists(st.integers(2, 5), min_size=3, max_size=4),
    norm=st.sampled_from([None, 1, 2, "inf"]),
)
def test_lp_output_constraints_are_sound(seed, sizes, norm):
    """Every sampled input whose output satisfies A y <= b has its pre-activations inside the bounds."""
    rng = np.random.default_rng(seed)
    net = random_network(rng, sizes, ["relu", "pwl3", "leaky"])
    dom = random_domain(rng, sizes[0], norm)
    X = sample_domain(rng, dom)
    Y = net.forward(X)
    A = rng.normal(size=(2, sizes[-1]))
    b = np.quantile(Y @ A.T, 0.5, axis=0)  # keeps roughly a quarter of the samples
    keep = np.all(Y @ A.T <= b, axis=1)
    nb = compute_bounds(net, dom, method="lp", output_constraints=(A, b), passes=2)
    assert not nb.infeasible
    ib = compute_bounds(net, dom)
    for i, l in zip(ib.layers, nb.layers):
        assert np.all(l.lower >= i.lower) and np.all(l.upper <= i.upper)
    assert_inside(net, nb, X[keep])


def test_lp_with_unbounded_inputs_and_time_limit(rng):
    net = random_network(rng, [3, 5, 4, 2], ["relu", "hardtanh"])
    dom = InputDomain.box([0.0, -np.inf, -1.0], [np.inf, 1.0, 1.0])
    ib = compute_bounds(net, dom)
    lb = compute_bounds(net, dom, method="lp")
    for i, l in zip(ib.layers, lb.layers):
        assert np.all(l.lower >= i.lower) and np.all(l.upper <= i.upper) and not np.isnan(l.lower).any()
    X = rng.uniform([0.0, -50.0, -1.0], [50.0, 1.0, 1.0], size=(N_SAMPLES, 3))
    assert_inside(net, lb, X)
    # a time limit too short for any LP: interval bounds, flagged incomplete
    big = random_network(rng, [20, 30, 30, 3], ["relu"])
    nb = compute_bounds(big, (-np.ones(20), np.ones(20)), method="lp", time_limit=1e-9)
    assert not nb.complete
    assert_inside(big, nb, rng.uniform(-1, 1, size=(1000, 20)))


def test_lp_invalid_arguments():
    net = Network([Layer(np.ones((2, 3)), np.zeros(2), ReLU())])
    with pytest.raises(ValueError, match="shape"):
        compute_bounds(net, (0, 1), method="lp", output_constraints=(np.ones((1, 3)), [0.0]))
    with pytest.raises(ValueError, match="NaN"):
        compute_bounds(net, (0, 1), method="lp", output_constraints=(np.array([[np.nan, 1.0]]), [0.0]))
    with pytest.raises(ValueError, match="passes"):
        compute_bounds(net, (0, 1), method="lp", passes=0)
    with pytest.raises(ValueError, match="output_constraints need method='lp'"):
        compute_bounds(net, (0, 1), output_constraints=(np.ones((1, 2)), [0.0]))


def test_lp_interior_point_path_is_sound(monkeypatch):
    """Large LPs go to interior point without crossover; its approximate duals still give sound bounds."""
    import nnblocks.bounds.lp as lp_module

    monkeypatch.setattr(lp_module, "_IPM_NNZ", 0)
    rng = np.random.default_rng(7)
    for norm in (None, 1, 2):
        net = random_network(rng, [4, 6, 6, 2], ["relu", "pwl3"])
        dom = random_domain(rng, 4, norm)
        ib = compute_bounds(net, dom)
        lb = compute_bounds(net, dom, method="lp")
        for i, l in zip(ib.layers, lb.layers):
            assert np.all(l.lower >= i.lower) and np.all(l.upper <= i.upper)
        assert_inside(net, lb, sample_domain(rng, dom))


def test_lp_bounds_equal_an_independent_triangle_lp(rng):
    """Layer-2 LP bounds of a ReLU network over a box equal the triangle-relaxation LP solved by scipy."""
    for _ in range(5):
        n0, n1 = 3, 5
        W1, b1 = rng.normal(size=(n1, n0)), rng.normal(size=n1)
        W2, b2 = rng.normal(size=(2, n1)), rng.normal(size=2)
        net = Network([Layer(W1, b1, ReLU()), Layer(W2, b2, Identity())])
        lo, hi = -np.ones(n0), np.ones(n0)
        lb = compute_bounds(net, (lo, hi), method="lp")
        L, U = lb.layers[0].lower, lb.layers[0].upper
        # variables (x, h); rows A_ub v <= b_ub, A_eq v = b_eq
        A_ub, b_ub, A_eq, b_eq = [], [], [], []
        for j in range(n1):
            e = np.zeros(n1)
            e[j] = 1.0
            if L[j] >= 0:  # active: h = a
                A_eq.append(np.concatenate([-W1[j], e]))
                b_eq.append(b1[j])
            elif U[j] <= 0:  # inactive: h = 0
                A_eq.append(np.concatenate([np.zeros(n0), e]))
                b_eq.append(0.0)
            else:  # h >= a, h <= U (a - L) / (U - L)   (h >= 0 by the variable bound)
                A_ub.append(np.concatenate([W1[j], -e]))
                b_ub.append(-b1[j])
                s = U[j] / (U[j] - L[j])
                A_ub.append(np.concatenate([-s * W1[j], e]))
                b_ub.append(s * (b1[j] - L[j]))
        kw = dict(
            A_ub=np.array(A_ub) if A_ub else None,
            b_ub=b_ub or None,
            A_eq=np.array(A_eq) if A_eq else None,
            b_eq=b_eq or None,
            bounds=[(-1.0, 1.0)] * n0 + [(0.0, None)] * n1,
        )
        for i in range(2):
            cost = np.concatenate([np.zeros(n0), W2[i]])
            lmin = linprog(cost, **kw).fun + b2[i]
            lmax = -linprog(-cost, **kw).fun + b2[i]
            assert lb.layers[1].lower[i] == pytest.approx(lmin, abs=1e-7)
            assert lb.layers[1].upper[i] == pytest.approx(lmax, abs=1e-7)


@pytest.mark.parametrize("norm", [1, 2, "inf"])
def test_center_outside_the_box(rng, norm):
    """The ball's center may lie outside the box as long as the two meet; samples by rejection."""
    net = random_network(rng, [3, 6, 5, 2], ["relu", "pwl4", "identity"])
    dom = InputDomain(np.zeros(3), np.ones(3), [1.3, 0.5, -0.2], norm, 0.9)
    X = rng.uniform(0.0, 1.0, size=(200_000, 3))
    X = X[dom.contains(X, tol=0.0)]
    assert len(X) > 1000
    for method in ("interval", "lp"):
        assert_inside(net, compute_bounds(net, dom, method=method), X)


def test_lp_failures_warn_and_keep_the_interval_bounds(monkeypatch):
    """An LP without a usable dual solution never tightens silently: its neurons keep the interval bounds."""
    import nnblocks.bounds.lp as lp_module

    monkeypatch.setattr(lp_module._LayerLP, "minimize", lambda self, col, sense, left: (-np.inf, "none"))
    net = random_network(np.random.default_rng(3), [4, 6, 6, 2], ["relu"])
    ib = compute_bounds(net, (0.0, 1.0))
    with pytest.warns(RuntimeWarning, match="keep their interval bounds"):
        lb = compute_bounds(net, (0.0, 1.0), method="lp")
    for i, l in zip(ib.layers, lb.layers):
        np.testing.assert_array_equal(i.lower, l.lower)
        np.testing.assert_array_equal(i.upper, l.upper)


def test_layer_lp_leaves_out_rows_implied_by_column_bounds(rng):
    """The layer LP holds no explicit zeros and no one-entry row implied by its column's bounds (ReLU h >= 0),
    one row fewer per unstable ReLU than the relaxation has, and its bounds still contain every sample."""
    from nnblocks.bounds import lp as lp_module
    from nnblocks.bounds.interval import interval_bounds

    net = Network([Layer(rng.normal(size=(12, 4)), rng.normal(size=12), ReLU()),
                   Layer(rng.normal(size=(9, 12)) / 3, rng.normal(size=9), ReLU()),
                   Layer(rng.normal(size=(3, 9)) / 3, np.zeros(3), Identity())])
    dom = InputDomain.box(-np.ones(4), np.ones(4))
    layers = interval_bounds(net, dom)
    lp = lp_module._LayerLP(net, dom, layers, 2, 2, None)
    A = lp.A.tocsr()
    assert np.all(A.data != 0)
    single = np.flatnonzero(np.diff(A.indptr) == 1)
    c = A.indices[A.indptr[single]]
    unit = A.data[A.indptr[single]] == 1
    implied = unit & (lp.row_lo[single] <= lp.col_lo[c]) & (lp.row_hi[single] >= lp.col_hi[c])
    assert not implied.any()
    n_rows = 0
    for k in range(2):
        _, _, rl, _ = lp_module._relaxation_rows(net.layers[k].activation, layers[k])
        n_rows += net.layers[k].n_out + rl.size - int(np.count_nonzero(~layers[k].stable))
    assert A.shape[0] == n_rows + net.layers[2].n_out
    nb = compute_bounds(net, dom, method="lp")
    X = rng.uniform(-1, 1, size=(2000, 4))
    h = X
    for layer, lb in zip(net.layers, nb.layers):
        a = h @ layer.W.T + layer.b
        assert np.all(a >= lb.lower - 1e-9) and np.all(a <= lb.upper + 1e-9)
        h = layer.activation(a)
