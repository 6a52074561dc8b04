"""Primal heuristic for the (AR)FJ model: an adversarial example found by local search over activation patterns.

For ReLU networks the map x -> a^K is affine on each activation region
{x : sign(a^k(x)) fixed for every hidden neuron}. With the activation pattern of every network fixed, the
FJ model (and the extensive form (4.1) of ARFJ, whose recourse variables are determined by x) becomes the
linear program

    min ||x - x_bar||_1   s.t.  x in [l, u],   s_j^k (A_j^k x + c_j^k) >= 0   (pattern, every network),
                                target margin on a^K = A^K x + c^K           (every network),

with s_j^k = +1 for an active and -1 for an inactive neuron. Its optimum is a feasible point of the MILP,
hence an upper bound on the optimal distance. This module finds a starting region by projected gradient
ascent on the smallest margin, then walks to neighbouring regions (flipping a neuron whose sign
constraint is binding) while the LP optimum decreases. The bound makes two things cheap: an objective
cutoff for the MILP, and neuron bounds over the L1 ball of that radius around x_bar.

Written here because it works on the affine maps of the networks directly (numpy), and the LPs are small
dense problems solved by :func:`scipy.optimize.linprog` (HiGHS).

The heuristic runs on the logit networks a^K (:func:`logit_network`) with the margin of :func:`margin_matrix`
and the floor a^K_t >= :func:`output_floor`; :func:`heuristic_time` is its budget within a call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from nnblocks._results import AsDict
from nnblocks.activations import Identity, ReLU
from nnblocks.graph import Elementwise, Graph, Linear
from nnblocks.network import Layer, Network
from nnblocks.regions import pre_activation_maps

__all__ = [
    "HEURISTIC_TIME",
    "MIN_HEURISTIC_TIME",
    "Incumbent",
    "graph_incumbent",
    "graph_output_activation",
    "graph_polish",
    "heuristic_time",
    "incumbent",
    "logit_graph",
    "logit_network",
    "margin_matrix",
    "output_floor",
    "polish",
    "whole_set_incumbent",
]

HEURISTIC_TIME = 2.0
"""Seconds for the primal heuristic of one (AR)FJ model."""
MIN_HEURISTIC_TIME = 0.2
"""Seconds at least: a time-limited ARFJ call may overrun its limit by about this much to repair its example."""
_RELU = ReLU()


@dataclass
class Incumbent(AsDict):
    """A verified feasible point of the (AR)FJ model found by :func:`incumbent`."""

    x: np.ndarray
    distance: float
    """||x - x_bar||_1."""
    n_lps: int
    """Linear programs solved."""
    time: float
    """Seconds of the search."""


def heuristic_time(left: float | None) -> float:
    """Heuristic budget within the time left (or the time limit) of a call: at most HEURISTIC_TIME, at least
    MIN_HEURISTIC_TIME."""
    return HEURISTIC_TIME if left is None else min(HEURISTIC_TIME, max(MIN_HEURISTIC_TIME, left))


def logit_network(net: Network) -> Network:
    """The network with its output ReLU replaced by the identity: outputs a^K instead of max(0, a^K)."""
    last = net.layers[-1]
    return Network(list(net.layers[:-1]) + [Layer(last.W, last.b, Identity())])


def output_floor(kind: str, gamma: float, min_output: float) -> float:
    """Lower bound on a^K_t that the margin on the last pre-activation needs (item 4 of
    :mod:`nnblocks.adversarial.model`)."""
    return min_output if kind == "ratio" else max(gamma, min_output)


def _masks(network: Network, x: np.ndarray) -> list[np.ndarray]:
    """Active masks (a^k > 0) of the hidden layers k = 1..K-1 at x."""
    pre = network.pre_activations(x)
    return [np.asarray(a).reshape(-1) > 0 for a in pre[:-1]]


def margin_matrix(n_out: int, target: int, gamma: float, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows M, r with M a^K >= r: the margin (``kind`` "ratio" or "difference") on the last pre-activation."""
    others = np.array([j for j in range(n_out) if j != target])
    M = np.zeros((len(others), n_out))
    M[np.arange(len(others)), target] = 1.0
    if kind == "ratio":
        M[np.arange(len(others)), others] = -(1.0 + gamma)
        r = np.zeros(len(others))
    else:
        M[np.arange(len(others)), others] = -1.0
        r = np.full(len(others), gamma)
    return M, r


