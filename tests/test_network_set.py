"""NetworkUncertaintySet: membership, radius quantile, and the adversarial problem max_{c in U} c'x.

Exact oracles come from Lemma 4 of Goerigk & Kurtz (ellipsoid: closed form; polyhedron: one LP; binary
polytope: enumeration). On small networks all activation patterns are enumerated, so the pattern method
over all of them is exact and must agree with the mixed-integer program of Theorem 3.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from nnblocks.activations import Identity, ReLU
from nnblocks.network import Layer, Network
from nnblocks.robust import NetworkUncertaintySet, UncertaintySet, WorstCase
from nnblocks.robust.lemma4 import binary_polytope_network, ellipsoid_network, polyhedron_network
from tests.conftest import shared_data

TOL = 1e-6


def _random_net(rng, sizes, bias=True):
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        act = Identity() if k == len(sizes) - 2 else ReLU()
        b = rng.normal(size=n_out) if bias else np.zeros(n_out)
        layers.append(Layer(rng.normal(size=(n_out, n_in)), b, act))
    return Network(layers)


def _small_set(seed=0, norm=2, q=0.6):
    rng = np.random.default_rng(seed)
    net = _random_net(rng, (2, 5, 4, 2))
    data = rng.uniform(-1, 1, size=(300, 2))
    center = net.forward(data).mean(axis=0)
    return NetworkUncertaintySet.from_quantile(net, center, data, q, norm=norm)


def _all_patterns(net):
    n = sum(layer.n_out for layer in net.layers if layer.activation.n_pieces > 1)
    return np.array(list(itertools.product((0, 1), repeat=n)), dtype=np.int64)


def _check_member(U, wc, x):
    assert isinstance(wc, WorstCase)
    assert U.contains(wc.scenario, tol=TOL)
    assert wc.value == pytest.approx(float(wc.scenario @ x), rel=1e-12, abs=1e-12)


# -- membership and the radius ---------------------------------------------------------------
def test_from_quantile_radius_is_numpy_quantile_and_domain_is_box_of_inside_points():
    U = _small_set(seed=0, q=0.7)
    r = np.linalg.norm(U.network.forward(U.data) - U.center, axis=1)
    assert U.radius == np.quantile(r, 0.7)
    np.testing.assert_allclose(U.radii(U.data), r)
    inside = U.data[r <= U.radius]
    np.testing.assert_array_equal(U.domain[0], inside.min(axis=0))
    np.testing.assert_array_equal(U.domain[1], inside.max(axis=0))
    assert np.mean(U.contains(U.data)) == pytest.approx(0.7, abs=0.01)
    assert isinstance(U, UncertaintySet) and U.dim == 2


@pytest.mark.parametrize("norm, ord_", [(1, 1), (2, 2), ("inf", np.inf)])
def test_radii_and_contains_follow_the_norm(norm, ord_, rng):
    U = _small_set(seed=3, norm=norm)
    C = rng.uniform(-2, 2, size=(50, 2))
    expected = np.linalg.norm(U.network.forward(C) - U.center, ord=ord_, axis=1)
    np.testing.assert_allclose(U.radii(C), expected)
    np.testing.assert_array_equal(U.contains(C), expected <= U.radius + TOL * max(1, U.radius))
    assert U.contains(C[0]) == bool(expected[0] <= U.radius + TOL * max(1, U.radius))


def test_bad_input_is_named():
    net = _random_net(np.random.default_rng(0), (2, 3, 2))
    with pytest.raises(ValueError, match="center"):
        NetworkUncertaintySet(net, np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="radius"):
        NetworkUncertaintySet(net, np.zeros(2), -1.0)
    with pytest.raises(ValueError, match="norm"):
        NetworkUncertaintySet(net, np.zeros(2), 1.0, norm=3)
    U = NetworkUncertaintySet(net, np.zeros(2), 1.0)
    with pytest.raises(ValueError, match="needs points"):
        U.worst_case(np.ones(2))
    with pytest.raises(ValueError, match="x must have 2"):
        U.worst_case(np.ones(3), points=np.zeros((1, 2)))
    with pytest.raises(ValueError, match="unknown method"):
        U.worst_case(np.ones(2), method="magic", points=np.zeros((1, 2)))



def test_domain_of_the_wrong_shape_is_named():
    net = _random_net(np.random.default_rng(0), (2, 3, 2))
    with pytest.raises(ValueError, match=r"domain lower bound has shape \(5,\), expected a scalar or length 2"):
        NetworkUncertaintySet(net, np.zeros(2), 1.0, domain=(np.zeros(5), 1.0))
    with pytest.raises(ValueError, match=r"domain upper bound has shape \(2, 2\), expected a scalar or length 2"):
        NetworkUncertaintySet(net, np.zeros(2), 1.0, domain=(0.0, np.ones((2, 2))))
    with pytest.raises(ValueError, match=r"domain must be a box \(lower, upper\).*got \(0, 1, 2\)"):
        NetworkUncertaintySet(net, np.zeros(2), 1.0, domain=(0, 1, 2))
    with pytest.raises(ValueError, match="domain must be a box"):
        NetworkUncertaintySet(net, np.zeros(2), 1.0, domain="data")
    with pytest.raises(ValueError, match="domain lower bound must be a number or an array of length 2, got 'a'"):
        NetworkUncertaintySet(net, np.zeros(2), 1.0, domain=("a", 1.0))
    U = NetworkUncertaintySet(net, np.zeros(2), 1.0, domain=([0.0], [1.0, 2.0]))  # length 1 acts as a scalar
    np.testing.assert_array_equal(U.domain[0], [0.0, 0.0])
    np.testing.assert_array_equal(U.domain[1], [1.0, 2.0])


def test_data_with_nan_is_refused_with_its_rows():
    net = _random_net(np.random.default_rng(0), (2, 3, 2))
    data = np.random.default_rng(1).uniform(size=(6, 2))
    data[[1, 4], 0] = np.nan
    with pytest.raises(ValueError, match=r"data contains NaN or infinite values in 2 row\(s\): \[1, 4\]"):
        NetworkUncertaintySet(net, np.zeros(2), 1.0, data=data)
    with pytest.raises(ValueError, match=r"data contains NaN or infinite values in 2 row\(s\): \[1, 4\]"):
        NetworkUncertaintySet.from_quantile(net, np.zeros(2), data, 0.9)
    with pytest.raises(ValueError, match=r"data contains NaN or infinite values in 5 row\(s\)"):
        NetworkUncertaintySet.from_quantile(net, np.zeros(2), np.full((5, 2), np.nan), 0.9)


@pytest.mark.parametrize("method", ["patterns", "exact"])
@pytest.mark.parametrize("time_limit", [0, -1, float("nan")])
def test_worst_case_refuses_a_time_limit_that_is_not_positive(method, time_limit):
    U = _small_set(seed=0)
    with pytest.raises(ValueError, match="time_limit must be positive"):
        U.worst_case(np.ones(2), method=method, time_limit=time_limit)


@pytest.mark.parametrize("tol", [-1.0, float("nan"), float("inf")])
def test_worst_case_refuses_a_membership_tolerance_that_is_not_finite_and_non_negative(tol):
    U = _small_set(seed=0)
    with pytest.raises(ValueError, match="tol must be finite and >= 0"):
        U.worst_case(np.ones(2), tol=tol)


# -- Lemma 4 oracles -------------------------------------------------------------------------
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_ellipsoid_network_patterns_match_closed_form(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 5))
    B = rng.normal(size=(n, n))
    Sigma = B @ B.T + 0.5 * np.eye(n)
    a = rng.normal(size=n) * 3
    x = rng.normal(size=n)
    net, center, R = ellipsoid_network(Sigma, a)
    U = NetworkUncertaintySet(net, center, R)
    C = a + rng.normal(size=(200, n))  # membership equals the quadratic form
    quad = np.einsum("ij,jk,ik->i", C - a, Sigma, C - a)
    np.testing.assert_array_equal(U.contains(C, tol=0), quad <= 1)
    wc = U.worst_case(x, points=a[None, :])
    expected = a @ x + np.sqrt(x @ np.linalg.solve(Sigma, x))
    assert wc.value == pytest.approx(expected, rel=1e-6, abs=1e-6)
    _check_member(U, wc, x)
    assert wc.stats["n_patterns"] == 1


def _bounded_polyhedron(rng, n, p):
    A = np.vstack([rng.normal(size=(p, n)), np.eye(n), -np.eye(n)])
    b = np.concatenate([rng.uniform(0.5, 2.0, size=p), np.full(2 * n, 3.0)])
    return A, b


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_polyhedron_network_patterns_match_lp(seed):
    rng = np.random.default_rng(seed)
    n, p = int(rng.integers(2, 5)), int(rng.integers(1, 6))
    A, b = _bounded_polyhedron(rng, n, p)
    net, center, R = polyhedron_network(A, b)
    U = NetworkUncertaintySet(net, center, R)
    C = rng.uniform(-4, 4, size=(300, n))
    np.testing.assert_array_equal(U.contains(C, tol=0), np.all(C @ A.T <= b, axis=1))
    x = rng.normal(size=n)
    lp = linprog(-x, A_ub=A, b_ub=b, bounds=[(None, None)] * n, method="highs")
    inside = np.zeros((1, n))  # b > 0, so 0 is inside; every point of U has the all-inactive pattern
    wc = U.worst_case(x, points=inside)
    assert wc.value == pytest.approx(-lp.fun, rel=1e-6, abs=1e-6)
    _check_member(U, wc, x)


def test_binary_polytope_network_patterns_over_its_points_find_the_best_point(rng):
    n = 5
    A = rng.integers(0, 3, size=(2, n)).astype(float)
    c0 = np.array([1, 0, 1, 1, 0], dtype=float)
    b = A @ c0
    net, center, R = binary_polytope_network(A, b)
    U = NetworkUncertaintySet(net, center, R)
    cube = np.array(list(itertools.product((0.0, 1.0), repeat=n)))
    members = cube[np.all(np.isclose(cube @ A.T, b), axis=1)]
    np.testing.assert_array_equal(U.contains(cube, tol=0), np.all(np.isclose(cube @ A.T, b), axis=1))
    assert not U.contains(c0 + 0.3)
    x = rng.normal(size=n)
    wc = U.worst_case(x, points=members)
    assert wc.value == pytest.approx(np.max(members @ x), abs=1e-6)
    _check_member(U, wc, x)


# -- the pattern method over all patterns of small networks ---------------------------------------
@pytest.mark.parametrize("norm", [2, 1, "inf"])
def test_all_patterns_bound_every_sampled_member(norm, rng):
    U = _small_set(seed=0, norm=norm)
    grid = rng.uniform(U.domain[0], U.domain[1], size=(20_000, 2))
    members = grid[U.contains(grid, tol=0)]
    for _ in range(3):
        x = rng.normal(size=2)
        wc = U.worst_case(x, patterns=_all_patterns(U.network))
        _check_member(U, wc, x)
        assert wc.value >= np.max(members @ x) - 1e-7
        data = U.worst_case(x)  # only the patterns of the data inside U
        assert data.value <= wc.value + 1e-7
        assert data.value >= np.max(U.data[U.contains(U.data, tol=0)] @ x) - 1e-9


def test_pattern_stats_and_reuse_of_duals_skip_patterns():
    U = _small_set(seed=4, q=0.9)
    x = np.array([1.0, 0.3])
    first = U.worst_case(x)
    again = U.worst_case(x)
    assert first.stats["n_patterns"] == len(U.patterns())
    assert first.stats["n_solved"] + first.stats["n_skipped"] + first.stats["n_infeasible"] == len(U.patterns())
    assert len(first.stats["pattern_times"]) == first.stats["n_solved"]
    assert again.value == pytest.approx(first.value, rel=1e-9, abs=1e-9)
    assert again.stats["n_skipped"] >= len(U.patterns()) - 1  # the duals of the first call prove the rest
    assert first.status == "feasible" and first.bound is None
    assert first.stats["patterns_bound"] >= first.value - 1e-9


@pytest.mark.parametrize("norm", [2, 1, "inf"])
def test_stop_above_returns_a_verified_member_above_the_threshold_or_the_full_maximum(norm, rng):
    U = _small_set(seed=2, norm=norm, q=0.9)
    pieces = _all_patterns(U.network)
    for _ in range(4):
        x = rng.normal(size=2)
        full = _small_set(seed=2, norm=norm, q=0.9).worst_case(x, patterns=pieces)
        assert not full.stats["early_stop"] and full.stats["n_not_run"] == 0
        # a threshold every region beats: the first solved region ends the search
        low = U.worst_case(x, patterns=pieces, stop_above=-1e9)
        _check_member(U, low, x)
        assert low.value > -1e9 and low.value <= full.value + 1e-7
        assert low.stats["early_stop"] and low.stats["n_solved"] == 1
        assert low.stats["n_not_run"] > 0 and low.stats["patterns_bound"] is None
        # a threshold just below the maximum: a member above it (possibly the maximiser itself)
        mid = full.value - 0.25 * abs(full.value) - 1e-3
        near = U.worst_case(x, patterns=pieces, stop_above=mid)
        _check_member(U, near, x)
        assert mid < near.value <= full.value + 1e-7
        # no region exceeds the threshold: the search is complete, as without it
        high = U.worst_case(x, patterns=pieces, stop_above=full.value + 1.0)
        _check_member(U, high, x)
        assert not high.stats["early_stop"] and high.stats["n_not_run"] == 0
        assert high.value == pytest.approx(full.value, rel=1e-7, abs=1e-7)
        assert high.stats["patterns_bound"] >= high.value - 1e-9


def test_stop_above_with_an_executor_and_bad_value(rng):
    U = _small_set(seed=3, q=0.9)
    x = rng.normal(size=2)
    full = U.worst_case(x)
    with ProcessPoolExecutor(2) as pool:
        high = U.worst_case(x, executor=pool, n_batches=2, stop_above=full.value + 1.0)
        low = U.worst_case(x, executor=pool, n_batches=2, stop_above=-1e9)
    assert high.value == pytest.approx(full.value, rel=1e-8, abs=1e-8) and not high.stats["early_stop"]
    _check_member(U, low, x)
    with pytest.raises(ValueError, match="stop_above"):
        U.worst_case(x, stop_above=float("nan"))


def test_unbounded_region_without_domain_is_an_error():
    net = Network([Layer(np.array([[1.0, 0.0]]), np.zeros(1), ReLU())])
    U = NetworkUncertaintySet(net, np.zeros(1), 1.0)  # U = {c : c_1 <= 1}, c_2 free
    with pytest.raises(ValueError, match="unbounded"):
        U.worst_case(np.array([0.0, 1.0]), points=np.zeros((1, 2)))
    bounded = NetworkUncertaintySet(net, np.zeros(1), 1.0, domain=([-5, -5], [5, 5]))
    x = np.array([1.0, 1.0])
    # the point 0 has the inactive pattern (region c_1 <= 0); both patterns together reach c = (1, 5)
    assert bounded.worst_case(x, points=np.zeros((1, 2))).value == pytest.approx(5.0, abs=1e-6)
    assert bounded.worst_case(x, patterns=[[0], [1]]).value == pytest.approx(6.0, abs=1e-6)


# -- executors ---------------------------------------------------------------------------------
def _serial_and(executor_results, U, xs):
    for x, par in zip(xs, executor_results):
        ser = U.worst_case(x)
        assert par.value == pytest.approx(ser.value, rel=1e-8, abs=1e-8)
        _check_member(U, par, x)


def test_process_pool_gives_the_serial_result(rng):
    U = _small_set(seed=3, q=0.9)
    V = _small_set(seed=3, q=0.9)
    xs = [rng.normal(size=2) for _ in range(3)]
    with ProcessPoolExecutor(2) as pool:
        par = [V.worst_case(x, executor=pool, n_batches=3) for x in xs]
    _serial_and(par, U, xs)


def test_dask_executor_gives_the_serial_result(rng):
    distributed = pytest.importorskip("distributed")
    U = _small_set(seed=6, q=0.9)
    V = _small_set(seed=6, q=0.9)
    xs = [rng.normal(size=2) for _ in range(3)]
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cl,
        distributed.Client(cl) as client,
    ):
        par = [V.worst_case(x, executor=client.get_executor()) for x in xs]
    _serial_and(par, U, xs)


# -- the authors' 2-D instances ------------------------------------------------------------------
@pytest.mark.shared_data
@pytest.mark.parametrize("type_, instance", [(1, 26), (2, 21), (3, 21)])
def test_authors_2d_instances(type_, instance):
    from nnblocks.datasets.ro_dnn import load_instance

    inst = load_instance(shared_data("ro-dnn"), 2, type_, instance)
    U = NetworkUncertaintySet.from_quantile(inst.network, inst.center, inst.train, 0.9)
    r = np.linalg.norm(inst.network.forward(inst.train) - inst.center, axis=1)
    assert U.radius == np.quantile(r, 0.9)
    assert np.sum(r <= U.radius) == 450
    pset = U.patterns()
    assert 1 <= len(pset) <= 450 and pset.counts.sum() == 450
    assert np.all(U.contains(pset.representatives, tol=0))
    x = np.array([1.0, -0.5])
    wc = U.worst_case(x)
    _check_member(U, wc, x)
    assert wc.value >= np.max(inst.train[r <= U.radius] @ x) - 1e-9
    assert np.all(wc.scenario >= U.domain[0] - 1e-7) and np.all(wc.scenario <= U.domain[1] + 1e-7)


# -- the exact method (Theorem 3) ---------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("norm", [2, 1, "inf"])
def test_exact_equals_patterns_over_all_patterns(norm, rng):
    U = _small_set(seed=0, norm=norm)
    everything = _all_patterns(U.network)
    for _ in range(2):
        x = rng.normal(size=2)
        ex = U.worst_case(x, method="exact")
        assert ex.status == "optimal" and ex.method == "exact"
        _check_member(U, ex, x)
        full = U.worst_case(x, patterns=everything)
        assert ex.value == pytest.approx(full.value, rel=1e-6, abs=1e-6)
        assert ex.bound >= ex.value and ex.bound == pytest.approx(ex.value, rel=1e-6, abs=1e-6)


def test_exact_ellipsoid_and_polyhedron_oracles(rng):
    n = 3
    B = rng.normal(size=(n, n))
    Sigma = B @ B.T + 0.5 * np.eye(n)
    a = rng.normal(size=n)
    x = rng.normal(size=n)
    net, center, R = ellipsoid_network(Sigma, a)
    U = NetworkUncertaintySet(net, center, R, domain=(a - 10, a + 10))
    wc = U.worst_case(x, method="exact")
    assert wc.value == pytest.approx(a @ x + np.sqrt(x @ np.linalg.solve(Sigma, x)), rel=1e-6, abs=1e-6)
    _check_member(U, wc, x)
    A, b = _bounded_polyhedron(rng, n, 4)
    lp = linprog(-x, A_ub=A, b_ub=b, bounds=[(None, None)] * n, method="highs")
    net, center, R = polyhedron_network(A, b)
    for norm in (2, 1, "inf"):
        U = NetworkUncertaintySet(net, center, R, norm=norm, domain=(-5 * np.ones(n), 5 * np.ones(n)))
        wc = U.worst_case(x, method="exact")
        assert wc.status == "optimal"
        assert wc.value == pytest.approx(-lp.fun, rel=1e-6, abs=1e-6)
        _check_member(U, wc, x)


def test_exact_binary_polytope_uses_the_four_piece_activation(rng):
    n = 5
    A = rng.integers(0, 3, size=(2, n)).astype(float)
    b = A @ np.array([1, 0, 1, 1, 0], dtype=float)
    net, center, R = binary_polytope_network(A, b)
    U = NetworkUncertaintySet(net, center, R, domain=(-np.ones(n), 2 * np.ones(n)))
    cube = np.array(list(itertools.product((0.0, 1.0), repeat=n)))
    members = cube[np.all(np.isclose(cube @ A.T, b), axis=1)]
    x = rng.normal(size=n)
    wc = U.worst_case(x, method="exact")
    assert wc.status == "optimal"
    assert wc.value == pytest.approx(np.max(members @ x), abs=1e-6)
    np.testing.assert_allclose(wc.scenario, members[np.argmax(members @ x)], atol=1e-6)


def test_exact_needs_a_domain():
    net, center, R = ellipsoid_network(np.eye(2), np.zeros(2))
    with pytest.raises(ValueError, match="domain"):
        NetworkUncertaintySet(net, center, R).worst_case(np.ones(2), method="exact")



def test_exact_refuses_an_unknown_solver_option():
    net, center, R = ellipsoid_network(np.eye(2), np.zeros(2))
    U = NetworkUncertaintySet(net, center, R, norm="inf", domain=(-2, 2))  # a MILP: HiGHS by default
    with pytest.raises(ValueError, match="unknown HiGHS option 'foo'"):
        U.worst_case(np.ones(2), method="exact", foo=1)

@pytest.mark.slow
@pytest.mark.shared_data
def test_exact_on_an_authors_2d_instance_bounds_the_pattern_method():
    from nnblocks.datasets.ro_dnn import load_instance

    inst = load_instance(shared_data("ro-dnn"), 2, 1, 26)
    U = NetworkUncertaintySet.from_quantile(inst.network, inst.center, inst.train, 0.9)
    x = np.array([1.0, -0.5])
    ex = U.worst_case(x, method="exact", time_limit=60)
    pat = U.worst_case(x)
    _check_member(U, ex, x)
    assert ex.status in ("optimal", "feasible")
    assert ex.bound >= pat.value - 1e-6 * max(1, abs(pat.value))
    if ex.status == "optimal":
        assert ex.value >= pat.value - 1e-6 * max(1, abs(pat.value))
    # a node limit stops SCIP early: either an incumbent with its bound, or a named failing status
    early = U.worst_case(x, method="exact", **{"limits/nodes": 1})
    if early.status in ("optimal", "feasible"):
        _check_member(U, early, x)
        assert early.bound >= ex.value - 1e-6 * max(1, abs(ex.value))
    else:
        assert early.status == "iteration_limit" and np.isnan(early.scenario).all()
