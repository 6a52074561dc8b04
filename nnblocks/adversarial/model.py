r"""The extensive-form (AR)FJ model: the problem (:class:`FJProblem`) and its Pyomo model (:func:`build_model`).

FJ model (Fischetti & Jo; Rambau & Richter, Section 2): for a network N, a correctly classified input
:math:`\bar x` and a target class t,

.. math::

    \min_x \|x - \bar x\|  \quad\text{s.t.}\quad \bar l \le x \le \bar u,\quad
    x^K_t \ge (1 + \gamma)\, x^K_j \;\; \forall j \ne t,

with the ReLU propagation of N encoded by a :class:`~nnblocks.blocks.NetworkBlock` (x, s, z per neuron).
ARFJ, the extensive form of (4.1) over a finite set of networks Z: one shared input x and distance d,
and one network block with its own recourse variables (x, s, z)(xi) per network xi in Z.

Two configurations:

- ``config="paper"``: the model as printed: per-coordinate auxiliaries d_j >= |x_j - x̄_j|, every layer
  (the output ReLU included) in big-M form with interval bounds over the input box, SCIP with its defaults.
- ``config="default"``: the same optimum, found faster:

  1. a primal heuristic (local search over activation regions, each a linear program,
     :mod:`nnblocks.adversarial.heuristic`) gives a verified example and so an upper bound d_ub on the
     optimal distance;
  2. the input is then known to lie in the L1 ball of radius d_ub around x̄: neuron bounds are computed
     over box ∩ ball (optionally LP-tightened over the whole FJ region, margin included), and the
     objective gets the cutoff sum(d) <= d_ub;
  3. the L1 distance is written with the split x = x̄ + p - q, p, q >= 0 (no 2 n_0 rows |x - x̄| <= d);
  4. a ReLU on the output layer is not encoded: with x^K = max(0, a^K), the ratio margin with
     x^K_t >= mu > 0 is equivalent to a^K_t >= (1 + gamma) a^K_j, a^K_t >= mu (and the difference margin to
     a^K_t >= a^K_j + gamma, a^K_t >= gamma), so the output layer needs no binaries;
  5. SCIP runs without cutting-plane separation (dense first-layer rows make separation costly and it
     did not reduce the tree on these models) and, given the cutoff, without primal heuristics (the
     tuning switches ``no_separation`` and ``no_heuristics`` of :func:`nnblocks.solve.tuning`);
  6. the solve stops at a relative gap of ``mip_gap`` (default 1e-4, Gurobi's default; the paper
     configuration uses SCIP's default 0). ``bound`` and ``gap`` are reported either way;
  7. ARFJ is solved by scenario generation (see :func:`~nnblocks.adversarial.arfj`): networks enter the model
     only while the current example fails on them, every round's optimum bounds the next one from below.

Measured on the shipped 784-8-8-8-10 network (``benchmarks/fashion_table3.py``): items 2 and 5 gave the
largest gains for FJ, item 7 (with the lower bounds) for ARFJ; LP-based bound tightening over the FJ
region (``bounds="lp"``) cut the tree but cost more than it saved, HiGHS was slower than SCIP.

A :class:`~nnblocks.graph.Graph` (convolutions, pooling, residual connections) gets the same model and steps
(:func:`build_model` dispatches): the heuristic of :func:`~nnblocks.adversarial.heuristic.graph_incumbent`
(a projected gradient start on the float64 graph, the closest point on its segment to x̄, the LP of its
activation region and of neighbouring regions), bounds of every tensor by CROWN ∩ interval over box ∩ the L1
ball of the heuristic's radius (CROWN cost about 0.02 s on the shipped CNN and left 6 instead of 15 of the
dense layer's 16 ReLUs unstable), an output ReLU not encoded, and a window max that reads a nondecreasing
activation encoded before it (:func:`pool_first`, the same function: the activation acts on the pooled
tensor, 144 instead of 576 ReLUs on the shipped CNN). Every example is checked on the graphs as given.
Measured on the shipped CNN (``models/cnn``): the MILP has several hundred binaries (mostly the window
maxima) and SCIP does not close the gap within a minute; the heuristic's verified example is then returned
with status TIME_LIMIT and the solver's lower bound.

The ratio margin (as in the paper) is used when the outputs are provably non-negative (a ReLU, ReLU6, ...
output layer), the difference margin x_t >= x_j + gamma otherwise. Both configurations require the
target output to be at least ``min_output`` > 0: with all outputs 0 the ratio margin holds trivially
although no class wins.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC
from pyomo.core.expr.numeric_expr import LinearExpression

from nnblocks import _validate
from nnblocks._pyomo import add_constraints, bounds_dict
from nnblocks._results import AsDict
from nnblocks.activations import Identity, ReLU
from nnblocks.adversarial import heuristic
from nnblocks.adversarial.heuristic import (
    HEURISTIC_TIME,
    Incumbent,
    graph_output_activation,
    logit_graph,
    logit_network,
    output_floor,
)
from nnblocks.blocks import NetworkBlock
from nnblocks.blocks.margin import TargetMargin
from nnblocks.blocks.norms import NormBall
from nnblocks.bounds import InputDomain, NetworkBounds, compute_bounds, layer_bounds
from nnblocks.bounds.crown import crown, domain_of
from nnblocks.bounds.graph import GraphBounds
from nnblocks.graph import Elementwise, Graph, Node, WindowMax
from nnblocks.network import Network

__all__ = ["BOUNDS", "CONFIGS", "FJProblem", "ModelRecord", "arfj_model", "build_model", "fj_model"]

CONFIGS = ("default", "paper")
BOUNDS = ("auto", "interval", "ball", "lp")
"""The bound methods of the model's big-M constants (see ``bounds`` of :func:`~nnblocks.adversarial.fj`)."""
_RELU = ReLU()