def _margins(networks, x, target, gamma, kind, min_output) -> float:
    """Smallest slack of all margin rows (and of a_t >= min_output for the ratio margin) over all networks."""
    worst = np.inf
    for net in networks:
        a = np.asarray(net.pre_activations(x)[-1]).reshape(-1)
        M, r = margin_matrix(a.size, target, gamma, kind)
        worst = min(worst, float(np.min(M @ a - r)))
        if min_output is not None:
            worst = min(worst, float(a[target] - min_output))
    return worst


def _gradient_start(networks, x_bar, lower, upper, target, gamma, kind, min_output, steps=300, step=0.02, leak=0.1,
                    x_start=None, deadline=np.inf):
    """Projected ascent on the smallest margin from x_start (default x_bar); a point meeting every margin or None.

    Stops early (returning None unless the current point already meets every margin) at ``deadline``
    (a :func:`time.perf_counter` value).
    """
    x = (x_bar if x_start is None else np.clip(x_start, lower, upper)).copy()
    for _ in range(steps):
        if time.perf_counter() > deadline:
            break
        worst, grad = np.inf, None
        for net in networks:
            a = np.asarray(net.pre_activations(x)[-1]).reshape(-1)
            # ascent direction through a leaky surrogate: inactive neurons keep a small slope, so that a
            # margin whose gradient vanishes on the current region still gets a direction
            masks = [np.where(m, 1.0, leak) for m in _masks(net, x)]
            As, _ = pre_activation_maps(net, masks)
            M, r = margin_matrix(a.size, target, gamma, kind)
            slack = M @ a - r
            rows = [M @ As[-1]]
            if min_output is not None:
                slack = np.append(slack, a[target] - min_output)
                rows.append(As[-1][[target]])
            G = np.vstack(rows)
            i = int(np.argmin(slack))
            if slack[i] < worst:
                worst, grad = float(slack[i]), G[i]
        if worst > 1e-3:
            return x
        gmax = np.max(np.abs(grad))
        if gmax == 0:
            return None
        x = np.clip(x + step * grad / gmax, lower, upper)
    return x if _margins(networks, x, target, gamma, kind, min_output) > 1e-6 else None


def _closest_on_segment(networks, x_bar, x0, target, gamma, kind, min_output, iters=30) -> np.ndarray:
    """Bisection for the point x_bar + s (x0 - x_bar), s in (0, 1], closest to x_bar with every margin met."""
    lo, hi = 0.0, 1.0
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if _margins(networks, x_bar + mid * (x0 - x_bar), target, gamma, kind, min_output) > 1e-6:
            hi = mid
        else:
            lo = mid
    return x_bar + hi * (x0 - x_bar)


def _pattern_lp(networks, all_masks, x_bar, lower, upper, target, gamma, kind, min_output):
    """Solve the LP of the fixed patterns. Returns (x, value, rows) or None; rows identify sign constraints."""
    blocks, rhs, ids = [], [], []
    for i, (net, masks) in enumerate(zip(networks, all_masks)):
        As, cs = pre_activation_maps(net, masks)  # a^k = A^k x + c^k on the region (Theorem 1)
        for k, m in enumerate(masks):  # sign constraints -s (A x + c) <= 0
            s = np.where(m, 1.0, -1.0)
            blocks.append(-s[:, None] * As[k])
            rhs.append(s * cs[k])
            ids.extend((i, k, j) for j in range(m.size))
        M, r = margin_matrix(As[-1].shape[0], target, gamma, kind)
        blocks.append(-(M @ As[-1]))
        rhs.append(M @ cs[-1] - r)
        ids.extend((i, -1, j) for j in range(M.shape[0]))
        if min_output is not None:
            blocks.append(-As[-1][[target]])
            rhs.append(np.array([cs[-1][target] - min_output]))
            ids.append((i, -1, -1))
    sol = _l1_lp(np.vstack(blocks), np.concatenate(rhs), x_bar, lower, upper)
    return None if sol is None else (sol[0], sol[1], ids, sol[2])


