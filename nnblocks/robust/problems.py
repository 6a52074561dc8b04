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

import math
import numbers
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pyomo.environ as pyo

from nnblocks._pyomo import add_constraints
from nnblocks._results import AsDict
from nnblocks._validate import enum_member
from nnblocks.robust.base import WorstCase, WorstCaseStatus
from nnblocks.robust.scenario import (
    ScenarioGeneration,
    ScenarioResult,
    Termination,
    _check_stopping,
    _cut_short,
    _takes_time_limit,
    _timed,
)

__all__ = ["RobustSolution", "RobustStatus", "robust_obj", "robust_feas", "robust_shortest_path", "path_arcs"]



class RobustStatus(StrEnum):
    """Outcome of a robust builder (compares equal to its string value): why scenario generation stopped
    (the values of :class:`~nnblocks.robust.scenario.Termination`), or that an arc set is not a path."""

    ROBUST_OPTIMAL = Termination.ROBUST_OPTIMAL.value
    ITERATION_LIMIT = Termination.ITERATION_LIMIT.value
    TIME_LIMIT = Termination.TIME_LIMIT.value
    MASTER_INFEASIBLE = Termination.MASTER_INFEASIBLE.value
    MASTER_UNBOUNDED = Termination.MASTER_UNBOUNDED.value
    SUBSOLVER_FAILURE = Termination.SUBSOLVER_FAILURE.value
    STALLED = Termination.STALLED.value
    NOT_A_PATH = "not_a_path"
    """The optimal arc set of a shortest-path problem needs cycles (see :func:`robust_shortest_path`)."""


NOT_A_PATH = RobustStatus.NOT_A_PATH


@dataclass
class RobustSolution(AsDict):
    """A robust solution of one of the builders.

    Attributes
    ----------
    problem:
        ``"obj"``, ``"feas"`` or ``"path"``.
    method:
        ``"scenarios"`` (scenario generation) or ``"counterpart"`` (one LP/MILP by duality).
    status:
        A :class:`RobustStatus` (a string given here is converted): ``"robust_optimal"`` when solved,
        otherwise the named termination / solver status; for paths ``"not_a_path"`` when the optimal arc
        set needs cycles (negative arc costs, see :func:`robust_shortest_path`).
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
    status: RobustStatus
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

    def __post_init__(self) -> None:
        self.status = enum_member(RobustStatus, self.status, "robust status")

    @property
    def is_robust(self) -> bool:
        return self.status == RobustStatus.ROBUST_OPTIMAL


def _choose_method(U: Any, method: str) -> str:
    if method == "auto":
        return "counterpart" if callable(getattr(U, "robust_counterpart", None)) else "scenarios"
    if method not in ("scenarios", "counterpart"):
        raise ValueError(f"unknown method {method!r}: use 'auto', 'scenarios' or 'counterpart'")
    if method == "counterpart" and not callable(getattr(U, "robust_counterpart", None)):
        raise ValueError(f"{type(U).__name__} has no robust_counterpart: use method='scenarios'")
    return method


def _solve_counterpart(m: pyo.ConcreteModel, solver: str, time_limit: float | None, mip_gap: float | None,
                       tee: bool = False) -> tuple[str, str]:
    from nnblocks.solve import SolveStatus, solve, tuning

    options = tuning(solver, "primal_simplex")  # faster on the dual of (8) (HiGHS)
    res = solve(m, solver, time_limit=time_limit, mip_gap=mip_gap, tee=tee, **options)
    if res.status == SolveStatus.OPTIMAL and res.has_solution:
        return Termination.ROBUST_OPTIMAL.value, ""
    if res.status == SolveStatus.INFEASIBLE:
        return Termination.MASTER_INFEASIBLE.value, "the robust counterpart is infeasible"
    if res.status == SolveStatus.TIME_LIMIT and res.has_solution:
        if res.gap is None:
            return Termination.TIME_LIMIT.value, "time limit reached: an incumbent without a proven bound"
        if res.gap > 1e-9:
            return Termination.TIME_LIMIT.value, f"time limit reached: incumbent with relative gap {res.gap:.3g}"
        return Termination.TIME_LIMIT.value, ("time limit reached before the solver reported optimality (its bound "
                                              "equals the incumbent's objective)")
    return Termination.SUBSOLVER_FAILURE.value, f"solver {solver!r} ended with status {res.status.value!r}"


def _fresh(U: Any, x: np.ndarray, oracle_options: dict, deadline: float | None = None) -> WorstCase:
    """max_{c in U} c'x afresh, within the time left until ``deadline`` where the set takes a time limit."""
    return U.worst_case(x, **_timed(U, oracle_options, deadline))


