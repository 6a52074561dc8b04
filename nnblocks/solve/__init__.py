"""Solve a Pyomo model by solver name and get a typed, solver-independent result; export to .lp / .mps.

``solve(model)`` classifies the model (LP, MILP, QP, MIQP, QCP, MIQCP), picks the solver measured fastest
for that class unless one is named, maps the common options (time limit, relative MIP gap, threads) to the
solver's own option names, loads the solution into the model's variables when there is one and returns a
:class:`SolveResult` whose :class:`SolveStatus` means the same thing for every solver.

Pyomo offers three solver interfaces (the ``pyomo.contrib.solver`` interface, APPSI and the legacy
``SolverFactory``), each with its own results object; this module hides them behind one result type.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pyomo.environ as pyo  # registers the solver plugins: must precede the factories below
from pyomo.common.log import LoggingIntercept
from pyomo.contrib.appsi.base import SolverFactory as _AppsiFactory
from pyomo.contrib.appsi.base import TerminationCondition as _AppsiTC
from pyomo.contrib.solver.common.factory import SolverFactory as _NewFactory
from pyomo.contrib.solver.common.results import SolutionStatus as _NewSolutionStatus
from pyomo.contrib.solver.common.results import TerminationCondition as _NewTC
from pyomo.core.expr.numeric_expr import LinearExpression, MonomialTermExpression
from pyomo.core.expr.visitor import identify_variables
from pyomo.opt import ProblemFormat
from pyomo.opt import SolverFactory as _LegacyFactory
from pyomo.opt import TerminationCondition as _LegacyTC
from pyomo.repn import generate_standard_repn
from pyomo.solvers.plugins.solvers.direct_solver import DirectSolver
from pyomo.solvers.plugins.solvers.persistent_solver import PersistentSolver

from nnblocks._highs import new_highs
from nnblocks._results import AsDict
from nnblocks._validate import real_number

logger = logging.getLogger(__name__)

__all__ = [
    "CHECK_TOL",
    "POLISH_TOL",
    "SOLUTION_TOL",
    "ModelSize",
    "SolveAttempt",
    "SolveResult",
    "SolveStatus",
    "SolverError",
    "SolverNotAvailableError",
    "available_solvers",
    "check_solution",
    "default_solver",
    "model_size",
    "persistent_solver",
    "problem_class",
    "solve",
    "write",
]


class SolveStatus(StrEnum):
    """Outcome of a solve, the same for every solver."""

    OPTIMAL = "optimal"
    """Solved to optimality (within the requested ``mip_gap`` when one was given)."""
    FEASIBLE = "feasible"
    """A feasible solution, not proven optimal (stopped for a reason other than time or iterations)."""
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    INFEASIBLE_OR_UNBOUNDED = "infeasible_or_unbounded"
    TIME_LIMIT = "time_limit"
    """Time limit reached with an incumbent (loaded into the model)."""
    TIME_LIMIT_NO_SOLUTION = "time_limit_no_solution"
    """Time limit reached before any feasible solution was found."""
    ITERATION_LIMIT = "iteration_limit"
    """An iteration or node limit was reached (an incumbent may exist: see ``has_solution``)."""
    ERROR = "error"


_WITH_SOLUTION = (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE, SolveStatus.TIME_LIMIT)


SOLUTION_TOL = 1e-6
"""The tolerance every solution nnblocks returns meets (relative, to ``max(1, |scale|)``).

