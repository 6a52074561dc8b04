"""One record per solver family: its Pyomo names, its own names for the common options and tolerances, the
options that switch presolve off, the problem classes it is the default for, its tuning switches and its
option check. A new solver family is one :class:`SolverFamily` record registered in :data:`FAMILIES`."""

from __future__ import annotations

import functools
import math
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nnblocks._highs import new_highs

__all__ = ["FAMILIES", "PROBLEM_CLASSES", "TUNINGS", "SolverFamily", "family", "tuning"]

PROBLEM_CLASSES = ("LP", "QP", "MILP", "MIQP", "QCP", "MIQCP", "NLP", "MINLP")
"""The problem classes of :func:`nnblocks.solve.problem_class`."""

TUNINGS = {
    "no_heuristics": "primal heuristics off (worth it once a cutoff or an incumbent is known)",
    "no_separation": "no rounds of cutting-plane separation",
    "objective_stop": "stop at the first solution whose objective is at least as good as the given value",
    "primal_simplex": "LPs by the primal simplex method",
}
"""The tuning switches of :func:`tuning` and what each does; a family maps the ones it has to its options."""


@dataclass(frozen=True)
class SolverFamily:
    """What nnblocks knows about one solver, whatever Pyomo interface serves it.

    A Pyomo solver name belongs to the family whose ``name`` it starts with (after an ``appsi_`` prefix).
    An option name of None means the solver has none (a value given for it is ignored with a warning).

    Attributes
    ----------
    name : str
        Family name, the common prefix of its Pyomo names (``"scip"``).
    solvers : tuple of str
        The Pyomo names of the family that :func:`nnblocks.solve.available_solvers` looks for.
    time_limit, mip_gap, threads : str or None
        The solver's own names of the time limit (seconds), the relative MIP gap and the number of threads.
    integer_seconds : bool
        The time limit takes whole seconds (rounded up).
    presolve_off : mapping
        The options that switch presolve off: the first re-solve after an answer is not accepted (empty: no
        such re-solve, the other solver is tried directly).
    feasibility_tol, integrality_tol : str or None
        The solver's own names of its primal feasibility and integrality tolerances.
    defaults : mapping
        Problem class -> the solver of this family :func:`nnblocks.solve.solve` uses for it by default.
    measured : mapping
        (problem class, workload) -> solver of this family measured faster on that workload than the class
        default (see :func:`nnblocks.solve.default_solver`).
    accepts : mapping
        Solver name -> (the problem classes it solves, their description for the error message); a solver
        not listed takes every class.
    tunings : mapping
        Tuning switch (a key of :data:`TUNINGS`) -> function of the switch's value returning the options.
    check_options : callable or None
        ``check_options(name, options)`` raises ValueError for an option the solver does not have.
    """

    name: str
    solvers: tuple[str, ...]
    time_limit: str | None
    mip_gap: str | None
    threads: str | None
    integer_seconds: bool = False
    presolve_off: Mapping[str, Any] = field(default_factory=dict)
    feasibility_tol: str | None = None
    integrality_tol: str | None = None
    defaults: Mapping[str, str] = field(default_factory=dict)
    measured: Mapping[tuple[str, str], str] = field(default_factory=dict)
    accepts: Mapping[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)
    tunings: Mapping[str, Callable[[Any], dict[str, Any]]] = field(default_factory=dict)
    check_options: Callable[[str, dict[str, Any]], None] | None = None

    def native_options(self, name: str, time_limit, mip_gap, threads) -> dict[str, Any]:
        """The common options as this solver's own options (a value without option name warns and is dropped)."""
        out: dict[str, Any] = {}
        keys = (self.time_limit, self.mip_gap, self.threads)
        for key, value, what in zip(keys, (time_limit, mip_gap, threads), ("time_limit", "mip_gap", "threads")):
            if value is None:
                continue
            if key is None:
                warnings.warn(f"solver {name!r} has no known option for {what}; ignored", stacklevel=4)
                continue
            if self.integer_seconds and what == "time_limit":
                value = max(1, int(math.ceil(value)))
            out[key] = value
        return out