def _l1_lp(G: np.ndarray, rhs: np.ndarray, x_bar, lower, upper):
    """min ||x - x_bar||_1 s.t. G x <= rhs, lower <= x <= upper: (x, value, duals of the rows) or None."""
    n = x_bar.size
    h = rhs - G @ x_bar  # G x <= h with x = x_bar + p - q
    A_ub = sp.hstack([G, -G], format="csr") if sp.issparse(G) else np.hstack([G, -G])
    bounds = np.column_stack([np.zeros(2 * n), np.concatenate([upper - x_bar, x_bar - lower])])
    res = linprog(np.ones(2 * n), A_ub=A_ub, b_ub=h, bounds=bounds, method="highs-ds", options={"presolve": False})
    if res.status != 0:
        return None
    x = np.clip(x_bar + res.x[:n] - res.x[n:], lower, upper)
    return x, float(res.fun), np.asarray(res.ineqlin.marginals)


def incumbent(
    networks: list[Network],
    x_bar: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    target: int,
    gamma: float,
    kind: str,
    min_output: float | None,
    max_lps: int = 40,
    time_limit: float = HEURISTIC_TIME,
    starts: list[np.ndarray] | None = None,
) -> Incumbent | None:
    """A verified feasible point of the (AR)FJ model with L1 objective (ReLU hidden layers), or None.

    The margin (``kind``) is imposed on the last pre-activation a^K of every network, with a^K_t >= min_output
    unless ``min_output`` is None. ``starts`` are further points to ascend from (e.g. the FJ example of one
    network of an ARFJ set).
    """
    start = time.perf_counter()
    deadline = start + time_limit
    best = None
    # two ascent surrogates from x_bar, plus the given starts; the cheapest region found wins
    runs = [(0.1, None), (0.3, None)] + [(0.1, s) for s in (starts or [])]
    for x_start in starts or []:  # the regions of a start itself (e.g. close networks share them)
        masks = [_masks(net, x_start) for net in networks]
        sol = _pattern_lp(networks, masks, x_bar, lower, upper, target, gamma, kind, min_output)
        if sol is not None and (best is None or sol[1] < best[0][1]):
            best = (sol, masks)
    for leak, x_start in runs:
        if time.perf_counter() > deadline:
            break
        x0 = _gradient_start(networks, x_bar, lower, upper, target, gamma, kind, min_output, leak=leak,
                             x_start=x_start, deadline=deadline)
        if x0 is None:
            continue
        x0 = _closest_on_segment(networks, x_bar, x0, target, gamma, kind, min_output)
        masks = [_masks(net, x0) for net in networks]
        sol = _pattern_lp(networks, masks, x_bar, lower, upper, target, gamma, kind, min_output)
        if sol is not None and (best is None or sol[1] < best[0][1]):
            best = (sol, masks)
    n_lps = len(runs) + len(starts or [])
    if best is None:
        return None
    (x, value, ids, duals), masks = best
    improved = True
    while improved and n_lps < max_lps and time.perf_counter() < deadline:
        improved = False
        # binding sign constraints, strongest dual first: flipping them may open a cheaper region
        order = np.argsort(duals)  # marginals are <= 0 for <= rows; most negative first
        for r in order:
            if duals[r] > -1e-9 or n_lps >= max_lps or time.perf_counter() > deadline:
                break
            i, k, j = ids[r]
            if k < 0:
                continue
            trial = [[m.copy() for m in ms] for ms in masks]
            trial[i][k][j] = ~trial[i][k][j]
            cand = _pattern_lp(networks, trial, x_bar, lower, upper, target, gamma, kind, min_output)
            n_lps += 1
            if cand is not None and cand[1] < value - 1e-7:
                x, value, ids, duals = cand
                masks = trial
                improved = True
                break
    if _margins(networks, x, target, gamma, kind, min_output) < -1e-7:
        return None
    distance = float(np.abs(x - x_bar).sum())
    return Incumbent(x, distance, n_lps, time.perf_counter() - start)


def polish(networks, x, x_bar, lower, upper, target, gamma, kind, min_output) -> np.ndarray | None:
    """The L1-closest point to x_bar in the activation regions of x that meets every margin exactly.

    Repairs a MILP solution whose margins hold only up to the solver's tolerances (with big-M constants an
    integrality tolerance of 1e-6 can move an output by far more): same regions, exact LP.
    """
    if isinstance(networks[0], Graph):
        return graph_polish(networks, x, x_bar, lower, upper, target, gamma, kind, min_output)
    masks = [_masks(net, x) for net in networks]
    sol = _pattern_lp(networks, masks, x_bar, lower, upper, target, gamma, kind, min_output)
    return None if sol is None else sol[0]


