"""Scenario generation: equals the direct robust counterpart, names every way it can stop."""

from __future__ import annotations

import itertools

import numpy as np
import pyomo.environ as pyo
import pytest

from nnblocks.robust.base import WorstCase
from nnblocks.robust.baselines import DiscreteUncertaintySet, KernelUncertaintySet
from nnblocks.robust.scenario import ScenarioGeneration, Termination
from nnblocks.solve import solve


def _budget_model(n: int, rhs: float) -> pyo.ConcreteModel:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(n), bounds=(-1, 1))
    m.budget = pyo.Constraint(expr=sum(m.x[i] for i in range(n)) == rhs)
    return m


def _direct_obj(U, n: int, rhs: float) -> float:
    m = _budget_model(n, rhs)
    b = U.robust_counterpart(m, m.x)
    m.obj = pyo.Objective(expr=b.value)
    solve(m, "appsi_highs").raise_for_status()
    return pyo.value(m.obj)


def test_discrete_objective_equals_one_lp_with_all_scenarios(rng):
    P = 100 + 30 * rng.normal(size=(60, 6))
    U = DiscreteUncertaintySet(P)
    m = _budget_model(6, 3.0)
    sg = ScenarioGeneration(m)
    sg.set_uncertain_objective(m.x, U)
    res = sg.solve(progress=False)
    assert res.termination == Termination.ROBUST_OPTIMAL and res.is_robust and res.certified
    direct = _direct_obj(U, 6, 3.0)
    assert res.robust_value == pytest.approx(direct, rel=1e-3)
    assert res.bound <= direct + 1e-6  # the master is a relaxation
    # the reported worst case is a fresh maximum over the points at the returned x
    assert res.robust_value == pytest.approx((P @ res.x["objective"]).max(), rel=1e-9)
    assert len(res.log) == res.iterations and all(r.master_time >= 0 for r in res.log)
    assert all(U.contains(np.array(s)[None, :])[0] for s in res.scenarios["objective"])


def test_kernel_objective_and_constraint_equal_the_duality_counterpart(rng):
    A = rng.normal(size=(4, 4))
    X = 100 + 10 * rng.normal(size=(80, 4)) @ A
    U = KernelUncertaintySet.fit(X, q=0.8)
    m = _budget_model(4, 2.0)
    sg = ScenarioGeneration(m)
    sg.set_uncertain_objective(m.x, U)
    res = sg.solve(tol=1e-5, progress=False)
    assert res.is_robust
    assert res.robust_value == pytest.approx(_direct_obj(U, 4, 2.0), rel=1e-4)

    # constraint uncertainty: max sum x s.t. c'x <= 10 for all c in U
    def feas_model():
        f = pyo.ConcreteModel()
        f.x = pyo.Var(range(4), bounds=(-1, 1))
        f.obj = pyo.Objective(expr=sum(f.x.values()), sense=pyo.maximize)
        return f

    f = feas_model()
    sg = ScenarioGeneration(f)
    sg.add_uncertain_constraint(f.x, U, rhs=10.0, name="load")
    res = sg.solve(tol=1e-6, progress=False)
    assert res.is_robust
    assert res.worst_cases["load"].value <= 10.0 + 1e-5 * 10
    g = feas_model()
    b = U.robust_counterpart(g, g.x)
    g.rc = pyo.Constraint(expr=b.value <= 10.0)
    solve(g, "appsi_highs").raise_for_status()
    assert res.robust_value == pytest.approx(pyo.value(g.obj), rel=1e-4, abs=1e-4)


def test_integer_master_against_enumeration(rng):
    P = rng.integers(-5, 10, size=(15, 3)).astype(float)
    U = DiscreteUncertaintySet(P)
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(3), domain=pyo.Integers, bounds=(-2, 2))
    m.c = pyo.Constraint(expr=m.x[0] + 2 * m.x[1] - m.x[2] >= 1)
    sg = ScenarioGeneration(m)
    sg.set_uncertain_objective(m.x, U)
    res = sg.solve(progress=False)
    assert res.is_robust
    best = min((P @ np.array(v)).max() for v in itertools.product(range(-2, 3), repeat=3)
               if v[0] + 2 * v[1] - v[2] >= 1)
    assert res.robust_value == pytest.approx(best)
    assert np.allclose(res.x["objective"], np.round(res.x["objective"]))


