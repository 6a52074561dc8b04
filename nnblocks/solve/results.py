"""What a solve returns: the uniform :class:`SolveStatus`, :class:`SolveResult` and its :class:`SolveAttempt`
records, :class:`ModelSize`, the errors, and the tolerances every returned solution meets."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from nnblocks._results import AsDict

__all__ = [
    "CHECK_TOL",
    "SOLUTION_TOL",
    "ModelSize",
    "SolveAttempt",
    "SolveResult",
    "SolveStatus",
    "SolverError",
    "SolverNotAvailableError",
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
