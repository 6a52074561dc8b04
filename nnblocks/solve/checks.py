"""Accepting an answer: the solver-independent :func:`check_solution`, the re-solves after an answer is not
accepted (presolve off, then the other solver, then a known feasible point) and the polishing step that makes
a solution exact in its integer variables."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import pyomo.environ as pyo

from nnblocks.solve import interfaces
from nnblocks.solve.classify import _active_vars, _refusal, problem_class
from nnblocks.solve.families import _family, family
from nnblocks.solve.results import (
    CHECK_TOL,
    SolveAttempt,
    SolverError,
    SolveResult,
    SolveStatus,
    _finite_or_none,
    _gap,
)

logger = logging.getLogger("nnblocks.solve")

__all__ = ["POLISH_TOL", "check_solution"]

POLISH_TOL = 1e-9
"""An integer variable further than this from an integer triggers the polishing step of :func:`solve`."""


def _violation(lb, ub, value: float) -> float:
    """Relative violation of lb <= value <= ub (0 when met; a side is scaled by max(1, |side|))."""
    below = 0.0 if lb is None else (lb - value) / max(1.0, abs(lb))
    above = 0.0 if ub is None else (value - ub) / max(1.0, abs(ub))
    return max(below, above, 0.0)


def check_solution(model, tol: float = CHECK_TOL) -> str | None:
    """None when the values in ``model``'s variables satisfy every active constraint, variable bound and
    integrality to within ``tol`` (relative to ``max(1, |side|)``; integrality absolute), else a one-line
    description of the worst violation. A solver-independent check of a solver's answer (``solve(check=...)``).
    """
    worst, what = float(tol), None
    for v in _active_vars(model):
        val = v.value
        if val is None:  # a variable no constraint uses gets no value; a used one fails its constraint below
            continue
        if (viol := _violation(v.lb, v.ub, val)) > worst:
            worst, what = viol, f"variable {v.name} = {val:.10g} is outside its bounds [{v.lb}, {v.ub}]"
        if not v.is_continuous() and (viol := abs(val - round(val))) > worst:
            worst, what = viol, f"integer variable {v.name} = {val:.10g}"
    for c in model.component_data_objects(pyo.Constraint, active=True, descend_into=True):
        try:
            body = pyo.value(c.body)
        except ValueError as exc:  # a variable without value
            return f"constraint {c.name} cannot be evaluated: {exc}"
        if (viol := _violation(pyo.value(c.lower), pyo.value(c.upper), body)) > worst:
            worst, what = viol, f"constraint {c.name} violated (relative violation {viol:.3g})"
    return what


def _point_pairs(point: Any) -> list[tuple[Any, float]]:
    """A known feasible point as a list of (variable, value) pairs."""
    items = point.items() if isinstance(point, Mapping) else point
    try:
        pairs = [(v, float(value)) for v, value in items]
    except (TypeError, ValueError):
        raise TypeError(
            "feasible_point must be (variable, value) pairs or a mapping variable -> value (a ComponentMap)"
        ) from None
    if not all(isinstance(v, pyo.Var) or getattr(v, "ctype", None) is pyo.Var for v, _ in pairs):
        raise TypeError("feasible_point must map Pyomo variables to values")
    return pairs


def _check_reason(check, model) -> str:
    """The reason a ``check`` gives for rejecting the loaded solution ("" when it accepts it)."""
    verdict = check(model)
    if verdict is None or verdict is True:
        return ""
    if verdict is False:
        return "the check rejected the solution"
    return str(verdict)


def _rejection(result: SolveResult, model, check, feasible_point) -> str:
    """Why ``result`` is not accepted as the answer ("" when it is)."""
    if result.has_solution and check is not None:
        reason = _check_reason(check, model)
        if reason:
            return f"check failed: {reason}"
    if feasible_point is not None and result.status in (SolveStatus.INFEASIBLE, SolveStatus.INFEASIBLE_OR_UNBOUNDED):
        return f"status {result.status.value!r} contradicts a known feasible point"
    if result.status is SolveStatus.ERROR:
        return f"solver error (termination {result.termination!r})"
    return ""


def _attempt(result: SolveResult, options: dict, outcome: str) -> SolveAttempt:
    return SolveAttempt(result.solver, dict(options), result.status, result.objective, result.time, outcome)


def _fallbacks(model, name: str, solver_options: dict) -> list[tuple[str, dict]]:
    """The re-solves after ``name`` failed: presolve off, then the other solver (if it takes the model)."""
    out = []
    fam = _family(name)
    record = family(name)
    off = record.presolve_off if record is not None and record.presolve_off else None
    if off is not None and any(solver_options.get(k) != v for k, v in off.items()):
        out.append((name, {**solver_options, **off}))
    cls = problem_class(model)
    other = None
    if fam == "scip":
        other = next((h for h in ("highs", "appsi_highs") if _refusal(h, cls) is None), None)
    elif name != "scip_direct":
        other = "scip_direct"
    if other is not None and interfaces._is_available(other):
        out.append((other, {}))
    return out


def _resolve(model, name, obj, first, reason, start, time_limit, mip_gap, threads, tee, solver_options, check,
             feasible_point) -> SolveResult:
    """Re-solve after ``first`` was rejected for ``reason``; the first accepted answer, else status ERROR."""
    attempts = list(first.attempts)
    result = first
    for other, options in _fallbacks(model, name, solver_options):
        remaining = None if time_limit is None else time_limit - (time.perf_counter() - start)
        if remaining is not None and remaining <= 0:
            break
        logger.info("re-solving with %s %s: %s", other, options, reason)
        t0 = time.perf_counter()
        try:
            result = interfaces._solve_once(model, other, obj, remaining, mip_gap, threads, tee, options)
        except SolverError as exc:
            attempts.append(SolveAttempt(other, dict(options), SolveStatus.ERROR, None,
                                         time.perf_counter() - t0, f"could not solve: {exc}"))
            continue
        reason = _rejection(result, model, check, feasible_point)
        attempts.append(_attempt(result, options, reason or "accepted"))
        if not reason:
            result.attempts = attempts
            return result
    if feasible_point is not None and result.status in (SolveStatus.INFEASIBLE, SolveStatus.INFEASIBLE_OR_UNBOUNDED,
                                                        SolveStatus.ERROR):
        return _known_point_result(model, obj, feasible_point, result, attempts)
    result.status = SolveStatus.ERROR
    result.termination = f"no attempt accepted: {reason}"
    result.attempts = attempts
    return result


def _known_point_result(model, obj, feasible_point, last: SolveResult, attempts) -> SolveResult:
    """Every solver said infeasible (or failed) although a feasible point is known: the point when it is a
    complete, checked solution of the model (status FEASIBLE), else status ERROR with no solution."""
    for v, value in feasible_point:
        v.set_value(value, skip_validation=True)
    reason = check_solution(model)
    if reason is None:
        objective = _finite_or_none(pyo.value(obj)) if obj is not None else None
        attempts.append(SolveAttempt("feasible_point", {}, SolveStatus.FEASIBLE, objective, 0.0, "accepted"))
        return SolveResult(SolveStatus.FEASIBLE, objective, None, None, 0.0, last.solver, None,
                           "every solver failed: the known feasible point is returned", last.raw, True, attempts)
    return SolveResult(SolveStatus.ERROR, None, None, None, 0.0, last.solver, None,
                       f"every solver failed although a feasible point is known ({reason})", last.raw, False,
                       attempts)


def _polish(model, result: SolveResult, obj, time_limit, threads, tee, check, solver_options) -> None:
    """Make the loaded solution exact in its integer variables.

    A mixed-integer solver accepts a binary u = 1e-6 as integral; in a big-M row x <= M (1 - u) this lets
    x exceed its value by M * 1e-6 (4e-5 relative on small networks), so the outputs of a network block no
    longer equal the forward pass of its input. With every integer variable fixed at its rounded value, the
    remaining problem (the activation region of the point, for a network) is continuous: it is solved again
    and its solution, exact in the integers, replaces the first one when it is optimal and passes ``check``.
    Otherwise the first solution is restored. Either way the step is recorded in ``result.attempts``.
    """
    ints = [v for v in _active_vars(model) if not v.is_continuous() and v.value is not None]
    if not ints or max(abs(v.value - round(v.value)) for v in ints) <= POLISH_TOL:
        return
    if time_limit is not None and time_limit <= 0:
        return
    saved = [(v, v.value) for v in model.component_data_objects(pyo.Var, descend_into=True) if not v.fixed]
    for v in ints:
        v.fix(round(v.value))
    t0 = time.perf_counter()
    try:
        options = solver_options if result.solver == result.attempts[0].solver else {}
        lp = interfaces._solve_once(model, result.solver, obj, time_limit, None, threads, tee, options)
        reason = "" if lp.status == SolveStatus.OPTIMAL else f"status {lp.status.value}"
        if not reason and check is not None:
            reason = _check_reason(check, model)
    except SolverError as exc:
        lp, reason = None, f"could not solve: {exc}"
    finally:
        for v in ints:
            v.unfix()
    if lp is None or reason:
        for v, value in saved:
            v.set_value(value, skip_validation=True)
        result.attempts.append(SolveAttempt(result.solver, {"integers": "fixed"}, lp.status if lp else
                                            SolveStatus.ERROR, None, time.perf_counter() - t0,
                                            f"polish not kept: {reason}"))
        return
    result.attempts.append(SolveAttempt(result.solver, {"integers": "fixed"}, lp.status, lp.objective,
                                        time.perf_counter() - t0, "polished"))
    result.objective = lp.objective
    result.gap = _gap(lp.objective, result.bound)
