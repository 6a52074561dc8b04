"""Branch and bound: split the input box (low-dimensional inputs) or the phases of unstable ReLUs, with the
output bounds recomputed for hundreds of branches per ``output_bounds`` call.

Input splitting keeps a stack of boxes, each with the disjuncts of its input group still open in it. A batch of
boxes is bounded at once; a disjunct is closed in a box when a sound lower bound of one of its refuting rows
(:func:`nnblocks.verify.bounds.refuter_rows`) exceeds the row's right-hand side, or when the box misses the input
polytope (min over the box of a row of input_A x above input_b). The input set has no counterexample for the
group once every box is closed: an ``unsat`` only from sound bounds. On the way, the network is evaluated at
every open box's centre (moved into the input set); a point that the float64 forward pass and the spec confirm
ends the search with ``sat``. An open box is halved along the dimension of largest |gradient| x width (the
gradient at its centre of the refuting row closest to refuting, summed over the open disjuncts).

ReLU splitting keeps the input box and fixes the phase of one unstable neuron per branch (``relu_split`` of
``output_bounds``): each branch is a sub-problem, and the union of the two phases covers the box, so closing every
branch proves the group unsat.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from nnblocks.graph import Elementwise, Graph
from nnblocks.network import Network
from nnblocks.verify.bounds import InputGroup
from nnblocks.verify.falsify import Counterexample, InputSet, backward, descend, forward_slopes

__all__ = ["relu_columns", "split_inputs", "split_relus"]


def _pop_batch(stack: list[tuple[np.ndarray, ...]], batch: int) -> tuple[np.ndarray, ...]:
    """Up to ``batch`` rows from the top of a stack of row-aligned array tuples (depth first, batch by
    batch), concatenated; a part larger than what is left of the batch is split and its rest pushed back."""
    parts, size = [], 0
    while stack and size < batch:
        part = stack.pop()
        take = min(batch - size, part[0].shape[0])
        if take < part[0].shape[0]:
            stack.append(tuple(a[take:] for a in part))
            part = tuple(a[:take] for a in part)
        parts.append(part)
        size += take
    return tuple(np.concatenate(a) for a in zip(*parts))


def _misses_polytope(S: InputSet, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(B,) mask of boxes that no point of the input polytope meets: min over the box of a row a x exceeds b
    (by more than a rounding margin, so that only a sure miss counts)."""
    if S.A.shape[0] == 0:
        return np.zeros(lo.shape[0], dtype=bool)
    Ap, An = np.maximum(S.A, 0), np.minimum(S.A, 0)
    low = lo @ Ap.T + hi @ An.T  # (B, k)
    scale = np.abs(lo) @ np.abs(S.A).T + np.abs(hi) @ np.abs(S.A).T + np.abs(S.b)
    return np.any(low > S.b + 1e-12 * scale + 1e-300, axis=1)


def _check_centres(network: Network | Graph, spec: Any, group: InputGroup, S: InputSet, X: np.ndarray,
                   open_: np.ndarray) -> tuple[Counterexample | None, list[np.ndarray], np.ndarray]:
    """Forward pass at the points X (one per box): a confirmed counterexample if one satisfies an open disjunct;
    also the slopes (for gradients) and the outputs."""
    Y, slopes = forward_slopes(network, X)
    R = Y @ group.C.T - group.d  # (B, rows)
    for j, _k in enumerate(group.members):
        own = group.owner == j
        v = R[:, own].max(axis=1)
        hit = np.flatnonzero(open_[:, j] & (v <= 0))
        for r in hit[np.argsort(v[hit])][:16]:
            x = X[r].copy()
            y = network.forward(x)
            if (idx := spec.counterexample_check(x, y)) is not None:
                return Counterexample(x, y, int(idx)), slopes, Y
    return None, slopes, Y


SPLIT_RULE = "coef"
"""How an open box is halved when the bounds give their linear coefficients: ``"coef"`` (:func:`_coef_dims`) or
``"gradient"`` (:func:`_split_dims`)."""

ATTACK_EVERY = 1
"""Every this many bound calls, a gradient descent starts from the open boxes' most violating centres and from
random points (a few thousand forward and backward passes: little next to a bound call)."""


