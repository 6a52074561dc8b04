"""Scenario generation for robust linear problems with any uncertainty set (Goerigk & Kurtz, Section 2.2).

The user writes an ordinary Pyomo model with decision variables x and declares, on top of it,

* an uncertain objective  min_x max_{c in U} c'x  (plus the model's own deterministic objective, if any),
* uncertain constraints   c'x <= b  for all c in U   (problem (2)), each with its own set and its own x,

where x is a list of the model's variables or linear expressions. :class:`ScenarioGeneration` then
alternates

1. the master problem over finite subsets U' of each U (objective: epigraph variable t with
   t >= c'x for c in U'; constraints: c'x <= b for c in U'), re-solved by a persistent solver after each
   round of new cuts, and
2. the adversarial problem (4) ``U.worst_case(x*)`` for every uncertain term,

until every worst case is within a relative tolerance of the master's value. Any object with a
``worst_case(x) -> WorstCase`` method is an uncertainty set here (network, Kernel, Discrete, user sets).

A round needs only a violated scenario, not the worst one: oracles whose ``worst_case`` takes
``stop_above`` (or that set ``supports_stop_above = True``) receive the value above which a scenario is
violated beyond the tolerance and may return the first such scenario (``stats["early_stop"]``). The round
that finds none is therefore a complete evaluation, and a worst case reported in the result is always a
complete one (re-evaluated if the last round stopped early).

Termination is named (:class:`Termination`). A failure of the master or of an adversarial solver is never
reported as a robust solution; when a worst case came without proof of optimality (a heuristic, the
pattern decomposition, a time limit), the result says so: x is then robust only with respect to the
evaluated oracle.
"""

from __future__ import annotations

import inspect
import math
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pyomo.environ as pyo

from nnblocks._results import AsDict
from nnblocks._validate import integer, nonnegative
from nnblocks._validate import time_limit as _check_time_limit
from nnblocks.robust.base import WorstCase, WorstCaseStatus
from nnblocks.solve import SOLUTION_TOL

__all__ = ["Termination", "IterationRecord", "ScenarioResult", "ScenarioGeneration"]

_OK_WORST = (WorstCaseStatus.OPTIMAL, WorstCaseStatus.FEASIBLE)


class Termination(StrEnum):
    """Why scenario generation stopped."""

    ROBUST_OPTIMAL = "robust_optimal"
    """Every worst case is within the tolerance of the master: x is robust (see ``certified``)."""
    ITERATION_LIMIT = "iteration_limit"
    TIME_LIMIT = "time_limit"
    MASTER_INFEASIBLE = "master_infeasible"
    """The master is infeasible for scenarios of U: the robust problem has no solution."""
    MASTER_UNBOUNDED = "master_unbounded"
    SUBSOLVER_FAILURE = "subsolver_failure"
    """The master or an adversarial problem failed (error, time limit without solution, ...)."""
    STALLED = "stalled"
    """A worst case repeated a scenario already in the master without closing the gap (numerical trouble)."""


@dataclass
class IterationRecord(AsDict):
    """One round: master value, the worst case of every uncertain term and the times."""

    iteration: int
    master_value: float
    worst_cases: dict[str, float]
    violation: float
    time: float
    master_time: float
    adversary_time: float


@dataclass
class ScenarioResult(AsDict):
    """Outcome of :meth:`ScenarioGeneration.solve`.

    Attributes
    ----------
    termination:
        The named reason for stopping; only ``ROBUST_OPTIMAL`` means a robust solution.
    x:
        The values of every uncertain term's x at the last master solution (loaded into the model).
    robust_value:
        The objective value at x with the uncertain part replaced by its evaluated worst case (an upper
        bound for a minimisation when the worst cases are proved); ``None`` without solution.
    bound:
        The last master value: a relaxation of the robust problem (a lower bound for a minimisation, an
        upper bound for a maximisation).
    worst_cases:
        The last WorstCase of every uncertain term.
    scenarios:
        The scenarios added to the master, per uncertain term.
    log:
        One :class:`IterationRecord` per round.
    certified:
        True when every final worst case was proved optimal by its oracle; False when one came from a
        heuristic or the pattern decomposition: then x is robust only with respect to the evaluated oracle.
    """

    termination: Termination
    x: dict[str, np.ndarray]
    robust_value: float | None
    bound: float | None
    worst_cases: dict[str, WorstCase]
    scenarios: dict[str, list[np.ndarray]]
    log: list[IterationRecord]
    iterations: int
    time: float
    certified: bool
    message: str = ""
    master_status: str = ""

    @property
    def is_robust(self) -> bool:
        """True only for ``ROBUST_OPTIMAL``."""
        return self.termination == Termination.ROBUST_OPTIMAL

    @property
    def gap(self) -> float | None:
        """(robust_value - bound) / max(1, |robust_value|) for an uncertain objective."""
        if self.robust_value is None or self.bound is None:
            return None
        return abs(self.robust_value - self.bound) / max(1.0, abs(self.robust_value))