def test_maximised_uncertain_objective_with_deterministic_part(rng):
    P = rng.normal(size=(20, 3))
    U = DiscreteUncertaintySet(P)
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(3), bounds=(0, 1))
    m.y = pyo.Var(bounds=(0, 2))
    m.cap = pyo.Constraint(expr=m.y + sum(m.x.values()) <= 2)
    m.obj = pyo.Objective(expr=0.3 * m.y, sense=pyo.maximize)
    sg = ScenarioGeneration(m)
    sg.set_uncertain_objective(m.x, U, sense=pyo.maximize)  # max 0.3y + min_c c'x
    res = sg.solve(progress=False)
    assert res.is_robust
    # direct: max 0.3 y + t, t <= c'x for all c
    d = pyo.ConcreteModel()
    d.x = pyo.Var(range(3), bounds=(0, 1))
    d.y = pyo.Var(bounds=(0, 2))
    d.t = pyo.Var()
    d.cap = pyo.Constraint(expr=d.y + sum(d.x.values()) <= 2)
    d.cuts = pyo.Constraint(range(len(P)), rule=lambda mm, j: mm.t <= sum(P[j, i] * mm.x[i] for i in range(3)))
    d.obj = pyo.Objective(expr=0.3 * d.y + d.t, sense=pyo.maximize)
    solve(d, "appsi_highs").raise_for_status()
    assert res.robust_value == pytest.approx(pyo.value(d.obj), abs=1e-6)


def test_several_constraints_with_their_own_sets(rng):
    P1 = 1 + rng.random(size=(10, 2))
    P2 = 1 + rng.random(size=(12, 3))
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(2), bounds=(0, 10))
    m.y = pyo.Var(range(3), bounds=(0, 10))
    m.obj = pyo.Objective(expr=sum(m.x.values()) + sum(m.y.values()), sense=pyo.maximize)
    sg = ScenarioGeneration(m)
    sg.add_uncertain_constraint(m.x, DiscreteUncertaintySet(P1), rhs=4.0)
    sg.add_uncertain_constraint([m.y[0] + m.x[0], m.y[1], m.y[2]], DiscreteUncertaintySet(P2), rhs=6.0)
    res = sg.solve(tol=1e-7, progress=False)
    assert res.is_robust
    xv = np.array([m.x[i].value for i in range(2)])
    yv = np.array([m.y[i].value for i in range(3)])
    assert (P1 @ xv).max() <= 4.0 + 1e-6
    assert (P2 @ np.r_[yv[0] + xv[0], yv[1:]]).max() <= 6.0 + 1e-6
    assert set(res.scenarios) == {"constraint_0", "constraint_1"}


def test_master_infeasible_is_reported(rng):
    U = DiscreteUncertaintySet(1 + rng.random(size=(5, 2)))
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(2), bounds=(1, 2))
    m.obj = pyo.Objective(expr=m.x[0])
    sg = ScenarioGeneration(m)
    sg.add_uncertain_constraint(m.x, U, rhs=0.5)
    res = sg.solve(progress=False)
    assert res.termination == Termination.MASTER_INFEASIBLE
    assert not res.is_robust and res.robust_value is None


class _FailingSet:
    dim = 2

    def __init__(self, mode: str):
        self.mode = mode

    def worst_case(self, x, **kw):
        if self.mode == "raise":
            raise RuntimeError("solver crashed")
        if self.mode == "status":
            return WorstCase(np.full(2, np.nan), float("nan"), None, "error", "custom", 0.0)
        # "lie": reports a value that the returned scenario does not attain
        return WorstCase(np.zeros(2), 5.0, 5.0, "optimal", "custom", 0.0)


