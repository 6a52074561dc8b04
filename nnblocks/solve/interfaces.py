"""The three Pyomo solver interfaces (``pyomo.contrib.solver``, APPSI, the legacy ``SolverFactory``) behind one
call, :func:`_solve_once`, and the per-model cache of persistent solver instances."""

from __future__ import annotations

import functools
import logging
import time
import warnings
from typing import Any

import pyomo.environ as pyo  # registers the solver plugins: must precede the factories below
from pyomo.common.log import LoggingIntercept
from pyomo.contrib.appsi.base import SolverFactory as _AppsiFactory
from pyomo.contrib.appsi.base import TerminationCondition as _AppsiTC
from pyomo.contrib.solver.common.factory import SolverFactory as _NewFactory
from pyomo.contrib.solver.common.results import SolutionStatus as _NewSolutionStatus
from pyomo.contrib.solver.common.results import TerminationCondition as _NewTC
from pyomo.opt import SolverFactory as _LegacyFactory
from pyomo.opt import TerminationCondition as _LegacyTC
from pyomo.solvers.plugins.solvers.direct_solver import DirectSolver
from pyomo.solvers.plugins.solvers.persistent_solver import PersistentSolver

from nnblocks.solve.classify import _nonconvex_refusal, _refusal, problem_class
from nnblocks.solve.families import _ACCEPTED_CLASSES, _KNOWN_NAMES, _family, _native_options, family
from nnblocks.solve.results import (
    _NO_SOLUTION_KINDS,
    SolverError,
    SolveResult,
    SolverNotAvailableError,
    SolveStatus,
    _finite_or_none,
    _gap,
    _status,
)

__all__ = ["available_solvers", "check_solver", "persistent_solver"]


# --------------------------------------------------------------------------------------------------------------
# Solver lookup
# --------------------------------------------------------------------------------------------------------------


def _interface(name: str) -> str:
    """Which Pyomo interface serves ``name``: "new", "appsi", "legacy" or "" (unknown).

    Looks the name up in the factories' registries (``_cls``, stable within the pinned Pyomo 6.10), because
    asking the legacy factory for an unknown name logs an error and returns a placeholder object.
    """
    if name in _NewFactory._cls:
        return "new"
    if name.startswith("appsi_") and name[6:] in _AppsiFactory._cls:
        return "appsi"
    if name in _LegacyFactory._cls:
        return "legacy"
    return ""


def _make_solver(name: str):
    kind = _interface(name)
    if kind == "new":
        return _NewFactory(name)
    if kind == "appsi":
        return _AppsiFactory(name[6:])
    return _LegacyFactory(name)


@functools.cache
def _is_available(name: str) -> bool:
    if not _interface(name):
        return False
    try:
        opt = _make_solver(name)
        if _interface(name) == "new":
            return bool(opt.available())
        if _interface(name) == "appsi":
            return bool(opt.available())
        return bool(opt.available(exception_flag=False))
    except Exception:  # a broken installation counts as unavailable
        return False


def available_solvers() -> list[str]:
    """Names of the well-known Pyomo solvers usable here (checked once per process, then cached)."""
    return [n for n in _KNOWN_NAMES if _is_available(n)]


def _check_solver_type(solver: Any) -> str:
    if not isinstance(solver, str):
        raise TypeError(
            f"solver must be a solver name (str) such as 'highs' or 'scip_direct', got {solver!r} "
            f"({type(solver).__name__})"
        )
    return solver


def _check_available(name: str) -> None:
    if not name.strip():
        raise SolverNotAvailableError(f"solver name is empty ({name!r}); available solvers: {available_solvers()}")
    if not _interface(name):
        raise SolverNotAvailableError(f"unknown solver {name!r}; available solvers: {available_solvers()}")
    if not _is_available(name):
        raise SolverNotAvailableError(
            f"solver {name!r} is not available (not installed or no license); available solvers: {available_solvers()}"
        )


def check_solver(solver: Any) -> str:
    """``solver`` when it names a solver usable here; TypeError for a non-string, :class:`SolverNotAvailableError`
    (listing the available solvers) for an empty, unknown or missing one."""
    name = _check_solver_type(solver)
    _check_available(name)
    return name


