"""Solver knowledge lives in nnblocks.solve: one complete record per solver family, tuning switches and default
solvers asked from it, and no solver option, tuning or solver library import anywhere else in nnblocks."""

from __future__ import annotations

import ast
import fnmatch
import math
import re
from pathlib import Path

import pyomo.environ as pyo
import pytest

from nnblocks import _validate
from nnblocks.solve import (
    FAMILIES,
    TUNINGS,
    SolverFamily,
    SolverNotAvailableError,
    available_solvers,
    check_solver,
    default_solver,
    family,
    tuning,
)
from nnblocks.solve.families import _DEFAULTS, _KNOWN_NAMES, PROBLEM_CLASSES

PACKAGE = Path(__file__).resolve().parents[1] / "nnblocks"
INSTALLED = [f for f in FAMILIES if f.name in ("highs", "scip")]


@pytest.mark.parametrize("fam", FAMILIES, ids=lambda f: f.name)
def test_every_family_record_is_complete(fam: SolverFamily):
    assert fam.name and fam.solvers
    for name in fam.solvers:
        assert family(name) is fam, f"{name} is not found as a {fam.name} solver"
    for key in (fam.time_limit, fam.mip_gap, fam.threads, fam.feasibility_tol, fam.integrality_tol):
        assert key is None or (isinstance(key, str) and key)
    assert all(cls in PROBLEM_CLASSES and s in fam.solvers for cls, s in fam.defaults.items())
    assert all(cls in PROBLEM_CLASSES and s in fam.solvers for (cls, _), s in fam.measured.items())
    for name, (classes, described) in fam.accepts.items():
        assert name in fam.solvers and set(classes) <= set(PROBLEM_CLASSES) and described
    assert set(fam.tunings) <= set(TUNINGS)


@pytest.mark.parametrize("fam", INSTALLED, ids=lambda f: f.name)
def test_the_installed_families_name_options_their_solver_has(fam: SolverFamily):
    """Every option a record names (common options, tolerances, presolve off, every tuning) passes the
    solver's own option check, and each of these families knows all of them."""
    assert fam.time_limit and fam.mip_gap and fam.threads and fam.feasibility_tol and fam.integrality_tol
    assert fam.presolve_off and fam.check_options is not None
    options = {key: 1e-6 for key in (fam.feasibility_tol, fam.integrality_tol)}
    options.update({fam.time_limit: 10.0, fam.mip_gap: 1e-4, fam.threads: 1})
    options.update(fam.presolve_off)
    for make in fam.tunings.values():
        options.update(make(1.0))
    fam.check_options(fam.solvers[0], options)  # raises ValueError naming an unknown option


def test_every_problem_class_has_one_available_default_solver():
    assert list(_DEFAULTS) == list(PROBLEM_CLASSES)
    owners = {cls: [f.name for f in FAMILIES if cls in f.defaults] for cls in PROBLEM_CLASSES}
    assert all(len(names) == 1 for names in owners.values()), owners
    assert set(_DEFAULTS.values()) <= set(available_solvers())
    assert len(set(_KNOWN_NAMES)) == len(_KNOWN_NAMES)


def test_default_solver_takes_a_problem_class_or_a_model():
    assert default_solver("MILP") == default_solver("MIQCP") == "scip_direct"
    assert default_solver("LP") == "appsi_highs" and default_solver("QP") == "highs"
    assert default_solver("MILP", workload="worst_case") == "highs"
    assert default_solver("MIQCP", workload="worst_case") == "scip_direct"  # HiGHS takes no quadratic rows
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 1))
    m.o = pyo.Objective(expr=m.x)
    assert default_solver(m) == "appsi_highs"
    with pytest.raises(ValueError, match="unknown problem class 'MIP'"):
        default_solver("MIP")
    with pytest.raises(ValueError, match="unknown workload 'fast'"):
        default_solver("MILP", workload="fast")


