"""The problem class of a model (LP, MILP, QP, MIQP, QCP, MIQCP), its size, the default solver of each class
and which solvers refuse which classes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.core.expr.numeric_expr import LinearExpression, MonomialTermExpression
from pyomo.core.expr.visitor import identify_variables
from pyomo.repn import generate_standard_repn

from nnblocks.solve.families import _ACCEPTED_CLASSES, _DEFAULTS, _MEASURED, PROBLEM_CLASSES, _family
from nnblocks.solve.results import ModelSize, SolverError

__all__ = ["default_solver", "model_size", "problem_class"]


def _degree(expr) -> int | None:
    """Polynomial degree of an expression; fixed variables count as constants. None means non-polynomial."""
    if type(expr) is LinearExpression:  # linear by construction: skip the expression walk
        return 1
    if isinstance(expr, int | float):
        return 0
    return expr.polynomial_degree()


def _active_vars(model):
    return (v for v in model.component_data_objects(pyo.Var, active=True, descend_into=True) if not v.fixed)


def model_size(model) -> ModelSize:
    """Number of free (unfixed) variables, binaries, general integers and active constraints of ``model``."""
    n_vars = n_bin = n_int = 0
    for v in _active_vars(model):
        n_vars += 1
        if not v.is_continuous():
            if v.is_binary():
                n_bin += 1
            else:
                n_int += 1
    n_cons = sum(1 for _ in model.component_data_objects(pyo.Constraint, active=True, descend_into=True))
    return ModelSize(n_vars=n_vars, n_binaries=n_bin, n_integers=n_int, n_constraints=n_cons)


def _mentions(expr, ids: set[int]) -> bool:
    """True when a variable whose ``id`` is in ``ids`` occurs in ``expr`` (a LinearExpression is read without
    an expression walk: its terms are variables, coefficient-variable monomials and constants)."""
    if type(expr) is LinearExpression:
        # a constant's id is no live variable's, so the terms can be looked up without sorting them out
        return not ids.isdisjoint([id(a._args_[1] if type(a) is MonomialTermExpression else a) for a in expr.args])
    if isinstance(expr, int | float):
        return False
    return any(id(v) in ids for v in identify_variables(expr, include_fixed=False))


def _uses_integers(model) -> bool:
    """True when an unfixed non-continuous variable occurs in an active constraint or objective of ``model``.

    A declared integer variable that no active constraint or objective mentions (unused, or used only in
    deactivated constraints) restricts nothing and leaves the model continuous. The expressions are only
    searched when the model declares an unfixed integer variable, and the search stops at the first one found.
    """
    variables = model.component_data_objects(pyo.Var, descend_into=True)  # deactivated blocks too: any may be used
    ints = {id(v) for v in variables if not v.fixed and not v.is_continuous()}
    if not ints:
        return False
    for c in model.component_data_objects(pyo.Constraint, active=True, descend_into=True):
        if _mentions(c.body, ints):
            return True
    return any(
        _mentions(o.expr, ints) for o in model.component_data_objects(pyo.Objective, active=True, descend_into=True)
    )


def problem_class(model) -> str:
    """Class of ``model``: "LP", "MILP", "QP", "MIQP", "QCP", "MIQCP" (or "NLP", "MINLP" beyond quadratic).

    Integer means an unfixed non-continuous variable that occurs in an active constraint or objective (one
    that none mentions restricts nothing, so it does not make the model integer); "Q" means a quadratic
    objective, "QC" a quadratic constraint (degrees are computed with fixed variables as constants, so a model
    whose binaries are all fixed is continuous). Linear constraints built as ``LinearExpression`` are read
    without an expression walk, so the class of a model with tens of thousands of them takes a fraction of a
    second.
    """
    integer = _uses_integers(model)
    con_degree = 0
    for c in model.component_data_objects(pyo.Constraint, active=True, descend_into=True):
        d = _degree(c.body)
        if d is None or d > 2:
            con_degree = 3
            break
        if d > con_degree:
            con_degree = d
    obj_degree = 0
    for o in model.component_data_objects(pyo.Objective, active=True, descend_into=True):
        d = _degree(o.expr)
        d = 3 if d is None else d
        obj_degree = max(obj_degree, d)
    if con_degree > 2 or obj_degree > 2:
        base = "NLP"
    elif con_degree == 2:
        base = "QCP"
    elif obj_degree == 2:
        base = "QP"
    else:
        base = "LP"
    return ("MI" + base) if integer else base


_WORKLOADS = {
    "worst_case": "max c'x over a network uncertainty set (Goerigk & Kurtz, Theorem 3)",
}
"""The workloads of :func:`default_solver` whose measured fastest solver may differ from the class default."""


def default_solver(model: Any, workload: str | None = None) -> str:
    """Name of the solver :func:`solve` uses when none is given, chosen by problem class (measured fastest).

    ``model`` is a Pyomo model (its :func:`problem_class` is computed) or a problem class itself
    (``"MILP"``). ``workload`` names a model nnblocks builds whose measured fastest solver differs from its
    class default: ``"worst_case"`` (max c'x over a network uncertainty set; HiGHS for the 1- and inf-norm
    MILPs). See docs/solving.md.
    """
    if isinstance(model, str):
        if model not in PROBLEM_CLASSES:
            raise ValueError(f"unknown problem class {model!r}; known: {list(PROBLEM_CLASSES)}")
        cls = model
    else:
        cls = problem_class(model)
    if workload is not None and workload not in _WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}; known: {sorted(_WORKLOADS)}")
    return _MEASURED.get((cls, workload), _DEFAULTS[cls])


# --------------------------------------------------------------------------------------------------------------
# What a solver can take
# --------------------------------------------------------------------------------------------------------------

_CLASS_MEANING = {
    "QP": "a quadratic objective",
    "MIQP": "a quadratic objective and integer variables",
    "QCP": "quadratic constraints",
    "MIQCP": "quadratic constraints and integer variables",
    "NLP": "expressions beyond degree 2",
    "MINLP": "expressions beyond degree 2 and integer variables",
}


def _refusal(name: str, cls: str) -> SolverError | None:
    """The error for a model of class ``cls`` that solver ``name`` cannot take (None when it can)."""
    accepted, takes = _ACCEPTED_CLASSES.get(name, ((cls,), ""))
    if cls in accepted:
        return None
    use = " or ".join(f"solver={s!r}" for s in dict.fromkeys((_DEFAULTS[cls], "scip_direct")))
    return SolverError(
        f"solver {name!r} cannot solve this {cls} (a model with {_CLASS_MEANING[cls]}): it takes {takes} models "
        f"only; use {use}"
    )


def _nonconvex_refusal(name: str, obj) -> SolverError | None:
    """The error for a quadratic objective that HiGHS cannot take because it is not convex (None otherwise)."""
    if _family(name) != "highs" or obj is None or _degree(obj.expr) != 2 or not _nonconvex_objective(obj):
        return None
    convex, sense = ("concave", "maximised") if obj.sense == pyo.maximize else ("convex", "minimised")
    return SolverError(
        f"solver {name!r} cannot solve this QP: its quadratic objective is not {convex} ({sense}), and HiGHS "
        f"takes convex QPs only; use solver='scip_direct'"
    )


def _nonconvex_objective(obj) -> bool:
    """True when the quadratic part of ``obj`` is not convex when minimised (not concave when maximised)."""
    repn = generate_standard_repn(obj.expr, quadratic=True, compute_values=True)
    index: dict[int, int] = {}
    for pair in repn.quadratic_vars:
        for v in pair:
            index.setdefault(id(v), len(index))
    H = np.zeros((len(index), len(index)))
    for (u, v), coef in zip(repn.quadratic_vars, repn.quadratic_coefs):
        i, j = index[id(u)], index[id(v)]
        H[i, j] += coef
        H[j, i] += coef
    if obj.sense == pyo.maximize:
        H = -H
    if not H.size:
        return False
    return bool(np.linalg.eigvalsh(H).min() < -1e-9 * max(1.0, np.abs(H).max()))
