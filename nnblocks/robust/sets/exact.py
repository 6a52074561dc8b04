"""The adversarial problem max_{c in U} c'x as one mixed-integer program (Goerigk & Kurtz, Theorem 3).

    max x'c  s.t.  h = f(c)  (eq. (16)-(19), (21): a NetworkBlock on the inputs c, big-M per neuron),
                   ||h - c_bar|| <= R  (eq. (20): a NormBall on the outputs),  lo <= c <= hi  (domain box).

Default solver: SCIP for the Euclidean norm (HiGHS takes no quadratic constraints); HiGHS for the 1- and
inf-norm MILPs, where it was faster than SCIP on the authors' 2-D and 20-D networks (solve time 3.5 s vs
9.4 s and 20.6 s vs 30.7 s for the inf-norm, 16.2 s vs 16.7 s for the 1-norm; 2 shared cores).

The big-M bounds are computed by :func:`nnblocks.bounds.compute_bounds` (LP by default) over the domain
box, restricted to outputs in the inf-norm box |h - c_bar| <= R, which contains the ball of every norm
(||.||_inf <= ||.||_2, ||.||_1), so the bounds stay valid for U. For the Euclidean norm this is a MIQCP
(SCIP), for the 1- and inf-norm a MILP.

The solver's answer is checked (:func:`nnblocks.solve.check_solution`: constraints and integrality; the
best data point inside U contradicts "infeasible"), and re-solved with presolve off, then with the other
solver, when the check fails. Its point is put into the domain box and polished: the convex problem of its
activation pattern (Theorem 1) is solved exactly, which removes the big-M tolerances, and the result is
verified by a forward pass (:data:`nnblocks.solve.SOLUTION_TOL`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from nnblocks.robust.base import NetworkSet, WorstCase
from nnblocks.solve import SOLUTION_TOL

__all__ = ["build_model", "worst_case_exact"]


def build_model(U: NetworkSet, x: np.ndarray, bounds: Any = "lp", formulation: str = "bigm",
                bounds_time_limit: float | None = None):
    """The Pyomo model of Theorem 3 for direction x: variables ``c``, blocks ``nn`` and ``ball``."""
    import pyomo.environ as pyo

    from nnblocks.blocks import NetworkBlock, NormBall
    from nnblocks.bounds import compute_bounds

    if U.domain is None:
        raise ValueError(
            "the exact method needs a domain box for c (the big-M bounds of Theorem 3): build the set "
            "with domain=(lower, upper) or from_quantile(..., domain='data')"
        )
    lo, hi = U.domain
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise ValueError("the exact method needs a finite domain box")
    net, cbar, R = U.network, U.center, U.radius
    if isinstance(bounds, str):
        d = net.n_outputs
        out_box = None
        if bounds == "lp":
            A = np.vstack([np.eye(d), -np.eye(d)])
            b = np.concatenate([cbar + R, R - cbar])
            out_box = (A, b)
        nb = compute_bounds(net, (lo, hi), method=bounds, output_constraints=out_box, time_limit=bounds_time_limit)
    else:
        nb = bounds
    m = pyo.ConcreteModel()
    N = U.dim
    m.c = pyo.Var(range(N), bounds=lambda _m, i: (float(lo[i]), float(hi[i])))
    m.nn = NetworkBlock()
    m.nn.build(net, inputs=m.c, formulation=formulation, bounds=nb)
    outputs = [m.nn.outputs[j] for j in range(net.n_outputs)]
    m.ball = NormBall(outputs, cbar, norm=U.norm, radius=R)
    m.obj = pyo.Objective(expr=sum(float(x[i]) * m.c[i] for i in range(N) if x[i] != 0.0), sense=pyo.maximize)
    return m, nb


def _known_member(U: NetworkSet, x: np.ndarray, tol: float) -> np.ndarray | None:
    """The best data point of U inside U and its domain box (a known feasible point of Theorem 3's model)."""
    if U.data is None:
        return None
    lo, hi = U.domain
    D = U.data[np.all((U.data >= lo) & (U.data <= hi), axis=1)]
    if D.shape[0] == 0:
        return None
    D = D[np.asarray(U.contains(D, tol=tol), dtype=bool).reshape(-1)]
    return D[int(np.argmax(D @ x))] if D.shape[0] else None


def worst_case_exact(
    U: NetworkSet,
    x: np.ndarray,
    time_limit: float | None = None,
    solver: str | None = None,
    tol: float = SOLUTION_TOL,
    mip_gap: float | None = None,
    threads: int | None = None,
    tee: bool = False,
    bounds: Any = "lp",
    formulation: str = "bigm",
    polish: bool = True,
    **solver_options: Any,
) -> WorstCase:
    """max_{c in U} c'x by the mixed-integer program of Theorem 3 (see the module docstring); ``polish`` solves
    the convex problem of the solver point's activation region through ``U.worst_case(x, method="patterns")``."""
    from nnblocks.solve import SolveStatus, check_solution, default_solver, solve

    t0 = time.perf_counter()
    if solver is None and U.norm != 2:
        solver = default_solver("MILP", workload="worst_case")  # measured fastest on these MILPs (module docstring)
    m, nb = build_model(U, x, bounds=bounds, formulation=formulation, bounds_time_limit=time_limit)
    t_build = time.perf_counter() - t0
    remaining = None if time_limit is None else max(1.0, float(time_limit) - t_build)
    member = _known_member(U, x, tol)
    known = None if member is None else [(m.c[i], float(member[i])) for i in range(U.dim)]
    # the solver's point must satisfy the model (integrality included) and a known member of U contradicts
    # "infeasible": otherwise solve re-solves with presolve off, then with the other solver
    res = solve(m, solver=solver, time_limit=remaining, mip_gap=mip_gap, threads=threads, tee=tee,
                check=check_solution, feasible_point=known, **solver_options)
    stats: dict[str, Any] = {
        "solver": res.solver,
        "solve_status": str(res.status.value),
        "termination": res.termination,
        "nodes": res.nodes,
        "build_time": t_build,
        "solve_time": res.time,
        "bounds_method": nb.method,
        "bounds_time": nb.time,
        "n_binaries": m.nn.n_binaries,
        "tol": tol,
        "domain": U.domain,
        "solve_attempts": [(a.solver, a.options, a.status.value, a.outcome) for a in res.attempts],
    }
    trusted = res.status != SolveStatus.ERROR  # no accepted answer: its bound proves nothing
    bound = None if res.bound is None or not np.isfinite(res.bound) or not trusted else float(res.bound)
    if not res.has_solution:
        status = res.status.value
        if res.status == SolveStatus.INFEASIBLE:
            bound = -np.inf
        return WorstCase(
            scenario=np.full(U.dim, np.nan), value=-np.inf, bound=bound, status=status, method="exact",
            time=time.perf_counter() - t0, stats=stats,
        )
    lo, hi = U.domain
    # the solver meets the box to its feasibility tolerance only: the scenario lies in it exactly
    c = np.clip(np.array([m.c[i].value for i in range(U.dim)], dtype=np.float64), lo, hi)
    stats["mip_value"] = float(res.objective) if res.objective is not None else float(x @ c)
    scenario, value = None, -np.inf
    if polish:
        # the exact convex problem of the point's activation region (Theorem 1): no big-M tolerances left
        try:
            pol = U.worst_case(x, method="patterns", points=c[None, :], tol=tol, cache=False)
            scenario, value = pol.scenario, pol.value
            stats["polished"] = True
        except ValueError:
            stats["polished"] = False
    if scenario is None and U.contains(c, tol=tol):  # re-evaluated by a forward pass
        scenario, value = c, float(x @ c)
    if member is not None and float(x @ member) > value:
        scenario, value = member.copy(), float(x @ member)
    if scenario is None:
        return WorstCase(
            scenario=np.full(U.dim, np.nan), value=-np.inf, bound=bound, status="error", method="exact",
            time=time.perf_counter() - t0,
            stats={**stats, "error": "the solver's point is outside U and its activation region could not be solved"},
        )
    stats["radius"] = float(U.radii(scenario))
    if bound is not None:
        bound = max(bound, value)
    status = "optimal" if res.status == SolveStatus.OPTIMAL else "feasible"
    return WorstCase(
        scenario=scenario, value=value, bound=bound, status=status, method="exact",
        time=time.perf_counter() - t0, stats=stats,
    )