@pytest.mark.parametrize("mode", ["raise", "status", "lie"])
def test_subsolver_failure_is_never_a_robust_solution(mode):
    m = _budget_model(2, 1.0)
    sg = ScenarioGeneration(m)
    sg.set_uncertain_objective(m.x, _FailingSet(mode), initial_scenarios=[[1.0, 1.0]])
    res = sg.solve(progress=False)
    assert res.termination == Termination.SUBSOLVER_FAILURE
    assert not res.is_robust
    assert res.message


class _HeuristicSet:
    """Worst case over a discrete set, reported as a heuristic without a bound."""

    dim = 2

    def __init__(self, P):
        self.inner = DiscreteUncertaintySet(P)

    def worst_case(self, x, **kw):
        wc = self.inner.worst_case(x)
        return WorstCase(wc.scenario, wc.value, None, "feasible", "heuristic", wc.time)


def test_unproven_worst_case_is_flagged(rng):
    m = _budget_model(2, 1.0)
    sg = ScenarioGeneration(m)
    sg.set_uncertain_objective(m.x, _HeuristicSet(rng.normal(size=(8, 2))))
    res = sg.solve(progress=False)
    assert res.termination == Termination.ROBUST_OPTIMAL
    assert not res.certified
    assert "only with respect to the evaluated oracle" in res.message


def test_iteration_limit_and_bad_declarations(rng):
    X = 100 + 10 * rng.normal(size=(60, 3))
    U = KernelUncertaintySet.fit(X, q=0.8)
    m = _budget_model(3, 1.5)
    sg = ScenarioGeneration(m)
    sg.set_uncertain_objective(m.x, U)
    res = sg.solve(max_iterations=1, progress=False)
    assert res.termination == Termination.ITERATION_LIMIT and not res.is_robust
    with pytest.raises(TypeError, match="worst_case"):
        ScenarioGeneration(_budget_model(2, 0.0)).add_uncertain_constraint([1, 2], object(), rhs=1.0)
    m2 = _budget_model(2, 0.0)
    with pytest.raises(ValueError, match="dimension 3"):
        ScenarioGeneration(m2).set_uncertain_objective(m2.x, U)


# -- oracles that may stop at the first violated scenario -------------------------------------------
def _network_set(seed=0, n=3):
    from nnblocks.activations import Identity, ReLU
    from nnblocks.network import Layer, Network
    from nnblocks.robust import NetworkUncertaintySet

    r = np.random.default_rng(seed)
    net = Network([Layer(r.normal(size=(8, n)), r.normal(size=8), ReLU()),
                   Layer(r.normal(size=(3, 8)), r.normal(size=3), Identity())])
    data = 10 + r.normal(size=(150, n))
    return NetworkUncertaintySet.from_quantile(net, net.forward(data).mean(axis=0), data, 0.8)


class _Hidden:
    """The same oracle without ``stop_above``: scenario generation must ask it for full worst cases."""

    supports_stop_above = False

    def __init__(self, U):
        self.U, self.dim, self.calls, self.results = U, U.dim, [], []

    def worst_case(self, x, **kw):
        self.calls.append(kw)
        self.results.append(self.U.worst_case(x, **kw))
        return self.results[-1]


class _Recording(_Hidden):
    supports_stop_above = True