@dataclass
class _Term:
    name: str
    x: list
    U: Any
    rhs: float | None  # None for the objective
    scenarios: list[np.ndarray] = field(default_factory=list)
    cuts: Any = None


def _as_expr_list(x: Any) -> list:
    if hasattr(x, "is_indexed") and x.is_indexed():
        return [x[i] for i in x.index_set()]
    if hasattr(x, "is_indexed"):
        return [x]
    return list(x)


def _accepts_stop_above(U: Any) -> bool:
    """Whether ``U.worst_case`` takes ``stop_above`` (by a ``supports_stop_above`` attribute or its signature)."""
    flag = getattr(U, "supports_stop_above", None)
    if flag is not None:
        return bool(flag)
    try:
        params = inspect.signature(U.worst_case).parameters
    except (TypeError, ValueError):
        return False
    p = params.get("stop_above")
    return p is not None and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _takes_time_limit(U: Any) -> bool:
    """Whether ``U.worst_case`` names a ``time_limit`` parameter (sets whose oracle may take long)."""
    try:
        p = inspect.signature(U.worst_case).parameters.get("time_limit")
    except (TypeError, ValueError):
        return False
    return p is not None and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _timed(U: Any, oracle_options: dict, deadline: float | None) -> dict:
    """The oracle options with the time left until ``deadline`` as ``time_limit``, for a ``worst_case`` that takes
    one (the smaller of it and a ``time_limit`` given in the options)."""
    if deadline is None or not _takes_time_limit(U):
        return oracle_options
    left = max(deadline - time.perf_counter(), 0.01)
    given = oracle_options.get("time_limit")
    return {**oracle_options, "time_limit": left if given is None else min(float(given), left)}


def _cut_short(wc: WorstCase) -> bool:
    """Whether a worst case stopped at its time limit before it was complete (exact: incumbent only; patterns:
    patterns left unsolved)."""
    return wc.status != WorstCaseStatus.OPTIMAL or int((wc.stats or {}).get("n_time_limit", 0)) > 0


def _early(wc: WorstCase | None) -> bool:
    return wc is not None and bool((wc.stats or {}).get("early_stop", False))


def _check_stopping(tol: Any, max_iterations: Any, time_limit: Any) -> None:
    """Refuse stopping parameters that would end the loop wrongly (a NaN tolerance accepts every scenario)."""
    nonnegative(tol, "tol")
    max_iterations = integer(max_iterations, "max_iterations")
    if max_iterations < 1:
        raise ValueError(f"max_iterations must be >= 1, got {max_iterations}")
    _check_time_limit(time_limit)


def _values(xs: list) -> np.ndarray:
    """Values of x; a variable the master did not see (in no cut yet) gets 0 clipped to its bounds."""
    from pyomo.core.expr.visitor import identify_variables

    for e in xs:
        for v in identify_variables(e, include_fixed=False):
            if v.value is None:
                lb = -math.inf if v.lb is None else v.lb
                ub = math.inf if v.ub is None else v.ub
                v.set_value(min(max(0.0, lb), ub), skip_validation=True)
    return np.array([pyo.value(e) for e in xs], dtype=float)