A returned point satisfies its set's or model's constraints to within ``SOLUTION_TOL * max(1, |R|)`` (a
scenario lies in its domain box exactly), a reported value equals a fresh evaluation of the returned point
(a forward pass, ``c'x``) to within ``SOLUTION_TOL * max(1, |value|)``, and a worst case reported as optimal
is within ``SOLUTION_TOL * max(1, |value|)`` of the maximum over the region it searched. See docs/solving.md.
"""

CHECK_TOL = 1e-5
"""Tolerance of :func:`check_solution`: ten times the solvers' default feasibility and integrality tolerances
(1e-6), so that a solver's ordinary rounding passes and only a wrong answer fails."""


@dataclass
class SolveAttempt(AsDict):
    """One solver call of :func:`solve`: the first is the one asked for, the others are re-solves.

    ``outcome`` is ``"accepted"`` for the attempt whose answer :func:`solve` returns, else why the answer
    was not accepted (the check's reason, a status contradicting a known feasible point, a solver error).
    """

    solver: str
    options: dict[str, Any]
    status: SolveStatus
    objective: float | None
    time: float
    outcome: str


class SolverError(RuntimeError):
    """A solve did not end with an accepted status, or a solver could not be used."""


class SolverNotAvailableError(SolverError):
    """The requested solver is unknown to Pyomo or not installed; the message lists the available ones."""


@dataclass
class SolveResult(AsDict, exclude=("raw",)):
    """Solver-independent result of :func:`solve`.

    Attributes
    ----------
    status : SolveStatus
        Uniform outcome.
    objective : float or None
        Objective value of the loaded solution (None without solution or objective).
    bound : float or None
        Best proven bound on the optimum reported by the solver (dual bound), in the objective's sense.
    gap : float or None
        Relative gap ``|objective - bound| / max(|objective|, 1e-10)`` (0 when both are equal).
    time : float
        Wall-clock seconds of the whole call, including handing the model to the solver.
    solver : str
        Name of the solver used.
    nodes : int or None
        Branch-and-bound nodes, where the solver reports them.
    termination : str
        The solver interface's own termination condition, for diagnostics.
    raw : Any
        The raw results object of the Pyomo interface (left out of ``as_dict()``).
    attempts : list of SolveAttempt
        Every solver call made, in order. One entry unless an answer was not accepted (a solver error, a
        failed ``check``, "infeasible" against a known ``feasible_point``) and :func:`solve` re-solved.
    """

    status: SolveStatus
    objective: float | None
    bound: float | None
    gap: float | None
    time: float
    solver: str
    nodes: int | None
    termination: str
    raw: Any = field(default=None, repr=False)
    solution_loaded: bool = False
    attempts: list[SolveAttempt] = field(default_factory=list)

    @property
    def has_solution(self) -> bool:
        """True when a feasible solution was found and loaded into the model's variables."""
        return self.solution_loaded

    @property
    def retried(self) -> bool:
        """True when the answer came from a re-solve (see ``attempts``; the polishing step is not one)."""
        return sum(not a.outcome.startswith("polish") for a in self.attempts) > 1

    def raise_for_status(self, allow: tuple[SolveStatus, ...] = (SolveStatus.OPTIMAL,)) -> SolveResult:
        """Return ``self`` when ``status`` is in ``allow``, else raise :class:`SolverError` naming the status."""
        allowed = tuple(SolveStatus(a) for a in allow)
        if self.status not in allowed:
            raise SolverError(
                f"solver {self.solver!r} ended with status {self.status.value!r} "
                f"(termination {self.termination!r}); accepted: {[a.value for a in allowed]}"
            )
        return self


@dataclass(frozen=True)
class ModelSize(AsDict):
    """Counts over the active part of a model (fixed variables excluded)."""

    n_vars: int
    n_binaries: int
    n_integers: int
    n_constraints: int


# --------------------------------------------------------------------------------------------------------------
# Problem class
# --------------------------------------------------------------------------------------------------------------


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


# Measured defaults (see docs/solving.md): SCIP is several times faster than HiGHS on the big-M ReLU MILPs
# of this library; HiGHS is the fastest for LPs and convex QP objectives but accepts no quadratic
# constraints and no integer QPs (and APPSI's HiGHS takes no quadratic objective: QPs go to the new `highs`).
_DEFAULTS = {
    "LP": "appsi_highs",
    "QP": "highs",
    "MILP": "scip_direct",
    "MIQP": "scip_direct",
    "QCP": "scip_direct",
    "MIQCP": "scip_direct",
    "NLP": "scip_direct",
    "MINLP": "scip_direct",
}


def default_solver(model) -> str:
    """Name of the solver :func:`solve` uses for ``model`` when none is given (chosen by problem class)."""
    return _DEFAULTS[problem_class(model)]


# --------------------------------------------------------------------------------------------------------------
# Solver lookup
# --------------------------------------------------------------------------------------------------------------

_KNOWN_NAMES = (
    "highs",
    "appsi_highs",
    "scip_direct",
    "scip_persistent",
    "scip",
    "gurobi",
    "gurobi_direct",
    "gurobi_persistent",
    "appsi_gurobi",
    "cplex",
    "cplex_direct",
    "cplex_persistent",
    "appsi_cplex",
    "xpress",
    "xpress_direct",
    "xpress_persistent",
    "cbc",
    "appsi_cbc",
    "glpk",
    "ipopt",
    "appsi_ipopt",
    "mosek",
    "knitro_direct",
)


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


def _family(name: str) -> str:
    base = name[6:] if name.startswith("appsi_") else name
    for fam in ("gurobi", "cplex", "xpress", "scip", "highs", "cbc", "glpk", "ipopt", "mosek"):
        if base.startswith(fam):
            return fam
    return base


# Solver-native names of (time limit, relative MIP gap, threads) for the legacy interface.
_OPTION_NAMES: dict[str, tuple[str | None, str | None, str | None]] = {
    "scip": ("limits/time", "limits/gap", "lp/threads"),
    "highs": ("time_limit", "mip_rel_gap", "threads"),
    "gurobi": ("TimeLimit", "MIPGap", "Threads"),
    "cplex": ("timelimit", "mip_tolerances_mipgap", "threads"),
    "xpress": ("maxtime", "miprelstop", "threads"),
    "cbc": ("sec", "ratioGap", "threads"),
    "glpk": ("tmlim", "mipgap", None),
    "ipopt": ("max_cpu_time", None, None),
    "mosek": ("dparam.optimizer_max_time", "dparam.mio_tol_rel_gap", "iparam.num_threads"),
}


def _native_options(name: str, time_limit, mip_gap, threads) -> dict[str, Any]:
    fam = _family(name)
    names = _OPTION_NAMES.get(fam, (None, None, None))
    out: dict[str, Any] = {}
    for key, value, what in zip(names, (time_limit, mip_gap, threads), ("time_limit", "mip_gap", "threads")):
        if value is None:
            continue
        if key is None:
            warnings.warn(f"solver {name!r} has no known option for {what}; ignored", stacklevel=3)
            continue
        if fam == "glpk" and what == "time_limit":  # glpk's --tmlim takes whole seconds
            value = max(1, int(math.ceil(value)))
        out[key] = value
    return out


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
# What a solver can take
# --------------------------------------------------------------------------------------------------------------

# Problem classes the HiGHS interfaces solve: HiGHS solves LPs, MILPs and convex QPs (no quadratic constraints,
# no integer QPs), and APPSI's HiGHS interface reads linear objectives only.
_ACCEPTED_CLASSES = {
    "highs": (("LP", "MILP", "QP"), "LP, MILP and convex QP"),
    "appsi_highs": (("LP", "MILP"), "LP and MILP"),
}

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


_HIGHS_TYPE_NAMES = {"kBool": "bool", "kInt": "int", "kDouble": "float", "kString": "str"}


_HIGHS_CHECKER: Any = None
_HIGHS_CHECKER_LOCK = threading.Lock()


def _highs_checker() -> Any:
    """The silent HiGHS instance that validates options, created on first use and kept: creating one costs
    about half a millisecond, too much to pay on every solve of a loop over many small models."""
    global _HIGHS_CHECKER
    if _HIGHS_CHECKER is None:
        _HIGHS_CHECKER = new_highs()
    return _HIGHS_CHECKER


def _check_highs_options(name: str, options: dict[str, Any]) -> None:
    """Raise ValueError for an option HiGHS does not know or a value it refuses (Pyomo's HiGHS interfaces pass
    options on without looking at HiGHS's answer, and HiGHS ignores both)."""
    if not options or _family(name) != "highs":
        return
    import highspy

    with _HIGHS_CHECKER_LOCK:
        check = _highs_checker()
        try:
            for key, value in options.items():
                status, kind = check.getOptionType(key)
                if status != highspy.HighsStatus.kOk:
                    raise ValueError(
                        f"unknown HiGHS option {key!r} for solver {name!r}; solver options take HiGHS's own option "
                        f"names (e.g. 'presolve', 'mip_rel_gap', 'mip_max_nodes')"
                    )
                if key == "log_file":  # HiGHS opens the file when the option is set: only its type is checked
                    accepted = isinstance(value, str)
                else:
                    try:
                        accepted = check.setOptionValue(key, value) == highspy.HighsStatus.kOk
                    except TypeError:
                        accepted = False
                if not accepted:
                    raise ValueError(
                        f"HiGHS option {key!r} does not accept {value!r} ({type(value).__name__}); expected a value "
                        f"of type {_HIGHS_TYPE_NAMES.get(kind.name, kind.name)} within the option's range or choices"
                    )
        finally:  # the next check starts from HiGHS's defaults, silent
            check.resetOptions()
            check.setOptionValue("output_flag", False)


def _check_time_limit(time_limit: Any) -> float | None:
    """A time limit in seconds: None (or inf) for none; anything else must be a positive number."""
    if time_limit is None:
        return None
    value = real_number(time_limit, "time_limit")
    if not value > 0:
        raise ValueError(f"time_limit must be positive (None for no limit), got {time_limit}")
    return None if math.isinf(value) else value


@functools.cache
def _scip_params() -> frozenset[str]:
    """The names of SCIP's parameters."""
    import pyscipopt

    return frozenset(pyscipopt.Model().getParams())


def _check_scip_options(name: str, options: dict[str, Any]) -> None:
    """Raise ValueError for a parameter SCIP does not have (SCIP's own error does not name it)."""
    if not options or _family(name) != "scip":
        return
    for key in options:
        if key not in _scip_params():
            raise ValueError(
                f"unknown SCIP parameter {key!r} for solver {name!r}; solver options take SCIP's own parameter "
                f"names (e.g. 'limits/nodes', 'presolving/maxrounds', 'randomization/permutationseed')"
            )


# --------------------------------------------------------------------------------------------------------------
# solve
# --------------------------------------------------------------------------------------------------------------


def _objective(model):
    objs = list(model.component_data_objects(pyo.Objective, active=True, descend_into=True))
    if len(objs) > 1:
        raise ValueError(f"model has {len(objs)} active objectives; deactivate all but one")
    return objs[0] if objs else None


def _gap(objective, bound) -> float | None:
    if objective is None or bound is None or not math.isfinite(objective):
        return None
    if objective == bound:
        return 0.0
    if not math.isfinite(bound):
        return math.inf
    return abs(objective - bound) / max(abs(objective), 1e-10)


def _finite_or_none(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


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
    time_limit = _check_time_limit(time_limit)
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
    _check_highs_options(name, solver_options)
    _check_scip_options(name, solver_options)
    start = time.perf_counter()
    result = _solve_once(model, name, obj, time_limit, mip_gap, threads, tee, solver_options)
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


POLISH_TOL = 1e-9
"""An integer variable further than this from an integer triggers the polishing step of :func:`solve`."""


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
        lp = _solve_once(model, result.solver, obj, time_limit, None, threads, tee, options)
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


# --------------------------------------------------------------------------------------------------------------
# Checking an answer and re-solving
# --------------------------------------------------------------------------------------------------------------


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


_PRESOLVE_OFF = {"scip": {"presolving/maxrounds": 0}, "highs": {"presolve": "off"}}


def _fallbacks(model, name: str, solver_options: dict) -> list[tuple[str, dict]]:
    """The re-solves after ``name`` failed: presolve off, then the other solver (if it takes the model)."""
    out = []
    fam = _family(name)
    off = _PRESOLVE_OFF.get(fam)
    if off is not None and any(solver_options.get(k) != v for k, v in off.items()):
        out.append((name, {**solver_options, **off}))
    cls = problem_class(model)
    other = None
    if fam == "scip":
        other = next((h for h in ("highs", "appsi_highs") if _refusal(h, cls) is None), None)
    elif name != "scip_direct":
        other = "scip_direct"
    if other is not None and _is_available(other):
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
            result = _solve_once(model, other, obj, remaining, mip_gap, threads, tee, options)
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


_NO_SOLUTION_KINDS = ("infeasible", "unbounded", "infeasible_or_unbounded")


def _status(has_solution: bool, optimal: bool, kind: str) -> SolveStatus:
    """Uniform status from a normalized termination ``kind`` and whether a solution exists."""
    if kind == "optimal":
        return SolveStatus.OPTIMAL if optimal or has_solution else SolveStatus.ERROR
    if kind == "time":
        return SolveStatus.TIME_LIMIT if has_solution else SolveStatus.TIME_LIMIT_NO_SOLUTION
    if kind == "iterations":
        return SolveStatus.ITERATION_LIMIT
    if kind in ("infeasible", "unbounded", "infeasible_or_unbounded"):
        return SolveStatus(kind)
    return SolveStatus.FEASIBLE if has_solution else SolveStatus.ERROR


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
    return SolveResult(
        status,
        objective,
        bound,
        _gap(objective, bound),
        0.0,
        name,
        nodes,
        str(res.termination_condition.name),
        res,
        has_sol,
    )


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
        thread_key = _OPTION_NAMES.get(fam, (None, None, None))[2]
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
    return SolveResult(
        status,
        objective,
        bound,
        _gap(objective, bound),
        0.0,
        name,
        nodes,
        str(res.termination_condition.name),
        res,
        has_sol,
    )


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
    return SolveResult(status, objective, bound, _gap(objective, bound), 0.0, name, nodes, str(tc), res, has_sol)


# --------------------------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------------------------


def write(model, path) -> Path:
    """Write ``model`` as ``.lp`` or ``.mps`` (by suffix) with readable variable/constraint names.

    Returns the resolved path. Other suffixes raise ``ValueError``.
    """
    path = Path(path)
    fmt = {".lp": ProblemFormat.cpxlp, ".mps": ProblemFormat.mps}.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot write {path.name!r}: the suffix must be .lp or .mps")
    path.parent.mkdir(parents=True, exist_ok=True)
    model.write(str(path), format=fmt, io_options={"symbolic_solver_labels": True})
    return path.resolve()
