"""Discrete and Kernel (support vector clustering) uncertainty sets: membership, worst cases, counterparts,
and the authors' kernel files."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnblocks.robust.baselines import DiscreteUncertaintySet, KernelUncertaintySet
from nnblocks.solve import solve
from tests.conftest import shared_data


def _gaussian(rng: np.random.Generator, m: int = 120, n: int = 3) -> np.ndarray:
    A = rng.normal(size=(n, n))
    return 100.0 + rng.normal(size=(m, n)) @ A * 10.0


def _counterpart_value(U, x: np.ndarray) -> float:
    """min of the counterpart's ``value`` with x fixed = max_{c in U} c'x by LP duality."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(U.dim))
    for i, v in enumerate(x):
        m.x[i].fix(float(v))
    b = U.robust_counterpart(m, m.x)
    m.obj = pyo.Objective(expr=b.value)
    solve(m, "appsi_highs").raise_for_status()
    return pyo.value(m.obj)


# ---- Discrete ----------------------------------------------------------------------------------------------
def test_discrete_worst_case_is_the_maximum_over_points(rng):
    P = rng.normal(size=(30, 4))
    U = DiscreteUncertaintySet(P)
    for _ in range(5):
        x = rng.normal(size=4)
        wc = U.worst_case(x)
        assert wc.value == pytest.approx((P @ x).max())
        assert wc.status == "optimal" and wc.bound == wc.value
        assert U.contains(wc.scenario[None, :])[0]
        assert wc.value == pytest.approx(wc.scenario @ x)
    assert U.contains(P).all()
    assert not U.contains(P + 1.0).any()


def test_discrete_counterpart_equals_worst_case(rng):
    P = rng.normal(size=(25, 3))
    U = DiscreteUncertaintySet(P)
    x = rng.normal(size=3)
    assert _counterpart_value(U, x) == pytest.approx(U.worst_case(x).value, rel=1e-7)


def test_discrete_rejects_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        DiscreteUncertaintySet([[1.0, np.nan]])
    U = DiscreteUncertaintySet(np.eye(3))
    with pytest.raises(ValueError, match="dimension 3"):
        U.worst_case(np.ones(2))


# ---- Kernel -----------------------------------------------------------------------------------------------
def test_kernel_fit_holds_about_q_of_the_data(rng):
    X = _gaussian(rng)
    U = KernelUncertaintySet.fit(X, q=0.8)
    share = U.contains(X).mean()
    assert 0.75 <= share <= 0.9
    assert U.alphas.sum() == pytest.approx(1.0, abs=1e-6)
    assert U.alphas.max() <= 1.0 / (len(X) * 0.2) + 1e-9
    # theta is attained at a boundary support vector: the score of that row equals theta
    assert np.min(np.abs(U.scores(X) - U.theta)) < 1e-6 * U.theta


def test_kernel_worst_case_is_feasible_and_dominates_inner_data(rng):
    X = _gaussian(rng)
    U = KernelUncertaintySet.fit(X, q=0.7)
    inside = X[U.contains(X)]
    for _ in range(4):
        x = rng.normal(size=3)
        wc = U.worst_case(x)
        assert wc.status == "optimal"
        assert U.contains(wc.scenario[None, :])[0]
        assert wc.value >= (inside @ x).max() - 1e-6
        assert wc.value == pytest.approx(wc.scenario @ x)
        # the scenario lies on the boundary of (8): the budget is tight
        assert U.scores(wc.scenario[None, :])[0] == pytest.approx(U.theta, rel=1e-6)


@settings(max_examples=8, deadline=None)
@given(st.lists(st.floats(-1.0, 1.0), min_size=3, max_size=3).filter(lambda v: max(map(abs, v)) > 0.05))
def test_kernel_counterpart_is_the_dual_of_the_worst_case(x):
    rng = np.random.default_rng(7)
    U = KernelUncertaintySet.fit(_gaussian(rng, m=60), q=0.75)
    x = np.asarray(x)
    assert _counterpart_value(U, x) == pytest.approx(U.worst_case(x).value, rel=1e-6, abs=1e-6)