def whole_set_incumbent(networks, x_bar, lower, upper, target, gamma, kind, min_output, x_start,
                        time_limit) -> Incumbent | None:
    """:func:`incumbent` for ReLU networks with a ReLU output layer (on their logit networks, started at
    ``x_start``), None for other networks; :func:`graph_incumbent` for graphs with a ReLU output (on their
    logit graphs) or an identity output."""
    if isinstance(networks[0], Graph):
        acts = {graph_output_activation(g) for g in networks}
        if acts not in ({_RELU}, {Identity()}):
            return None
        relu = acts == {_RELU}
        graphs = [logit_graph(g) for g in networks] if relu else list(networks)
        return graph_incumbent(graphs, x_bar, lower, upper, target, gamma, kind,
                               output_floor(kind, gamma, min_output) if relu else None,
                               starts=None if x_start is None else [x_start], time_limit=time_limit)
    relu_out = all(n.layers[-1].activation == _RELU for n in networks)
    if not relu_out or not all(layer.activation == _RELU for n in networks for layer in n.layers[:-1]):
        return None
    return incumbent([logit_network(n) for n in networks], x_bar, lower, upper, target, gamma, kind,
                     output_floor(kind, gamma, min_output), starts=None if x_start is None else [x_start],
                     time_limit=time_limit)


# ---------------------------------------------------------------------------------------------------
# graphs: the same search on the activation regions of a Graph
# ---------------------------------------------------------------------------------------------------
# A graph's region is fixed by its pattern (graph_encoding.activation_pattern): the piece of every Elementwise
# element and the argmax place of every window. On a region every tensor is affine in x, z_t = A_t x + c_t,
# computed forward node by node (dense in x: the graphs this heuristic is for have a few thousand elements);
# the region is the polyhedron of the piece ends of every Elementwise input and of "the chosen element is the
# largest" of every window, so the LP of the fixed patterns is the same L1 LP as for dense networks.


def logit_graph(graph: Graph) -> Graph:
    """The graph without an output ReLU (outputs its input a^K instead of max(0, a^K)); else the graph itself."""
    out = graph.output
    if out != len(graph.nodes) or out < 2:
        return graph
    node = graph.nodes[out - 1]
    if not (isinstance(node.op, Elementwise) and node.op.activation == _RELU):
        return graph
    return Graph(graph.input_shape, graph.nodes[:-1], output=node.inputs[0])


def graph_output_activation(graph: Graph):
    """The activation of the graph's output (its Elementwise node's; the identity for any other node)."""
    if graph.output == 0:
        return Identity()
    op = graph.nodes[graph.output - 1].op
    return op.activation if isinstance(op, Elementwise) else Identity()


def _graph_pattern(graph: Graph, x: np.ndarray) -> dict[int, np.ndarray]:
    from nnblocks.blocks.graph_encoding import activation_pattern  # imported when used: blocks build on Pyomo

    return activation_pattern(graph, x)


