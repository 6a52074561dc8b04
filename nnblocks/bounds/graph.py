"""Interval bounds of every tensor of a :class:`~nnblocks.graph.Graph` over an input domain (a box, optionally
∩ a norm ball).

Tensor 0 (the input) lies in the domain's box (the box ∩ [c - r, c + r] with a ball); every node's output by
its operation's own interval rule (outward rounded, so sound in floating point). A Linear node that reads
only the input gets the first-layer rules of :mod:`nnblocks.bounds.interval` as well (dual norm of the ball,
the L1 knapsack and the L2 Lagrangian dual: the exact range over box ∩ ball), intersected with its interval;
with an Linf ball the box ∩ ball is a box, so the interval over it is exact already.
Every Elementwise node also gets the :class:`LayerBounds` of its input (pre-activation bounds, the pieces it
can reach, the post-activation box), which is what the encodings of :mod:`nnblocks.blocks` read.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from nnblocks._results import AsDict
from nnblocks.bounds.domain import InputDomain
from nnblocks.bounds.interval import _first_layer_interval, layer_bounds
from nnblocks.bounds.results import LayerBounds
from nnblocks.graph import Elementwise, Graph, Linear

__all__ = ["GRAPH_METHODS", "GraphBounds", "graph_alpha_method", "graph_crown_method", "graph_interval_bounds",
           "graph_interval_method", "graph_pipeline_method"]

# the first-layer ball rules work on a dense matrix; above this many entries a Linear node on the input keeps
# only its interval over the ball's box (a memory guard: 3 x 32 x 32 inputs to 8 x 16 x 16 outputs is 6.3e6)
_DENSE_LIMIT = 3 * 10**7


@dataclass(frozen=True, eq=False)
class GraphBounds(AsDict):
    """Bounds of every tensor of a graph: tensor t lies in [lower[t], upper[t]] (flat, t = 0 the input).

    ``nodes[k]`` is the :class:`LayerBounds` of Elementwise node k: its input's bounds as pre-activation bounds,
    the first and last piece they reach and the post-activation box. ``method`` and ``time`` (s) as in
    :class:`~nnblocks.bounds.NetworkBounds`.
    """

    lower: tuple[np.ndarray, ...]
    upper: tuple[np.ndarray, ...]
    nodes: dict[int, LayerBounds]
    method: str
    time: float

    def __len__(self) -> int:
        return len(self.lower)

    def tensor(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) of tensor t."""
        return self.lower[t], self.upper[t]

    def summary(self) -> list[dict]:
        """Per Elementwise node: node, n, stable, unstable, mean_width, max_width."""
        rows = []
        for k, B in self.nodes.items():
            w = B.width
            rows.append({"node": k, "n": B.n, "stable": B.n_stable, "unstable": B.n_unstable,
                         "mean_width": float(np.mean(w)) if w.size else 0.0,
                         "max_width": float(np.max(w)) if w.size else 0.0})
        return rows


def _ball_rule(op: Linear, domain: InputDomain) -> tuple[np.ndarray, np.ndarray] | None:
    """The first-layer range of a Linear node reading only the input, or None when the rule is not worth it."""
    if domain.center is None or domain.norm == "inf":
        return None  # box ∩ Linf ball is the box effective_box() gives: its interval is exact already
    W = op.weights[0]
    if W.shape[0] * W.shape[1] > _DENSE_LIMIT:
        return None
    dense = W.toarray() if sp.issparse(W) else np.asarray(W)
    return _first_layer_interval(dense, op.bias, domain)


def graph_interval_bounds(graph: Graph, domain: InputDomain) -> GraphBounds:
    """Interval bounds of every tensor of ``graph`` over ``domain`` (see the module docstring)."""
    start = _time.perf_counter()
    if domain.dim != graph.n_inputs:
        raise ValueError(f"input domain has dimension {domain.dim}, the graph expects {graph.n_inputs} inputs")
    lo0, hi0 = domain.effective_box()
    los, his = [np.asarray(lo0, dtype=np.float64)], [np.asarray(hi0, dtype=np.float64)]
    nodes: dict[int, LayerBounds] = {}
    for k, node in enumerate(graph.nodes):
        op = node.op
        ins_lo = [los[t][None, :] for t in node.inputs]
        ins_hi = [his[t][None, :] for t in node.inputs]
        lo, hi = (a[0] for a in op.interval(ins_lo, ins_hi))
        if isinstance(op, Linear) and node.inputs == (0,):
            ball = _ball_rule(op, domain)
            if ball is not None:
                lo, hi = np.maximum(lo, ball[0]), np.minimum(hi, ball[1])
                lo = np.minimum(lo, hi)
        if isinstance(op, Elementwise):
            nodes[k] = layer_bounds(los[node.inputs[0]], his[node.inputs[0]], op.activation)
        for a in (lo, hi):
            a.setflags(write=False)
        los.append(lo)
        his.append(hi)
    return GraphBounds(tuple(los), tuple(his), nodes, "interval", _time.perf_counter() - start)