def _proven(wc: WorstCase | None) -> bool:
    return wc is not None and wc.proven


def _run(m: pyo.ConcreteModel, problem: str, U: Any, x_vars: Any, method: str, solver: str, *, objective: bool,
         rhs: float | None, tol: float, max_iterations: int, time_limit: float | None, progress: bool,
         oracle_options: dict | None, initial_scenarios: Any, mip_gap: float | None, tee: bool = False,
         write_model: Any = None) -> RobustSolution:
    _check_stopping(tol, max_iterations, time_limit)
    oracle_options = dict(oracle_options or {})
    method = _choose_method(U, method)
    t0 = time.perf_counter()
    deadline = None if time_limit is None else t0 + float(time_limit)  # the final evaluation included
    sres = None
    if method == "counterpart":
        blk = U.robust_counterpart(m, x_vars, name="uncertain")
        if objective:
            m.robust_objective = pyo.Objective(expr=blk.value, sense=pyo.minimize)
        else:
            m.robust_constraint = pyo.Constraint(expr=blk.value <= rhs)
        status, message = _solve_counterpart(m, solver, time_limit, mip_gap, tee)
        iterations = 1
    else:
        sg = ScenarioGeneration(m, solver=solver)
        if objective:
            sg.set_uncertain_objective(x_vars, U, initial_scenarios=initial_scenarios)
        else:
            sg.add_uncertain_constraint(x_vars, U, rhs=rhs, name="uncertain", initial_scenarios=initial_scenarios)
        sres = sg.solve(tol=tol, max_iterations=max_iterations, time_limit=time_limit, progress=progress,
                        oracle_options=oracle_options, mip_gap=mip_gap, tee=tee)
        status, message, iterations = sres.termination.value, sres.message, sres.iterations
    if write_model is not None:
        from nnblocks.solve import write

        write(m, write_model)
    has_x = status in (Termination.ROBUST_OPTIMAL.value, Termination.TIME_LIMIT.value,
                       Termination.ITERATION_LIMIT.value, Termination.STALLED.value)
    x = wc = None
    robust_value = objective_value = None
    if has_x and all(x_vars[i].value is not None for i in x_vars):
        x = np.array([x_vars[i].value for i in x_vars], dtype=float)
        if problem == "path":
            x = np.round(x)
        # the loop's last evaluation, made at this x unless the loop stopped at its time limit, stands when no time
        # is left or the fresh one is cut short
        last = None
        if sres is not None and len(sres.worst_cases) == 1 and status != Termination.TIME_LIMIT.value:
            last = next(iter(sres.worst_cases.values()))
        out_of_time = deadline is not None and time.perf_counter() >= deadline
        if out_of_time and last is not None:
            wc = last
        elif out_of_time and _takes_time_limit(U):
            message = (message + "; " if message else "") + "no time left to evaluate the worst case at x"
        else:
            wc = _fresh(U, x, oracle_options, deadline)
            if last is not None and _cut_short(wc) and not _cut_short(last):
                wc = last
        if wc is not None and wc.status in (WorstCaseStatus.OPTIMAL, WorstCaseStatus.FEASIBLE):
            robust_value = float(wc.scenario @ x)
        objective_value = robust_value if objective else float(x.sum())
    certified = _proven(wc) and (sres is None or sres.certified)
    if status == Termination.ROBUST_OPTIMAL.value and not certified and not message:
        message = "the worst case comes without proof of optimality: robust only w.r.t. the evaluated oracle"
    return RobustSolution(problem=problem, method=method, status=status, x=x, objective=objective_value,
                          robust_value=robust_value, worst_case=wc, time=time.perf_counter() - t0,
                          iterations=iterations, certified=certified, message=message, scenario_result=sres)