class ScenarioGeneration:
    """Robust version of a user's Pyomo model, solved by scenario generation.

    Parameters
    ----------
    model:
        A Pyomo ConcreteModel with the decision variables and the certain constraints. Its active
        objective (if any) is the deterministic part of the objective; the cuts and the epigraph variable
        go into a block ``model.<name>`` added by this class.
    solver:
        Master solver name (any name :func:`nnblocks.solve.solve` accepts). ``appsi_highs`` (default) and
        the other persistent interfaces keep the master loaded and only receive the new cuts.
    name:
        Name of the block added to ``model``.

    Examples
    --------
    >>> sg = ScenarioGeneration(m)                     # doctest: +SKIP
    >>> sg.set_uncertain_objective(m.x, U)              # min max_{c in U} c'x
    >>> sg.add_uncertain_constraint(m.y, U2, rhs=10.0)  # c'y <= 10 for all c in U2
    >>> result = sg.solve(tol=1e-3)
    """

    def __init__(self, model: pyo.ConcreteModel, solver: str = "appsi_highs", name: str = "robust_sg") -> None:
        if model.component(name) is not None:
            raise ValueError(f"model already has a component named {name!r}")
        self.model = model
        self.solver = solver
        self.block = pyo.Block(concrete=True)
        model.add_component(name, self.block)
        self._objective: _Term | None = None
        self._constraints: list[_Term] = []
        self._user_objective: Any = None

    # ---- declarations ---------------------------------------------------------------------------------
    def set_uncertain_objective(self, x: Any, U: Any, sense: Any = pyo.minimize,
                                initial_scenarios: Any = None) -> None:
        """Declare min_x [deterministic objective] + max_{c in U} c'x (or max_x ... + min_{c in U} c'x)."""
        if self._objective is not None:
            raise ValueError("the uncertain objective is already set")
        xs = self._check_term(x, U)
        if sense not in (pyo.minimize, pyo.maximize):
            raise ValueError("sense must be pyomo.environ.minimize or maximize")
        self._sense = sense
        objs = list(self.model.component_data_objects(pyo.Objective, active=True))
        if len(objs) > 1:
            raise ValueError(f"model has {len(objs)} active objectives; keep at most one (the deterministic part)")
        det = 0.0
        if objs:
            if objs[0].sense != sense:
                raise ValueError("the model's objective sense differs from the uncertain objective's sense")
            det = objs[0].expr
            objs[0].deactivate()
            self._user_objective = objs[0]
        b = self.block
        b.t = pyo.Var(domain=pyo.Reals)
        b.objective_cuts = pyo.ConstraintList()
        b.objective = pyo.Objective(expr=det + b.t, sense=sense)
        self._det = det
        self._objective = _Term("objective", xs, U, None, cuts=b.objective_cuts)
        for c in self._initial(initial_scenarios, len(xs)):
            self._add_cut(self._objective, c)

    def add_uncertain_constraint(self, x: Any, U: Any, rhs: float, name: str | None = None,
                                 initial_scenarios: Any = None) -> str:
        """Declare c'x <= rhs for all c in U; returns the constraint's name (for the result's dicts)."""
        xs = self._check_term(x, U)
        if not math.isfinite(float(rhs)):
            raise ValueError("rhs must be finite")
        k = len(self._constraints)
        name = name or f"constraint_{k}"
        if name == "objective" or any(t.name == name for t in self._constraints):
            raise ValueError(f"duplicate uncertain constraint name {name!r}")
        cl = pyo.ConstraintList()
        self.block.add_component(f"cuts_{k}", cl)
        term = _Term(name, xs, U, float(rhs), cuts=cl)
        self._constraints.append(term)
        for c in self._initial(initial_scenarios, len(xs)):
            self._add_cut(term, c)
        return name

    def _check_term(self, x: Any, U: Any) -> list:
        if not callable(getattr(U, "worst_case", None)):
            raise TypeError(f"{type(U).__name__} has no worst_case(x) method: not an uncertainty set")
        xs = _as_expr_list(x)
        if not xs:
            raise ValueError("x is empty")
        dim = getattr(U, "dim", len(xs))
        if dim != len(xs):
            raise ValueError(f"x has {len(xs)} entries, the uncertainty set has dimension {dim}")
        return xs

    @staticmethod
    def _initial(scen: Any, n: int) -> list[np.ndarray]:
        if scen is None:
            return []
        S = np.atleast_2d(np.asarray(scen, dtype=float))
        if S.shape[1] != n or not np.all(np.isfinite(S)):
            raise ValueError(f"initial scenarios must be finite rows of length {n}, got shape {S.shape}")
        return list(S)

    def _add_cut(self, term: _Term, c: np.ndarray) -> None:
        c = np.asarray(c, dtype=float)
        lhs = sum(float(ci) * xi for ci, xi in zip(c, term.x) if ci != 0.0)
        if term.rhs is None:
            if self._sense == pyo.minimize:
                term.cuts.add(self.block.t >= lhs)
            else:
                term.cuts.add(self.block.t <= lhs)
        else:
            term.cuts.add(lhs <= term.rhs)
        term.scenarios.append(c.copy())

    # ---- solving --------------------------------------------------------------------------------------
    def _terms(self) -> list[_Term]:
        return ([self._objective] if self._objective is not None else []) + self._constraints

    def _worst(self, term: _Term, xv: np.ndarray, oracle_options: dict,
               stop_above: float | None = None) -> tuple[WorstCase | None, str]:
        """Worst case of the term at x; for a maximised objective min_c c'x = -max_c c'(-x).

        ``stop_above`` (in the oracle's direction) is passed to oracles that accept it: they may return
        the first scenario found above it instead of the maximum.
        """
        flip = term.rhs is None and self._sense == pyo.maximize
        if stop_above is not None and "stop_above" not in oracle_options and _accepts_stop_above(term.U):
            oracle_options = {**oracle_options, "stop_above": stop_above}
        try:
            wc = term.U.worst_case(-xv if flip else xv, **oracle_options)
        except Exception as exc:  # reported as a named subsolver failure, never as a robust solution
            return None, f"worst case of {term.name!r} raised {type(exc).__name__}: {exc}"
        if wc.status not in _OK_WORST or not np.isfinite(wc.value) or not np.all(np.isfinite(wc.scenario)):
            return None, f"worst case of {term.name!r} failed with status {wc.status!r} ({wc.method})"
        # fresh evaluation of the returned scenario: the value we trust is c'x, not the oracle's number
        direction = -xv if flip else xv
        value = float(np.asarray(wc.scenario, dtype=float) @ direction)
        if abs(value - wc.value) > SOLUTION_TOL * max(1.0, abs(value)):
            return None, (f"worst case of {term.name!r}: reported value {wc.value} differs from c'x = {value} "
                          "at the returned scenario")
        return wc, ""

    def _threshold(self, term: _Term, master_value: float, t_fixed: bool, tol: float) -> float | None:
        """The oracle value (in its own direction) above which the term is violated beyond ``tol``.

        A scenario above it is a cut for the master; when none exists the round is the final one. The
        first round (free epigraph variable) asks for the full worst case.
        """
        if term.rhs is not None:
            return term.rhs + tol * max(1.0, abs(term.rhs))
        if t_fixed:
            return None
        tv = float(pyo.value(self.block.t))
        slack = tol * max(1.0, abs(master_value))
        # minimise: worst > t + slack; maximise: the oracle maximises c'(-x), violated when -value < t - slack
        return tv + slack if self._sense == pyo.minimize else -tv + slack

    def solve(self, tol: float = 1e-3, max_iterations: int = 200, time_limit: float | None = None,
              progress: bool = True, mip_gap: float | None = None, oracle_options: dict | None = None,
              **solver_options: Any) -> ScenarioResult:
        """Alternate master and adversarial problems until every worst case is within ``tol``.

        Stopping rule (as the authors'): for the objective, worst - master <= tol * max(1, |master|);
        for a constraint, c'x - b <= tol * max(1, |b|).

        ``oracle_options`` are passed to every ``worst_case`` call (e.g. ``method="exact"``). ``tol`` must be
        finite and >= 0, ``max_iterations`` an integer >= 1 and ``time_limit`` (seconds) positive.
        """
        from tqdm.auto import tqdm

        from nnblocks.solve import SolveStatus, solve

        _check_stopping(tol, max_iterations, time_limit)
        terms = self._terms()
        if not terms:
            raise ValueError("nothing uncertain declared: call set_uncertain_objective or add_uncertain_constraint")
        if self._objective is None and not list(self.model.component_data_objects(pyo.Objective, active=True)):
            raise ValueError("the model has no objective and no uncertain objective")
        oracle_options = dict(oracle_options or {})
        t_start = time.perf_counter()
        deadline = None if time_limit is None else t_start + time_limit  # oracles get the time left
        log: list[IterationRecord] = []
        last_wc: dict[str, WorstCase] = {}
        b = self.block
        # Without a scenario the epigraph variable t is free: fix it for the first master solve.
        t_fixed = self._objective is not None and not self._objective.scenarios
        if t_fixed:
            b.t.fix(0.0)
        xvals: dict[str, np.ndarray] = {}
        master_value: float | None = None
        termination = Termination.ITERATION_LIMIT
        message = ""
        master_status = ""
        bar = tqdm(total=max_iterations, disable=not progress, desc="scenario generation", leave=False)
        it = 0
        try:
            for it in range(1, max_iterations + 1):
                t_it = time.perf_counter()
                remaining = None if time_limit is None else time_limit - (t_it - t_start)
                if remaining is not None and remaining <= 0:
                    termination, message = Termination.TIME_LIMIT, "time limit reached before the master solve"
                    it -= 1
                    break
                res = solve(self.model, self.solver, time_limit=remaining, mip_gap=mip_gap, **solver_options)
                master_status = res.status.value
                master_time = time.perf_counter() - t_it
                if res.status == SolveStatus.INFEASIBLE:
                    termination = Termination.MASTER_INFEASIBLE
                    message = "the master is infeasible for the scenarios found: the robust problem is infeasible"
                    break
                if res.status in (SolveStatus.UNBOUNDED, SolveStatus.INFEASIBLE_OR_UNBOUNDED):
                    termination = (Termination.MASTER_UNBOUNDED if res.status == SolveStatus.UNBOUNDED
                                   else Termination.SUBSOLVER_FAILURE)
                    message = f"master status {res.status.value!r}"
                    break
                if res.status == SolveStatus.TIME_LIMIT and res.has_solution:
                    termination, message = Termination.TIME_LIMIT, "time limit reached in the master"
                    xvals = {t.name: _values(t.x) for t in terms}
                    master_value = res.objective
                    break
                if res.status not in (SolveStatus.OPTIMAL,) or not res.has_solution:
                    termination = Termination.SUBSOLVER_FAILURE
                    message = (f"master solver {self.solver!r} ended with status {res.status.value!r} "
                               f"({res.termination})")
                    break
                master_value = float(res.objective) if res.objective is not None else float(
                    pyo.value(self._active_objective()))
                xvals = {t.name: _values(t.x) for t in terms}
                # adversarial problems
                t_adv = time.perf_counter()
                new_cuts: list[tuple[_Term, np.ndarray]] = []
                wcs: dict[str, float] = {}
                violation = 0.0
                failed = ""
                stalled = False
                for term in terms:
                    wc, err = self._worst(term, xvals[term.name], _timed(term.U, oracle_options, deadline),
                                          self._threshold(term, master_value, t_fixed, tol))
                    if wc is None:
                        failed = err
                        break
                    last_wc[term.name] = wc
                    if term.rhs is None:
                        worst = -wc.value if self._sense == pyo.maximize else wc.value
                        wcs[term.name] = worst
                        if t_fixed:
                            viol = math.inf
                        else:
                            tv = float(pyo.value(b.t))
                            gap = (worst - tv) if self._sense == pyo.minimize else (tv - worst)
                            viol = gap / max(1.0, abs(master_value))
                    else:
                        wcs[term.name] = wc.value
                        viol = (wc.value - term.rhs) / max(1.0, abs(term.rhs))
                    violation = max(violation, viol)
                    if viol > tol:
                        if any(np.array_equal(wc.scenario, s) for s in term.scenarios):
                            stalled = True
                        new_cuts.append((term, np.asarray(wc.scenario, dtype=float)))
                adv_time = time.perf_counter() - t_adv
                log.append(IterationRecord(it, master_value, wcs, violation, time.perf_counter() - t_start,
                                           master_time, adv_time))
                bar.update(1)
                bar.set_postfix(master=f"{master_value:.6g}", violation=f"{violation:.2e}")
                if failed:
                    if deadline is not None and time.perf_counter() >= deadline:
                        termination, message = Termination.TIME_LIMIT, f"time limit reached ({failed})"
                    else:
                        termination, message = Termination.SUBSOLVER_FAILURE, failed
                    break
                if not new_cuts:
                    if deadline is not None and time.perf_counter() >= deadline and any(
                            _cut_short(w) for w in last_wc.values()):
                        termination = Termination.TIME_LIMIT
                        message = "time limit reached in the adversarial problem: no violated scenario found so far"
                    else:
                        termination = Termination.ROBUST_OPTIMAL
                    break
                if stalled:
                    termination = Termination.STALLED
                    message = "a worst-case scenario already in the master is still violated beyond the tolerance"
                    break
                for term, c in new_cuts:
                    self._add_cut(term, c)
                if t_fixed:
                    b.t.unfix()
                    t_fixed = False
                if time_limit is not None and time.perf_counter() - t_start >= time_limit:
                    termination, message = Termination.TIME_LIMIT, "time limit reached"
                    break
        finally:
            bar.close()
            if t_fixed:
                b.t.unfix()
        if termination in (Termination.ROBUST_OPTIMAL, Termination.ITERATION_LIMIT, Termination.TIME_LIMIT,
                           Termination.STALLED):
            # an early-stopped worst case only shows a violation: evaluate the reported ones completely
            for term in terms:
                if _early(last_wc.get(term.name)) and term.name in xvals:
                    wc, err = self._worst(term, xvals[term.name], _timed(term.U, oracle_options, deadline))
                    if wc is None:
                        termination, message = Termination.SUBSOLVER_FAILURE, err
                        break
                    last_wc[term.name] = wc
        if termination == Termination.ITERATION_LIMIT:
            message = message or f"{max_iterations} iterations without reaching the tolerance"
        if termination in (Termination.MASTER_INFEASIBLE, Termination.MASTER_UNBOUNDED,
                           Termination.SUBSOLVER_FAILURE):
            xvals, master_value = {}, None  # no robust solution to report
        robust_value = self._robust_value(xvals, last_wc, master_value)
        certified = bool(last_wc) and all(w.proven for w in last_wc.values())
        if termination == Termination.ROBUST_OPTIMAL and not certified:
            unproven = [k for k, w in last_wc.items() if not w.proven]
            message = (f"worst cases of {unproven} come without proof of optimality "
                       f"({', '.join(sorted({last_wc[k].method for k in unproven}))}): the solution is robust "
                       "only with respect to the evaluated oracle")
        return ScenarioResult(
            termination=termination,
            x=xvals,
            robust_value=robust_value,
            bound=master_value if termination in (Termination.ROBUST_OPTIMAL, Termination.ITERATION_LIMIT,
                                                        Termination.TIME_LIMIT, Termination.STALLED) else None,
            worst_cases=last_wc,
            scenarios={t.name: list(t.scenarios) for t in terms},
            log=log,
            iterations=len(log),
            time=time.perf_counter() - t_start,
            certified=certified,
            message=message,
            master_status=master_status,
        )

    def _active_objective(self) -> Any:
        return next(iter(self.model.component_data_objects(pyo.Objective, active=True)))

    def _robust_value(self, xvals: dict, wcs: dict[str, WorstCase], master_value: float | None) -> float | None:
        if not xvals or master_value is None:
            return None
        if self._objective is None:
            return float(pyo.value(self._active_objective()))
        wc = wcs.get("objective")
        if wc is None:
            return None
        xv = xvals["objective"]
        worst = float(np.asarray(wc.scenario) @ xv)
        det = float(pyo.value(self._det)) if not isinstance(self._det, float) else self._det
        return det + worst

    def restore(self) -> None:
        """Remove the added block and re-activate the user's objective."""
        self.model.del_component(self.block)
        if self._user_objective is not None:
            self._user_objective.activate()