def test_kernel_with_nonnegative_box(rng):
    X = np.abs(_gaussian(rng) - 100.0)  # data near 0: the polyhedron reaches negative costs
    free = KernelUncertaintySet.fit(X, q=0.9)
    boxed = KernelUncertaintySet.fit(X, q=0.9, lower=0.0)
    x = -np.ones(3)
    assert free.worst_case(x).scenario.min() < 0  # without the box the worst case has negative costs
    wc = boxed.worst_case(x)
    assert wc.scenario.min() >= -1e-9
    assert _counterpart_value(boxed, x) == pytest.approx(wc.value, rel=1e-6, abs=1e-6)


def test_kernel_weightings_and_errors(rng):
    X = _gaussian(rng)
    a = KernelUncertaintySet.fit(X, q=0.8, Q="inverse_sqrt_covariance")
    assert 0.7 <= a.contains(X).mean() <= 0.9
    with pytest.raises(ValueError, match="exactly one"):
        KernelUncertaintySet.fit(X)
    with pytest.raises(ValueError, match="unknown weighting"):
        KernelUncertaintySet.fit(X, q=0.8, Q="identity-ish")
    with pytest.raises(ValueError, match="singular"):
        KernelUncertaintySet.fit(np.c_[X, X[:, 0]], q=0.8)
    with pytest.raises(ValueError, match="alphas has"):
        KernelUncertaintySet(X, np.ones(3), np.eye(3), 1.0)


# ---- the authors' files -----------------------------------------------------------------------------------
def _files(sub: str, stem: str):
    base = shared_data("ro-dnn", sub)
    return [base / "kernel" / f"{k}-{stem}.txt" for k in ("alphas", "sv", "q", "theta")]


@pytest.mark.shared_data
@pytest.mark.parametrize("T,I,q,solver", [(1, 26, "0.90", "highs"), (3, 21, "0.75", "highs"),
                                          (2, 21, "0.40", "clarabel")])
def test_kernel_from_files_and_refit_match_the_authors(T, I, q, solver):
    train = shared_data("ro-dnn", "2d", "data", f"train-{T}-{I}.txt")
    U = KernelUncertaintySet.from_files(*_files("2d", f"{T}-{I}-{q}"), train)
    # their set holds about Q of the training data
    assert U.contains(U.data).mean() == pytest.approx(float(q), abs=0.015)
    # their q file is the inverse covariance of the training data
    assert np.allclose(U.Q, np.linalg.inv(np.cov(U.data.T)), rtol=1e-4)
    # refitting reproduces their alphas (CPLEX) and theta: HiGHS's active set to 1e-5, Clarabel's
    # interior point to ~1e-4 (the support vectors then differ only in alphas near the 1e-5 threshold)
    V = KernelUncertaintySet.fit(U.data, q=float(q), solver=solver)
    accurate = solver == "highs"
    assert np.abs(V.alphas - U.alphas).max() < (1e-5 if accurate else 1e-3)
    if accurate:
        assert set(V.support) == set(U.support)
    assert V.theta == pytest.approx(U.theta, rel=1e-5 if accurate else 1e-3)
    assert (V.contains(U.data) == U.contains(U.data)).mean() >= 0.98  # up to points on the boundary


@pytest.mark.shared_data
def test_kernel_files_20d_contains_q_share():
    train = shared_data("ro-dnn", "20d", "data", "train-1-1.txt")
    U = KernelUncertaintySet.from_files(*_files("20d", "1-1-0.90"), train)
    assert U.contains(U.data).mean() == pytest.approx(0.9, abs=0.015)
    x = np.r_[np.ones(10), np.zeros(10)]
    assert _counterpart_value(U, x) == pytest.approx(U.worst_case(x).value, rel=1e-6)


def test_kernel_fit_names_too_few_scenarios_and_a_bad_weighting(rng):
    X = _gaussian(rng)
    with pytest.raises(ValueError, match=r"data has 1 scenario\(s\) of dimension 3: .* at least n \+ 1 = 4"):
        KernelUncertaintySet.fit(X[:1], q=0.9)
    with pytest.raises(ValueError, match=r"data has 3 scenario\(s\).*pass more data or Q explicitly"):
        KernelUncertaintySet.fit(X[:3], q=0.9, Q="inverse_sqrt_covariance")
    with pytest.raises(ValueError, match=r"Q must be a finite \(3, 3\) array, got shape \(2, 2\)"):
        KernelUncertaintySet.fit(X, q=0.9, Q=np.eye(2))
    with pytest.raises(ValueError, match=r"Q must be a finite \(3, 3\) array"):
        KernelUncertaintySet.fit(X, q=0.9, Q=np.full((3, 3), np.nan))