# --------------------------------------------------------------------------------------------------------------
# Option checks
# --------------------------------------------------------------------------------------------------------------

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
# Tuning switches
# --------------------------------------------------------------------------------------------------------------


@functools.cache
def _scip_heuristics_off() -> tuple[tuple[str, Any], ...]:
    """The SCIP parameters that ``setHeuristics(OFF)`` changes, with their values."""
    import pyscipopt

    m = pyscipopt.Model()
    before = m.getParams()
    m.setHeuristics(pyscipopt.SCIP_PARAMSETTING.OFF)
    after = m.getParams()
    return tuple((k, v) for k, v in after.items() if before.get(k) != v)


# --------------------------------------------------------------------------------------------------------------
# The records
# --------------------------------------------------------------------------------------------------------------

_CONTINUOUS_AND_INTEGER = ("MILP", "MIQP", "QCP", "MIQCP", "NLP", "MINLP")

# Measured defaults (see docs/solving.md): SCIP is several times faster than HiGHS on the big-M ReLU MILPs
# of this library; HiGHS is the fastest for LPs and convex QP objectives but accepts no quadratic
# constraints and no integer QPs (and APPSI's HiGHS takes no quadratic objective: QPs go to the new `highs`).
# On the MILP max c'x over a network uncertainty set with the 1- or inf-norm (Goerigk & Kurtz, Theorem 3),
# HiGHS was faster than SCIP on the authors' 2-D and 20-D networks (3.5 s vs 9.4 s and 20.6 s vs 30.7 s for
# the inf-norm, 16.2 s vs 16.7 s for the 1-norm; 2 shared cores).
FAMILIES: tuple[SolverFamily, ...] = (
    SolverFamily(
        "highs", ("highs", "appsi_highs"), "time_limit", "mip_rel_gap", "threads",
        presolve_off={"presolve": "off"},
        feasibility_tol="primal_feasibility_tolerance", integrality_tol="mip_feasibility_tolerance",
        defaults={"LP": "appsi_highs", "QP": "highs"},
        measured={("MILP", "worst_case"): "highs"},
        # HiGHS solves LPs, MILPs and convex QPs (no quadratic constraints, no integer QPs), and APPSI's
        # HiGHS interface reads linear objectives only
        accepts={"highs": (("LP", "MILP", "QP"), "LP, MILP and convex QP"), "appsi_highs": (("LP", "MILP"),
                                                                                            "LP and MILP")},
        tunings={"primal_simplex": lambda _value: {"simplex_strategy": 4}},
        check_options=_check_highs_options,
    ),
    SolverFamily(
        "scip", ("scip_direct", "scip_persistent", "scip"), "limits/time", "limits/gap", "lp/threads",
        presolve_off={"presolving/maxrounds": 0},
        feasibility_tol="numerics/feastol", integrality_tol="numerics/feastol",  # SCIP's integrality is feastol
        defaults=dict.fromkeys(_CONTINUOUS_AND_INTEGER, "scip_direct"),
        tunings={
            "no_heuristics": lambda _value: dict(_scip_heuristics_off()),
            "no_separation": lambda _value: {"separating/maxrounds": 0, "separating/maxroundsroot": 0},
            "objective_stop": lambda value: {"limits/primal": value},
        },
        check_options=_check_scip_options,
    ),
    SolverFamily(
        "gurobi", ("gurobi", "gurobi_direct", "gurobi_persistent", "appsi_gurobi"), "TimeLimit", "MIPGap", "Threads",
        feasibility_tol="FeasibilityTol", integrality_tol="IntFeasTol",
    ),
    SolverFamily(
        "cplex", ("cplex", "cplex_direct", "cplex_persistent", "appsi_cplex"), "timelimit", "mip_tolerances_mipgap",
        "threads", feasibility_tol="simplex_tolerances_feasibility",
        integrality_tol="mip_tolerances_integrality",
    ),
    SolverFamily(
        "xpress", ("xpress", "xpress_direct", "xpress_persistent"), "maxtime", "miprelstop", "threads",
        feasibility_tol="feastol", integrality_tol="miptol",
    ),
    SolverFamily(
        "cbc", ("cbc", "appsi_cbc"), "sec", "ratioGap", "threads",
        feasibility_tol="primalTolerance", integrality_tol="integerTolerance",
    ),
    SolverFamily("glpk", ("glpk",), "tmlim", "mipgap", None, integer_seconds=True),
    SolverFamily(
        "ipopt", ("ipopt", "appsi_ipopt"), "max_cpu_time", None, None, feasibility_tol="constr_viol_tol",
    ),
    SolverFamily(
        "mosek", ("mosek",), "dparam.optimizer_max_time", "dparam.mio_tol_rel_gap", "iparam.num_threads",
        feasibility_tol="dparam.intpnt_tol_pfeas",
        integrality_tol="dparam.mio_tol_abs_relax_int",
    ),
    SolverFamily("knitro", ("knitro_direct",), None, None, None),
)

