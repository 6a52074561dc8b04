"""ARFJ: the robust adversarial example over a finite set of networks, by scenario generation (:func:`arfj`)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from nnblocks import _validate
from nnblocks.adversarial import verify
from nnblocks.adversarial.heuristic import (
    HEURISTIC_TIME,
    MIN_HEURISTIC_TIME,
    Incumbent,
    heuristic_time,
    whole_set_incumbent,
)
from nnblocks.adversarial.model import FJProblem, build_model
from nnblocks.adversarial.result import AdversarialResult
from nnblocks.adversarial.solving import DEFAULT_MIP_GAP, solve_model, solver_name
from nnblocks.graph import Graph
from nnblocks.network import Network
from nnblocks.solve import SolveStatus

__all__ = ["arfj"]


def arfj(
    networks: Sequence[Network] | Sequence[Graph],
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
    """Robust adversarial example: the extensive form of ARFJ (4.1) over the finite set ``networks``.

    One shared input x and distance d; one network block (own recourse variables x, s, z) per network;
    the margin must hold for every network. The nominal network is an ordinary member of the list (leave it
    out for the grey-box attack). ``verified`` checks every network. Parameters as in
    :func:`~nnblocks.adversarial.fj`.

    In the default configuration (L1 norm, no ``max_distance``) the extensive form is solved by scenario
    generation: start with Z' = {networks[0]}; solve ARFJ over Z' (for one network: FJ); if its example
    fools every network of the list it is optimal for the whole set (Z' ⊂ Z, so ARFJ(Z') <= ARFJ(Z)),
    else add the network not yet in Z' with the most violated margin to Z' and repeat. Each optimum over Z'
    is a proven lower bound for the next round, and the previous example starts the next round's heuristic;
    when the heuristic's example is within ``mip_gap`` of the bound, the round needs no MILP. The model size
    reported is that of the last round (``n_networks_model`` networks). Every round uses the margin kind of the
    whole set.

    No network enters Z' twice, so there are at most ``len(networks)`` rounds. When the rounds stop without
    an example verified on every network (a round's example fails the check, the solver fails, the time
    limit), the heuristic over the whole set is tried; the status says what happened: TIME_LIMIT /
    TIME_LIMIT_NO_SOLUTION only when the time limit was reached, else FEASIBLE (the heuristic's verified
    example) or ERROR (or the round's own status, e.g. ITERATION_LIMIT), with ``message``.
    """
    start = time.perf_counter()
    time_limit = _validate.time_limit(time_limit)
    solver = solver_name(solver)
    p = FJProblem(networks, x_bar, target, gamma, norm=norm, domain=domain, max_distance=max_distance,
                  config=config, bounds=bounds, margin=margin, min_output=min_output, heuristic=heuristic)
    if not (p.config == "default" and len(p.networks) > 1 and p.max_distance is None and p.norm == 1):
        m, record = build_model(p, heuristic_time=heuristic_time(time_limit))
        return solve_model(p, m, record, solver, time_limit, threads, tee, solver_options, start, mip_gap)
    checked = (p.target, p.gamma, p.margin, p.min_output)
    chosen = [0]
    starts, lower_bound, res, best_full, failure = None, None, None, None, None
    while True:
        left = None if time_limit is None else time_limit - (time.perf_counter() - start)
        if left is not None and left <= 0:
            failure = "time"
            break
        sub = p.subset(chosen)
        round_start = time.perf_counter()
        m, record = build_model(sub, starts=starts, heuristic_time=heuristic_time(left))
        res = solve_model(sub, m, record, solver, left, threads, tee, solver_options, round_start, mip_gap,
                          lower_bound=lower_bound)
        if res.status == SolveStatus.INFEASIBLE:  # no example for a subset: none for the set
            break
        if res.status not in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE) or res.x_adv is None:
            break  # a FEASIBLE round (the heuristic's example, no proof) still tells which network to add
        passed, slack, _ = verify.check_margins(p.networks, res.x_adv, *checked)
        if passed.all():
            break
        # only a network not chosen yet can enter: the round's example is verified on the chosen ones
        new = np.flatnonzero(~passed & ~np.isin(np.arange(len(p.networks)), chosen))
        if new.size == 0:
            # (cannot happen while solve_model verifies with the same check; kept so that the loop cannot repeat
            # a round)
            failure = "numerical"
            break
        if res.status == SolveStatus.OPTIMAL and res.bound is not None:
            # the heuristic over the whole set, started at this round's example, may already be within mip_gap
            left = None if time_limit is None else time_limit - (time.perf_counter() - start)
            inc = whole_set_incumbent(p.networks, p.x_bar, p.lower, p.upper, *checked, res.x_adv,
                                      heuristic_time(left))
            if inc is not None and (best_full is None or inc.distance < best_full.distance):
                best_full = inc
            gap_tol = DEFAULT_MIP_GAP if mip_gap is None else mip_gap
            if inc is not None and inc.distance - res.bound <= gap_tol * inc.distance:
                res.x_adv, res.distance, res.objective = inc.x, inc.distance, inc.distance
                res.gap = max(0.0, inc.distance - res.bound) / max(inc.distance, 1e-10)
                break
            # the tolerance-loosened bound of this round is a valid lower bound for every superset
            lower_bound = max(res.bound * (1 - 1e-6) - 1e-9, -math.inf if lower_bound is None else lower_bound)
        # this round's example, and the best example over the whole set (feasible for every subset)
        starts = [res.x_adv] + ([] if best_full is None else [best_full.x])
        chosen.append(int(new[np.argmin(slack[new])]))  # the most violated margin
    return _finish_generation(res, p, chosen, lower_bound, start, solver, best_full, failure)


def _finish_generation(res: AdversarialResult | None, p: FJProblem, chosen: list[int], lower_bound: float | None,
                       start: float, solver: str, best_full: Incumbent | None = None,
                       failure: str | None = None) -> AdversarialResult:
    """Result over the whole set ``p`` from the last round ``res`` of scenario generation (see :func:`arfj`), solved
    with ``solver``.

    ``failure`` says why the rounds stopped without an example verified on every network: "time" (the time
    limit), "numerical" (a round's example failed the check on a network of its own model), or None (the
    round's status says why).
    """
    checked = (p.target, p.gamma, p.margin, p.min_output)
    x = None if res is None else res.x_adv
    ok, slack, Y = (False, np.empty(0), np.empty((0, 0))) if x is None else verify.verify(p.networks, x, *checked)
    if res is not None and res.status == SolveStatus.INFEASIBLE:
        out = res
        out.x_adv, out.distance = None, None
    elif ok:
        out = res
    else:
        # stopped with an example that does not fool every network (or none): repair it with the heuristic over
        # the whole set; the last round's bound stays a valid lower bound
        timed_out = failure == "time" or (res is not None and res.status in (SolveStatus.TIME_LIMIT,
                                                                            SolveStatus.TIME_LIMIT_NO_SOLUTION))
        inc = whole_set_incumbent(p.networks, p.x_bar, p.lower, p.upper, *checked, x,
                                  MIN_HEURISTIC_TIME if timed_out else HEURISTIC_TIME)
        if best_full is not None and (inc is None or best_full.distance < inc.distance):
            inc = best_full  # the best example over the whole set seen in earlier rounds
        if inc is not None:
            ok_inc, slack_inc, Y_inc = verify.verify(p.networks, inc.x, *checked)
            if ok_inc:
                ok, slack, Y = ok_inc, slack_inc, Y_inc
            else:
                inc = None
        if failure == "numerical":
            why = "a round's example fails the check on a network of its own model"
        elif timed_out:
            why = "the time limit was reached"
        elif res is None:
            why = "no round was solved"
        else:
            why = f"a round ended with status {res.status.value}" + (f": {res.message}" if res.message else "")
        if inc is not None:
            status, x_out = (SolveStatus.TIME_LIMIT if timed_out else SolveStatus.FEASIBLE), inc.x
            message = "" if timed_out else (why + "; the primal heuristic's example over the whole set is returned, "
                                            "verified on every network but not proven optimal")
        elif timed_out:
            status, x_out, message = SolveStatus.TIME_LIMIT_NO_SOLUTION, None, ""
        else:
            keep = res is not None and res.status not in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE,
                                                          SolveStatus.TIME_LIMIT)
            status = res.status if keep else SolveStatus.ERROR
            x_out = x if status == SolveStatus.ERROR else None  # ERROR keeps the unverified example, for inspection
            message = why + "; no example verified on every network was found"
        if x_out is None:
            slack, Y = np.empty(0), np.empty((0, 0))
        out = AdversarialResult(
            x_adv=x_out, distance=None if x_out is None else float(_validate.norm_of(x_out - p.x_bar, p.norm)),
            status=status, objective=None if inc is None else inc.distance, bound=lower_bound, gap=None, time=0.0,
            solve=None if res is None else res.solve, n_vars=0 if res is None else res.n_vars,
            n_binaries=0 if res is None else res.n_binaries, n_constraints=0 if res is None else res.n_constraints,
            verified=False, certificate=False, solver=solver, config=p.config, target=p.target, gamma=p.gamma,
            norm=p.norm, margin=p.margin, max_distance=p.max_distance, message=message,
        )
    out.verified, out.margins, out.outputs = ok, slack, Y
    if lower_bound is not None and out.objective is not None:
        out.bound = lower_bound if out.bound is None else max(out.bound, lower_bound)
        out.gap = max(0.0, out.objective - out.bound) / max(abs(out.objective), 1e-10)
    out.time = time.perf_counter() - start
    out.n_networks_model = len(chosen)
    return out
