"""The robust problems of Goerigk & Kurtz's experiments, for any uncertainty set.

* (Obj)  min_x max_{c in U} c'x   s.t. sum_i x_i = RHS^obj,  x in [-1, 1]^n             (Section 4.1.1)
* (Feas) max_x sum_i x_i          s.t. c'x <= RHS^feas for all c in U,  x in [-1, 1]^n   (Section 4.1.1)
* robust shortest path: min over s-t paths P of max_{c in U} sum_{a in P} c_a, on a networkx (Multi)DiGraph
  whose arcs carry the index of their cost in c (flow formulation with one binary per arc, Section 4.2).

Each builder solves either by scenario generation (:mod:`nnblocks.robust.scenario`; any set with
``worst_case``) or, for sets offering ``robust_counterpart`` (Kernel, Discrete), by the one-shot dual
counterpart. The returned solution is always re-evaluated by a fresh ``U.worst_case(x)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyomo.environ as pyo

from nnblocks.robust.base import WorstCase
from nnblocks.robust.scenario import ScenarioGeneration, ScenarioResult, Termination

__all__ = ["RobustSolution", "robust_obj", "robust_feas", "robust_shortest_path", "path_arcs"]


@dataclass
class RobustSolution:
    """A robust solution of one of the builders.

    Attributes
    ----------
    problem:
        ``"obj"``, ``"feas"`` or ``"path"``.
    method:
        ``"scenarios"`` (scenario generation) or ``"counterpart"`` (one LP/MILP by duality).
    status:
        ``"robust_optimal"`` when solved, otherwise the named termination / solver status.
    x:
        The solution (for paths the 0/1 arc vector, indexed like c).
    objective:
        The problem's objective at x: the robust (worst-case) value for Obj and paths, sum(x) for Feas.
    robust_value:
        max_{c in U} c'x evaluated afresh at x by ``U.worst_case`` (worst-case objective for Obj and paths,
        worst-case left-hand side of the uncertain constraint for Feas).
    worst_case:
        That fresh evaluation (its ``status``/``bound`` tell whether it is proved).
    arcs, nodes:
        For paths: the indices of the chosen arcs and the s-t node sequence.
    """

    problem: str
    method: str
    status: str
    x: np.ndarray | None
    objective: float | None
    robust_value: float | None
    worst_case: WorstCase | None
    time: float
    iterations: int
    certified: bool
    message: str = ""
    arcs: list[int] | None = None
    nodes: list[Any] | None = None
    scenario_result: ScenarioResult | None = field(default=None, repr=False)

    @property
    def is_robust(self) -> bool:
        return self.status == Termination.ROBUST_OPTIMAL.value


def _choose_method(U: Any, method: str) -> str:
    if method == "auto":
        return "counterpart" if callable(getattr(U, "robust_counterpart", None)) else "scenarios"
    if method not in ("scenarios", "counterpart"):
        raise ValueError(f"unknown method {method!r}: use 'auto', 'scenarios' or 'counterpart'")
    if method == "counterpart" and not callable(getattr(U, "robust_counterpart", None)):
        raise ValueError(f"{type(U).__name__} has no robust_counterpart: use method='scenarios'")
    return method


def _solve_counterpart(m: pyo.ConcreteModel, solver: str, time_limit: float | None, mip_gap: float | None
                       ) -> tuple[str, str]:
    from nnblocks.solve import SolveStatus, solve

    options = {"simplex_strategy": 4} if "highs" in solver else {}  # primal simplex: faster on the dual of (8)
    res = solve(m, solver, time_limit=time_limit, mip_gap=mip_gap, **options)
    if res.status == SolveStatus.OPTIMAL and res.has_solution:
        return Termination.ROBUST_OPTIMAL.value, ""
    if res.status == SolveStatus.INFEASIBLE:
        return Termination.MASTER_INFEASIBLE.value, "the robust counterpart is infeasible"
    if res.status == SolveStatus.TIME_LIMIT and res.has_solution:
        return Termination.TIME_LIMIT.value, f"time limit: incumbent with gap {res.gap}"
    return Termination.SUBSOLVER_FAILURE.value, f"solver {solver!r} ended with status {res.status.value!r}"


def _fresh(U: Any, x: np.ndarray, oracle_options: dict) -> WorstCase:
    return U.worst_case(x, **oracle_options)


def _proven(wc: WorstCase | None) -> bool:
    return wc is not None and wc.status == "optimal" and wc.bound is not None and wc.method != "patterns"


def _run(m: pyo.ConcreteModel, problem: str, U: Any, x_vars: Any, method: str, solver: str, *, objective: bool,
         rhs: float | None, tol: float, max_iterations: int, time_limit: float | None, progress: bool,
         oracle_options: dict | None, initial_scenarios: Any, mip_gap: float | None) -> RobustSolution:
    oracle_options = dict(oracle_options or {})
    method = _choose_method(U, method)
    t0 = time.perf_counter()
    sres = None
    if method == "counterpart":
        blk = U.robust_counterpart(m, x_vars, name="uncertain")
        if objective:
            m.robust_objective = pyo.Objective(expr=blk.value, sense=pyo.minimize)
        else:
            m.robust_constraint = pyo.Constraint(expr=blk.value <= rhs)
        status, message = _solve_counterpart(m, solver, time_limit, mip_gap)
        iterations = 1
    else:
        sg = ScenarioGeneration(m, solver=solver)
        if objective:
            sg.set_uncertain_objective(x_vars, U, initial_scenarios=initial_scenarios)
        else:
            sg.add_uncertain_constraint(x_vars, U, rhs=rhs, name="uncertain", initial_scenarios=initial_scenarios)
        sres = sg.solve(tol=tol, max_iterations=max_iterations, time_limit=time_limit, progress=progress,
                        oracle_options=oracle_options, mip_gap=mip_gap)
        status, message, iterations = sres.termination.value, sres.message, sres.iterations
    has_x = status in (Termination.ROBUST_OPTIMAL.value, Termination.TIME_LIMIT.value,
                       Termination.ITERATION_LIMIT.value, Termination.STALLED.value)
    x = wc = None
    robust_value = objective_value = None
    if has_x and all(x_vars[i].value is not None for i in x_vars):
        x = np.array([x_vars[i].value for i in x_vars], dtype=float)
        if problem == "path":
            x = np.round(x)
        wc = _fresh(U, x, oracle_options)
        if wc.status in ("optimal", "feasible"):
            robust_value = float(wc.scenario @ x)
        objective_value = robust_value if objective else float(x.sum())
    certified = _proven(wc) and (sres is None or sres.certified)
    if status == Termination.ROBUST_OPTIMAL.value and not certified and not message:
        message = "the worst case comes without proof of optimality: robust only w.r.t. the evaluated oracle"
    return RobustSolution(problem=problem, method=method, status=status, x=x, objective=objective_value,
                          robust_value=robust_value, worst_case=wc, time=time.perf_counter() - t0,
                          iterations=iterations, certified=certified, message=message, scenario_result=sres)


def robust_obj(U: Any, rhs: float | None = None, method: str = "auto", solver: str = "appsi_highs",
               tol: float = 1e-3, max_iterations: int = 500, time_limit: float | None = None,
               progress: bool = False, oracle_options: dict | None = None, initial_scenarios: Any = None,
               ) -> RobustSolution:
    """(Obj): min_x max_{c in U} c'x s.t. sum_i x_i = RHS, x in [-1, 1]^n.

    ``rhs`` defaults to n/2 (the paper's RHS^obj = N/2; its 2-D example uses 0.3).
    """
    n = int(U.dim)
    rhs = n / 2.0 if rhs is None else float(rhs)
    if abs(rhs) > n:
        raise ValueError(f"RHS^obj = {rhs} is infeasible for x in [-1, 1]^{n}")
    m = pyo.ConcreteModel(name="robust_obj")
    m.I = pyo.RangeSet(0, n - 1)
    m.x = pyo.Var(m.I, bounds=(-1.0, 1.0))
    m.budget = pyo.Constraint(expr=pyo.quicksum(m.x[i] for i in m.I) == rhs)
    return _run(m, "obj", U, m.x, method, solver, objective=True, rhs=None, tol=tol, max_iterations=max_iterations,
                time_limit=time_limit, progress=progress, oracle_options=oracle_options,
                initial_scenarios=initial_scenarios, mip_gap=None)


def robust_feas(U: Any, rhs: float | None = None, method: str = "auto", solver: str = "appsi_highs",
                tol: float = 1e-3, max_iterations: int = 500, time_limit: float | None = None,
                progress: bool = False, oracle_options: dict | None = None, initial_scenarios: Any = None,
                ) -> RobustSolution:
    """(Feas): max_x sum_i x_i s.t. c'x <= RHS for all c in U, x in [-1, 1]^n.

    ``rhs`` defaults to 50 n (the paper's RHS^feas = 50N); the authors' published per-instance tables
    (and their code) use RHS = 0.
    """
    n = int(U.dim)
    rhs = 50.0 * n if rhs is None else float(rhs)
    m = pyo.ConcreteModel(name="robust_feas")
    m.I = pyo.RangeSet(0, n - 1)
    m.x = pyo.Var(m.I, bounds=(-1.0, 1.0))
    m.profit = pyo.Objective(expr=pyo.quicksum(m.x[i] for i in m.I), sense=pyo.maximize)
    return _run(m, "feas", U, m.x, method, solver, objective=False, rhs=rhs, tol=tol,
                max_iterations=max_iterations, time_limit=time_limit, progress=progress,
                oracle_options=oracle_options, initial_scenarios=initial_scenarios, mip_gap=None)


def path_arcs(graph: Any, index: str = "index") -> list[tuple[Any, Any, int]]:
    """(tail, head, cost index) for every arc of a networkx (Multi)DiGraph; parallel arcs stay distinct.

    The cost index is the arc's ``index`` attribute when every arc has one (it must be a permutation of
    0..|A|-1), else the arcs' enumeration order.
    """
    edges = list(graph.edges(data=True))
    if not edges:
        raise ValueError("the graph has no arcs")
    if all(index in d for _, _, d in edges):
        idx = [int(d[index]) for _, _, d in edges]
        if sorted(idx) != list(range(len(idx))):
            raise ValueError(f"arc attribute {index!r} must number the arcs 0..{len(idx) - 1} exactly once")
    else:
        idx = list(range(len(edges)))
    return [(u, v, j) for (u, v, _), j in zip(edges, idx)]


def _walk(arcs: list[tuple[Any, Any, int]], chosen: list[int], source: Any, sink: Any) -> list[Any]:
    """The s-t node sequence along the chosen arcs (extra cycles, if any, are left out)."""
    by_tail: dict[Any, list[int]] = {}
    for j in chosen:
        by_tail.setdefault(arcs[j][0], []).append(j)
    nodes, node, used = [source], source, set()
    while node != sink:
        nxt = [j for j in by_tail.get(node, []) if j not in used]
        if not nxt:
            break
        used.add(nxt[0])
        node = arcs[nxt[0]][1]
        nodes.append(node)
    return nodes


def robust_shortest_path(graph: Any, U: Any, source: Any, sink: Any, method: str = "auto",
                         solver: str = "appsi_highs", tol: float = 1e-3, max_iterations: int = 500,
                         time_limit: float | None = None, progress: bool = False, mip_gap: float | None = 1e-4,
                         oracle_options: dict | None = None, initial_scenarios: Any = None,
                         index: str = "index") -> RobustSolution:
    """min over s-t paths of max_{c in U} sum_{a in path} c_a.

    Flow formulation: x_a in {0, 1} for every arc a, out(v) - in(v) = 1 at the source, -1 at the sink and 0
    elsewhere. It models paths exactly when every c in U is non-negative (otherwise cycles may pay off, see
    Section 4.2): give the set a non-negative domain. The cost of arc a is the coordinate c_j with j its
    ``index`` attribute (see :func:`path_arcs`).
    """
    arcs = path_arcs(graph, index)
    n_arcs = len(arcs)
    if int(U.dim) != n_arcs:
        raise ValueError(f"the uncertainty set has dimension {U.dim}, the graph has {n_arcs} arcs")
    for v, name in ((source, "source"), (sink, "sink")):
        if v not in graph:
            raise ValueError(f"{name} {v!r} is not a node of the graph")
    if source == sink:
        raise ValueError("source and sink coincide")
    m = pyo.ConcreteModel(name="robust_shortest_path")
    m.A = pyo.RangeSet(0, n_arcs - 1)
    m.x = pyo.Var(m.A, domain=pyo.Binary)
    out_arcs: dict[Any, list[int]] = {v: [] for v in graph.nodes}
    in_arcs: dict[Any, list[int]] = {v: [] for v in graph.nodes}
    for u, v, j in arcs:
        out_arcs[u].append(j)
        in_arcs[v].append(j)
    nodes = list(graph.nodes)
    m.V = pyo.Set(initialize=range(len(nodes)))

    def _flow(mm: Any, k: int) -> Any:
        v = nodes[k]
        b = 1.0 if v == source else (-1.0 if v == sink else 0.0)
        return pyo.quicksum(mm.x[j] for j in out_arcs[v]) - pyo.quicksum(mm.x[j] for j in in_arcs[v]) == b

    m.flow = pyo.Constraint(m.V, rule=_flow)
    sol = _run(m, "path", U, m.x, method, solver, objective=True, rhs=None, tol=tol, max_iterations=max_iterations,
               time_limit=time_limit, progress=progress, oracle_options=oracle_options,
               initial_scenarios=initial_scenarios, mip_gap=mip_gap)
    if sol.x is not None:
        chosen = [int(j) for j in np.flatnonzero(sol.x > 0.5)]
        sol.arcs = chosen
        by_index = {j: (u, v, j) for u, v, j in arcs}
        ordered = [by_index[j] for j in range(n_arcs)]
        sol.nodes = _walk(ordered, chosen, source, sink)
    return sol
