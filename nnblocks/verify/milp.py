"""The MILP stage: a disjunct's question as a mixed-integer program, through ``NetworkBlock`` and ``solve``.

For a disjunct with input set {lower <= x <= upper, input_A x <= input_b} and unsafe set output_A y <= output_b
the model is

    find x in the box, y = h^K     s.t.  network block (big-M, pre-activation bounds valid on the box),
                                         input_A x <= input_b,  output_A y <= output_b

with a constant objective: the solver stops at the first feasible point. Several disjuncts on the same input
set can instead be one model with one binary d_j per disjunct (sum_j d_j = 1) and their output rows relaxed by
big-M: output_A_j y <= output_b_j + M_j (1 - d_j), M_j an upper bound of output_A_j y - output_b_j over the box.

Only two answers are taken from a solver: INFEASIBLE (after ``solve``'s own checks) means the disjunct(s) have no
point; a solution's input is handed back to be confirmed by a float64 forward pass. Anything else (time limit,
error) decides nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyomo.environ as pyo

from nnblocks.blocks import NetworkBlock
from nnblocks.bounds import GraphBounds, NetworkBounds
from nnblocks.graph import Elementwise, Graph
from nnblocks.network import Network
from nnblocks.solve import SolveStatus, solve

__all__ = ["MilpAnswer", "build_model", "milp_stage", "solve_disjuncts"]


@dataclass
class MilpAnswer:
    """What one MILP said: ``infeasible`` (proved, for every disjunct in ``disjuncts``), ``solution`` (the input
    ``x`` of a solution, to be confirmed), or ``open`` (time limit, error: ``status`` tells)."""

    disjuncts: list[int]
    answer: str
    status: str
    time: float
    x: np.ndarray | None = None
    n_binaries: int = 0
    info: dict[str, Any] = field(default_factory=dict)


def build_model(
    network: Network | Graph,
    disjuncts: list[Any],
    bounds: NetworkBounds | GraphBounds | str = "interval",
    output_big_m: list[np.ndarray] | None = None,
) -> pyo.ConcreteModel:
    """The feasibility MILP of one disjunct, or of several on one input set (``output_big_m``: per disjunct an
    upper bound of output_A y - output_b over the box, needed for two or more). The input variables are ``m.x``."""
    first = disjuncts[0]
    lower = np.asarray(first.lower, dtype=np.float64)
    upper = np.asarray(first.upper, dtype=np.float64)
    n = lower.size
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(n), bounds=lambda _m, i: (float(lower[i]), float(upper[i])))
    m.nn = NetworkBlock(network, inputs=m.x, bounds=bounds)
    y = m.nn.outputs
    A_in = np.asarray(first.input_A, dtype=np.float64).reshape(-1, n)
    b_in = np.asarray(first.input_b, dtype=np.float64).ravel()
    m.input_rows = pyo.Constraint(
        range(A_in.shape[0]),
        rule=lambda _m, r: sum(float(A_in[r, i]) * m.x[i] for i in np.flatnonzero(A_in[r])) <= float(b_in[r]),
    )
    rows = [(np.asarray(d.output_A, dtype=np.float64), np.asarray(d.output_b, dtype=np.float64)) for d in disjuncts]
    if len(disjuncts) == 1:
        A, b = rows[0]
        m.output_rows = pyo.Constraint(
            range(A.shape[0]),
            rule=lambda _m, r: sum(float(A[r, j]) * y[j] for j in np.flatnonzero(A[r])) <= float(b[r]),
        )
    else:
        if output_big_m is None or len(output_big_m) != len(disjuncts):
            raise ValueError("several disjuncts in one model need output_big_m (one array per disjunct)")
        m.d = pyo.Var(range(len(disjuncts)), domain=pyo.Binary)
        m.one = pyo.Constraint(expr=sum(m.d[j] for j in range(len(disjuncts))) == 1)
        index = [(j, r) for j, (A, _) in enumerate(rows) for r in range(A.shape[0])]

        def rule(_m, j, r):
            A, b = rows[j]
            big = max(float(output_big_m[j][r]), 0.0)
            lhs = sum(float(A[r, i]) * y[i] for i in np.flatnonzero(A[r]))
            return lhs <= float(b[r]) + big * (1 - m.d[j])

        m.output_rows = pyo.Constraint(index, rule=rule)
    m.obj = pyo.Objective(expr=0.0)
    return m


def solve_disjuncts(
    network: Network | Graph,
    disjuncts: list[Any],
    indices: list[int],
    solver: str | None,
    time_limit: float | None,
    bounds: NetworkBounds | GraphBounds | str = "interval",
    output_big_m: list[np.ndarray] | None = None,
) -> MilpAnswer:
    """Build and solve the MILP of ``disjuncts`` (the spec's disjuncts ``indices``, all on one input set)."""
    start = time.perf_counter()
    m = build_model(network, disjuncts, bounds, output_big_m)
    n_bin = int(m.nn.n_binaries) + (len(disjuncts) if len(disjuncts) > 1 else 0)
    build = time.perf_counter() - start
    left = None if time_limit is None else max(time_limit - build, 1e-3)
    try:
        res = solve(m, solver=solver, time_limit=left)
    except Exception as exc:  # noqa: BLE001 - any solver failure decides nothing
        return MilpAnswer(indices, "open", f"error: {type(exc).__name__}: {exc}", time.perf_counter() - start,
                          n_binaries=n_bin, info={"build_time": build})
    info = {"build_time": build, "solver": res.solver, "attempts": len(res.attempts)}
    status = res.status
    if status is SolveStatus.INFEASIBLE:
        return MilpAnswer(indices, "infeasible", status.value, time.perf_counter() - start, n_binaries=n_bin,
                          info=info)
    if res.has_solution:
        lo = np.asarray(disjuncts[0].lower, dtype=np.float64)
        hi = np.asarray(disjuncts[0].upper, dtype=np.float64)
        # an input that no constraint reads (a convolution's stride skips it) has no value: any point of its
        # interval will do, the box centre
        x = np.array([pyo.value(m.x[i], exception=False) for i in range(len(m.x))], dtype=np.float64)
        x = np.where(np.isnan(x), 0.5 * (lo + hi), x)
        return MilpAnswer(indices, "solution", status.value, time.perf_counter() - start, np.clip(x, lo, hi),
                          n_binaries=n_bin, info=info)
    return MilpAnswer(indices, "open", status.value, time.perf_counter() - start, n_binaries=n_bin, info=info)


def _graph_block_bounds(graph: Graph, lower: np.ndarray, upper: np.ndarray, method: str | None) -> GraphBounds:
    """Bounds of every tensor of a graph for its encoding's big-M constants: interval bounds, intersected with
    CROWN's bounds of every tensor when a method other than interval is given (both sound, so is their
    intersection)."""
    from nnblocks.bounds import InputDomain, compute_bounds, layer_bounds

    start = time.perf_counter()
    gb = compute_bounds(graph, InputDomain.box(lower, upper), method="interval")
    from nnblocks.verify.bounds import affordable

    if method is None or affordable(graph, method) == "interval":
        return gb
    from nnblocks.bounds.crown import BallDomain, crown

    res = crown(graph, BallDomain(np.asarray(lower, dtype=np.float64)[None, :],
                                  np.asarray(upper, dtype=np.float64)[None, :]))
    los, his = [], []
    for t in range(len(gb.lower)):
        lo = np.maximum(gb.lower[t], np.asarray(res.tensors[t][0]).reshape(-1))
        hi = np.minimum(gb.upper[t], np.asarray(res.tensors[t][1]).reshape(-1))
        los.append(lo)
        his.append(np.maximum(lo, hi))
    nodes = {k: layer_bounds(los[node.inputs[0]], his[node.inputs[0]], node.op.activation)
             for k, node in enumerate(graph.nodes) if isinstance(node.op, Elementwise)}
    return GraphBounds(tuple(los), tuple(his), nodes, f"interval+{method}", time.perf_counter() - start)


ALPHA_BIG_M_SHARE = 0.1
"""Share of the MILP stage's time (at most :data:`ALPHA_BIG_M_MAX` s) that alpha-CROWN may spend on the big-M
bounds of a Network. Measured on mnistfc 256x2 prop_3 (HiGHS, one thread): alpha-CROWN left 84 unstable ReLUs
where CROWN left 99 and took 2.8 s; the MILP of disjunct 0 was proved infeasible in 6.9 s instead of 17.2 s, that
of disjunct 1 in 9.9 s instead of not within 30 s."""

ALPHA_BIG_M_MAX = 10.0


def _block_bounds(network: Network | Graph, lower: np.ndarray, upper: np.ndarray,
                  method: str | None, time_limit: float | None = None) -> NetworkBounds | GraphBounds:
    """Pre-activation bounds for the big-M constants: interval bounds, intersected with the layer bounds of
    ``output_bounds(method)`` when a method is given (a Graph: :func:`_graph_block_bounds`, CROWN at most);
    ``time_limit`` bounds alpha-CROWN's slope optimisation (its bounds are never looser than CROWN's)."""
    from nnblocks.bounds import InputDomain, compute_bounds, layer_bounds

    if isinstance(network, Graph):
        return _graph_block_bounds(network, lower, upper, None if method is None else "crown")
    nb = compute_bounds(network, InputDomain.box(lower, upper), method="interval")
    if method is None or method == "interval":
        return nb
    from nnblocks.bounds import output_bounds

    ob = output_bounds(network, lower, upper, method=method, time_limit=time_limit)
    layers = []
    for layer, lb, (lo, hi) in zip(network.layers, nb.layers, ob.layers):
        lo = np.maximum(lb.lower, np.asarray(lo, dtype=np.float64).reshape(-1))
        hi = np.minimum(lb.upper, np.asarray(hi, dtype=np.float64).reshape(-1))
        layers.append(layer_bounds(lo, np.maximum(lo, hi), layer.activation))
    return NetworkBounds(tuple(layers), f"interval+{method}", nb.time + ob.time)


def _output_big_m(bounds: NetworkBounds | GraphBounds, network: Network | Graph,
                  disjuncts: list[Any]) -> list[np.ndarray]:
    """Per disjunct an upper bound of output_A y - output_b over the box, from the output layer's bounds (interval
    arithmetic on the rows, padded outwards)."""
    if isinstance(bounds, GraphBounds):
        assert isinstance(network, Graph)
        lo, hi = np.asarray(bounds.lower[network.output]), np.asarray(bounds.upper[network.output])
    else:
        last = bounds.layers[-1]
        lo, hi = np.asarray(last.post_lower), np.asarray(last.post_upper)
    out = []
    for d in disjuncts:
        A = np.asarray(d.output_A, dtype=np.float64)
        b = np.asarray(d.output_b, dtype=np.float64)
        up = np.maximum(A, 0) @ hi + np.minimum(A, 0) @ lo - b
        out.append(up + 1e-6 * (1 + np.abs(up)))
    return out


def milp_stage(
    network: Network | Graph,
    spec: Any,
    todo: list[int],
    deadline: float,
    solver: str | None,
    mode: str = "each",
    bounds_method: str | None = "alpha-crown",
) -> tuple[str, Any, dict[str, Any]]:
    """The MILPs of the disjuncts ``todo`` until ``deadline``: one per disjunct (``mode="each"``) or one per input
    set (``"one"``). Returns ``("sat", counterexample, counts)``, or ``("open", None, counts)`` with
    ``counts["infeasible_disjuncts"]`` the disjuncts proved to have no point (all of them: unsat)."""
    from nnblocks.verify.bounds import input_groups
    from nnblocks.verify.falsify import Counterexample, InputSet, descend

    counts: dict[str, Any] = {"milps": 0, "binaries": 0, "solve_time": 0.0, "infeasible_disjuncts": [],
                              "statuses": [], "errors": []}
    jobs: list[list[int]] = []
    for group in input_groups(spec, todo):
        jobs += [group.members] if mode == "one" and len(group.members) > 1 else [[k] for k in group.members]
    cache: dict[bytes, NetworkBounds | GraphBounds] = {}
    # each MILP gets an equal part of what is left; those stopped by their part get a second turn with all the time
    # the others did not use
    retry: list[list[int]] = []
    turns = [(j, members, len(jobs) - j) for j, members in enumerate(jobs)]
    while turns:
        j, members, share = turns.pop(0)
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        ds = [spec.disjuncts[k] for k in members]
        key = np.asarray(ds[0].lower).tobytes() + np.asarray(ds[0].upper).tobytes()
        if key not in cache:
            lo_b, hi_b = np.asarray(ds[0].lower), np.asarray(ds[0].upper)
            budget = min(ALPHA_BIG_M_SHARE * left, ALPHA_BIG_M_MAX)
            try:
                cache[key] = _block_bounds(network, lo_b, hi_b, bounds_method, budget)
            except (ImportError, ValueError):  # no torch for alpha-CROWN, or no such method: CROWN, then intervals
                try:
                    cache[key] = _block_bounds(network, lo_b, hi_b, "crown")
                except (ImportError, ValueError):
                    cache[key] = _block_bounds(network, lo_b, hi_b, None)
            counts["big_m_bounds"] = cache[key].method
        nbounds = cache[key]
        big_m = _output_big_m(nbounds, network, ds) if len(ds) > 1 else None
        ans = solve_disjuncts(network, ds, members, solver, left / share, nbounds, big_m)
        counts["milps"] += 1
        counts["binaries"] += ans.n_binaries
        counts["solve_time"] += ans.time
        counts["statuses"].append(ans.status)
        if ans.status.startswith("error"):
            counts["errors"].append(ans.status)
        if ans.answer == "infeasible":
            counts["infeasible_disjuncts"] += members
        elif ans.answer == "solution" and ans.x is not None:
            x = ans.x
            y = network.forward(x)
            k = spec.counterexample_check(x, y)
            if k is not None:
                return "sat", Counterexample(x, y, int(k)), counts
            # a solution on the boundary of the unsafe set, off by the solver's tolerance: descend from it
            S = InputSet(ds[0])
            starts = S.project(np.clip(x + 1e-4 * S.width * np.random.default_rng(j).standard_normal((16, x.size)),
                                       S.lower, S.upper))
            starts[0] = S.project(x[None, :])[0]
            cx = descend(network, spec, S, ds[0], starts, 30, time.perf_counter() + 1.0, {"pgd_runs": 0,
                          "pgd_steps": 0}, members)
            if cx is not None:
                return "sat", cx, counts
            counts["errors"].append("a MILP solution was not confirmed by the forward pass")
        elif ans.answer == "open" and share > 1 and not ans.status.startswith("error"):
            retry.append(members)
        if not turns and retry:
            turns = [(j, members, len(retry) - i) for i, members in enumerate(retry)]
            counts["second_turns"] = len(retry)
            retry = []
    return "open", None, counts
