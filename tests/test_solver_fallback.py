"""A solver's answer is checked before it is passed on: re-solves with presolve off and with the other solver.

An answer is not accepted when the solver ends with an error, when an independent check of its solution fails
(:func:`nnblocks.solve.check_solution`: constraints, bounds, integrality) or when it says "infeasible" although a
feasible point is known. ``solve`` then re-solves (presolve off, then the other solver) and lists every call in
``SolveResult.attempts``; a solver's failure is never reported as a property of the problem.
"""

from __future__ import annotations

import importlib
import itertools

import numpy as np
import pyomo.environ as pyo
import pytest

from nnblocks.blocks import NetworkBlock
from nnblocks.io import load_network
from nnblocks.robust import NetworkUncertaintySet
from nnblocks.robust.lemma4 import binary_polytope_network
from nnblocks.solve import SolveResult, SolveStatus, check_solution, solve
from tests.conftest import shared_data

solve_mod = importlib.import_module("nnblocks.solve.interfaces")  # the module solve() calls the solver through


def _lp():
    """min x + y  s.t.  x + 2y >= 2,  0 <= x, y <= 4  (optimum 1 at (0, 1))."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 4))
    m.y = pyo.Var(bounds=(0, 4))
    m.c = pyo.Constraint(expr=m.x + 2 * m.y >= 2)
    m.o = pyo.Objective(expr=m.x + m.y)
    return m


class _RejectFirst:
    """A check rejecting the first ``k`` solutions it sees (records the solver that produced each)."""

    def __init__(self, k: int) -> None:
        self.k, self.calls = k, 0

    def __call__(self, model) -> str | None:
        self.calls += 1
        return "rejected for the test" if self.calls <= self.k else None


# -- the two wrong answers of SCIP's presolve ---------------------------------------------------------------
def test_relaxation_infeasible_contradicted_by_the_input_is_resolved():
    """SCIP's presolve calls the relaxation of this network infeasible at an input whose forward pass is a
    solution; with the input given as a known feasible point the answer is the forward pass's output."""
    net = load_network(shared_data("regressions", "scip_relaxation_infeasible_net.npz"))
    x0 = 1.3307159269607205
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(1), bounds=(x0, 4.461453052583393))
    m.nn = NetworkBlock()
    m.nn.build(net, inputs=m.x, formulation="relaxation")
    m.x[0].fix(x0)
    m.o = pyo.Objective(expr=m.nn.outputs[0])
    res = solve(m, "scip_direct", feasible_point=[(m.x[0], x0)])
    forward = float(net.forward(np.array([x0]))[0])
    assert res.status == SolveStatus.OPTIMAL
    # the relaxation contains the network's graph, and the input is fixed: the minimum is at most f(x0)
    assert res.objective <= forward + 1e-6 * max(1.0, abs(forward))
    assert res.objective == pytest.approx(forward, rel=1e-6)
    assert res.attempts[-1].outcome == "accepted"
    assert all(a.status != SolveStatus.INFEASIBLE for a in res.attempts[-1:])
    for a in res.attempts[:-1]:  # every re-solve names why the previous answer was refused
        assert "contradicts a known feasible point" in a.outcome
    if res.retried:
        assert res.attempts[1].options == {"presolving/maxrounds": 0}


def _enumerated_max(A, b, x):
    best = -np.inf
    for c in itertools.product((0.0, 1.0), repeat=len(x)):
        c = np.array(c)
        if np.allclose(np.asarray(A) @ c, b):
            best = max(best, float(x @ c))
    return best


@pytest.mark.parametrize("formulation", ["hull", "bigm"])
def test_exact_worst_case_on_the_binary_polytope_is_the_enumerated_maximum(formulation):
    """SCIP's presolve returned a point with a binary at 0.5 (value 0.794) on the hull formulation; the
    point fails check_solution, the presolve-free re-solve gives the maximum found by enumeration."""
    A, b = [[0.0, 2.0, 2.0, -1.0]], [1.0]
    net, center, radius = binary_polytope_network(A, b)
    U = NetworkUncertaintySet(net, center, radius, norm=2, domain=(np.zeros(4), np.ones(4)))
    x = np.array([0.7378396185698053, 0.11247023960182802, -0.42669363002943295, -0.3174551474515059])
    wc = U.worst_case(x, method="exact", formulation=formulation)
    assert wc.status == "optimal", wc.stats
    expected = _enumerated_max(A, b, x)
    assert wc.value == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert np.all(wc.scenario >= 0.0) and np.all(wc.scenario <= 1.0)  # exactly in the domain box
    assert U.contains(wc.scenario)
    assert wc.bound >= wc.value
    for _, _, _, outcome in wc.stats["solve_attempts"][:-1]:
        assert outcome.startswith("check failed")


# -- the re-solve sequence ------------------------------------------------------------------------------------
def test_a_rejected_answer_is_resolved_with_presolve_off_then_with_the_other_solver():
    m = _lp()
    check = _RejectFirst(2)
    res = solve(m, "scip_direct", check=check)
    assert res.status == SolveStatus.OPTIMAL and res.objective == pytest.approx(1.0)
    assert [(a.solver, a.options) for a in res.attempts] == [
        ("scip_direct", {}),
        ("scip_direct", {"presolving/maxrounds": 0}),
        ("highs", {}),
    ]
    assert [a.outcome for a in res.attempts] == [
        "check failed: rejected for the test", "check failed: rejected for the test", "accepted"
    ]
    assert res.solver == "highs" and res.retried
    assert res.time >= sum(a.time for a in res.attempts) - 1e-9