def _finite_rhs(rhs: Any) -> float:
    value = float(rhs)
    if not math.isfinite(value):
        raise ValueError(f"rhs must be a finite number, got {rhs!r}")
    return value


def robust_obj(U: Any, rhs: float | None = None, method: str = "auto", solver: str = "appsi_highs",
               tol: float = 1e-3, max_iterations: int = 500, time_limit: float | None = None,
               progress: bool = False, oracle_options: dict | None = None, initial_scenarios: Any = None,
               tee: bool = False, write_model: Any = None) -> RobustSolution:
    """(Obj): min_x max_{c in U} c'x s.t. sum_i x_i = RHS, x in [-1, 1]^n.

    ``rhs`` defaults to n/2 (the paper's RHS^obj = N/2; its 2-D example uses 0.3). ``time_limit`` covers the
    whole call, the final evaluation of the worst case included. ``tee`` streams the log of the master (or
    counterpart) solves; ``write_model`` (a .lp or .mps path) receives the model of the final solve.
    """
    n = int(U.dim)
    rhs = n / 2.0 if rhs is None else _finite_rhs(rhs)
    if abs(rhs) > n:
        raise ValueError(f"RHS^obj = {rhs} is infeasible for x in [-1, 1]^{n}")
    m = pyo.ConcreteModel(name="robust_obj")
    m.I = pyo.RangeSet(0, n - 1)
    m.x = pyo.Var(m.I, bounds=(-1.0, 1.0))
    m.budget = pyo.Constraint(expr=pyo.quicksum(m.x[i] for i in m.I) == rhs)
    return _run(m, "obj", U, m.x, method, solver, objective=True, rhs=None, tol=tol, max_iterations=max_iterations,
                time_limit=time_limit, progress=progress, oracle_options=oracle_options,
                initial_scenarios=initial_scenarios, mip_gap=None, tee=tee, write_model=write_model)


def robust_feas(U: Any, rhs: float | None = None, method: str = "auto", solver: str = "appsi_highs",
                tol: float = 1e-3, max_iterations: int = 500, time_limit: float | None = None,
                progress: bool = False, oracle_options: dict | None = None, initial_scenarios: Any = None,
                tee: bool = False, write_model: Any = None) -> RobustSolution:
    """(Feas): max_x sum_i x_i s.t. c'x <= RHS for all c in U, x in [-1, 1]^n.

    ``rhs`` defaults to 50 n (the paper's RHS^feas = 50N); the authors' published per-instance tables
    (and their code) use RHS = 0. ``time_limit``, ``tee`` and ``write_model`` as in :func:`robust_obj`.
    """
    n = int(U.dim)
    rhs = 50.0 * n if rhs is None else _finite_rhs(rhs)
    m = pyo.ConcreteModel(name="robust_feas")
    m.I = pyo.RangeSet(0, n - 1)
    m.x = pyo.Var(m.I, bounds=(-1.0, 1.0))
    m.profit = pyo.Objective(expr=pyo.quicksum(m.x[i] for i in m.I), sense=pyo.maximize)
    return _run(m, "feas", U, m.x, method, solver, objective=False, rhs=rhs, tol=tol,
                max_iterations=max_iterations, time_limit=time_limit, progress=progress,
                oracle_options=oracle_options, initial_scenarios=initial_scenarios, mip_gap=None, tee=tee,
                write_model=write_model)


