"""What :func:`~nnblocks.adversarial.fj` and :func:`~nnblocks.adversarial.arfj` return: the checked example,
its status, and the :class:`~nnblocks.solve.SolveResult` of the solver call it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnblocks._results import to_jsonable
from nnblocks.solve import SolveResult, SolveStatus

__all__ = ["AdversarialResult"]


@dataclass
class AdversarialResult:
    """Result of :func:`fj` / :func:`arfj`.

    Attributes
    ----------
    x_adv : ndarray or None
        The adversarial example (clipped to the input box), None when none was found or none exists.
    distance : float or None
        ||x_adv - x̄|| in the model's norm, recomputed in float64.
    status : SolveStatus
        OPTIMAL (proven, within ``mip_gap``), FEASIBLE (a verified example without a proof of optimality, e.g.
        the primal heuristic's when the solver's example failed the check), INFEASIBLE (no example within the
        domain / ``max_distance``), TIME_LIMIT (the time limit was hit; a verified example),
        TIME_LIMIT_NO_SOLUTION (the time limit was hit before any verified example), ERROR (the solver failed,
        or its example fails the float64 check even after polishing: ``x_adv`` is then that unverified example,
        for inspection, and ``message`` says by how much it misses), or another status of the solver
        (ITERATION_LIMIT, ...). Every status other than ERROR that comes with an ``x_adv`` comes with
        ``verified=True``. It is the example's status: it differs from ``solve.status`` when the example is
        not the solver's (the heuristic's, a polished one) or failed the check.
    objective, bound, gap : float or None
        Objective of the returned example (the distance; for norm 2 its square), best proven bound (the
        solver's, or a lower bound of scenario generation) and relative gap.
    time : float
        Wall-clock seconds of the whole call (heuristic, bounds, model building and solving).
    solve : SolveResult or None
        The solver call of the (last) model: its own status, objective, bound, time, nodes, termination and
        attempts. When the heuristic's example was within ``mip_gap`` of a proven lower bound no solver ran:
        ``solve.termination`` is then "closed by the lower bound" (time 0, 0 nodes). None when no model was
        solved.
    solve_time : float
        Seconds spent in the solver call (``solve.time``; 0 without one).
    nodes : int or None
        Branch-and-bound nodes where the solver reports them (``solve.nodes``).
    n_vars, n_binaries, n_constraints : int
        Size of the model handed to the solver.
    verified : bool
        A float64 forward pass of every network confirms the margin: y_t >= (1 + gamma) y_j (ratio; and
        y_t >= ``min_output``) or y_t >= y_j + gamma (difference) for every j != t, each up to
        ``VERIFY_TOL`` * max(1, max_j |y_j|). For gamma = 0 a tie counts for the target.
    certificate : bool
        True when the solver proved that no adversarial example exists within ``max_distance``.
    solver, config, target, gamma, norm, margin, max_distance
        The call's solver name, configuration, target class, margin gamma, norm, margin kind ("ratio" or
        "difference") and ``max_distance``.
    heuristic_distance : float or None
        Distance of the primal heuristic's example, when it found one.
    preprocess_time : float
        Seconds of the heuristic, the bounds and the model building.
    margins : ndarray
        Per network, the smallest margin slack at x_adv (>= -tolerance when verified).
    outputs : ndarray
        Per network, the output vector at x_adv (n_networks x n_K).
    n_networks_model : int
        Networks in the solved model (ARFJ by scenario generation may need fewer than the whole set).
    message : str
        What happened when the status is not simply the solver's (a fallback to the heuristic's example, an
        example that failed the check, why scenario generation stopped); empty otherwise.
    """

    x_adv: np.ndarray | None
    distance: float | None
    status: SolveStatus
    objective: float | None
    bound: float | None
    gap: float | None
    time: float
    solve: SolveResult | None
    n_vars: int
    n_binaries: int
    n_constraints: int
    verified: bool
    certificate: bool
    solver: str
    config: str
    target: int
    gamma: float
    norm: int | str
    margin: str
    max_distance: float | None = None
    heuristic_distance: float | None = None
    preprocess_time: float = 0.0
    margins: np.ndarray = field(default_factory=lambda: np.empty(0))
    outputs: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    n_networks_model: int = 1
    message: str = ""

    @property
    def solve_time(self) -> float:
        """Seconds spent in the solver call (``solve.time``; 0 without one)."""
        return 0.0 if self.solve is None else self.solve.time

    @property
    def nodes(self) -> int | None:
        """Branch-and-bound nodes of the solver call (``solve.nodes``), where the solver reports them."""
        return None if self.solve is None else self.solve.nodes

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the example itself; infinite numbers as ``"inf"``, see ``_results``), with
        the solver call's own summary under ``"solve"``."""
        return to_jsonable({
            "status": self.status.value,
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "distance": self.distance,
            "time_s": self.time,
            "solve_time_s": self.solve_time,
            "preprocess_time_s": self.preprocess_time,
            "nodes": self.nodes,
            "n_vars": self.n_vars,
            "n_binaries": self.n_binaries,
            "n_constraints": self.n_constraints,
            "verified": self.verified,
            "certificate": self.certificate,
            "solver": self.solver,
            "config": self.config,
            "target": self.target,
            "gamma": self.gamma,
            "norm": self.norm,
            "margin": self.margin,
            "max_distance": self.max_distance,
            "heuristic_distance": self.heuristic_distance,
            "n_networks_model": self.n_networks_model,
            "message": self.message,
            "solve": None if self.solve is None else self.solve.as_dict(),
        }, "AdversarialResult")