_BY_NAME = {f.name: f for f in FAMILIES}

_KNOWN_NAMES = tuple(s for f in FAMILIES for s in f.solvers)
"""The well-known Pyomo solver names that :func:`nnblocks.solve.available_solvers` looks for."""

_ACCEPTED_CLASSES = {s: classes for f in FAMILIES for s, classes in f.accepts.items()}
"""Solver name -> (the problem classes it solves, their description), for the solvers that do not take all."""

_DEFAULTS = {cls: s for cls in PROBLEM_CLASSES for f in FAMILIES for c, s in f.defaults.items() if c == cls}
"""Problem class -> the solver :func:`nnblocks.solve.solve` uses when none is named."""

_MEASURED = {key: s for f in FAMILIES for key, s in f.measured.items()}
"""(problem class, workload) -> the solver measured fastest on that workload (where not the class default)."""


def _family(name: str) -> str:
    """The family name of Pyomo solver ``name`` (the name itself when no family is known)."""
    base = name[6:] if name.startswith("appsi_") else name
    for fam in FAMILIES:
        if base.startswith(fam.name):
            return fam.name
    return base


def family(name: str) -> SolverFamily | None:
    """The record of the family of Pyomo solver ``name`` (``"appsi_highs"`` -> highs), None when unknown."""
    return _BY_NAME.get(_family(name))


def tuning(solver: str, switch: str, value: Any = None) -> dict[str, Any]:
    """The options of ``solver`` that turn on the tuning ``switch`` (a key of :data:`TUNINGS`), with its
    ``value`` where it takes one (``"objective_stop"``); ``{}`` when the solver's family has no such switch,
    so the result can be passed to :func:`nnblocks.solve.solve` whatever the solver.

    >>> tuning("scip_direct", "objective_stop", 2.5)
    {'limits/primal': 2.5}
    >>> tuning("appsi_highs", "no_heuristics")
    {}
    """
    if switch not in TUNINGS:
        raise ValueError(f"unknown tuning switch {switch!r}; known: {sorted(TUNINGS)}")
    fam = family(solver)
    make = None if fam is None else fam.tunings.get(switch)
    return {} if make is None else make(value)


def _native_options(name: str, time_limit, mip_gap, threads) -> dict[str, Any]:
    """The common options as the legacy interface's options of solver ``name``."""
    fam = family(name) or SolverFamily(name, (), None, None, None)
    return fam.native_options(name, time_limit, mip_gap, threads)


def _check_options(name: str, options: dict[str, Any]) -> None:
    """Raise ValueError for an option solver ``name`` does not have (where its family checks them)."""
    fam = family(name)
    if fam is not None and fam.check_options is not None:
        fam.check_options(name, options)