# ---------------------------------------------------------------------------------------------------
# the problem, validated once
# ---------------------------------------------------------------------------------------------------
def _check_networks(networks: Any) -> tuple[Network, ...] | tuple[Graph, ...]:
    """One network or a non-empty sequence of networks with the input and output sizes of the first (as Graphs
    when one of them is a Graph)."""
    networks = (networks,) if isinstance(networks, Network | Graph) else tuple(networks)
    if not networks:
        raise ValueError("need at least one network")
    wrong = [i for i, net in enumerate(networks) if not isinstance(net, Network | Graph)]
    if wrong:
        raise TypeError(f"networks[{wrong[0]}] must be an nnblocks.Network or an nnblocks.graph.Graph, got "
                        f"{type(networks[wrong[0]]).__name__}")
    if any(isinstance(net, Graph) for net in networks):
        networks = tuple(net if isinstance(net, Graph) else Graph.from_network(net) for net in networks)
    n0, nK = networks[0].n_inputs, networks[0].n_outputs
    sizes = [(net.n_inputs, net.n_outputs) for net in networks]
    i = next((i for i, size in enumerate(sizes) if size != (n0, nK)), None)
    if i is not None:
        raise ValueError(f"networks[{i}] maps {sizes[i][0]} -> {sizes[i][1]} inputs/outputs, networks[0] {n0} -> {nK}")
    return networks