# --------------------------------------------------------------------------------------------------------------
# Persistent solver cache
# --------------------------------------------------------------------------------------------------------------

_CACHE_ATTR = "_nnblocks_solver_cache"


class _SolverCache(dict):
    """Per-model cache of persistent solver instances; dropped (not copied) when the model is cloned/pickled."""

    def __deepcopy__(self, memo):
        return _SolverCache()

    def __reduce__(self):
        return (_SolverCache, ())


def _is_persistent(name: str) -> bool:
    return name.endswith("_persistent") or name.startswith("appsi_")


def persistent_solver(model, name: str = "scip_persistent"):
    """The persistent solver instance ``solve(model, name)`` uses for ``model``, created on first use.

    Persistent solvers (``scip_persistent``, ``gurobi_persistent``, ``appsi_*``, ...) keep the model loaded
    between calls: after the first ``solve``, adding a cut, changing a bound or a mutable ``Param`` and
    solving again only sends the change. The instance is cached on the model and dropped when the model is
    cloned. With a legacy persistent interface (``cplex_persistent``, ``xpress_persistent``) changes must be
    passed by hand (``add_constraint`` ...); the returned instance is the one to call.
    """
    _check_solver_type(name)
    if not _is_persistent(name):
        raise ValueError(f"{name!r} is not a persistent solver (expected a *_persistent or appsi_* name)")
    _check_available(name)
    cache = getattr(model, _CACHE_ATTR, None)
    if cache is None:
        cache = _SolverCache()
        object.__setattr__(model, _CACHE_ATTR, cache)
    if name not in cache:
        cache[name] = _make_solver(name)
    return cache[name]


def _reset_options(opt, name: str) -> None:
    """Return a cached persistent instance to its default options, so a call's time limit, gap, threads and
    solver options do not leak into the next call on the same model."""
    native = getattr(opt, "_solver_model", None)
    if name.startswith("appsi_"):
        fam = _family(name)
        if hasattr(opt, f"{fam}_options"):
            setattr(opt, f"{fam}_options", {})
    if native is None:
        return
    for reset in ("resetParams", "resetOptions"):  # pyscipopt / gurobipy, highspy
        if hasattr(native, reset):
            getattr(native, reset)()
            return


# --------------------------------------------------------------------------------------------------------------
# One solver call
# --------------------------------------------------------------------------------------------------------------


def _solve_once(model, name, obj, time_limit, mip_gap, threads, tee, solver_options) -> SolveResult:
    """One call of solver ``name`` (checked and available) on ``model``."""
    if _is_persistent(name):
        opt = persistent_solver(model, name)
        _reset_options(opt, name)
    else:
        opt = _make_solver(name)
    kind = _interface(name)
    start = time.perf_counter()
    try:
        if kind == "new":
            result = _solve_new(opt, model, name, time_limit, mip_gap, threads, tee, solver_options)
        elif kind == "appsi":
            result = _solve_appsi(opt, model, name, time_limit, mip_gap, threads, tee, solver_options, obj)
        else:
            result = _solve_legacy(opt, model, name, time_limit, mip_gap, threads, tee, solver_options, obj)
    except SolverError as exc:
        if _is_persistent(name):
            # the instance may hold part of the model: a later call must not re-solve that part as the model
            getattr(model, _CACHE_ATTR).pop(name, None)
        if name in _ACCEPTED_CLASSES and (err := _refusal(name, problem_class(model))) is not None:
            raise err from exc
        raise
    result.time = time.perf_counter() - start
    if result.status is SolveStatus.ERROR and (err := _nonconvex_refusal(name, obj)) is not None:
        raise err
    if result.status in (SolveStatus.INFEASIBLE, SolveStatus.UNBOUNDED, SolveStatus.INFEASIBLE_OR_UNBOUNDED):
        result.objective = result.bound = result.gap = None
    if obj is None:
        result.objective = result.bound = result.gap = None
    return result


