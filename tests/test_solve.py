"""Specification of nnblocks.solve: uniform statuses, defaults per problem class, options, export."""

from __future__ import annotations

import math

import highspy
import numpy as np
import pyomo.environ as pyo
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnblocks.solve import (
    ModelSize,
    SolverError,
    SolverNotAvailableError,
    SolveStatus,
    _LegacyFactory,
    _native_options,
    _solve_legacy,
    available_solvers,
    default_solver,
    model_size,
    persistent_solver,
    problem_class,
    solve,
    write,
)

SOLVERS = ["highs", "appsi_highs", "scip_direct", "scip_persistent"]


def lp_model():
    """max x + 2y s.t. x + y <= 5, 0 <= x <= 4, 0 <= y <= 3: optimum 8 at (2, 3)."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 4))
    m.y = pyo.Var(bounds=(0, 3))
    m.c = pyo.Constraint(expr=m.x + m.y <= 5)
    m.o = pyo.Objective(expr=m.x + 2 * m.y, sense=pyo.maximize)
    return m


def milp_model():
    """lp_model with y integer and 2x + 2y <= 7.5: optimum 6.75 at (0.75, 3)."""
    m = lp_model()
    m.y.domain = pyo.Integers
    m.c2 = pyo.Constraint(expr=2 * m.x + 2 * m.y <= 7.5)
    return m


def infeasible_model():
    m = lp_model()
    m.c3 = pyo.Constraint(expr=m.x + m.y >= 9)
    return m


def unbounded_model():
    m = pyo.ConcreteModel()
    m.x = pyo.Var()
    m.y = pyo.Var(bounds=(0, 1))
    m.c = pyo.Constraint(expr=m.x >= m.y)
    m.o = pyo.Objective(expr=m.x, sense=pyo.maximize)
    return m


def market_split(m_rows=4, n=30, seed=0, slack=False):
    """Cornuejols-Dawande market split: sum_j a_ij x_j = floor(sum_j a_ij / 2), x binary. Hard for B&B.

    With ``slack`` the equations get free deviations and the objective minimises their absolute sum,
    so x = 0 is feasible and a solver finds incumbents at once but cannot quickly prove optimality.
    """
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 100, size=(m_rows, n))
    rhs = a.sum(axis=1) // 2
    m = pyo.ConcreteModel()
    m.J = pyo.RangeSet(0, n - 1)
    m.I = pyo.RangeSet(0, m_rows - 1)
    m.x = pyo.Var(m.J, domain=pyo.Binary)
    if slack:
        m.sp = pyo.Var(m.I, bounds=(0, None))
        m.sn = pyo.Var(m.I, bounds=(0, None))
        m.c = pyo.Constraint(
            m.I, rule=lambda m, i: sum(int(a[i, j]) * m.x[j] for j in m.J) + m.sp[i] - m.sn[i] == int(rhs[i])
        )
        m.o = pyo.Objective(expr=sum(m.sp[i] + m.sn[i] for i in m.I))
    else:
        m.c = pyo.Constraint(m.I, rule=lambda m, i: sum(int(a[i, j]) * m.x[j] for j in m.J) == int(rhs[i]))
        m.o = pyo.Objective(expr=sum(m.x[j] for j in m.J))
    return m


# ------------------------------------------------------------------------------------------------ statuses


@pytest.mark.parametrize("solver", SOLVERS)
def test_lp_optimal_loads_solution(solver):
    m = lp_model()
    r = solve(m, solver)
    assert r.status is SolveStatus.OPTIMAL and r.has_solution
    assert r.objective == pytest.approx(8.0)
    assert r.bound == pytest.approx(8.0)
    assert r.gap == pytest.approx(0.0, abs=1e-9)
    assert (pyo.value(m.x), pyo.value(m.y)) == pytest.approx((2.0, 3.0))
    assert r.solver == solver and r.time > 0
    assert r.raise_for_status() is r


@pytest.mark.parametrize("solver", SOLVERS)
def test_milp_optimal(solver):
    m = milp_model()
    r = solve(m, solver)
    assert r.status is SolveStatus.OPTIMAL
    assert r.objective == pytest.approx(6.75)
    assert r.bound == pytest.approx(6.75, rel=1e-6)
    assert (pyo.value(m.x), pyo.value(m.y)) == pytest.approx((0.75, 3.0))
    if solver != "appsi_highs" or r.nodes is not None:
        assert r.nodes is not None and r.nodes >= 0


@pytest.mark.parametrize("solver", SOLVERS)
def test_infeasible_is_a_status_not_an_exception(solver):
    m = infeasible_model()
    r = solve(m, solver)
    assert r.status is SolveStatus.INFEASIBLE
    assert not r.has_solution and r.objective is None and r.bound is None
    assert m.x.value is None  # nothing loaded
    with pytest.raises(SolverError, match="infeasible"):
        r.raise_for_status()


@pytest.mark.parametrize("solver", SOLVERS)
def test_unbounded(solver):
    r = solve(unbounded_model(), solver)
    assert r.status in (SolveStatus.UNBOUNDED, SolveStatus.INFEASIBLE_OR_UNBOUNDED)
    assert not r.has_solution and r.objective is None
    r.raise_for_status(allow=(SolveStatus.UNBOUNDED, SolveStatus.INFEASIBLE_OR_UNBOUNDED))


@pytest.mark.parametrize("solver", ["highs", "scip_direct"])
def test_time_limit_with_incumbent(solver):
    m = market_split(m_rows=5, n=50, seed=1, slack=True)
    r = solve(m, solver, time_limit=1.0)
    assert r.status is SolveStatus.TIME_LIMIT, r.termination
    assert r.has_solution and r.objective is not None and r.objective > 0
    assert r.gap > 0
    # the loaded solution is the incumbent: its objective evaluates to the reported one
    assert pyo.value(m.o) == pytest.approx(r.objective, abs=1e-6)
    with pytest.raises(SolverError, match="time_limit"):
        r.raise_for_status()
    assert r.raise_for_status(allow=(SolveStatus.OPTIMAL, SolveStatus.TIME_LIMIT)) is r


def test_time_limit_without_incumbent():
    m = market_split(m_rows=5, n=50, seed=2)
    r = solve(m, "scip_direct", time_limit=0.3)
    assert r.status in (SolveStatus.TIME_LIMIT_NO_SOLUTION, SolveStatus.INFEASIBLE), r.termination
    assert not r.has_solution and r.objective is None


def test_node_limit_is_iteration_limit():
    m = market_split(m_rows=5, n=50, seed=3)
    r = solve(m, "scip_direct", **{"limits/nodes": 1})
    assert r.status is SolveStatus.ITERATION_LIMIT, r.termination


@pytest.mark.parametrize("name", ["scip_direct", "appsi_highs"])
def test_legacy_interface_mapping(name):
    """Shell and legacy solvers (glpk, cbc, cplex, gurobi ...) go through Pyomo's legacy SolverFactory; its
    results are mapped here with the legacy wrappers of the installed solvers."""
    cases = [
        (lp_model, SolveStatus.OPTIMAL, 8.0),
        (milp_model, SolveStatus.OPTIMAL, 6.75),
        (infeasible_model, SolveStatus.INFEASIBLE, None),
        (unbounded_model, SolveStatus.UNBOUNDED, None),
    ]
    for make, status, objective in cases:
        m = make()
        r = _solve_legacy(_LegacyFactory(name), m, name, None, None, None, False, {}, m.o)
        assert r.status is status
        assert r.has_solution == (objective is not None)
        if objective is not None:
            assert r.objective == pytest.approx(objective) and pyo.value(m.o) == pytest.approx(objective)
    m = market_split(m_rows=5, n=50, seed=1, slack=True)
    r = _solve_legacy(_LegacyFactory(name), m, name, 1.0, None, None, False, {}, m.o)
    assert r.status is SolveStatus.TIME_LIMIT and r.has_solution
    assert pyo.value(m.o) == pytest.approx(r.objective) and r.gap > 0


# ------------------------------------------------------------------------------------------------ solvers


def test_unknown_solver_lists_available():
    with pytest.raises(SolverNotAvailableError) as err:
        solve(lp_model(), "no_such_solver")
    msg = str(err.value)
    assert "no_such_solver" in msg
    for name in ("highs", "scip_direct"):
        assert name in msg


def test_uninstalled_solver_lists_available():
    names = available_solvers()
    missing = next(n for n in ("gurobi", "cplex", "xpress", "glpk", "cbc") if n not in names)
    with pytest.raises(SolverNotAvailableError, match="not available.*scip_direct"):
        solve(lp_model(), missing)


def test_available_solvers_contains_the_installed_ones():
    names = available_solvers()
    assert {"highs", "appsi_highs", "scip_direct", "scip_persistent"} <= set(names)
    assert available_solvers() == names  # cached and stable


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="time_limit"):
        solve(lp_model(), "highs", time_limit=0)
    with pytest.raises(ValueError, match="mip_gap"):
        solve(lp_model(), "highs", mip_gap=-1)
    with pytest.raises(ValueError, match="threads"):
        solve(lp_model(), "highs", threads=0)


def test_multiple_objectives_rejected():
    m = lp_model()
    m.o2 = pyo.Objective(expr=m.x)
    with pytest.raises(ValueError, match="2 active objectives"):
        solve(m, "highs")


def test_model_the_solver_cannot_take_raises():
    m = _quad_models()["QCP"]
    with pytest.raises(SolverError, match="appsi_highs"):
        solve(m, "appsi_highs")


@pytest.mark.parametrize("solver", [None, *SOLVERS])
def test_feasibility_model_without_objective(solver):
    """A model without objective is a feasibility problem: every solver reports its solution as optimal."""
    m = lp_model()
    m.o.deactivate()
    m.lower = pyo.Constraint(expr=m.x + m.y >= 4.5)
    r = solve(m, solver)
    assert r.status is SolveStatus.OPTIMAL and r.objective is None and r.has_solution
    assert 4.5 - 1e-9 <= pyo.value(m.x + m.y) <= 5 + 1e-9


@pytest.mark.parametrize(
    ("solver", "cls", "meaning"),
    [
        ("highs", "MIQP", "a quadratic objective and integer variables"),
        ("highs", "QCP", "quadratic constraints"),
        ("highs", "MIQCP", "quadratic constraints and integer variables"),
        ("appsi_highs", "QP", "a quadratic objective"),
        ("appsi_highs", "MIQP", "a quadratic objective and integer variables"),
        ("appsi_highs", "QCP", "quadratic constraints"),
        ("appsi_highs", "MIQCP", "quadratic constraints and integer variables"),
    ],
)
def test_highs_refuses_a_problem_class_it_cannot_solve(solver, cls, meaning):
    """HiGHS solves LP, MILP and convex QP (APPSI's interface: LP and MILP); any other class is an error that
    names the class, the solver and one that can solve the model, instead of an empty result."""
    m = _quad_models()[cls]
    with pytest.raises(SolverError, match=rf"solver '{solver}' cannot solve this {cls} \(a model with {meaning}\)"):
        solve(m, solver)
    with pytest.raises(SolverError, match=r"use .*solver='scip_direct'"):
        solve(m, solver)
    assert m.x.value is None  # nothing was solved


def test_a_refused_model_leaves_no_partial_model_in_the_persistent_solver():
    """After APPSI's HiGHS refused a quadratic constraint, the next call must not solve the linear rest."""
    m = _quad_models()["QCP"]
    for _ in range(2):
        with pytest.raises(SolverError, match="cannot solve this QCP"):
            solve(m, "appsi_highs")
    m.q.deactivate()
    assert solve(m, "appsi_highs").raise_for_status().objective == pytest.approx(8.0)


def test_highs_refuses_a_nonlinear_objective():
    m = lp_model()
    m.o.set_value(pyo.exp(m.x) + m.y)
    for solver in ("highs", "appsi_highs"):
        with pytest.raises(SolverError, match=rf"'{solver}' cannot solve this NLP.*solver='scip_direct'"):
            solve(m, solver)


def test_appsi_highs_suggests_highs_for_a_qp():
    with pytest.raises(SolverError, match=r"takes LP and MILP models only; use solver='highs' or solver='scip_direct'"):
        solve(_quad_models()["QP"], "appsi_highs")


@pytest.mark.parametrize(
    ("sense", "sign", "word"), [(pyo.minimize, -1, "convex"), (pyo.maximize, 1, "concave")], ids=["min", "max"]
)
def test_highs_refuses_a_nonconvex_qp(sense, sign, word):
    """HiGHS solves a convex QP; a minimised non-convex (maximised non-concave) objective is named as such."""
    m = lp_model()
    m.o.set_value(sign * ((m.x - 1) ** 2 + m.y))
    m.o.sense = pyo.maximize if sense == pyo.minimize else pyo.minimize  # the convex direction: solved
    assert solve(m, "highs").raise_for_status().objective == pytest.approx(0.0, abs=1e-6)
    m.o.sense = sense
    with pytest.raises(SolverError, match=rf"quadratic objective is not {word}.*convex QPs only.*solver='scip_direct'"):
        solve(m, "highs")
    assert solve(m, "scip_direct").raise_for_status().objective == pytest.approx(sign * 10.0, abs=1e-6)


@pytest.mark.parametrize("solver", ["highs", "appsi_highs"])
def test_unknown_highs_option_is_an_error(solver):
    """HiGHS ignores an option it does not know or a value it refuses; solve names them instead."""
    with pytest.raises(ValueError, match=rf"unknown HiGHS option 'foo' for solver '{solver}'"):
        solve(lp_model(), solver, foo=1)
    with pytest.raises(ValueError, match=r"HiGHS option 'presolve' does not accept 'sometimes'"):
        solve(lp_model(), solver, presolve="sometimes")
    with pytest.raises(ValueError, match=r"'mip_max_nodes' does not accept 1.5 \(float\); expected .* type int"):
        solve(milp_model(), solver, mip_max_nodes=1.5)
    m = milp_model()
    assert solve(m, solver, presolve="off", mip_max_nodes=1000, random_seed=3).status is SolveStatus.OPTIMAL
    assert pyo.value(m.o) == pytest.approx(6.75)


def test_highs_options_are_checked_by_one_reused_instance(monkeypatch, tmp_path, capfd):
    """The instance that checks HiGHS options is created once, starts every check from HiGHS's defaults and
    silent, and does not open a log file."""
    import importlib

    solve_module = importlib.import_module("nnblocks.solve.families")  # the module holding the HiGHS option check
    created = []

    class CountingHighs(highspy.Highs):
        def __init__(self):
            super().__init__()
            created.append(self)

    monkeypatch.setattr(highspy, "Highs", CountingHighs)
    monkeypatch.setattr(solve_module, "_HIGHS_CHECKER", None)
    check = solve_module._check_highs_options
    for _ in range(3):
        check("highs", {"presolve": "off", "mip_rel_gap": 0.5, "output_flag": True})
    assert len(created) == 1
    checker = created[0]
    assert checker.getOptionValue("mip_rel_gap")[1] == pytest.approx(1e-4)  # HiGHS's default again
    assert checker.getOptionValue("output_flag")[1] is False
    capfd.readouterr()
    with pytest.raises(ValueError, match=r"'presolve' does not accept 'sometimes'"):
        check("highs", {"presolve": "sometimes"})
    assert capfd.readouterr().out == ""  # refused silently
    log = tmp_path / "highs.log"
    check("highs", {"log_file": str(log)})
    assert not log.exists()
    with pytest.raises(ValueError, match=r"'log_file' does not accept 3 \(int\); expected a value of type str"):
        check("highs", {"log_file": 3})
    assert len(created) == 1


@pytest.mark.parametrize("solver", ["scip_direct", "scip_persistent"])
def test_unknown_scip_option_is_an_error(solver):
    """SCIP's own error does not name the parameter; solve does, before the model is handed over."""
    with pytest.raises(ValueError, match=rf"unknown SCIP parameter 'foo' for solver '{solver}'"):
        solve(lp_model(), solver, foo=1)
    m = milp_model()
    assert solve(m, solver, **{"limits/nodes": 1000}).status is SolveStatus.OPTIMAL
    assert pyo.value(m.o) == pytest.approx(6.75)


def test_solver_must_be_a_nonempty_name():
    with pytest.raises(SolverNotAvailableError, match=r"solver name is empty \(''\); available solvers: .*highs"):
        solve(lp_model(), "")
    with pytest.raises(SolverNotAvailableError, match="solver name is empty"):
        solve(lp_model(), "  ")
    with pytest.raises(TypeError, match=r"solver must be a solver name \(str\).*got 3 \(int\)"):
        solve(lp_model(), 3)
    with pytest.raises(TypeError, match=r"solver must be a solver name \(str\).*got \['highs'\] \(list\)"):
        solve(lp_model(), ["highs"])
    with pytest.raises(TypeError, match=r"solver must be a solver name \(str\).*got 3 \(int\)"):
        persistent_solver(lp_model(), 3)


@pytest.mark.parametrize("solver", ["highs", "appsi_highs", "scip_direct"])
def test_options_reach_the_solver(solver):
    """A relative gap of 100% lets the solver stop at its first incumbent, still reported as OPTIMAL."""
    m = market_split(m_rows=3, n=20, seed=4, slack=True)
    r = solve(m, solver, time_limit=20, mip_gap=1.0, threads=1)
    assert r.status is SolveStatus.OPTIMAL and r.has_solution
    assert r.gap is not None and r.gap <= 1.0 + 1e-9


def test_native_option_names():
    assert _native_options("scip_direct", 10, 0.01, 2) == {"limits/time": 10, "limits/gap": 0.01, "lp/threads": 2}
    assert _native_options("gurobi", 10, 0.01, 2) == {"TimeLimit": 10, "MIPGap": 0.01, "Threads": 2}
    assert _native_options("gurobi_persistent", 5, None, None) == {"TimeLimit": 5}
    assert _native_options("cplex_direct", 10, 0.01, 2) == {
        "timelimit": 10,
        "mip_tolerances_mipgap": 0.01,
        "threads": 2,
    }
    assert _native_options("cbc", 10, 0.01, 2) == {"sec": 10, "ratioGap": 0.01, "threads": 2}
    assert _native_options("appsi_highs", 10, 0.01, 2) == {"time_limit": 10, "mip_rel_gap": 0.01, "threads": 2}
    assert _native_options("glpk", 2.5, 0.01, None) == {"tmlim": 3, "mipgap": 0.01}
    with pytest.warns(UserWarning, match="threads"):
        assert _native_options("glpk", None, None, 2) == {}


def test_persistent_solver_is_reused_and_sees_new_constraints():
    m = lp_model()
    r1 = solve(m, "scip_persistent")
    opt = persistent_solver(m, "scip_persistent")
    assert persistent_solver(m, "scip_persistent") is opt
    m.cut = pyo.Constraint(expr=m.y <= 1)  # a cut added after the first solve
    r2 = solve(m, "scip_persistent")
    assert persistent_solver(m, "scip_persistent") is opt
    assert r1.objective == pytest.approx(8.0) and r2.objective == pytest.approx(6.0)
    m.cut.deactivate()
    assert solve(m, "scip_persistent").objective == pytest.approx(8.0)
    m.y.fix(1)  # x = 4
    assert solve(m, "scip_persistent").objective == pytest.approx(6.0)
    m.y.unfix()
    m.x.setub(1)  # x = 1, y = 3
    assert solve(m, "scip_persistent").objective == pytest.approx(7.0)
    assert persistent_solver(m, "scip_persistent") is opt
    clone = m.clone()  # the cache is not copied with the model
    assert persistent_solver(clone, "scip_persistent") is not opt
    with pytest.raises(ValueError, match="not a persistent"):
        persistent_solver(m, "scip_direct")


@pytest.mark.parametrize("solver", ["scip_persistent", "appsi_highs"])
def test_persistent_options_do_not_leak_into_the_next_call(solver):
    m = market_split(m_rows=5, n=50, seed=1, slack=True)
    r = solve(m, solver, time_limit=0.3, threads=1)
    assert r.status in (SolveStatus.TIME_LIMIT, SolveStatus.TIME_LIMIT_NO_SOLUTION)
    native = persistent_solver(m, solver)._solver_model
    m.o.sense = pyo.maximize  # the maximum (all x = 0 or 1, deviations unbounded) is unbounded: solved at once
    r = solve(m, solver)
    assert r.status in (SolveStatus.UNBOUNDED, SolveStatus.INFEASIBLE_OR_UNBOUNDED)
    if solver == "scip_persistent":
        assert native.getParam("limits/time") >= 1e20 and native.getParam("lp/threads") == 0
    else:
        assert native.getOptionValue("time_limit")[1] == math.inf


def test_persistent_mutable_param_update():
    m = lp_model()
    m.w = pyo.Param(initialize=2.0, mutable=True)
    m.o.set_value(m.x + m.w * m.y)
    assert solve(m, "appsi_highs").objective == pytest.approx(8.0)
    m.w.set_value(0.5)  # now x = 4, y = 1
    assert solve(m, "appsi_highs").objective == pytest.approx(4.5)


# ------------------------------------------------------------------------------------------------ classes


def _quad_models():
    lp = lp_model()
    milp = milp_model()
    qp = lp_model()
    qp.o.set_value(-((qp.x - 1) ** 2) - qp.y)
    miqp = milp_model()
    miqp.o.set_value(-((miqp.x - 1) ** 2) - miqp.y)
    qcp = lp_model()
    qcp.q = pyo.Constraint(expr=qcp.x**2 + qcp.y**2 <= 4)
    miqcp = milp_model()
    miqcp.q = pyo.Constraint(expr=miqcp.x**2 + miqcp.y**2 <= 4)
    return {"LP": lp, "MILP": milp, "QP": qp, "MIQP": miqp, "QCP": qcp, "MIQCP": miqcp}


def test_problem_class_and_default_solver():
    expected_solver = {
        "LP": "appsi_highs",
        "QP": "highs",
        "MILP": "scip_direct",
        "MIQP": "scip_direct",
        "QCP": "scip_direct",
        "MIQCP": "scip_direct",
    }
    for cls, m in _quad_models().items():
        assert problem_class(m) == cls
        assert default_solver(m) == expected_solver[cls]


def test_fixed_integers_and_deactivated_parts_do_not_count():
    m = milp_model()
    m.y.fix(3)
    assert problem_class(m) == "LP"
    m = lp_model()
    m.b = pyo.Block()
    m.b.z = pyo.Var(domain=pyo.Binary)
    m.b.q = pyo.Constraint(expr=m.x**2 + m.b.z <= 1)
    assert problem_class(m) == "MIQCP"
    m.b.deactivate()
    assert problem_class(m) == "LP"
    m = lp_model()
    m.z = pyo.Var(domain=pyo.Binary)
    m.bilinear = pyo.Constraint(expr=m.z * m.x <= 1)
    assert problem_class(m) == "MIQCP"
    m.z.fix(1)  # z * x with z fixed is linear
    assert problem_class(m) == "LP"
    m.nl = pyo.Constraint(expr=pyo.exp(m.x) <= 3)
    assert problem_class(m) == "NLP"


def _qp_with_binary(where):
    """min (x - 1)^2 s.t. x >= 0.5, 0 <= x <= 10, with a binary y placed by ``where``: optimum 0 at x = 1."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 10))
    m.y = pyo.Var(domain=pyo.Binary)
    m.c = pyo.Constraint(expr=m.x >= 0.5)
    m.o = pyo.Objective(expr=(m.x - 1) ** 2)
    if where == "deactivated constraint":
        m.d = pyo.Constraint(expr=m.x + m.y >= 1)
        m.d.deactivate()
    elif where == "deactivated block":
        m.b = pyo.Block()
        m.b.d = pyo.Constraint(expr=m.x + m.y >= 1)
        m.b.deactivate()
    elif where == "active constraint":
        m.d = pyo.Constraint(expr=m.x + m.y >= 1)
    elif where == "objective":
        m.o.set_value((m.x - 1) ** 2 + m.y)
    return m


@pytest.mark.parametrize("where", ["unused", "deactivated constraint", "deactivated block"])
def test_an_integer_variable_no_active_part_mentions_leaves_the_model_continuous(where):
    """An integer variable restricts nothing unless an active constraint or the objective mentions it: HiGHS
    solves such a QP, and an LP with a stray binary keeps the LP default."""
    m = _qp_with_binary(where)
    assert problem_class(m) == "QP" and default_solver(m) == "highs"
    r = solve(m, "highs").raise_for_status()
    assert r.objective == pytest.approx(0.0, abs=1e-6) and m.x.value == pytest.approx(1.0, abs=1e-4)
    lp = lp_model()
    lp.z = pyo.Var(range(3), domain=pyo.Binary)
    lp.k = pyo.Var(domain=pyo.Integers)
    assert problem_class(lp) == "LP" and default_solver(lp) == "appsi_highs"
    assert solve(lp).raise_for_status().objective == pytest.approx(8.0)


@pytest.mark.parametrize("where", ["active constraint", "objective"])
def test_an_integer_variable_in_an_active_part_makes_the_model_integer(where):
    m = _qp_with_binary(where)
    assert problem_class(m) == "MIQP"
    with pytest.raises(SolverError, match="cannot solve this MIQP"):
        solve(m, "highs")


def test_an_integer_variable_declared_on_a_deactivated_block_counts_where_it_is_used():
    """What counts is where a variable occurs, not where it is declared."""
    m = _qp_with_binary("unused")
    m.b = pyo.Block()
    m.b.k = pyo.Var(domain=pyo.Integers, bounds=(0, 10))
    m.b.deactivate()
    m.e = pyo.Expression(expr=2 * m.b.k + 0.5)  # reached through a named expression
    m.d = pyo.Constraint(expr=m.x == m.e)
    assert problem_class(m) == "MIQP"
    m.b.k.fix(0)
    assert problem_class(m) == "QP"


def test_problem_class_reads_linear_expressions_without_a_walk():
    """Thousands of LinearExpression constraints with declared but unused binaries are classified quickly; the
    same model with one used binary (in the last constraint) is a MILP."""
    import time

    from pyomo.core.expr.numeric_expr import LinearExpression

    rng = np.random.default_rng(0)
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(1000), bounds=(0, 1))
    m.z = pyo.Var(range(50), domain=pyo.Binary)
    m.c = pyo.ConstraintList()
    for row, coefs in zip(rng.integers(0, 1000, size=(5000, 10)), rng.normal(size=(5000, 10))):
        m.c.add(LinearExpression(linear_coefs=list(coefs), linear_vars=[m.x[int(j)] for j in row]) <= 5)
    m.o = pyo.Objective(expr=m.x[0])
    start = time.perf_counter()
    assert problem_class(m) == "LP"
    assert time.perf_counter() - start < 2.0  # about 0.01 s; generous for a loaded machine
    m.c.add(LinearExpression(linear_coefs=[1.0, 2.0], linear_vars=[m.x[0], m.z[49]]) <= 1)
    assert problem_class(m) == "MILP"


@pytest.mark.parametrize("cls", ["QP", "MIQP", "QCP", "MIQCP"])
def test_default_solver_solves_each_class(cls):
    m = _quad_models()[cls]
    r = solve(m)
    assert r.solver == default_solver(m)
    assert r.status is SolveStatus.OPTIMAL
    assert r.objective == pytest.approx(pyo.value(m.o), abs=1e-6)


def test_model_size():
    m = milp_model()
    m.z = pyo.Var(range(3), domain=pyo.Binary)
    m.k = pyo.Var(domain=pyo.Integers)
    m.z[0].fix(1)
    assert model_size(m) == ModelSize(n_vars=5, n_binaries=2, n_integers=2, n_constraints=2)


# ------------------------------------------------------------------------------------------------ export


def _highspy_optimum(path):
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    assert h.readModel(str(path)) == highspy.HighsStatus.kOk
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return h.getInfo().objective_function_value


@pytest.mark.parametrize("suffix", [".lp", ".mps"])
def test_write_then_solve_file_with_highspy(tmp_path, suffix, caplog):
    m = market_split(m_rows=2, n=12, seed=5, slack=True)
    m.o.sense = pyo.minimize
    path = write(m, tmp_path / f"model{suffix}")
    assert not [r for r in caplog.records if r.levelname == "WARNING"]  # Pyomo agrees with the format
    assert path.exists() and path.suffix == suffix
    text = path.read_text()
    assert "x[3]" in text or "x(3)" in text  # readable names
    through_pyomo = solve(m, "highs").raise_for_status().objective
    assert _highspy_optimum(path) == pytest.approx(through_pyomo, abs=1e-6)


def test_write_max_lp_keeps_sense(tmp_path):
    m = milp_model()
    for suffix in (".lp", ".mps", ".LP"):
        assert _highspy_optimum(write(m, tmp_path / f"m{suffix}")) == pytest.approx(6.75)


def test_write_rejects_other_suffixes(tmp_path):
    with pytest.raises(ValueError, match=r"\.lp or \.mps"):
        write(lp_model(), tmp_path / "model.nl")


# ------------------------------------------------------------------------------------------------ properties


@settings(max_examples=15, deadline=None)
@given(
    c=st.lists(st.integers(-5, 5), min_size=3, max_size=3),
    u=st.lists(st.integers(0, 4), min_size=3, max_size=3),
    solver=st.sampled_from(SOLVERS),
)
def test_box_lp_optimum_is_closed_form(c, u, solver):
    """max c'x over the box 0 <= x <= u has the optimum sum max(c_j, 0) u_j; every solver agrees."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(3), bounds=lambda m, j: (0, u[j]))
    m.k = pyo.Var(domain=pyo.Integers, bounds=(0, 2))  # makes it a MILP for every other example
    m.c = pyo.Constraint(expr=m.k <= 2)
    m.o = pyo.Objective(expr=sum(c[j] * m.x[j] for j in range(3)) + 0 * m.k, sense=pyo.maximize)
    r = solve(m, solver).raise_for_status()
    assert r.objective == pytest.approx(sum(max(cj, 0) * uj for cj, uj in zip(c, u)), abs=1e-7)
    assert math.isclose(pyo.value(m.o), r.objective, abs_tol=1e-7)


def test_long_scip_logs_do_not_stall_the_solve():
    """A SCIP solve through Pyomo that would log far more than a pipe buffer (one line per node) finishes."""
    import subprocess
    import sys

    code = (
        "from nnblocks.adversarial import fj\n"
        "from nnblocks.datasets import load_shipped, nominal_images\n"
        "X, y, _ = nominal_images()\n"
        "r = fj(load_shipped('nominal'), X[7], 6, solver_options={'display/freq': 1})\n"
        "assert r.nodes > 300, r.nodes\n"  # > 300 log lines of ~150 characters: more than 64 KiB
        "print(r.status.value)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("optimal")