def _check_domain(domain: Any, n0: int) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) as arrays of n0 entries from scalars or arrays of n0 entries."""
    try:
        if isinstance(domain, str | bytes):
            raise TypeError
        lower, upper = domain
    except (TypeError, ValueError):
        size = f" of {len(domain)} items" if isinstance(domain, list | tuple) else ""
        raise ValueError(f"domain must be a pair (lower, upper), got a {type(domain).__name__}{size}") from None
    out = []
    for name, v in (("lower", lower), ("upper", upper)):
        try:
            a = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"domain {name} bound must be a number or an array of numbers, got {v!r}") from None
        if a.size == 1:  # a scalar, also as a 1-element array: the same bound for every input
            a = np.full(n0, float(a.reshape(-1)[0]))
        elif a.size == n0:
            a = a.reshape(-1).copy()
        else:
            raise ValueError(f"domain {name} bound has {a.size} entries but the network has {n0} inputs "
                             f"(give a scalar or one value per input)")
        out.append(a)
    lower, upper = out
    if np.any(np.isnan(lower)) or np.any(np.isnan(upper)) or np.any(lower > upper):
        raise ValueError("domain must be (lower, upper) with lower <= upper and no NaN")
    return lower, upper


def _bounds_violation(net: Network | Graph, nb: NetworkBounds | GraphBounds, x: np.ndarray) -> str | None:
    """The first neuron whose pre-activation at x lies outside ``nb`` (up to rounding), described; else None
    (for a graph: the first element of a tensor)."""
    if isinstance(net, Graph):
        for t, (v, lo, hi) in enumerate(zip(net.values(x), nb.lower, nb.upper)):
            v = v[0]
            tol = 1e-6 * np.maximum(1.0, np.abs(v))
            out = np.flatnonzero((v < lo - tol) | (v > hi + tol))
            if out.size:
                j = int(out[0])
                return f"tensor {t}, element {j}: {v[j]:.6g} not in [{lo[j]:.6g}, {hi[j]:.6g}]"
        return None
    for k, (a, lb) in enumerate(zip(net.pre_activations(x), nb.layers), start=1):
        tol = 1e-6 * np.maximum(1.0, np.abs(a))
        out = np.flatnonzero((a < lb.lower - tol) | (a > lb.upper + tol))
        if out.size:
            j = int(out[0])
            return f"layer {k}, neuron {j}: {a[j]:.6g} not in [{lb.lower[j]:.6g}, {lb.upper[j]:.6g}]"
    return None


def _check_bounds(networks: Sequence[Network], bounds: Any, x_bar: np.ndarray) -> str | tuple[NetworkBounds, ...]:
    """``bounds`` as a method name, or as NetworkBounds (one per network) that match the networks' layer sizes and
    contain their pre-activations at x_bar (bounds valid over the input domain always do; bounds restricted by
    output constraints are not checked at x_bar)."""
    if isinstance(bounds, str):
        if bounds not in BOUNDS:
            raise ValueError(f"unknown bounds {bounds!r}: use one of {BOUNDS} or a list of NetworkBounds "
                             f"(one per network)")
        return bounds
    if isinstance(bounds, NetworkBounds | GraphBounds):
        bounds = [bounds]
    if not isinstance(bounds, list | tuple):
        raise ValueError(f"bounds must be one of {BOUNDS} or a list of NetworkBounds (one per network), "
                         f"got {type(bounds).__name__}")
    if isinstance(networks[0], Graph):
        return _check_graph_bounds(networks, tuple(bounds), x_bar)
    if len(bounds) != len(networks):
        raise ValueError(f"bounds has {len(bounds)} entries for {len(networks)} networks: give one NetworkBounds "
                         f"per network")
    for i, (net, nb) in enumerate(zip(networks, bounds)):
        if not isinstance(nb, NetworkBounds):
            raise TypeError(f"bounds[{i}] must be a NetworkBounds, got {type(nb).__name__}")
        sizes = tuple(layer.n_out for layer in net.layers)
        if len(nb.layers) != len(sizes) or any(np.shape(lb.lower) != (n,) or np.shape(lb.upper) != (n,)
                                               for lb, n in zip(nb.layers, sizes)):
            given = tuple(int(np.size(lb.lower)) for lb in nb.layers)
            raise ValueError(f"bounds[{i}] have layer sizes {given} but network {i} has layer sizes {sizes}")
        # bounds restricted by output constraints (e.g. the margin) may rightly exclude x_bar
        problem = None if nb.output_constrained else _bounds_violation(net, nb, x_bar)
        if problem is not None:
            raise ValueError(f"bounds[{i}] do not contain the pre-activations of network {i} at x_bar ({problem}): "
                             f"give bounds valid over the input domain, e.g. compute_bounds(network, domain)")
    return tuple(bounds)


def _check_graph_bounds(graphs: Sequence[Graph], bounds: tuple, x_bar: np.ndarray) -> tuple[GraphBounds, ...]:
    """Given GraphBounds: one per graph, of its tensor sizes, containing every tensor at x_bar."""
    if len(bounds) != len(graphs):
        raise ValueError(f"bounds has {len(bounds)} entries for {len(graphs)} networks: give one GraphBounds "
                         f"per network")
    for i, (g, gb) in enumerate(zip(graphs, bounds)):
        if not isinstance(gb, GraphBounds):
            raise TypeError(f"bounds[{i}] must be a GraphBounds for a Graph, got {type(gb).__name__}")
        given = tuple(int(np.size(lo)) for lo in gb.lower)
        if given != tuple(g.sizes) or tuple(int(np.size(hi)) for hi in gb.upper) != given:
            raise ValueError(f"bounds[{i}] have tensor sizes {given} but network {i} has tensor sizes {g.sizes}")
        problem = _bounds_violation(g, gb, x_bar)
        if problem is not None:
            raise ValueError(f"bounds[{i}] do not contain the tensors of network {i} at x_bar ({problem}): "
                             f"give bounds valid over the input domain, e.g. compute_bounds(graph, domain)")
    return bounds


def _output_activation(net: Network | Graph):
    return graph_output_activation(net) if isinstance(net, Graph) else net.layers[-1].activation


def _margin_kind(networks: Sequence[Network] | Sequence[Graph], margin: str | None) -> str:
    nonneg = all(float(_output_activation(net).image_bounds(np.array([-np.inf]), np.array([np.inf]))[0][0]) >= 0
                 for net in networks)
    if margin is None or margin == "auto":
        return "ratio" if nonneg else "difference"
    if margin not in ("ratio", "difference"):
        raise ValueError(f"margin must be 'auto', 'ratio' or 'difference', got {margin!r}")
    if margin == "ratio" and not nonneg:
        raise ValueError("the ratio margin needs non-negative outputs (e.g. a ReLU output layer); use 'difference'")
    return margin


@dataclass(frozen=True, eq=False)
class FJProblem:
    """An (AR)FJ problem over the networks Z, checked when it is created.

    The fields are given as the parameters of :func:`~nnblocks.adversarial.fj` (see there) and stored checked:
    ``networks`` as a tuple (one network or a sequence), ``x_bar`` as n_0 floats, ``norm`` as 1, 2 or "inf",
    ``domain`` as a pair of arrays (lower, upper), ``bounds`` as a method name of ``BOUNDS`` or a tuple of
    NetworkBounds (one per network), ``margin`` as the margin kind ("ratio" or "difference"; "auto" resolved
    over all networks) and ``heuristic`` as a bool (None: on in the default configuration). Bad input raises one
    ValueError or TypeError naming the argument.
    """

    networks: tuple[Network, ...]
    x_bar: np.ndarray
    target: int
    gamma: float = 0.2
    norm: int | str = 1
    domain: tuple[np.ndarray, np.ndarray] = (0.0, 1.0)
    max_distance: float | None = None
    config: str = "default"
    bounds: str | tuple[NetworkBounds, ...] = "auto"
    margin: str = "auto"
    min_output: float = 1e-3
    heuristic: bool | None = None

    def __post_init__(self) -> None:
        networks = _check_networks(self.networks)
        n0, nK = networks[0].n_inputs, networks[0].n_outputs
        x_bar = np.asarray(self.x_bar, dtype=np.float64).reshape(-1)
        if x_bar.size != n0:
            raise ValueError(f"x_bar has {x_bar.size} entries but the network has {n0} inputs")
        if not np.all(np.isfinite(x_bar)):
            raise ValueError("x_bar contains NaN or infinite entries")
        target = self.target
        if isinstance(target, bool) or not isinstance(target, int | np.integer) or not 0 <= target < nK:
            raise ValueError(f"target must be a class index in 0..{nK - 1}, got {target!r}")
        gamma = float(self.gamma)
        if not (math.isfinite(gamma) and gamma >= 0):
            raise ValueError(f"gamma must be finite and >= 0, got {gamma}")
        lower, upper = _check_domain(self.domain, n0)
        if np.any(x_bar < lower - 1e-12) or np.any(x_bar > upper + 1e-12):
            raise ValueError("x_bar lies outside the input domain")
        max_distance = self.max_distance
        if max_distance is not None and not (math.isfinite(max_distance) and max_distance >= 0):
            raise ValueError(f"max_distance must be finite and >= 0, got {max_distance}")
        if self.config not in CONFIGS:
            raise ValueError(f"unknown config {self.config!r}: choose one of {CONFIGS}")
        if not self.min_output > 0:
            raise ValueError(f"min_output must be > 0, got {self.min_output}")
        checked = dict(
            networks=networks, x_bar=x_bar, target=int(target), gamma=gamma, domain=(lower, upper),
            norm=_validate.norm(self.norm), margin=_margin_kind(networks, self.margin),
            bounds=_check_bounds(networks, self.bounds, x_bar),
            heuristic=self.config != "paper" if self.heuristic is None else bool(self.heuristic),
        )
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @property
    def lower(self) -> np.ndarray:
        """Lower bounds l̄ of the input box."""
        return self.domain[0]

    @property
    def upper(self) -> np.ndarray:
        """Upper bounds ū of the input box."""
        return self.domain[1]

    def subset(self, indices: Sequence[int]) -> FJProblem:
        """The same problem over the networks ``indices`` (with their bounds), without checking it again."""
        sub = copy.copy(self)
        object.__setattr__(sub, "networks", tuple(self.networks[i] for i in indices))
        if not isinstance(self.bounds, str):
            object.__setattr__(sub, "bounds", tuple(self.bounds[i] for i in indices))
        return sub


# ---------------------------------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ModelRecord(AsDict, exclude=("polish_networks",)):
    """What :func:`build_model` built besides the model.

    Attributes
    ----------
    incumbent : Incumbent or None
        The primal heuristic's verified example (on the model's networks), when it ran and found one.
    cutoff : bool
        The model has the row ``cutoff``: distance <= the incumbent's distance (up to 1e-7).
    tunings : tuple of str
        Tuning switches of :func:`nnblocks.solve.tuning` the configuration asks the solver for.
    network_bounds : tuple of NetworkBounds
        The bounds of each network block (of the logit network when the output ReLU is not encoded).
    logits : bool
        The output ReLU is not encoded: the margin holds on a^K (item 4 of the module docstring).
    polish_networks : tuple of Network or None
        The networks (logit networks for ReLU outputs) on whose activation regions an example that misses the
        margin within the solver's tolerances is re-solved exactly; None where that is not possible.
    polish_floor : float or None
        The floor on a^K_t of that polishing LP (None for identity outputs).
    preprocess_time : float
        Seconds of the heuristic, the bounds and the model building.
    """

    incumbent: Incumbent | None
    cutoff: bool
    tunings: tuple[str, ...]
    network_bounds: tuple[NetworkBounds, ...]
    logits: bool
    polish_networks: tuple[Network, ...] | None
    polish_floor: float | None
    preprocess_time: float


def _model_bounds(nb: NetworkBounds, net: Network) -> NetworkBounds:
    """``nb`` for ``net`` whose last activation may differ (the logit network): the pre-activation bounds of every
    layer stay, the last layer's post-activation bounds and pieces follow ``net``'s output activation."""
    last = nb.layers[-1]
    return replace(nb, layers=(*nb.layers[:-1], layer_bounds(last.lower, last.upper, net.layers[-1].activation)))


def _margin_output_rows(nK: int, target: int, gamma: float, kind: str, min_output: float):
    """(A, b) with A a^K <= b: the default configuration's margin on the last pre-activation."""
    M, r = heuristic.margin_matrix(nK, target, gamma, kind)
    e = np.zeros((1, nK))
    e[0, target] = 1.0
    return np.vstack([-M, -e]), np.concatenate([-r, [-output_floor(kind, gamma, min_output)]])