_NEW_KIND = {
    _NewTC.convergenceCriteriaSatisfied: "optimal",
    _NewTC.maxTimeLimit: "time",
    _NewTC.iterationLimit: "iterations",
    _NewTC.provenInfeasible: "infeasible",
    _NewTC.locallyInfeasible: "infeasible",
    _NewTC.unbounded: "unbounded",
    _NewTC.infeasibleOrUnbounded: "infeasible_or_unbounded",
}


def _reset_highs_threads(name: str, threads) -> None:
    """HiGHS fixes its thread pool at first use and refuses another ``threads`` value afterwards; resetting
    the global scheduler lets each solve choose (not safe while another HiGHS solve runs in this process)."""
    if threads is not None and _family(name) == "highs":
        import highspy

        highspy.Highs.resetGlobalScheduler(True)


def _result(status, objective, bound, name, nodes, termination, res, has_sol) -> SolveResult:
    """The SolveResult of one adapter call (the caller sets the time)."""
    return SolveResult(status, objective, bound, _gap(objective, bound), 0.0, name, nodes, str(termination), res,
                       has_sol)


def _solve_new(opt, model, name, time_limit, mip_gap, threads, tee, solver_options) -> SolveResult:
    _reset_highs_threads(name, threads)
    kwargs: dict[str, Any] = dict(tee=tee, load_solutions=False, raise_exception_on_nonoptimal_result=False)
    if time_limit is not None:
        kwargs["time_limit"] = time_limit
    if threads is not None:
        kwargs["threads"] = int(threads)
    if mip_gap is not None:
        if "rel_gap" in opt.config:
            kwargs["rel_gap"] = mip_gap
        else:
            warnings.warn(f"solver {name!r} takes no MIP gap; mip_gap ignored", stacklevel=3)
    solver_options = dict(solver_options or {})
    if _family(name) == "scip" and not tee:
        # Pyomo captures SCIP's log through a pipe drained by a Python thread, while SCIPsolve holds the GIL:
        # once a long solve has written a pipe buffer's worth of log (64 KiB), both wait for each other
        # forever. A silent SCIP writes nothing.
        solver_options.setdefault("display/verblevel", 0)
    if solver_options:
        kwargs["solver_options"] = solver_options
    try:
        res = opt.solve(model, **kwargs)
    except Exception as exc:  # the interface rejected the model (e.g. an expression type it cannot take)
        raise SolverError(f"solver {name!r} could not solve the model: {exc}") from exc
    kind = _NEW_KIND.get(res.termination_condition, "other")
    has_sol = kind not in _NO_SOLUTION_KINDS and res.solution_status in (
        _NewSolutionStatus.optimal,
        _NewSolutionStatus.feasible,
    )
    if has_sol:
        res.solution_loader.load_vars()
    status = _status(has_sol, res.solution_status == _NewSolutionStatus.optimal, kind)
    objective = _finite_or_none(res.incumbent_objective) if has_sol else None
    bound = _finite_or_none(res.objective_bound)
    extra = res.extra_info
    nodes = None
    for key in ("NNodes", "mip_node_count"):
        if key in extra and extra[key] is not None and extra[key] >= 0:
            nodes = int(extra[key])
    return _result(status, objective, bound, name, nodes, res.termination_condition.name, res, has_sol)


_APPSI_KIND = {
    _AppsiTC.optimal: "optimal",
    _AppsiTC.maxTimeLimit: "time",
    _AppsiTC.maxIterations: "iterations",
    _AppsiTC.infeasible: "infeasible",
    _AppsiTC.unbounded: "unbounded",
    _AppsiTC.infeasibleOrUnbounded: "infeasible_or_unbounded",
}


