"""compute_bounds: sound bounds on every pre-activation of a network over an input domain, by a named method.

For layer k the pre-activation is a^k = W^k h^{k-1} + b^k and the post-activation h^k = sigma^k(a^k)
(notation of :mod:`nnblocks.network`). Given an input domain X (a box [l, u], optionally intersected
with a norm ball B_p(c, r) = {x : ||x - c||_p <= r}), :func:`compute_bounds` returns for every layer
vectors L^k <= U^k with

    L^k <= a^k(x) <= U^k        for every x in X.

These bounds are the big-M constants of every mixed-integer encoding in :mod:`nnblocks.blocks`, so they
must be *sound* above all: every bound is widened by a floating-point error margin, and the LP bounds
are recomputed from the LP's dual solution. The methods are the entries of :data:`METHODS`:
``"interval"`` (interval arithmetic, :mod:`nnblocks.bounds.interval`) and ``"lp"`` (LP tightening of
the interval bounds, :mod:`nnblocks.bounds.lp`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nnblocks._validate import time_limit as check_time_limit
from nnblocks.bounds.alpha import alpha_method
from nnblocks.bounds.crown import crown_method
from nnblocks.bounds.domain import InputDomain, as_domain
from nnblocks.bounds.graph import GRAPH_METHODS, GraphBounds
from nnblocks.bounds.interval import interval_method
from nnblocks.bounds.lp import lp_method
from nnblocks.bounds.pipeline import Pipeline, pipeline_method
from nnblocks.bounds.results import NetworkBounds
from nnblocks.graph import Graph
from nnblocks.network import Network

__all__ = ["METHODS", "compute_bounds"]

METHODS: dict[str, Callable[..., NetworkBounds]] = {
    "interval": interval_method,
    "lp": lp_method,
    "crown": crown_method,
    "alpha-crown": alpha_method,
    "pipeline": pipeline_method,
}
"""The bounding methods by name. A method is called as ``method(network, domain, only_unstable=...,
time_limit=..., output_constraints=..., passes=...)`` with ``domain`` an :class:`InputDomain` of the
network's input size, and returns the :class:`NetworkBounds` with its own name as ``method``."""


def compute_bounds(
    network: Network | Graph,
    domain: InputDomain | tuple[Any, Any],
    method: str = "interval",
    only_unstable: bool = True,
    time_limit: float | None = None,
    output_constraints: Any = None,
    passes: int = 1,
) -> NetworkBounds | GraphBounds:
    """Sound lower and upper bounds of every pre-activation of ``network`` over ``domain``.

    Parameters
    ----------
    network:
        The network.
    domain:
        An :class:`InputDomain` or a ``(lower, upper)`` box (scalars are broadcast).
    method:
        a name in :data:`METHODS`: ``"interval"`` (:mod:`nnblocks.bounds.interval`) or ``"lp"``
        (:mod:`nnblocks.bounds.lp`).
    only_unstable:
        LP: tighten only the neurons the current bounds leave unstable (stable neurons keep their
        interval bounds, which still enter the relaxation of later layers). Layers with a one-piece
        activation (an identity output layer) are always tightened: their bounds feed margin constraints.
    time_limit:
        LP: wall-clock budget in seconds; neurons not reached keep their interval bounds
        (``complete=False``).
    output_constraints:
        LP: ``(A, b)`` or a list of such pairs, meaning A h^K <= b on the last layer's post-activation
        output h^K (A of shape (m, n_K)). The bounds then hold for every input of the domain whose
        output satisfies the constraints. With constraints every LP contains the relaxation of all
        K layers, so that the constraints tighten earlier layers too.
    passes:
        LP: how many times to sweep over the layers (later passes use the tightened bounds of all
        layers in the relaxation; only useful with ``output_constraints``, ignored without).

    Returns
    -------
    NetworkBounds
        ``layers[k - 1]`` holds the bounds of layer k; ``complete`` / ``infeasible`` as documented there.
        For a :class:`~nnblocks.graph.Graph`: a :class:`~nnblocks.bounds.graph.GraphBounds` (every tensor's
        bounds; the methods of ``graph.GRAPH_METHODS``).

    Raises
    ------
    ValueError
        For a domain of the wrong dimension, an unknown method, malformed output constraints,
        ``passes < 1`` or a non-positive time limit (and the :class:`InputDomain` errors).
    """
    if isinstance(network, Graph):
        if not isinstance(method, str) or method not in GRAPH_METHODS:
            names = " or ".join(repr(name) for name in GRAPH_METHODS)
            raise ValueError(f"unknown bounds method {method!r} for a Graph: use {names}")
        return GRAPH_METHODS[method](network, as_domain(domain, network.n_inputs),
                                     output_constraints=output_constraints, time_limit=check_time_limit(time_limit))
    if not isinstance(network, Network):
        raise TypeError(f"network must be an nnblocks.Network or nnblocks.graph.Graph, got {type(network).__name__}")
    dom = as_domain(domain, network.n_inputs)
    if isinstance(method, Pipeline):
        return method.run(network, dom, output_constraints, passes)
    if not isinstance(method, str) or method not in METHODS:
        names = " or ".join(repr(name) for name in METHODS)
        raise ValueError(f"unknown bounds method {method!r}: use {names}")
    return METHODS[method](network, dom, only_unstable=only_unstable, time_limit=time_limit,
                           output_constraints=output_constraints, passes=passes)