def _bounds_for(net, lower, upper, x_bar, radius, method, out_rows) -> NetworkBounds:
    if radius is None:
        dom = InputDomain.box(lower, upper)
    else:
        dom = InputDomain(lower, upper, center=x_bar, norm=1, radius=float(radius))
    if method == "lp":
        return compute_bounds(net, dom, method="lp", output_constraints=out_rows, passes=2)
    return compute_bounds(net, dom, method="interval")


def _tunings(cutoff: bool) -> tuple[str, ...]:
    """Tuning switches of the default configuration (see the module docstring, item 5)."""
    return ("no_separation", "no_heuristics") if cutoff else ("no_separation",)


def _network_bounds(p: FJProblem, model_nets, inc: Incumbent | None, drop_output_relu: bool, out_rows):
    """The bounds of each model network: by the problem's method (over the box, or box ∩ the L1 ball of the
    heuristic's or ``max_distance``'s radius), or the given ones, checked at the heuristic's example."""
    bounds = p.bounds
    radius = None
    if p.norm == 1:
        cands = [r for r in (p.max_distance, None if inc is None else inc.distance) if r is not None]
        radius = min(cands) if cands else None
    if bounds == "auto":
        bounds = "interval" if p.config == "paper" else ("ball" if radius is not None else "interval")
    if isinstance(bounds, str):
        if bounds == "interval":
            return tuple(compute_bounds(n, InputDomain.box(p.lower, p.upper), method="interval") for n in model_nets)
        if bounds == "lp" and out_rows is None:
            raise ValueError("bounds='lp' needs the default configuration on ReLU-output networks")
        method = "lp" if bounds == "lp" else "interval"
        return tuple(_bounds_for(n, p.lower, p.upper, p.x_bar, radius, method, out_rows) for n in model_nets)
    if inc is not None and (p.max_distance is None or inc.distance <= p.max_distance):
        # the heuristic's example is a feasible input: bounds that cut it off are not valid over the domain
        for i, (net, nb) in enumerate(zip(p.networks, bounds)):
            problem = _bounds_violation(net, nb, inc.x)
            if problem is not None:
                raise ValueError(f"bounds[{i}] exclude an input of the domain at distance {inc.distance:.6g} "
                                 f"from x_bar ({problem}): give bounds valid over the input domain, e.g. "
                                 f"compute_bounds(network, domain)")
    # the model's network may be the logit network (module docstring, item 4): same pre-activations
    return tuple(_model_bounds(nb, net) for nb, net in zip(bounds, model_nets)) if drop_output_relu else bounds