def _graph_region(graph: Graph, pattern: dict[int, np.ndarray]):
    """The affine map (A, c) of the output on the region of ``pattern``, and the region's rows G x <= h (as
    lists of blocks) with their ids: (k, j, +1 / -1) for the upper / lower end of the piece of element j of
    Elementwise node k, (k, j, 2 + q) for "place q of window j of WindowMax node k is at most the chosen one"."""
    n0 = graph.n_inputs
    maps: list[tuple[np.ndarray, np.ndarray]] = [(np.eye(n0), np.zeros(n0))]
    blocks, rhs, ids = [], [], []
    for k, node in enumerate(graph.nodes):
        op = node.op
        if isinstance(op, Linear):
            A = sum(op.weights[i] @ maps[t][0] for i, t in enumerate(node.inputs))
            c = sum(op.weights[i] @ maps[t][1] for i, t in enumerate(node.inputs)) + op.bias
            maps.append((np.asarray(A), np.asarray(c)))
            continue
        if isinstance(op, Elementwise):
            A, c = maps[node.inputs[0]]
            p = pattern[k]
            lo, hi = (e[p] for e in op.activation.piece_bounds())
            for side, end in ((1.0, hi), (-1.0, lo)):  # side (A x + c) <= side end
                j = np.flatnonzero(np.isfinite(end))
                blocks.append(side * A[j])
                rhs.append(side * (end[j] - c[j]))
                ids.extend((k, int(i), int(side)) for i in j)
            s, q = op.activation.slopes[p], op.activation.intercepts[p]
            maps.append((s[:, None] * A, s * c + q))
            continue
        # a WindowMax node: the chosen element of every window is its largest
        A = np.vstack([maps[t][0] for t in node.inputs])
        c = np.concatenate([maps[t][1] for t in node.inputs])
        w, p = op.windows, pattern[k]
        rows = np.arange(w.shape[0])
        chosen = w[rows, p]
        for q in range(w.shape[1]):
            j = np.flatnonzero((w[:, q] >= 0) & (q != p))
            other = w[j, q]
            blocks.append(A[other] - A[chosen[j]])
            rhs.append(c[chosen[j]] - c[other])
            ids.extend((k, int(i), 2 + q) for i in j)
        maps.append((A[chosen], c[chosen]))
    return maps[graph.output], blocks, rhs, ids


def _graph_pattern_lp(graphs, patterns, x_bar, lower, upper, target, gamma, kind, min_output):
    """The LP of the fixed graph patterns: (x, value, ids, duals) or None; ids name (graph i, node k, j, side)."""
    blocks, rhs, ids = [], [], []
    for i, (g, pat) in enumerate(zip(graphs, patterns)):
        (A, c), gb, gr, gids = _graph_region(g, pat)
        blocks += gb
        rhs += gr
        ids += [(i, *r) for r in gids]
        M, r = margin_matrix(A.shape[0], target, gamma, kind)
        blocks.append(-(M @ A))
        rhs.append(M @ c - r)
        ids.extend((i, -1, j, 0) for j in range(M.shape[0]))
        if min_output is not None:
            blocks.append(-A[[target]])
            rhs.append(np.array([c[target] - min_output]))
            ids.append((i, -1, -1, 0))
    sol = _l1_lp(sp.csr_array(np.vstack(blocks)), np.concatenate(rhs), x_bar, lower, upper)
    return None if sol is None else (sol[0], sol[1], ids, sol[2])


def _graph_margins(graphs, x, target, gamma, kind, min_output) -> float:
    """Smallest slack of all margin rows (and of a_t >= min_output) over all graphs at x."""
    worst = np.inf
    for g in graphs:
        a = g.forward(x)
        M, r = margin_matrix(a.size, target, gamma, kind)
        worst = min(worst, float(np.min(M @ a - r)))
        if min_output is not None:
            worst = min(worst, float(a[target] - min_output))
    return worst


def _graph_gradient_start(graphs, x_bar, lower, upper, target, gamma, kind, min_output, step, steps=300,
                          x_start=None, deadline=np.inf):
    """Projected ascent on the smallest margin (the gradient of the graph, :meth:`Graph.gradient`) from
    x_start (default x_bar); a point meeting every margin or None."""
    x = (x_bar if x_start is None else np.clip(x_start, lower, upper)).copy()
    for _ in range(steps):
        if time.perf_counter() > deadline:
            break
        worst, grad = np.inf, None
        for g in graphs:
            a = g.forward(x)
            M, r = margin_matrix(a.size, target, gamma, kind)
            slack, rows = M @ a - r, M
            if min_output is not None:
                slack = np.append(slack, a[target] - min_output)
                rows = np.vstack([M, np.eye(a.size)[[target]]])
            i = int(np.argmin(slack))
            if slack[i] < worst:
                worst, grad = float(slack[i]), g.gradient(x, rows[i])
        if worst > 1e-3:
            return x
        gmax = np.max(np.abs(grad))
        if gmax == 0:
            return None
        x = np.clip(x + step * grad / gmax, lower, upper)
    return x if _graph_margins(graphs, x, target, gamma, kind, min_output) > 1e-6 else None