def test_tuning_gives_the_solver_options_or_nothing():
    assert tuning("scip_direct", "objective_stop", 2.5) == {"limits/primal": 2.5}
    assert tuning("scip_persistent", "no_separation") == {"separating/maxrounds": 0, "separating/maxroundsroot": 0}
    off = tuning("scip_direct", "no_heuristics")
    assert off and all(k.startswith("heuristics/") for k in off)
    assert tuning("appsi_highs", "primal_simplex") == tuning("highs", "primal_simplex") == {"simplex_strategy": 4}
    assert tuning("appsi_highs", "no_heuristics") == {} and tuning("scip_direct", "primal_simplex") == {}
    assert tuning("gurobi", "objective_stop", 1.0) == {} and tuning("some_solver", "no_separation") == {}
    with pytest.raises(ValueError, match="unknown tuning switch 'fast'"):
        tuning("scip_direct", "fast")


def test_check_solver_names_the_problem():
    assert check_solver("scip_direct") == "scip_direct"
    with pytest.raises(TypeError, match="solver must be a solver name"):
        check_solver(3)
    with pytest.raises(SolverNotAvailableError, match=r"unknown solver 'nope'; available solvers: \["):
        check_solver("nope")
    with pytest.raises(SolverNotAvailableError, match="solver name is empty"):
        check_solver(" ")


def test_time_limit_check():
    assert _validate.time_limit(None) is None and _validate.time_limit(math.inf) is None
    assert _validate.time_limit(2) == 2.0
    for bad in (0, -1.0, math.nan):
        with pytest.raises(ValueError, match=r"time_limit must be positive \(None for no limit\)"):
            _validate.time_limit(bad)
    with pytest.raises(TypeError, match="time_limit must be a number"):
        _validate.time_limit("10")


# ------------------------------------------------------------------------------------------------------------
# No solver knowledge outside nnblocks/solve/
# ------------------------------------------------------------------------------------------------------------

ALLOWED = {
    # highspy used as a library (an LP or QP handed over directly), not as a Pyomo solver
    "_highs.py": "silent highspy instances",
    "bounds.py": "the LP bounds' layer LPs",
    "bounds/*.py": "the LP bounds' layer LPs",
    "robust/baselines.py": "the Kernel set's LP and the SVC QP",
    "robust/sets/*.py": "the Kernel set's LP and the SVC QP",
    # scipy.optimize.linprog's own options
    "adversarial/heuristic.py": "the heuristic's LPs through scipy.optimize.linprog",
}

SOLVER_WORDS = re.compile(
    r"limits/|presolving/|heuristics/|separating/|numerics/|display/|lp/threads|\bmip_rel_gap\b|\bpresolve\b"
    r"|\bsimplex_strategy\b|feasibility_tolerance"
)
SOLVER_LIBRARIES = ("pyscipopt", "highspy")


def _docstrings(tree: ast.AST) -> set[int]:
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {id(n.body[0].value) for n in ast.walk(tree) if isinstance(n, kinds) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}


def _solver_knowledge(path: Path) -> list[str]:
    """Non-docstring strings naming a solver parameter, and imports of a solver library, in one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            if SOLVER_WORDS.search(node.value):
                found.append(f"line {node.lineno}: {node.value[:60]!r}")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(m.split(".")[0] in SOLVER_LIBRARIES for m in modules):
                found.append(f"line {node.lineno}: import {modules}")
        elif isinstance(node, ast.Name | ast.Attribute) and getattr(node, "id", getattr(node, "attr", "")) == \
                "SolverFactory":
            found.append(f"line {node.lineno}: SolverFactory")
    return found


def test_the_scan_finds_solver_knowledge():
    assert _solver_knowledge(PACKAGE / "solve" / "families.py")
    assert _solver_knowledge(PACKAGE / "solve" / "interfaces.py")


def test_no_solver_option_or_library_outside_solve():
    modules = [p for p in sorted(PACKAGE.rglob("*.py")) if p.relative_to(PACKAGE).parts[0] != "solve"]
    assert len(modules) > 20
    leaks = {}
    for path in modules:
        rel = path.relative_to(PACKAGE).as_posix()
        if any(fnmatch.fnmatch(rel, pattern) for pattern in ALLOWED):
            continue
        if found := _solver_knowledge(path):
            leaks[rel] = found
    assert not leaks, (f"solver options, tunings or solver libraries outside nnblocks/solve/: {leaks}; ask "
                       "nnblocks.solve (tuning, default_solver, family) instead")