def _distance(m, p: FJProblem, split: bool) -> None:
    """``m.distance`` = ||x - x̄|| (as sum(p + q) with the split x = x̄ + p - q, item 3), with max_distance."""
    idx = range(p.x_bar.size)
    if split:
        # x = x̄ + p - q with p, q >= 0: ||x - x̄||_1 = sum(p + q) at any optimum
        m.p = pyo.Var(idx, bounds=bounds_dict(idx, np.zeros(len(idx)), p.upper - p.x_bar))
        m.q = pyo.Var(idx, bounds=bounds_dict(idx, np.zeros(len(idx)), p.x_bar - p.lower))
        add_constraints(m, "split", {j: m.x[j] - m.p[j] + m.q[j] == float(p.x_bar[j]) for j in idx})
        m.distance = pyo.Expression(expr=LinearExpression(
            constant=0.0, linear_coefs=[1.0] * (2 * len(idx)),
            linear_vars=[m.p[j] for j in idx] + [m.q[j] for j in idx]))
        if p.max_distance is not None:
            m.max_distance = pyo.Constraint(expr=m.distance <= float(p.max_distance))
    else:
        m.ball = NormBall(m.x, center=p.x_bar, norm=p.norm, radius=p.max_distance)
        m.distance = pyo.Expression(expr=m.ball.distance)