def _attack(network: Network | Graph, spec: Any, group: InputGroup, S: InputSet, centres: np.ndarray, Y: np.ndarray,
            rng: np.random.Generator, open_: np.ndarray, deadline: float, counts: dict[str, Any], starts: int = 32,
            steps: int = 60, samples: int = 4096) -> Counterexample | None:
    """Projected gradient descent (over the whole input set) from the centres of the open boxes whose centre comes
    closest to the unsafe set and from the best of ``samples`` fresh random points of the set, for the disjunct
    open in the most boxes."""
    j = int(np.argmax(open_.sum(axis=0)))
    own = group.owner == j
    v = np.where(open_[:, j], (Y @ group.C[own].T - group.d[own]).max(axis=1), np.inf)
    pick = np.argsort(v)[:starts]
    pick = pick[np.isfinite(v[pick])]
    fresh = S.uniform(samples, rng)
    u = (forward_slopes(network, fresh, slopes=False)[0] @ group.C[own].T - group.d[own]).max(axis=1)
    X = np.concatenate([centres[pick], fresh[np.argsort(u)[:starts]]])
    stats = {"pgd_runs": 0, "pgd_steps": 0}
    cx = descend(network, spec, S, group.disjunct_list[j], X, steps, deadline, stats, group.members)
    counts["pgd_runs"] = counts.get("pgd_runs", 0) + stats["pgd_runs"]
    return cx