def path_arcs(graph: Any, index: str = "index") -> list[tuple[Any, Any, int]]:
    """(tail, head, cost index) for every arc of a networkx (Multi)DiGraph; parallel arcs stay distinct.

    The cost index is the arc's ``index`` attribute when every arc has one (it must be a permutation of
    0..|A|-1), else, when no arc has one, the arcs' enumeration order. A graph where only some arcs carry
    the attribute is refused with a ``ValueError`` naming an arc without it.
    """
    multi = graph.is_multigraph() if hasattr(graph, "is_multigraph") else False
    edges = list(graph.edges(keys=True, data=True)) if multi else [(u, v, None, d) for u, v, d in
                                                                    graph.edges(data=True)]
    if not edges:
        raise ValueError("the graph has no arcs")
    has = [index in d for _, _, _, d in edges]
    if any(has) and not all(has):
        u, v, key, _ = edges[has.index(False)]
        arc = (u, v) if key is None else (u, v, key)
        raise ValueError(f"arc attribute {index!r} is set on {sum(has)} of {len(edges)} arcs: arc {arc!r} has "
                         f"none (give every arc one, or none)")
    edges = [(u, v, d) for u, v, _, d in edges]
    if all(has):
        bad = next(((u, v, d[index]) for u, v, d in edges if not _is_integral(d[index])), None)
        if bad is not None:
            raise ValueError(f"arc attribute {index!r} must be an integer, arc {bad[:2]!r} has {bad[2]!r}")
        idx = [int(d[index]) for _, _, d in edges]
        if sorted(idx) != list(range(len(idx))):
            raise ValueError(f"arc attribute {index!r} must number the arcs 0..{len(idx) - 1} exactly once")
    else:
        idx = list(range(len(edges)))
    return [(u, v, j) for (u, v, _), j in zip(edges, idx)]


def _is_integral(v: Any) -> bool:
    """An integer (Python, numpy) or an integral finite float; not a bool or a string."""
    if isinstance(v, bool | np.bool_):
        return False
    if isinstance(v, numbers.Integral):
        return True
    return isinstance(v, numbers.Real) and math.isfinite(float(v)) and float(v).is_integer()


def _walk(arcs: list[tuple[Any, Any, int]], chosen: list[int], source: Any, sink: Any
          ) -> tuple[list[int], list[Any]]:
    """The simple s-t path inside the chosen arcs: its arc indices (in order) and node sequence.

    The walk follows unused chosen arcs from the source; a node reached again closes a cycle, which is
    cut out (loop erasure), so the arcs left over form cycles.
    """
    by_tail: dict[Any, list[int]] = {}
    for j in chosen:
        by_tail.setdefault(arcs[j][0], []).append(j)
    nodes, path, node, used = [source], [], source, set()
    position = {source: 0}
    while node != sink:
        nxt = [j for j in by_tail.get(node, []) if j not in used]
        if not nxt:
            break
        used.add(nxt[0])
        node = arcs[nxt[0]][1]
        if node in position:  # back at a node of the path: drop the cycle just closed
            k = position[node]
            for v in nodes[k + 1:]:
                del position[v]
            del nodes[k + 1:]
            del path[k:]
        else:
            position[node] = len(nodes)
            nodes.append(node)
            path.append(nxt[0])
    return path, nodes


def _cyclic_arcs(graph: Any, arcs: list[tuple[Any, Any, int]]) -> np.ndarray:
    """Mask (by cost index) of the arcs that lie on a directed cycle: tail and head strongly connected."""
    import networkx as nx

    component = {v: k for k, comp in enumerate(nx.strongly_connected_components(graph)) for v in comp}
    mask = np.zeros(len(arcs), dtype=bool)
    for u, v, j in arcs:
        mask[j] = component[u] == component[v]
    return mask


def _cost_lower_bounds(U: Any) -> np.ndarray | None:
    """Lower bounds on the arc costs c in U the set can tell: the domain box of network sets, the ``lower`` box
    of Kernel sets; None for other sets (discrete sets are checked scenario by scenario)."""
    from nnblocks.robust.sets.kernel import KernelUncertaintySet
    from nnblocks.robust.sets.network import NetworkUncertaintySet

    if isinstance(U, NetworkUncertaintySet):
        return None if U.domain is None else np.broadcast_to(np.asarray(U.domain[0], dtype=float), (int(U.dim),))
    if isinstance(U, KernelUncertaintySet):
        return np.broadcast_to(np.asarray(U.lower, dtype=float), (int(U.dim),))
    return None


