"""Batched bounds on a specification C f(x) of a network's output over B input boxes, by a named method.

For boxes [l_b, u_b] (b = 1..B) and a specification matrix C (m x n_out; the identity when omitted),
:func:`output_bounds` returns arrays L, U of shape (B, m) with

    L_b <= C f(x) <= U_b        for every x in [l_b, u_b],

floating-point sound (outward rounding), together with the bounds of every pre-activation tensor per box
(the inputs of the graph's activation nodes, then the output), from which a branch-and-bound reads the
unstable ReLUs. The methods are the entries of :data:`OUTPUT_METHODS`.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnblocks._results import AsDict
from nnblocks.bounds.alpha import alpha_crown
from nnblocks.bounds.crown import BallDomain, crown
from nnblocks.graph import Elementwise, Graph, Linear
from nnblocks.network import Network

__all__ = ["OUTPUT_METHODS", "OutputBounds", "as_graph", "output_bounds", "tracked_tensors"]


@dataclass(frozen=True, eq=False)
class OutputBounds(AsDict):
    """Bounds lower <= C f(x) <= upper (each (B, m)) for every x in box b; ``layers[k]`` = (lo, hi), each
    (B, n_k), the bounds of the k-th pre-activation tensor (for a :class:`Network`: layer k + 1's a^{k+1}).

    ``infeasible[b]`` is True when the fixed ReLU phases of box b contradict its bounds (then lower = +inf
    and upper = -inf in that row: no input of the box has those phases). ``stats`` holds method details.
    """

    lower: np.ndarray
    upper: np.ndarray
    method: str
    time: float
    layers: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    infeasible: np.ndarray | None = None
    stats: dict = field(default_factory=dict)

    @property
    def width(self) -> np.ndarray:
        """upper - lower, (B, m)."""
        return self.upper - self.lower


def as_graph(network: Any) -> Graph:
    """A :class:`Graph` from a Network (its chain) or a Graph (itself)."""
    if isinstance(network, Graph):
        return network
    if isinstance(network, Network):
        return Graph.from_network(network)
    raise TypeError(f"network must be an nnblocks.Network or nnblocks.graph.Graph, got {type(network).__name__}")


def tracked_tensors(graph: Graph) -> list[int]:
    """The tensors reported in ``layers``: the inputs of the Elementwise nodes in node order, then the output."""
    out: list[int] = []
    for node in graph.nodes:
        if isinstance(node.op, Elementwise) and node.inputs[0] not in out:
            out.append(node.inputs[0])
    if graph.output not in out:
        out.append(graph.output)
    return out


def _boxes(graph: Graph, lower: Any, upper: Any) -> tuple[np.ndarray, np.ndarray]:
    lo = np.array(lower, dtype=np.float64)
    hi = np.array(upper, dtype=np.float64)
    n = graph.n_inputs
    lo = lo.reshape(1, -1) if lo.ndim == 1 else lo.reshape(lo.shape[0], -1) if lo.ndim else lo.reshape(1, 1)
    hi = hi.reshape(1, -1) if hi.ndim == 1 else hi.reshape(hi.shape[0], -1) if hi.ndim else hi.reshape(1, 1)
    if lo.shape[1] == 1 and n > 1:
        lo = np.repeat(lo, n, axis=1)
    if hi.shape[1] == 1 and n > 1:
        hi = np.repeat(hi, n, axis=1)
    if lo.shape != hi.shape:
        lo, hi = np.broadcast_arrays(lo, hi)
        lo, hi = lo.copy(), hi.copy()
    if lo.shape[1] != n:
        raise ValueError(f"lower and upper must have {n} entries per box (the network's inputs), got shape {lo.shape}")
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise ValueError("lower and upper must be finite (every box bounded on both sides)")
    if np.any(lo > hi):
        b, i = np.argwhere(lo > hi)[0]
        raise ValueError(f"empty box: lower[{b}, {i}] = {lo[b, i]:g} > upper[{b}, {i}] = {hi[b, i]:g}")
    return lo, hi


def spec_matrix(C: Any, n_out: int) -> np.ndarray | None:
    """C as a finite (m, n_out) float array, or None for the identity."""
    if C is None:
        return None
    C = np.atleast_2d(np.asarray(C, dtype=np.float64))
    if C.ndim != 2 or C.shape[1] != n_out:
        raise ValueError(f"C must have shape (m, {n_out}) (the network's outputs), got {C.shape}")
    if not np.all(np.isfinite(C)):
        raise ValueError("C contains NaN or infinite entries")
    return C


def _interval_output(graph: Graph, lo: np.ndarray, hi: np.ndarray, C: np.ndarray | None, **_: Any) -> dict:
    """The interval method: every operation's own interval rule, then C by outward-rounded interval arithmetic."""
    bounds = graph.interval_bounds(lo, hi)
    out_lo, out_hi = bounds[graph.output]
    if C is not None:
        out_lo, out_hi = Linear([C]).interval([out_lo], [out_hi])
    layers = [bounds[t] for t in tracked_tensors(graph)]
    return {"lower": out_lo, "upper": out_hi, "layers": layers}


def relu_phases(graph: Graph, relu_split: Any, B: int) -> np.ndarray | None:
    """relu_split as a (B, total) int array over the neurons of the Elementwise nodes (in node order)."""
    if relu_split is None:
        return None
    split = np.asarray(relu_split)
    total = sum(node.op.size for node in graph.nodes if isinstance(node.op, Elementwise))
    if split.ndim == 1:
        split = np.broadcast_to(split[None, :], (B, split.size))
    if split.shape != (B, total):
        raise ValueError(f"relu_split must have shape ({B}, {total}), got {split.shape}")
    if not np.all(np.isin(split, (-1, 0, 1))):
        raise ValueError("relu_split entries must be -1, 0 or +1")
    return split


def _crown_output(graph: Graph, lo: np.ndarray, hi: np.ndarray, C: np.ndarray | None, *,
                  relu_split: Any = None, **_: Any) -> dict:
    """The crown method (:mod:`nnblocks.bounds.crown`)."""
    res = crown(graph, BallDomain(lo, hi), C, relu_phases(graph, relu_split, lo.shape[0]), only_unstable=True)
    layers = [res.tensors[t] for t in tracked_tensors(graph)]
    return {"lower": res.lower, "upper": res.upper, "layers": layers, "infeasible": res.infeasible}


def _alpha_output(graph: Graph, lo: np.ndarray, hi: np.ndarray, C: np.ndarray | None, *, relu_split: Any = None,
                  alpha_iterations: int = 20, time_limit: float | None = None, **_: Any) -> dict:
    """The alpha-crown method (:mod:`nnblocks.bounds.alpha`)."""
    res = alpha_crown(graph, BallDomain(lo, hi), C, relu_phases(graph, relu_split, lo.shape[0]),
                      iterations=alpha_iterations, time_limit=time_limit, only_unstable=True)
    layers = [res.tensors[t] for t in tracked_tensors(graph)]
    return {"lower": res.lower, "upper": res.upper, "layers": layers, "infeasible": res.infeasible}


OUTPUT_METHODS: dict[str, Callable[..., dict]] = {"interval": _interval_output, "crown": _crown_output,
                                               "alpha-crown": _alpha_output}
"""The methods of :func:`output_bounds` by name: ``method(graph, lower, upper, C, **options)`` returns a dict
with ``lower``, ``upper`` (B, m), ``layers`` and optionally ``infeasible`` (B,) and ``stats``."""


def output_bounds(
    network: Network | Graph,
    lower: Any,
    upper: Any,
    C: Any = None,
    method: str = "crown",
    *,
    alpha_iterations: int = 20,
    time_limit: float | None = None,
    relu_split: Any = None,
) -> OutputBounds:
    """Sound bounds of C f(x) over each of B input boxes [lower_b, upper_b], vectorised over the boxes.

    Parameters
    ----------
    network:
        A :class:`Network` or a :class:`~nnblocks.graph.Graph`.
    lower, upper:
        (n_in,) or (B, n_in) finite arrays (a scalar is broadcast).
    C:
        (m, n_out) specification matrix, or None for the identity (bounds of f(x) itself).
    method:
        a name in :data:`OUTPUT_METHODS`: ``"interval"``, ``"crown"`` or ``"alpha-crown"``.
    alpha_iterations:
        alpha-crown: the number of projected-gradient steps on the lower slopes.
    time_limit:
        alpha-crown: a wall-clock budget for the slope optimisation (the crown bounds are kept when it ends).
    relu_split:
        (B, total) int array of fixed phases of the neurons of the two-piece activations (in node order):
        -1 pre-activation <= breakpoint (inactive), +1 >= breakpoint (active), 0 free. Not for "interval".

    Returns
    -------
    OutputBounds

    Raises
    ------
    ValueError
        For an unknown method, boxes of the wrong size, infinite or crossed box bounds, or a malformed C.
    """
    start = _time.perf_counter()
    graph = as_graph(network)
    if not isinstance(method, str) or method not in OUTPUT_METHODS:
        names = ", ".join(repr(name) for name in OUTPUT_METHODS)
        raise ValueError(f"unknown output_bounds method {method!r}: use one of {names}")
    lo, hi = _boxes(graph, lower, upper)
    Cm = spec_matrix(C, graph.n_outputs)
    options: dict[str, Any] = {}
    if method == "interval":
        if relu_split is not None:
            raise ValueError("relu_split needs method 'crown' or 'alpha-crown'")
    else:
        options = {"alpha_iterations": alpha_iterations, "time_limit": time_limit, "relu_split": relu_split}
    res = OUTPUT_METHODS[method](graph, lo, hi, Cm, **options)
    return OutputBounds(
        lower=res["lower"],
        upper=res["upper"],
        method=method,
        time=_time.perf_counter() - start,
        layers=list(res["layers"]),
        infeasible=res.get("infeasible"),
        stats=res.get("stats", {}),
    )