def _split_dims(network: Network | Graph, group: InputGroup, slopes: list[np.ndarray], lower: np.ndarray,
                open_: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Per box the dimension to halve: argmax of |gradient| x width, the gradient of each open disjunct's refuting
    row with the largest lower bound minus right-hand side, summed over the open disjuncts."""
    B = lower.shape[0]
    score = np.zeros((B, width.shape[1]))
    gap = lower - group.d  # (B, rows): > 0 would refute
    for j in range(len(group.members)):
        if not open_[:, j].any():
            continue
        rows = np.flatnonzero(group.owner == j)
        best = rows[np.argmax(gap[:, rows], axis=1)]
        G = backward(network, slopes, group.C[best])
        score += np.abs(G) * open_[:, j : j + 1]
    score *= width
    dims = np.argmax(score, axis=1)
    flat = score.max(axis=1) <= 0  # no gradient information: the widest dimension
    dims[flat] = np.argmax(width[flat], axis=1)
    return dims


FORWARD_MAX_INPUTS = 16
"""Chains with at most this many inputs get forward-mode linear bounds (:mod:`nnblocks.bounds.forward`) as the
start of their CROWN intermediate bounds in input splitting."""


def _box_bounds(network: Network | Graph, lo: np.ndarray, hi: np.ndarray, C: np.ndarray, method: str
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """Sound lower bounds (B, rows) of C f(x) over each box and, where the method gives them, the coefficients
    (B, rows, n_in) of the rows' linear lower bounds over the input (CROWN's Lambda_0)."""
    from nnblocks.bounds import output_bounds
    from nnblocks.bounds.crown import crown_rows
    from nnblocks.bounds.forward import forward_bounds, is_chain
    from nnblocks.bounds.output import as_graph

    graph = as_graph(network)
    if method == "crown" and graph.n_inputs <= FORWARD_MAX_INPUTS and is_chain(graph) \
            and graph.output == len(graph.nodes):
        start = forward_bounds(graph, lo, hi)
        low, coef, _ = crown_rows(graph, lo, hi, C, start=start)
        return low, coef
    ob = output_bounds(network, lo, hi, C=C, method=method)
    return np.asarray(ob.lower, dtype=np.float64).reshape(lo.shape[0], -1), None


def _coef_dims(group: InputGroup, coef: np.ndarray, lower: np.ndarray, open_: np.ndarray, width: np.ndarray
               ) -> np.ndarray:
    """Per box the dimension to halve: argmax_i of sum over the open disjuncts of |a_i| width_i, a the input
    coefficients of the linear lower bound of the disjunct's refuting row closest to refuting (largest lower bound
    minus right-hand side): halving dimension i can raise that bound by up to about |a_i| width_i / 2."""
    B = lower.shape[0]
    score = np.zeros((B, width.shape[1]))
    gap = lower - group.d
    rows_b = np.arange(B)
    for j in range(len(group.members)):
        if not open_[:, j].any():
            continue
        rows = np.flatnonzero(group.owner == j)
        best = rows[np.argmax(gap[:, rows], axis=1)]
        score += np.abs(coef[rows_b, best]) * open_[:, j : j + 1]
    score *= width
    dims = np.argmax(score, axis=1)
    flat = score.max(axis=1) <= 0
    dims[flat] = np.argmax(width[flat], axis=1)
    return dims


def split_inputs(
    network: Network | Graph,
    spec: Any,
    group: InputGroup,
    deadline: float,
    method: str = "crown",
    batch: int = 1024,
    max_boxes: int = 2_000_000,
    rng: np.random.Generator | int | None = 0,
) -> tuple[str, Counterexample | None, dict[str, Any]]:
    """Input-splitting branch and bound of one input group until ``deadline`` (``time.perf_counter`` seconds).

    Returns ``("unsat", None, counts)`` when every box is closed, ``("sat", cx, counts)`` for a confirmed
    counterexample, ``("timeout", None, counts)`` otherwise (also when the open boxes exceed ``max_boxes``).
    """
    rng = np.random.default_rng(rng)
    S = InputSet(group.disjunct)
    m = len(group.members)
    stack: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = [
        (group.lower[None, :].copy(), group.upper[None, :].copy(), np.ones((1, m), dtype=bool),
         np.zeros(1, dtype=np.int64))
    ]
    n_open = 1
    counts: dict[str, Any] = {"boxes": 0, "bound_calls": 0, "max_depth": 0, "centres": 0, "bound_time": 0.0}
    while stack:
        if time.perf_counter() >= deadline:
            return "timeout", None, counts
        if n_open > max_boxes:
            counts["note"] = f"more than {max_boxes} open boxes"
            return "timeout", None, counts
        lo, hi, open_, depth = _pop_batch(stack, batch)
        n_open -= lo.shape[0]
        t0 = time.perf_counter()
        lower, coef = _box_bounds(network, lo, hi, group.C, method)
        counts["bound_time"] += time.perf_counter() - t0
        counts["bound_calls"] += 1
        counts["boxes"] += lo.shape[0]
        open_ = open_ & ~group.refuted(lower)
        open_ &= ~_misses_polytope(S, lo, hi)[:, None]
        keep = open_.any(axis=1)
        if not keep.any():
            continue
        lo, hi, open_, depth, lower = lo[keep], hi[keep], open_[keep], depth[keep], lower[keep]
        coef = None if coef is None else coef[keep]
        centres = S.project(0.5 * (lo + hi))
        counts["centres"] += centres.shape[0]
        cx, slopes, Y = _check_centres(network, spec, group, S, centres, open_)
        if cx is None and (counts["bound_calls"] - 1) % ATTACK_EVERY == 0:
            cx = _attack(network, spec, group, S, centres, Y, rng, open_, deadline, counts)
        if cx is not None:
            return "sat", cx, counts
        width = hi - lo
        if coef is not None and SPLIT_RULE == "coef":
            dims = _coef_dims(group, coef, lower, open_, width)
        elif S.is_box:
            dims = _split_dims(network, group, slopes, lower, open_, width)
        else:  # the centres were moved: gradients there say little about the box, halve the widest side
            dims = np.argmax(width, axis=1)
        rows = np.arange(lo.shape[0])
        mid = 0.5 * (lo[rows, dims] + hi[rows, dims])
        hi_left, lo_right = hi.copy(), lo.copy()
        hi_left[rows, dims] = mid
        lo_right[rows, dims] = mid
        depth = depth + 1
        counts["max_depth"] = max(counts["max_depth"], int(depth.max()))
        stack.append((np.concatenate([lo, lo_right]), np.concatenate([hi_left, hi]),
                      np.concatenate([open_, open_]), np.concatenate([depth, depth])))
        n_open += 2 * lo.shape[0]
    return "unsat", None, counts


def relu_columns(network: Network | Graph) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The columns of ``relu_split`` (the neurons of the graph's Elementwise nodes, in node order): which may be
    split (two-piece activations), their breakpoints, and per Elementwise node the index in ``OutputBounds.layers``
    of its input's bounds."""
    from nnblocks.bounds.output import as_graph, tracked_tensors

    graph = as_graph(network)
    tracked = tracked_tensors(graph)
    splittable, breaks, tensor_of = [], [], []
    for node in graph.nodes:
        if isinstance(node.op, Elementwise):
            act = node.op.activation
            two = act.n_pieces == 2
            splittable.append(np.full(node.op.size, two))
            breaks.append(np.full(node.op.size, float(act.breakpoints[0]) if two else 0.0))
            tensor_of.append(tracked.index(node.inputs[0]))
    if not splittable:
        return np.zeros(0, dtype=bool), np.zeros(0), []
    return np.concatenate(splittable), np.concatenate(breaks), tensor_of