def _negative_cycle(arcs: list[tuple[Any, Any, int]], cost: np.ndarray) -> tuple[list[Any], float] | None:
    """The nodes (first = last) and total cost of a directed cycle of negative cost under ``cost`` (by arc
    index), or None; networkx's Bellman-Ford finds it."""
    import networkx as nx

    g = nx.DiGraph()
    for u, v, j in arcs:  # parallel arcs: the cheapest one decides whether a cycle through (u, v) is negative
        if not g.has_edge(u, v) or cost[j] < g[u][v]["c"]:
            g.add_edge(u, v, c=float(cost[j]))
    if not nx.negative_edge_cycle(g, weight="c"):
        return None
    root = object()  # a new node with an arc to every node reaches every cycle
    g.add_edges_from(((root, v) for v in list(g.nodes)), c=0.0)
    cycle = nx.find_negative_cycle(g, root, weight="c")
    return cycle, sum(g[u][v]["c"] for u, v in zip(cycle[:-1], cycle[1:]))


def _check_costs(U: Any, arcs: list[tuple[Any, Any, int]], cyclic: np.ndarray) -> bool:
    """Refuse a discrete set with a scenario under which a cycle has negative cost (the flow formulation may
    then take the cycle); True when every cycle is known to cost >= 0 for every c in U, so that cycles in an
    optimal arc set can be left out at no cost."""
    from nnblocks.robust.sets.discrete import DiscreteUncertaintySet

    if isinstance(U, DiscreteUncertaintySet):
        points = U.points
        for i in np.flatnonzero((points[:, cyclic] < 0).any(axis=1)):  # only scenarios with a negative cyclic arc
            found = _negative_cycle(arcs, points[i])
            if found is not None:
                cycle, total = found
                raise ValueError(
                    f"scenario {int(i)} gives the cycle {' -> '.join(map(repr, cycle))} the cost {total:g} < 0: "
                    f"the flow formulation models simple paths only when no cycle has a negative cost"
                )
        return True
    lower = _cost_lower_bounds(U)
    if lower is None:
        return False
    if not (cyclic & (lower < 0)).any():
        return True
    if not np.all(np.isfinite(lower[cyclic])):
        return False
    # c >= lower entry-wise: a cycle costs at least its cost under lower
    return _negative_cycle(arcs, lower) is None


def _drop_cycles(sol: RobustSolution, U: Any, path: list[int], extra: list[int], costs_nonnegative: bool,
                 oracle_options: dict | None, tol: float) -> None:
    """Replace an arc set with cycles by its s-t path when that is no worse, else mark it ``not_a_path``.

    With non-negative costs on the cycles' arcs leaving them out never raises c'x for any c in U. Otherwise
    the path is kept when its fresh worst case is at most the arc set's (within ``tol``): every s-t path is
    a feasible flow, so it is then as good as the optimum over all paths.
    """
    x_path = np.zeros_like(sol.x)
    x_path[path] = 1.0
    wc = _fresh(U, x_path, dict(oracle_options or {}))
    value = float(wc.scenario @ x_path) if wc.status in (WorstCaseStatus.OPTIMAL, WorstCaseStatus.FEASIBLE) else None
    ref = sol.robust_value
    no_worse = (value is not None and ref is not None
                and value <= ref + tol * max(1.0, abs(ref)))
    if costs_nonnegative or no_worse:
        sres = sol.scenario_result
        sol.x, sol.worst_case, sol.robust_value, sol.objective = x_path, wc, value, value
        sol.certified = _proven(wc) and (sres is None or sres.certified)
        return

    def fmt(v: float | None) -> str:
        return "unknown" if v is None else f"{v:.6g}"

    message = (
        f"the optimal arc set contains cycles (arcs {extra}): its worst-case cost is {fmt(ref)}, the s-t path "
        f"inside it costs {fmt(value)}; the uncertainty set allows negative arc costs, for which the flow "
        "formulation does not model simple paths (give the set a non-negative domain)"
    )
    if sol.status != Termination.ROBUST_OPTIMAL.value:
        message += f" [{sol.status}: {sol.message}]" if sol.message else f" [{sol.status}]"
    sol.status, sol.message = NOT_A_PATH, message