def _margins(m, p: FJProblem, nbs, out_rows) -> None:
    """``m.margin[i]``: the target margin of network i, on a^K (``out_rows``) or on the encoded outputs."""
    m.margin = pyo.Block(range(len(p.networks)))
    for i in range(len(p.networks)):
        outs = m.nn[i].outputs
        blk = m.margin[i]
        if out_rows is not None:
            A, b = out_rows
            rows = range(A.shape[0])
            add_constraints(blk, "rows", {
                r: sum(float(A[r, j]) * outs[j] for j in np.flatnonzero(A[r])) <= float(b[r]) for r in rows})
        else:
            nb = nbs[i]
            lowers = nb.lower[m.nn[i].network.output] if isinstance(nb, GraphBounds) else nb.layers[-1].post_lower
            blk.target = TargetMargin(outs, target=p.target, gamma=p.gamma, kind=p.margin, output_bounds=lowers)
            if p.margin == "ratio":
                blk.floor = pyo.Constraint(expr=outs[p.target] >= float(p.min_output))


def _assemble(p: FJProblem, nets, nbs, out_rows, inc, paper: bool) -> tuple[pyo.ConcreteModel, bool]:
    """The (AR)FJ model on x: the distance to x_bar, one big-M NetworkBlock per network or graph with its
    bounds, the margins and, when the heuristic found an example, the cutoff distance <= its distance.
    Returns the model and whether the cutoff was added."""
    m = pyo.ConcreteModel(name="ARFJ" if len(p.networks) > 1 else "FJ")
    idx = range(p.x_bar.size)
    with PauseGC():
        m.x = pyo.Var(idx, bounds=bounds_dict(idx, p.lower, p.upper))
        _distance(m, p, split=p.norm == 1 and not paper)
        m.nn = NetworkBlock(range(len(p.networks)))
        for i, (net, nb) in enumerate(zip(nets, nbs)):
            m.nn[i].build(net, inputs=[m.x[j] for j in idx], formulation="bigm", bounds=nb)
        _margins(m, p, nbs, out_rows)
        cutoff = False
        if inc is not None and not paper and (p.max_distance is None or inc.distance <= p.max_distance):
            # the heuristic's example stays feasible: the cutoff only removes worse solutions
            m.cutoff = pyo.Constraint(expr=m.distance <= inc.distance * (1 + 1e-7) + 1e-7)
            cutoff = True
        m.obj = pyo.Objective(expr=m.distance, sense=pyo.minimize)
    return m, cutoff


def build_model(problem: FJProblem, starts: Sequence[np.ndarray] | None = None,
                heuristic_time: float = HEURISTIC_TIME) -> tuple[pyo.ConcreteModel, ModelRecord]:
    """The (AR)FJ model of ``problem`` as an unsolved Pyomo ``ConcreteModel``, and the record of what was built.

    Components: ``x`` (input), ``distance`` (expression), ``nn[i]`` (one :class:`NetworkBlock` per network),
    ``margin[i]`` (its target margin), ``obj``; in the default configuration with the L1 norm also ``p``, ``q``,
    ``split`` and, when the heuristic found an example, ``cutoff``; with ``max_distance`` ``max_distance`` or
    ``ball``. ``starts`` are further points for the heuristic (e.g. the example of an earlier round of scenario
    generation), ``heuristic_time`` its budget in seconds.
    """
    if isinstance(problem.networks[0], Graph):
        return _build_graph_model(problem, starts, heuristic_time)
    start = time.perf_counter()
    p = problem
    paper = p.config == "paper"
    relu_out = all(net.layers[-1].activation == _RELU for net in p.networks)
    identity_out = all(net.layers[-1].activation == Identity() for net in p.networks)
    all_relu = all(layer.activation == _RELU for net in p.networks for layer in net.layers[:-1])
    drop_output_relu = not paper and relu_out
    model_nets = tuple(logit_network(n) for n in p.networks) if drop_output_relu else p.networks

    inc = None
    if p.heuristic and p.norm == 1 and all_relu and (drop_output_relu or identity_out):
        # on a^K: ReLU outputs need a^K_t >= floor (see item 4 of the module docstring), identity outputs not
        floor = output_floor(p.margin, p.gamma, p.min_output) if drop_output_relu else None
        inc = heuristic.incumbent(list(model_nets), p.x_bar, p.lower, p.upper, p.target, p.gamma, p.margin, floor,
                                  starts=None if starts is None else list(starts), time_limit=heuristic_time)
    out_rows = (_margin_output_rows(p.networks[0].n_outputs, p.target, p.gamma, p.margin, p.min_output)
                if drop_output_relu else None)
    nbs = _network_bounds(p, model_nets, inc, drop_output_relu, out_rows)

    m, cutoff = _assemble(p, model_nets, nbs, out_rows, inc, paper)
    polish_networks, polish_floor = None, None
    if p.norm == 1 and all_relu and (relu_out or identity_out):
        polish_floor = output_floor(p.margin, p.gamma, p.min_output) if relu_out else None
        polish_networks = tuple(logit_network(n) for n in p.networks) if relu_out else p.networks
    record = ModelRecord(
        incumbent=inc, cutoff=cutoff, tunings=() if paper else _tunings(cutoff), network_bounds=tuple(nbs),
        logits=drop_output_relu, polish_networks=polish_networks, polish_floor=polish_floor,
        preprocess_time=time.perf_counter() - start,
    )
    return m, record