def split_relus(
    network: Network | Graph,
    spec: Any,
    group: InputGroup,
    deadline: float,
    method: str = "crown",
    batch: int = 256,
    max_branches: int = 200_000,
) -> tuple[str, Counterexample | None, dict[str, Any]]:
    """ReLU-splitting branch and bound of one input group until ``deadline``: each branch fixes the phases of
    some unstable neurons of two-piece activations (-1 below the breakpoint, +1 above, 0 free; the columns of
    :func:`relu_columns`); a branch is split on the free unstable neuron with the largest
    min(breakpoint - lower, upper - breakpoint) of its pre-activation bounds (earliest node on ties). Works on a
    Network and on a Graph (its WindowMax nodes keep their relaxation). Returns as :func:`split_inputs`."""
    from nnblocks.bounds import output_bounds
    from nnblocks.verify.bounds import CROWN_BYTES_BUDGET, crown_bytes

    cols, breaks, tensor_of = relu_columns(network)
    total = int(cols.size)
    if isinstance(network, Graph):  # boxes per call within the memory budget (the estimate is an upper one)
        batch = int(min(batch, max(4, CROWN_BYTES_BUDGET // max(crown_bytes(network), 1.0))))
    S = InputSet(group.disjunct)
    m = len(group.members)
    stack = [(np.zeros((1, total), dtype=np.int8), np.ones((1, m), dtype=bool))]
    n_open = 1
    lo1, hi1 = group.lower[None, :], group.upper[None, :]
    counts: dict[str, Any] = {"branches": 0, "bound_calls": 0, "max_depth": 0, "bound_time": 0.0}
    centre = S.project(0.5 * (group.lower + group.upper)[None, :])
    while stack:
        if time.perf_counter() >= deadline:
            return "timeout", None, counts
        if n_open > max_branches:
            counts["note"] = f"more than {max_branches} open branches"
            return "timeout", None, counts
        phases, open_ = _pop_batch(stack, batch)
        n_open -= phases.shape[0]
        B = phases.shape[0]
        t0 = time.perf_counter()
        ob = output_bounds(network, np.repeat(lo1, B, axis=0), np.repeat(hi1, B, axis=0), C=group.C,
                           method=method, relu_split=phases)
        counts["bound_time"] += time.perf_counter() - t0
        counts["bound_calls"] += 1
        counts["branches"] += B
        lower = np.asarray(ob.lower, dtype=np.float64).reshape(B, -1)
        open_ = open_ & ~group.refuted(lower)
        keep = open_.any(axis=1)
        if not keep.any():
            continue
        if counts["bound_calls"] == 1:  # the unsplit problem: try its centre once
            cx, _, _ = _check_centres(network, spec, group, S, centre, open_[:1])
            if cx is not None:
                return "sat", cx, counts
        idx = np.flatnonzero(keep)
        phases, open_ = phases[idx], open_[idx]
        # pre-activation bounds of the activation nodes' inputs, neurons in column order, for the kept branches
        lo_pre = np.concatenate([np.asarray(ob.layers[i][0]).reshape(B, -1)[idx] for i in tensor_of], axis=1)
        hi_pre = np.concatenate([np.asarray(ob.layers[i][1]).reshape(B, -1)[idx] for i in tensor_of], axis=1)
        unstable = cols & (lo_pre < breaks) & (hi_pre > breaks) & (phases == 0)
        score = np.where(unstable, np.minimum(breaks - lo_pre, hi_pre - breaks), -np.inf)
        has = unstable.any(axis=1)
        if not has.all():
            # a branch with every ReLU fixed or stable is exact up to the bounds' LP-free relaxation; leave it open
            # to the MILP stage rather than claim anything
            counts["note"] = "a branch without unstable ReLUs stayed open"
            return "timeout", None, counts
        neuron = np.argmax(score, axis=1)
        rows = np.arange(phases.shape[0])
        act, inact = phases.copy(), phases.copy()
        act[rows, neuron] = 1
        inact[rows, neuron] = -1
        depth = int(np.count_nonzero(phases, axis=1).max()) + 1
        counts["max_depth"] = max(counts["max_depth"], depth)
        stack.append((np.concatenate([act, inact]), np.concatenate([open_, open_])))
        n_open += 2 * phases.shape[0]
    return "unsat", None, counts
