"""Training the Kernel set (8) by the dual problem (7): theta from the KKT conditions of (7) on any data.

Oracle: with g_i = sum_{j in SV} alpha_j ||Q(c^i - c^j)||_1 (computed here with plain numpy), an optimal
alpha of (7) and its theta satisfy g_i <= theta if alpha_i = 0, g_i = theta if 0 < alpha_i < 1/(m nu),
g_i >= theta if alpha_i = 1/(m nu). Hence at most m nu points lie outside the set (each has alpha_i at the
upper bound, and sum alpha = 1) and at most m q strictly inside it (each has alpha_i = 0, and at least m nu
alphas are positive): #{g_i < theta} <= q m <= #{g_i <= theta}.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

import nnblocks.robust.sets.kernel as kernel
from nnblocks.robust.baselines import KernelUncertaintySet
from tests.conftest import shared_data

# relative accuracy of g at the QP's solution (HiGHS active set and Clarabel; at most 2.5e-6 measured)
KKT_RTOL = 2e-5


def _g(U: KernelUncertaintySet, C: np.ndarray) -> np.ndarray:
    """The left side of (8) at each row of C, independently of the library's ``scores``."""
    sv = U.alphas > 0.0 if U.support.size == 0 else np.isin(np.arange(U.alphas.size), U.support)
    diff = (C @ U.Q.T)[:, None, :] - (U.data[sv] @ U.Q.T)[None, :, :]
    return np.abs(diff).sum(axis=2) @ U.alphas[sv]


def _check_kkt_and_share(U: KernelUncertaintySet, q: float) -> None:
    X = U.data
    m = X.shape[0]
    ub = 1.0 / (m * (1.0 - q))
    g = _g(U, X)
    a = U.alphas
    tol = KKT_RTOL * max(1.0, abs(U.theta), float(np.abs(g).max()))
    at_zero = a <= 1e-5
    at_ub = a >= ub * (1.0 - 1e-6)
    free = ~at_zero & ~at_ub
    assert np.all(g[at_zero] <= U.theta + tol)
    assert np.all(g[at_ub] >= U.theta - tol)
    assert np.all(np.abs(g[free] - U.theta) <= tol)
    lo, hi = U.fit_info.theta_interval
    assert lo - tol <= U.theta <= hi + tol
    assert (U.fit_info.theta_rule == "boundary") == bool(free.any())
    # the share of training points the quantile q promises
    assert np.count_nonzero(g <= U.theta + tol) >= q * m - 1e-9
    assert np.count_nonzero(g < U.theta - tol) <= q * m + 1e-9


def test_data_without_boundary_support_vector_fits_with_the_kkt_midpoint():
    case = json.loads(shared_data("regressions", "kernel_fit_no_boundary_sv.json").read_text())
    X, q = np.asarray(case["data"]), float(case["q"])
    U = KernelUncertaintySet.fit(X, q=q)
    m = X.shape[0]
    info = U.fit_info
    # m nu = 19 is an integer: 19 alphas at 1/(m nu), the rest 0, none in between
    assert info.n_boundary == 0 and info.theta_rule == "kkt_midpoint"
    lo, hi = info.theta_interval
    assert lo < hi and U.theta == pytest.approx(0.5 * (lo + hi))
    _check_kkt_and_share(U, q)
    # strictly between the bounds: exactly the 19 points with alpha_i = 0 lie in the set
    inside = U.contains(X)
    assert inside.sum() == round(q * m)
    assert np.array_equal(inside, U.alphas <= 1e-5)
    # the set is a proper, bounded set: worst cases are finite and attained in it
    for x in ([1.0, 0.0], [0.0, -1.0], [1.0, 1.0]):
        wc = U.worst_case(x)
        assert wc.status == "optimal" and np.isfinite(wc.value)
        assert U.contains(wc.scenario[None, :])[0]


@pytest.mark.parametrize("solver", ["highs", "clarabel"])
def test_nu_one_puts_every_alpha_at_its_bound_and_keeps_a_nonempty_set(rng, solver):
    X = rng.normal(size=(30, 3))
    U = KernelUncertaintySet.fit(X, nu=1.0, solver=solver)
    assert np.allclose(U.alphas, 1.0 / 30)
    lo, hi = U.fit_info.theta_interval
    assert lo == -np.inf and U.theta == pytest.approx(hi)  # the finite end of the KKT interval
    assert U.fit_info.theta_rule == "kkt_midpoint"
    assert U.contains(X).sum() >= 1
    _check_kkt_and_share(U, 0.0)


def _data(seed: int, m: int, n: int, kind: str) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "gaussian":
        return 3.0 + rng.normal(size=(m, n)) @ rng.normal(size=(n, n))
    if kind == "skewed":
        return rng.exponential(size=(m, n)) * rng.uniform(0.1, 10.0, size=n)
    # a grid of integers: ties in every coordinate and repeated points
    return rng.integers(0, 4, size=(m, n)).astype(float)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31), n=st.integers(1, 5), extra=st.integers(1, 60),
       kind=st.sampled_from(["gaussian", "skewed", "grid"]), k=st.integers(1, 60),
       integral=st.booleans(), q_frac=st.floats(0.0, 0.99),
       solver=st.sampled_from(["highs", "clarabel"]),
       weighting=st.sampled_from(["inverse_covariance", "inverse_sqrt_covariance"]))
def test_fit_meets_kkt_and_the_quantile_on_random_data(seed, n, extra, kind, k, integral, q_frac, solver,
                                                       weighting):
    m = n + 1 + extra
    X = _data(seed, m, n, kind)
    w = np.linalg.eigvalsh(np.atleast_2d(np.cov(X.T)))
    assume(w.min() > 1e-9 * max(1.0, w.max()))  # singular covariance: fit asks for an explicit Q
    # half of the cases with m nu an integer (where boundary support vectors often do not exist)
    q = 1.0 - min(k, m) / m if integral else q_frac
    U = KernelUncertaintySet.fit(X, q=q, solver=solver, Q=weighting)
    event(f"theta: {U.fit_info.theta_rule}, solved by {U.fit_info.solver.split(' ')[0]}")
    _check_kkt_and_share(U, q)


def test_highs_failure_hands_over_to_clarabel(rng, monkeypatch):
    X = rng.normal(size=(40, 2))
    reference = KernelUncertaintySet.fit(X, q=0.7, solver="clarabel")
    monkeypatch.setattr(kernel, "_svc_dual_highs", lambda K, ub, time_limit: (None, "Solve error"))
    U = KernelUncertaintySet.fit(X, q=0.7)
    assert U.fit_info.solver == "clarabel (after HiGHS's status 'Solve error')"
    assert U.theta == pytest.approx(reference.theta)
    _check_kkt_and_share(U, 0.7)


def test_one_dimensional_data_does_not_wait_for_the_qp_time_limit():
    # K = sum l - |Q(u - v)| is nearly singular on this 1-D sample: HiGHS's active set used to cycle for
    # the whole qp_time_limit before Clarabel took over
    rng = np.random.default_rng(30)
    m = int(rng.integers(20, 80))
    X = rng.exponential(size=(m, 1)) * rng.uniform(0.1, 10.0)
    q = float(rng.uniform(0.0, 0.99))
    U = KernelUncertaintySet.fit(X, q=q, qp_time_limit=10.0)
    assert U.fit_info.time < 5.0
    _check_kkt_and_share(U, q)