def _flip(pattern: dict[int, np.ndarray], graph: Graph, k: int, j: int, side: int) -> dict[int, np.ndarray] | None:
    """The neighbouring pattern across the binding row (k, j, side), or None when there is none."""
    trial = dict(pattern)
    trial[k] = pattern[k].copy()
    if side >= 2:  # a window's place side - 2 would exceed the chosen one: choose it
        trial[k][j] = side - 2
        return trial
    p = trial[k][j] + side
    if not 0 <= p < graph.nodes[k].op.activation.n_pieces:
        return None
    trial[k][j] = p
    return trial


def graph_incumbent(
    graphs: list[Graph],
    x_bar: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    target: int,
    gamma: float,
    kind: str,
    min_output: float | None,
    max_lps: int = 40,
    time_limit: float = HEURISTIC_TIME,
    starts: list[np.ndarray] | None = None,
) -> Incumbent | None:
    """:func:`incumbent` for graphs (margin on their outputs): a projected gradient start, the point closest to
    x_bar on its segment that still meets the margin, the LP of its region and neighbouring regions while the
    LP optimum decreases. Returns a verified feasible point of the L1 (AR)FJ model or None."""
    start = time.perf_counter()
    deadline = start + time_limit
    args = (x_bar, lower, upper, target, gamma, kind, min_output)
    margin_args = (target, gamma, kind, min_output)
    best = None

    def consider(x0: np.ndarray) -> None:
        nonlocal best
        pats = [_graph_pattern(g, x0) for g in graphs]
        sol = _graph_pattern_lp(graphs, pats, *args)
        if sol is not None and _graph_margins(graphs, sol[0], *margin_args) < -1e-7:
            sol = None  # the LP's point is not adversarial in float64 (a degenerate region): keep x0
        if sol is None:
            d = float(np.abs(x0 - x_bar).sum())
            sol = (x0, d, None, None)
        if best is None or sol[1] < best[0][1]:
            best = (sol, pats)

    for x_start in starts or []:
        if _graph_margins(graphs, x_start, *margin_args) > 1e-6:
            consider(np.clip(x_start, lower, upper))
    runs = [(0.02, None), (0.005, None)] + [(0.02, s) for s in (starts or [])]
    for step, x_start in runs:
        if time.perf_counter() > deadline:
            break
        x0 = _graph_gradient_start(graphs, *args, step=step, x_start=x_start, deadline=deadline)
        if x0 is None:
            continue
        lo, hi = 0.0, 1.0  # bisection for the point closest to x_bar on the segment that meets every margin
        for _ in range(30):
            mid = 0.5 * (lo + hi)
            if _graph_margins(graphs, x_bar + mid * (x0 - x_bar), *margin_args) > 1e-6:
                hi = mid
            else:
                lo = mid
        consider(x_bar + hi * (x0 - x_bar))
    n_lps = len(runs) + len(starts or [])
    if best is None:
        return None
    (x, value, ids, duals), pats = best
    improved = ids is not None
    while improved and n_lps < max_lps and time.perf_counter() < deadline:
        improved = False
        for r in np.argsort(duals):  # binding region rows, strongest dual first
            if duals[r] > -1e-9 or n_lps >= max_lps or time.perf_counter() > deadline:
                break
            i, k, j, side = ids[r]
            if k < 0:
                continue
            flipped = _flip(pats[i], graphs[i], k, j, side)
            if flipped is None:
                continue
            trial = list(pats)
            trial[i] = flipped
            cand = _graph_pattern_lp(graphs, trial, *args)
            n_lps += 1
            if (cand is not None and cand[1] < value - 1e-7
                    and _graph_margins(graphs, cand[0], *margin_args) >= -1e-7):
                x, value, ids, duals = cand
                pats = trial
                improved = True
                break
    if _graph_margins(graphs, x, *margin_args) < -1e-7:
        return None
    return Incumbent(x, float(np.abs(x - x_bar).sum()), n_lps, time.perf_counter() - start)


def graph_polish(graphs, x, x_bar, lower, upper, target, gamma, kind, min_output) -> np.ndarray | None:
    """:func:`polish` for graphs: the L1-closest point to x_bar in the regions of x that meets every margin."""
    sol = _graph_pattern_lp(graphs, [_graph_pattern(g, x) for g in graphs], x_bar, lower, upper, target, gamma,
                            kind, min_output)
    return None if sol is None else sol[0]