def test_early_stopping_oracle_gives_the_same_robust_value_and_honest_termination():
    tol = 1e-3
    full_set = _Hidden(_network_set())
    m1 = _budget_model(3, 1.5)
    sg1 = ScenarioGeneration(m1)
    sg1.set_uncertain_objective(m1.x, full_set)
    full = sg1.solve(tol=tol, progress=False)
    assert all("stop_above" not in kw for kw in full_set.calls)  # sets without the capability: unchanged
    rec = _Recording(_network_set())
    m2 = _budget_model(3, 1.5)
    sg2 = ScenarioGeneration(m2)
    sg2.set_uncertain_objective(m2.x, rec)
    early = sg2.solve(tol=tol, progress=False)
    assert full.termination == early.termination == Termination.ROBUST_OPTIMAL
    assert not early.certified and early.message == full.message
    # the first round asks for the full worst case, later ones pass the threshold t (1 + tol)
    assert "stop_above" not in rec.calls[0] and all("stop_above" in kw for kw in rec.calls[1:])
    assert any(w.stats["early_stop"] for w in rec.results)
    assert not any(w.stats["early_stop"] for w in full_set.results)
    wc = early.worst_cases["objective"]
    assert not wc.stats["early_stop"]  # the final round is a complete pass
    assert wc.value == pytest.approx(rec.U.worst_case(early.x["objective"]).value, rel=1e-9, abs=1e-9)
    # both are within the tolerance of the robust optimum over the same oracle: master values bound it below
    for a, b in ((full, early), (early, full)):
        assert a.bound <= b.robust_value + 1e-6
        assert a.robust_value - a.bound <= tol * max(1.0, abs(a.bound)) + 1e-9


def test_constraint_threshold_and_complete_final_worst_case_at_the_iteration_limit():
    rec = _Recording(_network_set(seed=2))
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(3), bounds=(0, 1))
    m.obj = pyo.Objective(expr=m.x[0] + 2 * m.x[1] + 3 * m.x[2], sense=pyo.maximize)
    sg = ScenarioGeneration(m)
    sg.add_uncertain_constraint(m.x, rec, rhs=12.0)
    res = sg.solve(tol=1e-3, progress=False, max_iterations=3)
    assert res.termination == Termination.ITERATION_LIMIT
    assert all(kw["stop_above"] == pytest.approx(12.0 + 1e-3 * 12.0) for kw in rec.calls[:3])
    # the last round's worst case stopped early: the reported one is a fresh complete evaluation
    assert rec.results[2].stats["early_stop"] and len(rec.calls) == 4 and "stop_above" not in rec.calls[3]
    wc = res.worst_cases["constraint_0"]
    assert not wc.stats["early_stop"]
    assert wc.value == pytest.approx(rec.U.worst_case(res.x["constraint_0"]).value, rel=1e-9, abs=1e-9)


# -- stopping parameters -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kw, error, match", [
    ({"tol": float("nan")}, ValueError, "tol must be finite and >= 0, got nan"),
    ({"tol": -1.0}, ValueError, "tol must be finite and >= 0, got -1"),
    ({"tol": "1e-3"}, TypeError, "tol must be a number"),
    ({"max_iterations": 0}, ValueError, "max_iterations must be >= 1, got 0"),
    ({"max_iterations": -3}, ValueError, "max_iterations must be >= 1, got -3"),
    ({"max_iterations": 2.5}, TypeError, "max_iterations must be an integer"),
    ({"time_limit": 0}, ValueError, r"time_limit must be positive \(None for no limit\), got 0"),
    ({"time_limit": float("nan")}, ValueError, r"time_limit must be positive \(None for no limit\), got nan"),
])
def test_stopping_parameters_that_would_end_the_loop_wrongly_are_refused(kw, error, match):
    m = _budget_model(2, 0.3)
    sg = ScenarioGeneration(m)
    sg.set_uncertain_objective(m.x, DiscreteUncertaintySet([[1.0, 2.0], [2.0, 1.0], [0.5, 0.5]]))
    with pytest.raises(error, match=match):
        sg.solve(progress=False, **kw)


def test_stopping_parameters_may_be_numpy_scalars():
    m = _budget_model(2, 0.3)
    sg = ScenarioGeneration(m)
    sg.set_uncertain_objective(m.x, DiscreteUncertaintySet([[1.0, 2.0], [2.0, 1.0], [0.5, 0.5]]))
    res = sg.solve(progress=False, tol=np.array(1e-3), max_iterations=np.int64(50), time_limit=np.float32(60))
    assert res.termination.value == "robust_optimal"