def test_highs_falls_back_to_scip():
    res = solve(_lp(), "highs", check=_RejectFirst(2))
    assert [(a.solver, a.options) for a in res.attempts] == [
        ("highs", {}), ("highs", {"presolve": "off"}), ("scip_direct", {})
    ]
    assert res.status == SolveStatus.OPTIMAL and res.solver == "scip_direct"


def test_no_accepted_answer_is_an_error_never_a_property_of_the_problem():
    m = _lp()
    res = solve(m, "scip_direct", check=lambda _m: False)
    assert res.status == SolveStatus.ERROR
    assert len(res.attempts) == 3
    assert all(a.outcome == "check failed: the check rejected the solution" for a in res.attempts)
    assert "no attempt accepted" in res.termination
    assert res.has_solution  # the last attempt's solution stays loaded for inspection


def test_an_accepted_answer_makes_one_attempt_and_retry_false_keeps_the_first():
    res = solve(_lp(), "appsi_highs", check=check_solution)
    assert len(res.attempts) == 1 and not res.retried and res.attempts[0].outcome == "accepted"
    res = solve(_lp(), "scip_direct", check=lambda _m: "no", retry=False)
    assert len(res.attempts) == 1 and res.attempts[0].outcome == "check failed: no"


def _failing_once(monkeypatch, status: SolveStatus):
    """Make the first solver call end with ``status`` (no solution), as a solver's own failure would."""
    real = solve_mod._solve_once
    calls = []

    def fake(model, name, *args):
        calls.append(name)
        if len(calls) == 1:
            return SolveResult(status, None, None, None, 0.0, name, None, "simulated", None, False)
        return real(model, name, *args)

    monkeypatch.setattr(solve_mod, "_solve_once", fake)
    return calls


def test_a_solver_error_falls_back(monkeypatch):
    """A solver ending with status error (seen from appsi_highs on a Kernel counterpart) is re-solved."""
    calls = _failing_once(monkeypatch, SolveStatus.ERROR)
    res = solve(_lp(), "appsi_highs")
    assert res.status == SolveStatus.OPTIMAL and res.objective == pytest.approx(1.0)
    assert calls == ["appsi_highs", "appsi_highs"]
    assert res.attempts[0].status == SolveStatus.ERROR and res.attempts[0].outcome.startswith("solver error")
    assert res.attempts[1].options == {"presolve": "off"}


def test_infeasible_without_known_point_is_passed_on(monkeypatch):
    _failing_once(monkeypatch, SolveStatus.INFEASIBLE)
    res = solve(_lp(), "appsi_highs")
    assert res.status == SolveStatus.INFEASIBLE and len(res.attempts) == 1


def test_every_solver_infeasible_against_a_complete_known_point_returns_the_point(monkeypatch):
    def infeasible(model, name, *args):
        return SolveResult(SolveStatus.INFEASIBLE, None, None, None, 0.0, name, None, "simulated", None, False)

    monkeypatch.setattr(solve_mod, "_solve_once", infeasible)
    m = _lp()
    res = solve(m, "scip_direct", feasible_point=[(m.x, 2.0), (m.y, 1.0)])
    assert res.status == SolveStatus.FEASIBLE and res.has_solution
    assert res.objective == pytest.approx(3.0) and m.x.value == 2.0
    assert [a.solver for a in res.attempts] == ["scip_direct", "scip_direct", "highs", "feasible_point"]
    m = _lp()
    res = solve(m, "scip_direct", feasible_point=pyo.ComponentMap([(m.x, 2.0)]))  # y unknown: cannot be checked
    assert res.status == SolveStatus.ERROR and not res.has_solution
    assert "feasible point is known" in res.termination


def test_bad_check_and_point_are_named():
    m = _lp()
    with pytest.raises(TypeError, match="check must be a callable"):
        solve(m, check="constraints")
    with pytest.raises(TypeError, match="feasible_point"):
        solve(m, feasible_point=[1.0, 2.0])
    with pytest.raises(TypeError, match="Pyomo variables"):
        solve(m, feasible_point=[("x", 1.0)])


# -- the independent check ------------------------------------------------------------------------------------
def test_check_solution_names_the_worst_violation():
    m = _lp()
    m.z = pyo.Var(domain=pyo.Binary)
    m.z.value = 1.0
    m.x.value, m.y.value = 0.0, 1.0
    assert check_solution(m) is None
    m.y.value = 1.0 - 1e-6  # within the tolerance
    assert check_solution(m) is None
    m.y.value = 0.9
    assert "constraint c" in check_solution(m)
    m.y.value = 1.0
    m.z.value = 0.5
    assert "integer variable z" in check_solution(m)
    m.z.value = 1.0
    m.x.value = -0.1
    assert "variable x" in check_solution(m) and "bounds" in check_solution(m)
    m.x.value = None
    assert "constraint c cannot be evaluated" in check_solution(m)
    m.x.value = 0.0
    m.unused = pyo.Var()  # no constraint uses it: no value, and nothing to check
    assert check_solution(m) is None


def test_a_kernel_counterpart_survives_a_solver_error(monkeypatch):
    """The counterpart's appsi_highs call ending with status error is re-solved, not a subsolver failure."""
    from nnblocks.robust import KernelUncertaintySet, robust_obj

    U = KernelUncertaintySet.fit(np.random.default_rng(0).normal(size=(30, 2)), q=0.5)
    expected = robust_obj(U, rhs=0.3, method="counterpart")
    assert expected.is_robust
    calls = _failing_once(monkeypatch, SolveStatus.ERROR)
    sol = robust_obj(U, rhs=0.3, method="counterpart")
    assert calls[0] == "appsi_highs" and len(calls) >= 2
    assert sol.is_robust and sol.objective == pytest.approx(expected.objective, rel=1e-6, abs=1e-6)
