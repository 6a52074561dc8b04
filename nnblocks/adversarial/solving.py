"""FJ: build the model of one problem, solve it and check its example (:func:`fj`, and :func:`solve_model`, the
step every round of ARFJ's scenario generation shares).

Every returned example is checked by a float64 forward pass of every network (``verified``; for gamma = 0 a
tie counts for the target); an example that fails the check is never reported as OPTIMAL, FEASIBLE or TIME_LIMIT.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pyomo.environ as pyo

from nnblocks import _validate
from nnblocks.adversarial import heuristic, verify
from nnblocks.adversarial.heuristic import heuristic_time
from nnblocks.adversarial.model import FJProblem, ModelRecord, build_model
from nnblocks.adversarial.result import AdversarialResult
from nnblocks.graph import Graph
from nnblocks.network import Network
from nnblocks.solve import SolveResult, SolveStatus, check_solver, default_solver, model_size, solve, tuning

__all__ = ["DEFAULT_MIP_GAP", "fj", "solve_model", "solver_name"]

DEFAULT_MIP_GAP = 1e-4
"""Relative gap at which the default configuration stops (item 6 of :mod:`nnblocks.adversarial.model`)."""


def solver_name(solver: Any) -> str:
    """The solver's name (default: solve's default for MILPs), checked to be available here."""
    if solver is None:
        return default_solver("MILP")
    return check_solver(solver)  # SolverNotAvailableError naming the available solvers


def solve_model(problem: FJProblem, m: pyo.ConcreteModel, record: ModelRecord, solver: str,
                time_limit: float | None, threads: int | None, tee: bool, solver_options: dict | None, start: float,
                mip_gap: float | None = None, lower_bound: float | None = None) -> AdversarialResult:
    """Solve the model ``m`` that :func:`build_model` built for ``problem`` with ``solver`` (a name checked by
    :func:`solver_name`) and check its example.

    ``time_limit`` counts from ``start`` (a :func:`time.perf_counter` value). ``lower_bound`` is a proven lower
    bound on the optimum (from an earlier round of scenario generation): the solve stops at a solution within
    ``mip_gap`` of it, and an example of the heuristic within ``mip_gap`` of it needs no solve at all.
    """
    p = problem
    opts = {key: value for switch in record.tunings for key, value in tuning(solver, switch).items()}
    opts.update(solver_options or {})
    size = model_size(m)
    remaining = None
    if time_limit is not None:
        remaining = max(1e-3, time_limit - (time.perf_counter() - start))
    if mip_gap is None and p.config == "default":
        mip_gap = DEFAULT_MIP_GAP
    lb = lower_bound
    inc = record.incumbent if record.cutoff else None  # only an incumbent within max_distance may stand in
    lb0 = 0.0 if lb is None else max(lb, 0.0)  # a distance is >= 0: x_bar itself (distance 0) needs no MILP
    closed = inc is not None and inc.distance - lb0 <= (mip_gap or 0.0) * inc.distance
    if closed:
        # the heuristic's example is within mip_gap of a proven lower bound: optimal without a MILP solve
        res = SolveResult(SolveStatus.OPTIMAL, inc.distance, lb0,
                          (inc.distance - lb0) / max(inc.distance, 1e-10), 0.0, solver, 0,
                          "closed by the lower bound", None, False)
    else:
        if lb is not None:
            # stop as soon as a solution within mip_gap of the proven lower bound is found (a constraint
            # distance >= lb would make every node LP degenerate and blind the branching)
            for key, value in tuning(solver, "objective_stop", lb * (1 + (mip_gap or 0.0))).items():
                opts.setdefault(key, value)
        res = solve(m, solver=solver, time_limit=remaining, mip_gap=mip_gap, threads=threads, tee=tee, **opts)
    status, message = res.status, ""
    x = None
    objective, bound, gap = res.objective, res.bound, res.gap
    if closed:
        x = inc.x.copy()
    elif res.has_solution:
        x = np.array([pyo.value(m.x[j]) for j in range(p.x_bar.size)], dtype=np.float64)
    if inc is not None and (x is None or (objective is not None and inc.distance < objective - 1e-9)):
        if status in (SolveStatus.TIME_LIMIT_NO_SOLUTION, SolveStatus.INFEASIBLE, SolveStatus.ERROR,
                      SolveStatus.INFEASIBLE_OR_UNBOUNDED) or x is None:
            # the cutoff made the model numerically empty or time ran out: the heuristic example stands
            if status != SolveStatus.TIME_LIMIT_NO_SOLUTION:
                message = (f"the solver ended with status {status.value} although the primal heuristic's example "
                           f"is feasible; that example is returned, without a proof of optimality")
            status = SolveStatus.TIME_LIMIT if status == SolveStatus.TIME_LIMIT_NO_SOLUTION else SolveStatus.FEASIBLE
            x = inc.x.copy()
            objective = inc.distance
            if status == SolveStatus.TIME_LIMIT:
                # the model with the cutoff row has the same optimum (the example satisfies the cutoff), so its
                # dual bound stays a valid lower bound
                bound = bound if bound is not None and math.isfinite(bound) and bound <= objective else None
            gap = None if bound is None else max(0.0, objective - bound) / max(abs(objective), 1e-10)
    if (lb is not None and x is not None and objective is not None
            and objective <= lb * (1 + (mip_gap or 0.0)) * (1 + 1e-9) + 1e-12):
        status, message = SolveStatus.OPTIMAL, ""  # within mip_gap of the proven lower bound
        bound = lb if bound is None else max(bound, lb)
        gap = max(0.0, objective - bound) / max(abs(objective), 1e-10)
    certificate = status == SolveStatus.INFEASIBLE and p.max_distance is not None
    checked = (p.networks, p.target, p.gamma, p.margin, p.min_output)
    verified, slack, Y = False, np.empty(0), np.empty((0, 0))
    distance = None
    if x is not None:
        x = np.clip(x, p.lower, p.upper)
        verified, slack, Y = verify.verify(checked[0], x, *checked[1:])
        if not verified and record.polish_networks is not None:
            # margins met only within the solver's tolerances: re-solve the LP of the example's regions exactly
            xp = heuristic.polish(record.polish_networks, x, p.x_bar, p.lower, p.upper, p.target, p.gamma, p.margin,
                                  record.polish_floor)
            if xp is not None:
                ok, slack_p, Y_p = verify.verify(checked[0], xp, *checked[1:])
                if ok:
                    x, verified, slack, Y = xp, ok, slack_p, Y_p
                    objective = float(np.abs(xp - p.x_bar).sum())
        if not verified:
            i = int(np.argmin(slack))
            message = (f"the solver's example (status {status.value}) misses the margin of network {i} by "
                       f"{-float(slack[i]):.3g}, more than the tolerance {verify.VERIFY_TOL:g} * max(1, |output|)"
                       + (", also after re-solving the LP of its activation regions"
                          if record.polish_networks is not None else ""))
            # inc (the heuristic's example, set only when it lies within max_distance) may stand in
            if inc is not None and verify.verify(checked[0], inc.x, *checked[1:])[0]:
                # the heuristic's example holds on every network: it stands, without the solver's proof
                x, objective = np.clip(inc.x, p.lower, p.upper), inc.distance
                verified, slack, Y = verify.verify(checked[0], x, *checked[1:])
                status = SolveStatus.TIME_LIMIT if status == SolveStatus.TIME_LIMIT else SolveStatus.FEASIBLE
                gap = None if bound is None else max(0.0, objective - bound) / max(abs(objective), 1e-10)
                message += "; the primal heuristic's verified example is returned instead"
            else:
                # an example that fails the independent check is no answer: say so instead of its solver status
                status = SolveStatus.ERROR
        distance = float(_validate.norm_of(x - p.x_bar, p.norm))
    return AdversarialResult(
        x_adv=x, distance=distance, status=status, objective=objective, bound=bound, gap=gap,
        time=time.perf_counter() - start, solve=res, n_vars=size.n_vars, n_binaries=size.n_binaries,
        n_constraints=size.n_constraints, verified=verified, certificate=certificate, solver=solver,
        config=p.config, target=p.target, gamma=p.gamma, norm=p.norm, margin=p.margin, max_distance=p.max_distance,
        heuristic_distance=None if inc is None else inc.distance, preprocess_time=record.preprocess_time,
        margins=slack, outputs=Y, n_networks_model=len(p.networks), message=message,
    )


def fj(
    network: Network | Graph,
    x_bar: Any,
    target: int,
    gamma: float = 0.2,
    norm: int | str = 1,
    domain: tuple[Any, Any] = (0.0, 1.0),
    solver: str | None = None,
    time_limit: float | None = None,
    max_distance: float | None = None,
    config: str = "default",
    bounds: Any = "auto",
    margin: str | None = "auto",
    min_output: float = 1e-3,
    heuristic: bool | None = None,
    mip_gap: float | None = None,
    threads: int | None = None,
    tee: bool = False,
    solver_options: dict | None = None,
) -> AdversarialResult:
    """Closest input (in ``norm``) to ``x_bar`` that ``network`` classifies as ``target`` with margin gamma.

    Parameters
    ----------
    network : Network or Graph
        A trained network (ReLU or piecewise-linear activations), or a graph of operations
        (:class:`~nnblocks.graph.Graph`: convolutions, pooling, residual connections; its model is built by
        ``build_model`` as for a Network, see :mod:`nnblocks.adversarial.model`).
    x_bar : array
        The nominal input x̄ (flattened to n_0 entries).
    target : int
        Target class t.
    gamma : float
        Margin: x^K_t >= (1 + gamma) x^K_j (ratio) or x^K_t >= x^K_j + gamma (difference), j != t. For
        gamma = 0 a tie counts for the target (see ``verified`` of :class:`AdversarialResult`).
    norm : 1, 2 or "inf"
        Distance; the paper uses 1. For 2 the objective is the squared distance.
    domain : (lower, upper)
        Input box [l̄, ū] (scalars or arrays).
    solver : str, optional
        Any solver name of :func:`nnblocks.solve.solve`; default: :func:`nnblocks.solve.default_solver` for MILPs.
    time_limit : float, optional
        Seconds for the whole call (positive; None or inf: no limit).
    max_distance : float, optional
        Certification: adds ||x - x̄|| <= max_distance. Status INFEASIBLE is then a certificate that no
        adversarial example exists within that distance (``certificate=True``).
    config : "default" or "paper"
        See :mod:`nnblocks.adversarial.model`.
    bounds : "auto", "interval", "ball", "lp" or a list of NetworkBounds
        Neuron bounds for big-M: over the input box, over box ∩ L1 ball of the heuristic's (or
        ``max_distance``'s) radius, or LP-tightened over the FJ region (ball and margin). Given
        NetworkBounds (one per network, as from :func:`nnblocks.bounds.compute_bounds`) must hold over the
        input domain (∩ the ``max_distance`` ball), or over its inputs that meet the margin when computed with
        ``output_constraints``; a ValueError names a layer whose sizes differ or a pre-activation at ``x_bar``
        (unless output-constrained) or at the heuristic's example outside them. In the default configuration
        the output ReLU is not encoded: the output layer's pre-activation bounds are used as they are.
        For a Graph: "auto", "interval", "ball" or GraphBounds (one per graph, of every tensor); "ball" is
        CROWN ∩ interval over box ∩ the ball.
    margin : "auto", "ratio" or "difference"
        "auto": ratio when the outputs are provably non-negative, else difference.
    min_output : float
        Required target output (ratio margin): excludes the all-zero output.
    heuristic : bool, optional
        Run the primal heuristic (default: on in the default configuration, L1 norm, ReLU networks).
    mip_gap : float, optional
        Relative gap at which the solver stops (default: 1e-4 in the default configuration, the solver's
        own default in the paper configuration).
    threads, tee, solver_options
        Passed to :func:`nnblocks.solve.solve`.
    """
    start = time.perf_counter()
    time_limit = _validate.time_limit(time_limit)
    solver = solver_name(solver)
    problem = FJProblem([network], x_bar, target, gamma, norm=norm, domain=domain, max_distance=max_distance,
                        config=config, bounds=bounds, margin=margin, min_output=min_output, heuristic=heuristic)
    m, record = build_model(problem, heuristic_time=heuristic_time(time_limit))
    return solve_model(problem, m, record, solver, time_limit, threads, tee, solver_options, start, mip_gap)