def _solve_appsi(opt, model, name, time_limit, mip_gap, threads, tee, solver_options, obj) -> SolveResult:
    _reset_highs_threads(name, threads)
    cfg = opt.config
    cfg.stream_solver = tee
    cfg.load_solution = False
    cfg.time_limit = time_limit
    if hasattr(cfg, "mip_gap"):
        cfg.mip_gap = mip_gap
    elif mip_gap is not None:
        warnings.warn(f"solver {name!r} takes no MIP gap; mip_gap ignored", stacklevel=3)
    fam = _family(name)
    native = getattr(opt, f"{fam}_options", None)
    if native is None:
        native = opt.config.solver_options if hasattr(opt.config, "solver_options") else {}
    if threads is not None:
        record = family(name)
        thread_key = None if record is None else record.threads
        if thread_key is None:
            warnings.warn(f"solver {name!r} has no known option for threads; ignored", stacklevel=3)
        else:
            native[thread_key] = int(threads)
    native.update(solver_options)
    try:
        res = opt.solve(model)
    except Exception as exc:
        raise SolverError(f"solver {name!r} could not solve the model: {exc}") from exc
    kind = _APPSI_KIND.get(res.termination_condition, "other")
    # APPSI reports a solution through its objective value; a model without objective (a feasibility problem)
    # has none, and an optimal termination is then its proof of a solution
    has_sol = kind not in _NO_SOLUTION_KINDS and (
        res.best_feasible_objective is not None or (obj is None and kind == "optimal")
    )
    if has_sol:
        res.solution_loader.load_vars()
    status = _status(has_sol, False, kind)
    objective = _finite_or_none(res.best_feasible_objective) if has_sol else None
    bound = _finite_or_none(res.best_objective_bound)
    nodes = None
    highs = getattr(opt, "_solver_model", None)
    if fam == "highs" and highs is not None:  # APPSI hides the node count; highspy reports it
        try:
            n = highs.getInfo().mip_node_count
            nodes = int(n) if n >= 0 else None
        except Exception:
            nodes = None
    return _result(status, objective, bound, name, nodes, res.termination_condition.name, res, has_sol)


_LEGACY_KIND = {
    _LegacyTC.optimal: "optimal",
    _LegacyTC.globallyOptimal: "optimal",
    _LegacyTC.locallyOptimal: "optimal",
    _LegacyTC.maxTimeLimit: "time",
    _LegacyTC.maxIterations: "iterations",
    _LegacyTC.maxEvaluations: "iterations",
    _LegacyTC.infeasible: "infeasible",
    _LegacyTC.unbounded: "unbounded",
    _LegacyTC.infeasibleOrUnbounded: "infeasible_or_unbounded",
}


def _solve_legacy(opt, model, name, time_limit, mip_gap, threads, tee, solver_options, obj) -> SolveResult:
    opt.options.update(_native_options(name, time_limit, mip_gap, threads))
    opt.options.update(solver_options)
    try:
        if isinstance(opt, PersistentSolver):
            opt.set_instance(model)
        res = opt.solve(model, tee=tee, load_solutions=False)
    except Exception as exc:
        raise SolverError(f"solver {name!r} could not solve the model: {exc}") from exc
    tc = res.solver.termination_condition
    kind = _LEGACY_KIND.get(tc, "other")
    has_sol = False
    if kind not in _NO_SOLUTION_KINDS:
        try:
            if isinstance(opt, PersistentSolver | DirectSolver):
                opt.load_vars()
                has_sol = True
            elif len(res.solution) > 0:
                # an incumbent after a time limit has status "aborted", which Pyomo warns about; it is reported
                # here through SolveStatus.TIME_LIMIT instead
                with LoggingIntercept(level=logging.WARNING, module="pyomo.core"):
                    model.solutions.load_from(res)
                has_sol = True
        except Exception:
            has_sol = False
    status = _status(has_sol, kind == "optimal", kind)
    objective = _finite_or_none(pyo.value(obj, exception=False)) if has_sol and obj is not None else None
    bound = None
    if obj is not None:
        b = res.problem.lower_bound if obj.sense == pyo.minimize else res.problem.upper_bound
        bound = _finite_or_none(b)
    nodes = None
    try:
        n = res.solver.statistics.branch_and_bound.number_of_created_subproblems
        nodes = int(n) if n is not None else None
    except Exception:
        nodes = None
    return _result(status, objective, bound, name, nodes, tc, res, has_sol)