def _prefix_bounds(gb: GraphBounds, n_nodes: int) -> GraphBounds:
    """The bounds of the first ``n_nodes`` nodes' tensors (those of the logit graph of a ReLU-output graph)."""
    return replace(gb, lower=gb.lower[:n_nodes + 1], upper=gb.upper[:n_nodes + 1],
                   nodes={k: v for k, v in gb.nodes.items() if k < n_nodes})


def pool_first(graph: Graph) -> Graph:
    """The same function with every window max that reads a nondecreasing activation (read by nothing else)
    moved before it: max_i sigma(z_i) = sigma(max_i z_i) for nondecreasing sigma, so the activation acts on the
    pooled tensor (a quarter of the elements after a 2 x 2 pool) and the windows on the affine z."""
    nodes = list(graph.nodes)
    cons = graph.consumers()
    for k, node in enumerate(nodes):
        s = node.inputs[0]
        if not (isinstance(node.op, WindowMax) and node.op.n_inputs == 1 and s == k and s != graph.output
                and cons[s] == [k]):
            continue
        act_node = nodes[k - 1]
        if not isinstance(act_node.op, Elementwise) or np.any(act_node.op.activation.slopes < 0):
            continue
        nodes[k - 1] = Node(WindowMax(node.op.windows, [act_node.op.out_size]), act_node.inputs, node.shape,
                            node.name)
        nodes[k] = Node(Elementwise(act_node.op.activation, node.size), (k,), node.shape, act_node.name)
    return Graph(graph.input_shape, nodes, graph.output)


def _crown_bounds(graph: Graph, dom: InputDomain) -> GraphBounds:
    """CROWN bounds of every tensor intersected with the interval bounds (both sound, so is the intersection)."""
    start = time.perf_counter()
    gi = compute_bounds(graph, dom, method="interval")
    tensors = crown(graph, domain_of(dom, graph.n_inputs)).tensors
    lower, upper = [], []
    for t, (lo_c, hi_c) in enumerate(tensors):
        lo, hi = np.maximum(gi.lower[t], lo_c[0]), np.minimum(gi.upper[t], hi_c[0])
        lower.append(np.minimum(lo, hi))
        upper.append(hi)
    nodes = {k: layer_bounds(lower[node.inputs[0]], upper[node.inputs[0]], node.op.activation)
             for k, node in enumerate(graph.nodes) if isinstance(node.op, Elementwise)}
    return GraphBounds(tuple(lower), tuple(upper), nodes, "crown", time.perf_counter() - start)


def _graph_network_bounds(p: FJProblem, graphs: Sequence[Graph], inc: Incumbent | None) -> tuple[GraphBounds, ...]:
    """:func:`_network_bounds` for graphs: interval bounds of every tensor over the box (``"interval"``), or CROWN
    bounds intersected with them over box ∩ the L1 ball of the heuristic's (or ``max_distance``'s) radius
    (``"ball"``); or the given GraphBounds, checked at the heuristic's example (and cut to the logit graphs)."""
    bounds = p.bounds
    radius = None
    if p.norm == 1:
        cands = [r for r in (p.max_distance, None if inc is None else inc.distance) if r is not None]
        radius = min(cands) if cands else None
    if bounds == "auto":
        bounds = "interval" if p.config == "paper" else ("ball" if radius is not None else "interval")
    if isinstance(bounds, str):
        if bounds == "lp":
            raise ValueError("bounds='lp' is not available for a Graph: use 'auto', 'interval', 'ball' or "
                             "GraphBounds (one per network)")
        if bounds == "interval":
            return tuple(compute_bounds(g, InputDomain.box(p.lower, p.upper), method="interval") for g in graphs)
        dom = (InputDomain.box(p.lower, p.upper) if radius is None
               else InputDomain(p.lower, p.upper, center=p.x_bar, norm=1, radius=float(radius)))
        return tuple(_crown_bounds(g, dom) for g in graphs)
    if inc is not None and (p.max_distance is None or inc.distance <= p.max_distance):
        for i, (g, gb) in enumerate(zip(p.networks, bounds)):
            problem = _bounds_violation(g, gb, inc.x)
            if problem is not None:
                raise ValueError(f"bounds[{i}] exclude an input of the domain at distance {inc.distance:.6g} "
                                 f"from x_bar ({problem}): give bounds valid over the input domain, e.g. "
                                 f"compute_bounds(graph, domain)")
    return tuple(gb if len(gb.lower) == len(g) + 1 else _prefix_bounds(gb, len(g)) for gb, g in zip(bounds, graphs))