def robust_shortest_path(graph: Any, U: Any, source: Any, sink: Any, method: str = "auto",
                         solver: str = "appsi_highs", tol: float = 1e-3, max_iterations: int = 500,
                         time_limit: float | None = None, progress: bool = False, mip_gap: float | None = 1e-4,
                         oracle_options: dict | None = None, initial_scenarios: Any = None,
                         index: str = "index", tee: bool = False, write_model: Any = None) -> RobustSolution:
    """min over s-t paths of max_{c in U} sum_{a in path} c_a.

    ``time_limit``, ``tee`` and ``write_model`` as in :func:`robust_obj`.

    Flow formulation: x_a in {0, 1} for every arc a, out(v) - in(v) = 1 at the source, -1 at the sink and 0
    elsewhere. It models paths exactly when every c in U gives the arcs on cycles non-negative costs
    (otherwise cycles may pay off, see Section 4.2): give the set a non-negative domain. The cost of arc a is
    the coordinate c_j with j its ``index`` attribute (see :func:`path_arcs`).

    A discrete set with a scenario under which a cycle has a negative total cost is refused with a
    ``ValueError`` naming the scenario and the cycle (negative costs on single arcs are fine). An optimal arc
    set that contains cycles besides its s-t path is replaced by that path when every cycle is known to cost
    >= 0 (scenarios of a discrete set; the domain box or ``lower`` of other sets), or when the path's fresh
    worst case is no worse; otherwise the solution's status is ``"not_a_path"`` and
    its message names the cycles' arcs. ``arcs`` and ``nodes`` describe the simple s-t path (``arcs`` holds
    all chosen arcs for ``"not_a_path"``).
    """
    if not (hasattr(graph, "is_directed") and graph.is_directed()):
        raise ValueError(f"graph must be a directed networkx graph (DiGraph or MultiDiGraph), got "
                         f"{type(graph).__name__}")
    arcs = path_arcs(graph, index)
    n_arcs = len(arcs)
    if int(U.dim) != n_arcs:
        raise ValueError(f"the uncertainty set has dimension {U.dim}, the graph has {n_arcs} arcs")
    for v, name in ((source, "source"), (sink, "sink")):
        if v not in graph:
            raise ValueError(f"{name} {v!r} is not a node of the graph")
    if source == sink:
        raise ValueError("source and sink coincide")
    costs_nonnegative = _check_costs(U, arcs, _cyclic_arcs(graph, arcs))
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

    supply = {v: 1.0 if v == source else (-1.0 if v == sink else 0.0) for v in nodes}
    add_constraints(m, "flow", {
        k: pyo.quicksum(m.x[j] for j in out_arcs[v]) - pyo.quicksum(m.x[j] for j in in_arcs[v]) == supply[v]
        for k, v in enumerate(nodes)}, m.V)
    sol = _run(m, "path", U, m.x, method, solver, objective=True, rhs=None, tol=tol, max_iterations=max_iterations,
               time_limit=time_limit, progress=progress, oracle_options=oracle_options,
               initial_scenarios=initial_scenarios, mip_gap=mip_gap, tee=tee, write_model=write_model)
    if sol.x is not None:
        chosen = [int(j) for j in np.flatnonzero(sol.x > 0.5)]
        by_index = {j: (u, v, j) for u, v, j in arcs}
        ordered = [by_index[j] for j in range(n_arcs)]
        path, sol.nodes = _walk(ordered, chosen, source, sink)
        extra = sorted(set(chosen) - set(path))
        if sol.nodes[-1] != sink:
            sol.status = NOT_A_PATH
            sol.message = f"the chosen arcs {chosen} contain no path from {source!r} to {sink!r}"
        elif extra:
            _drop_cycles(sol, U, path, extra, costs_nonnegative, oracle_options, tol)
        sol.arcs = chosen if sol.status == NOT_A_PATH else sorted(path)
    return sol