def graph_interval_method(graph: Graph, domain: InputDomain, *, output_constraints: Any = None,
                          **lp_options: Any) -> GraphBounds:
    """``compute_bounds(graph, ..., method="interval")`` (the LP's options are ignored)."""
    if output_constraints is not None:
        raise ValueError("output_constraints are not available for a Graph (interval bounds only)")
    return graph_interval_bounds(graph, domain)


def _graph_bounds(graph: Graph, start: GraphBounds, tensors: list, method: str, t0: float) -> GraphBounds:
    """GraphBounds of the tensors (lo, hi) of box 0, each intersected with ``start`` (never wider)."""
    los, his = [], []
    for t, (lo, hi) in enumerate(tensors):
        lo = np.maximum(lo[0], start.lower[t])
        hi = np.maximum(lo, np.minimum(hi[0], start.upper[t]))
        for a in (lo, hi):
            a.setflags(write=False)
        los.append(lo)
        his.append(hi)
    nodes = {k: layer_bounds(los[node.inputs[0]], his[node.inputs[0]], node.op.activation)
             for k, node in enumerate(graph.nodes) if isinstance(node.op, Elementwise)}
    return GraphBounds(tuple(los), tuple(his), nodes, method, _time.perf_counter() - t0)


def _ball_domain(graph: Graph, domain: InputDomain, start: GraphBounds):
    from nnblocks.bounds.crown import BallDomain

    lo, hi = start.lower[0][None, :], start.upper[0][None, :]
    if domain.center is None:
        return BallDomain(lo, hi)
    return BallDomain(lo, hi, domain.center.reshape(1, -1), domain.norm, float(domain.radius))


def graph_crown_method(graph: Graph, domain: InputDomain, *, output_constraints: Any = None,
                       **_: Any) -> GraphBounds:
    """``compute_bounds(graph, ..., method="crown")``: CROWN bounds of every tensor inside the interval bounds."""
    from nnblocks.bounds.crown import crown

    t0 = _time.perf_counter()
    if output_constraints is not None:
        raise ValueError("output_constraints are not available for a Graph")
    start = graph_interval_bounds(graph, domain)
    res = crown(graph, _ball_domain(graph, domain, start))
    return _graph_bounds(graph, start, res.tensors, "crown", t0)


def graph_alpha_method(graph: Graph, domain: InputDomain, *, output_constraints: Any = None,
                       time_limit: float | None = None, alpha_iterations: int = 20, **_: Any) -> GraphBounds:
    """``compute_bounds(graph, ..., method="alpha-crown")``: alpha-CROWN bounds inside CROWN's and the interval's."""
    from nnblocks.bounds.alpha import alpha_crown

    t0 = _time.perf_counter()
    if output_constraints is not None:
        raise ValueError("output_constraints are not available for a Graph")
    start = graph_interval_bounds(graph, domain)
    res = alpha_crown(graph, _ball_domain(graph, domain, start), iterations=alpha_iterations, time_limit=time_limit)
    return _graph_bounds(graph, start, res.tensors, "alpha-crown", t0)


def graph_pipeline_method(graph: Graph, domain: InputDomain, *, output_constraints: Any = None,
                          time_limit: float | None = None, **_: Any) -> GraphBounds:
    """``compute_bounds(graph, ..., method="pipeline")``: interval, then CROWN, then alpha-CROWN (each inside the
    previous; LP tightening takes a Network), alpha-CROWN within ``time_limit``."""
    t0 = _time.perf_counter()
    res = graph_alpha_method(graph, domain, output_constraints=output_constraints, time_limit=time_limit)
    return GraphBounds(res.lower, res.upper, res.nodes, "pipeline", _time.perf_counter() - t0)


GRAPH_METHODS = {"interval": graph_interval_method, "crown": graph_crown_method, "alpha-crown": graph_alpha_method,
                 "pipeline": graph_pipeline_method}
"""The bounding methods of a Graph by name (called like the entries of ``compute.METHODS``)."""