def _build_graph_model(p: FJProblem, starts: Sequence[np.ndarray] | None,
                       heuristic_time: float) -> tuple[pyo.ConcreteModel, ModelRecord]:
    """:func:`build_model` for graphs: the same model and steps (the primal heuristic of
    :func:`~nnblocks.adversarial.heuristic.graph_incumbent`, bounds over box ∩ its L1 ball, the split distance,
    the output ReLU not encoded), every graph encoded by a :class:`NetworkBlock` with its GraphBounds."""
    start = time.perf_counter()
    paper = p.config == "paper"
    acts = [graph_output_activation(g) for g in p.networks]
    relu_out = all(a == _RELU for a in acts)
    identity_out = all(a == Identity() for a in acts)
    drop_output_relu = not paper and relu_out
    model_graphs = tuple(logit_graph(g) for g in p.networks) if drop_output_relu else p.networks

    inc = None
    if p.heuristic and p.norm == 1 and (drop_output_relu or identity_out):
        floor = output_floor(p.margin, p.gamma, p.min_output) if drop_output_relu else None
        inc = heuristic.graph_incumbent(list(model_graphs), p.x_bar, p.lower, p.upper, p.target, p.gamma, p.margin,
                                        floor, starts=None if starts is None else list(starts),
                                        time_limit=heuristic_time)
    out_rows = (_margin_output_rows(p.networks[0].n_outputs, p.target, p.gamma, p.margin, p.min_output)
                if drop_output_relu else None)
    if isinstance(p.bounds, str) and not paper:
        # the encoded graphs pool before their activations (the same function, fewer indicators); the
        # heuristic, the polishing LP and the check of the example keep the graphs as given
        model_graphs = tuple(pool_first(g) for g in model_graphs)
    gbs = _graph_network_bounds(p, model_graphs, inc)

    m, cutoff = _assemble(p, model_graphs, gbs, out_rows, inc, paper)
    polish_networks, polish_floor = None, None
    if p.norm == 1 and (relu_out or identity_out):
        polish_floor = output_floor(p.margin, p.gamma, p.min_output) if relu_out else None
        polish_networks = tuple(logit_graph(g) for g in p.networks) if relu_out else p.networks
    record = ModelRecord(
        incumbent=inc, cutoff=cutoff, tunings=() if paper else _tunings(cutoff), network_bounds=tuple(gbs),
        logits=drop_output_relu, polish_networks=polish_networks, polish_floor=polish_floor,
        preprocess_time=time.perf_counter() - start,
    )
    return m, record


def fj_model(
    network: Network | Graph,
    x_bar: Any,
    target: int,
    gamma: float = 0.2,
    norm: int | str = 1,
    domain: tuple[Any, Any] = (0.0, 1.0),
    max_distance: float | None = None,
    config: str = "default",
    bounds: Any = "auto",
    margin: str | None = "auto",
    min_output: float = 1e-3,
    heuristic: bool | None = None,
) -> pyo.ConcreteModel:
    """The FJ model as an unsolved Pyomo ``ConcreteModel`` (see :func:`~nnblocks.adversarial.fj` for the
    parameters and :func:`build_model` for its components; ``nn[0]`` and ``margin[0]`` for the one network)."""
    return arfj_model([network], x_bar, target, gamma, norm=norm, domain=domain, max_distance=max_distance,
                      config=config, bounds=bounds, margin=margin, min_output=min_output, heuristic=heuristic)


def arfj_model(
    networks: Sequence[Network] | Sequence[Graph],
    x_bar: Any,
    target: int,
    gamma: float = 0.2,
    norm: int | str = 1,
    domain: tuple[Any, Any] = (0.0, 1.0),
    max_distance: float | None = None,
    config: str = "default",
    bounds: Any = "auto",
    margin: str | None = "auto",
    min_output: float = 1e-3,
    heuristic: bool | None = None,
) -> pyo.ConcreteModel:
    """The extensive form of ARFJ (4.1) as an unsolved Pyomo model: ``nn[i]`` / ``margin[i]`` per network (see
    :func:`~nnblocks.adversarial.arfj` for the parameters and :func:`build_model` for its components)."""
    problem = FJProblem(networks, x_bar, target, gamma, norm=norm, domain=domain, max_distance=max_distance,
                        config=config, bounds=bounds, margin=margin, min_output=min_output, heuristic=heuristic)
    return build_model(problem)[0]
