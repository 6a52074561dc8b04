"""Solve a Pyomo model by solver name and get a typed, solver-independent result; export to .lp / .mps.

``solve(model)`` classifies the model (LP, MILP, QP, MIQP, QCP, MIQCP), picks the solver measured fastest
for that class unless one is named, maps the common options (time limit, relative MIP gap, threads) to the
solver's own option names, loads the solution into the model's variables when there is one and returns a
:class:`SolveResult` whose :class:`SolveStatus` means the same thing for every solver.

Pyomo offers three solver interfaces (the ``pyomo.contrib.solver`` interface, APPSI and the legacy
``SolverFactory``), each with its own results object; this package hides them behind one result type.
Every solver name, option and tuning of nnblocks lives here: ``classify`` (problem class, size, default
solver), ``families`` (one record per solver family), ``interfaces`` (the three adapters and the persistent
instances), ``checks`` (check, re-solve, polish), ``results`` and ``write``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pyomo.environ as pyo

from nnblocks import _validate
from nnblocks.solve import interfaces
from nnblocks.solve.checks import POLISH_TOL, _point_pairs, _polish, _rejection, _resolve, check_solution
from nnblocks.solve.checks import _attempt as _attempt
from nnblocks.solve.classify import _degree, _refusal, default_solver, model_size, problem_class
from nnblocks.solve.families import (
    _ACCEPTED_CLASSES,
    _DEFAULTS,
    FAMILIES,
    PROBLEM_CLASSES,
    TUNINGS,
    SolverFamily,
    _check_options,
    family,
    tuning,
)
from nnblocks.solve.families import _KNOWN_NAMES as _KNOWN_NAMES
from nnblocks.solve.families import _check_highs_options as _check_highs_options
from nnblocks.solve.families import _native_options as _native_options
from nnblocks.solve.interfaces import (
    _check_available,
    _check_solver_type,
    available_solvers,
    check_solver,
    persistent_solver,
)
from nnblocks.solve.interfaces import _is_available as _is_available
from nnblocks.solve.interfaces import _LegacyFactory as _LegacyFactory
from nnblocks.solve.interfaces import _solve_legacy as _solve_legacy
from nnblocks.solve.results import (
    CHECK_TOL,
    SOLUTION_TOL,
    ModelSize,
    SolveAttempt,
    SolverError,
    SolveResult,
    SolverNotAvailableError,
    SolveStatus,
)
from nnblocks.solve.write import write

__all__ = [
    "CHECK_TOL",
    "FAMILIES",
    "POLISH_TOL",
    "PROBLEM_CLASSES",
    "SOLUTION_TOL",
    "TUNINGS",
    "ModelSize",
    "SolveAttempt",
    "SolveResult",
    "SolveStatus",
    "SolverError",
    "SolverFamily",
    "SolverNotAvailableError",
    "available_solvers",
    "check_solution",
    "check_solver",
    "default_solver",
    "family",
    "model_size",
    "persistent_solver",
    "problem_class",
    "solve",
    "tuning",
    "write",
]

def _objective(model):
    objs = list(model.component_data_objects(pyo.Objective, active=True, descend_into=True))
    if len(objs) > 1:
        raise ValueError(f"model has {len(objs)} active objectives; deactivate all but one")
    return objs[0] if objs else None


def solve(
    model,
    solver: str | None = None,
    time_limit: float | None = None,
    mip_gap: float | None = None,
    threads: int | None = None,
    tee: bool = False,
    check: Callable[[Any], str | bool | None] | None = None,
    feasible_point: Mapping[Any, float] | Iterable[tuple[Any, float]] | None = None,
    retry: bool = True,
    polish: bool = True,
    **solver_options: Any,
) -> SolveResult:
    """Solve ``model`` and load the solution into its variables when there is one.

    Parameters
    ----------
    model : pyomo Block (usually a ConcreteModel)
    solver : str, optional
        Any Pyomo solver name (``"highs"``, ``"appsi_highs"``, ``"scip_direct"``, ``"scip_persistent"``,
        ``"gurobi"``, ``"cplex"``, ``"cbc"``, ``"glpk"`` ...). Default: :func:`default_solver` of the model.
    time_limit : float, optional
        Seconds.
    mip_gap : float, optional
        Relative MIP gap at which the solver may stop (reported as OPTIMAL).
    threads : int, optional
    tee : bool
        Stream the solver's log. SCIP is run silent otherwise: Pyomo drains its log through a pipe read by a
        Python thread while SCIP holds the GIL, so a log longer than a pipe buffer (64 KiB) stalls the solve
        for good; with ``tee=True`` keep long SCIP solves' logs short (e.g. ``**{"display/freq": 10000}``).
    check : callable, optional
        An independent check of a returned solution: called with the model once a solution is loaded; it
        returns None (or True, or "") to accept it, or a reason (a string, or False) to reject it, e.g.
        :func:`check_solution` (every constraint and integrality met to :data:`CHECK_TOL`) or a forward pass
        of a network's inputs compared with its outputs.
    feasible_point : mapping or iterable of pairs, optional
        Values of a point known to be feasible (an input whose forward pass completes it, a heuristic's
        example, a data point), as ``(variable, value)`` pairs or a mapping (Pyomo's ``ComponentMap``:
        variables are not hashable): "infeasible" then contradicts it. When every attempt says
        infeasible and the point, loaded into the model, passes :func:`check_solution`, it is returned with
        status FEASIBLE; a point that does not fix every variable gives status ERROR instead (never
        INFEASIBLE).
    retry : bool
        When an answer is not accepted (status ERROR; ``check`` rejected the solution; "infeasible" although
        ``feasible_point`` is known), re-solve with the solver's presolve off (SCIP:
        ``presolving/maxrounds = 0``; HiGHS: ``presolve = "off"``), then with the other solver (HiGHS for
        SCIP when it takes the problem class, SCIP otherwise, without ``solver_options``), within what is
        left of ``time_limit``. The first accepted answer is returned; ``attempts`` lists every call.
        When none is accepted the status is ERROR (the last attempt's solution, if any, stays loaded).
    polish : bool
        When an integer variable of the solution is further than :data:`POLISH_TOL` from an integer (a
        solver's integrality tolerance), fix every integer variable at its rounded value and solve the
        continuous rest again: in a network block, the outputs then equal the forward pass of the input
        (no big-M times integrality error). The polished solution replaces the first when it is optimal
        (and passes ``check``); ``objective`` and ``gap`` are then its own, ``bound`` stays the solver's.
        ``attempts`` records the step.
    **solver_options
        Passed unchanged with the solver's own names (e.g. ``**{"limits/nodes": 10}`` for SCIP).

    Returns
    -------
    SolveResult
        Never raises for infeasible, unbounded or timed-out models: inspect ``status`` or call
        ``raise_for_status()``. ``attempts`` tells whether the answer came from a re-solve.

    Raises
    ------
    SolverNotAvailableError
        For an unknown, empty or missing solver name (the message lists the available solvers).
    SolverError
        When the solver cannot take the model's problem class (HiGHS: quadratic constraints, an integer QP or a
        non-convex QP; APPSI's HiGHS: any quadratic objective); the message names the class and a solver that can.
    ValueError
        For an option HiGHS does not know or a value it refuses (``highs``, ``appsi_highs``), a non-positive
        ``time_limit``, a negative ``mip_gap`` or ``threads < 1``.
    TypeError
        If ``solver`` is neither None nor a string.
    """
    time_limit = _validate.time_limit(time_limit)
    if mip_gap is not None and not mip_gap >= 0:
        raise ValueError(f"mip_gap must be non-negative, got {mip_gap}")
    if threads is not None and int(threads) < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if check is not None and not callable(check):
        raise TypeError(f"check must be a callable taking the model (e.g. check_solution), got {check!r}")
    if feasible_point is not None:
        feasible_point = _point_pairs(feasible_point)
    cls = None
    if solver is None:
        cls = problem_class(model)
        name = _DEFAULTS[cls]
    else:
        name = _check_solver_type(solver)
    _check_available(name)
    obj = _objective(model)
    if name in _ACCEPTED_CLASSES and (cls is not None or (obj is not None and _degree(obj.expr) not in (0, 1))):
        # a nonlinear objective is checked here; a nonlinear constraint makes the interface refuse the model
        # while loading it, before the solve, and the class is named then (no walk over the constraints here)
        if (err := _refusal(name, cls or problem_class(model))) is not None:
            raise err
    _check_options(name, solver_options)
    start = time.perf_counter()
    result = interfaces._solve_once(model, name, obj, time_limit, mip_gap, threads, tee, solver_options)
    reason = _rejection(result, model, check, feasible_point)
    result.attempts = [_attempt(result, solver_options, reason or "accepted")]
    if reason and retry:
        result = _resolve(model, name, obj, result, reason, start, time_limit, mip_gap, threads, tee, solver_options,
                          check, feasible_point)
    if polish and result.has_solution and obj is not None:
        remaining = None if time_limit is None else time_limit - (time.perf_counter() - start)
        _polish(model, result, obj, remaining, threads, tee, check, solver_options)
    result.time = time.perf_counter() - start
    return result
