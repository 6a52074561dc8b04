r"""Adversarial examples by mixed-integer programming: the FJ model and the adjustable robust FJ model (ARFJ).

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

  1. a primal heuristic (local search over activation regions, each a linear program) gives a verified
     example and so an upper bound d_ub on the optimal distance;
  2. the input is then known to lie in the L1 ball of radius d_ub around x̄: neuron bounds are computed
     over box ∩ ball (optionally LP-tightened over the whole FJ region, margin included), and the
     objective gets the cutoff sum(d) <= d_ub;
  3. the L1 distance is written with the split x = x̄ + p - q, p, q >= 0 (no 2 n_0 rows |x - x̄| <= d);
  4. a ReLU on the output layer is not encoded: with x^K = max(0, a^K), the ratio margin with
     x^K_t >= mu > 0 is equivalent to a^K_t >= (1 + gamma) a^K_j, a^K_t >= mu (and the difference margin to
     a^K_t >= a^K_j + gamma, a^K_t >= gamma), so the output layer needs no binaries;
  5. SCIP runs without cutting-plane separation (dense first-layer rows make separation costly and it
     did not reduce the tree on these models) and, given the cutoff, without primal heuristics;
  6. the solve stops at a relative gap of ``mip_gap`` (default 1e-4, Gurobi's default; the paper
     configuration uses SCIP's default 0). ``bound`` and ``gap`` are reported either way;
  7. ARFJ is solved by scenario generation (see :func:`arfj`): networks enter the model only while the
     current example fails on them, every round's optimum bounds the next one from below.

Measured on the shipped 784-8-8-8-10 network (``benchmarks/fashion_table3.py``): items 2 and 5 gave the
largest gains for FJ, item 7 (with the lower bounds) for ARFJ; LP-based bound tightening over the FJ
region (``bounds="lp"``) cut the tree but cost more than it saved, HiGHS was slower than SCIP.

The ratio margin (as in the paper) is used when the outputs are provably non-negative (a ReLU, ReLU6, ...
output layer), the difference margin x_t >= x_j + gamma otherwise. Both configurations require the
target output to be at least ``min_output`` > 0: with all outputs 0 the ratio margin holds trivially
although no class wins.

Every returned example is checked by a float64 forward pass of every network (``verified``; for gamma = 0 a
tie counts for the target); an example that fails the check is never reported as OPTIMAL, FEASIBLE or TIME_LIMIT.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC
from pyomo.core.expr.numeric_expr import LinearExpression

from nnblocks import _fj_search, _validate
from nnblocks._pyomo import add_constraints, bounds_dict
from nnblocks._results import to_jsonable
from nnblocks.activations import Identity, ReLU
from nnblocks.blocks import NetworkBlock
from nnblocks.blocks.margin import TargetMargin
from nnblocks.blocks.norms import NormBall
from nnblocks.bounds import InputDomain, NetworkBounds, _layer_bounds, compute_bounds
from nnblocks.network import Layer, Network
from nnblocks.solve import (
    SolveResult,
    SolveStatus,
    check_solver,
    default_solver,
    model_size,
    solve,
    tuning,
)

__all__ = ["CONFIGS", "AdversarialResult", "arfj", "arfj_model", "fj", "fj_model"]

CONFIGS = ("default", "paper")
_BOUNDS = ("auto", "interval", "ball", "lp")
_RELU = ReLU()
VERIFY_TOL = 1e-6
"""Absolute tolerance (scaled by max(1, |output|)) of the float64 margin check of ``verified``."""


@dataclass
class AdversarialResult:
    """Result of :func:`fj` / :func:`arfj`.

    Attributes
    ----------
    x_adv : ndarray or None
        The adversarial example (clipped to the input box), None when none was found or none exists.
    distance : float or None
        ||x_adv - x̄|| in the model's norm, recomputed in float64.
    status : SolveStatus
        OPTIMAL (proven, within ``mip_gap``), FEASIBLE (a verified example without a proof of optimality, e.g.
        the primal heuristic's when the solver's example failed the check), INFEASIBLE (no example within the
        domain / ``max_distance``), TIME_LIMIT (the time limit was hit; a verified example),
        TIME_LIMIT_NO_SOLUTION (the time limit was hit before any verified example), ERROR (the solver failed,
        or its example fails the float64 check even after polishing: ``x_adv`` is then that unverified example,
        for inspection, and ``message`` says by how much it misses), or another status of the solver
        (ITERATION_LIMIT, ...). Every status other than ERROR that comes with an ``x_adv`` comes with
        ``verified=True``.
    objective, bound, gap : float or None
        Solver objective (the distance; for norm 2 its square), best proven bound and relative gap.
    time : float
        Wall-clock seconds of the whole call (heuristic, bounds, model building and solving).
    solve_time : float
        Seconds spent in the solver call.
    nodes : int or None
        Branch-and-bound nodes where the solver reports them.
    n_vars, n_binaries, n_constraints : int
        Size of the model handed to the solver.
    verified : bool
        A float64 forward pass of every network confirms the margin: y_t >= (1 + gamma) y_j (ratio; and
        y_t >= ``min_output``) or y_t >= y_j + gamma (difference) for every j != t, each up to
        ``VERIFY_TOL`` * max(1, max_j |y_j|). For gamma = 0 a tie counts for the target.
    certificate : bool
        True when the solver proved that no adversarial example exists within ``max_distance``.
    margins : ndarray
        Per network, the smallest margin slack at x_adv (>= -tolerance when verified).
    outputs : ndarray
        Per network, the output vector at x_adv (n_networks x n_K).
    n_networks_model : int
        Networks in the solved model (ARFJ by scenario generation may need fewer than the whole set).
    message : str
        What happened when the status is not simply the solver's (a fallback to the heuristic's example, an
        example that failed the check, why scenario generation stopped); empty otherwise.
    """

    x_adv: np.ndarray | None
    distance: float | None
    status: SolveStatus
    objective: float | None
    bound: float | None
    gap: float | None
    time: float
    solve_time: float
    nodes: int | None
    n_vars: int
    n_binaries: int
    n_constraints: int
    verified: bool
    certificate: bool
    solver: str
    config: str
    target: int
    gamma: float
    norm: int | str
    margin: str
    max_distance: float | None = None
    heuristic_distance: float | None = None
    preprocess_time: float = 0.0
    margins: np.ndarray = field(default_factory=lambda: np.empty(0))
    outputs: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    n_networks_model: int = 1
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the example itself; infinite numbers as ``"inf"``, see ``_results``)."""
        return to_jsonable({
            "status": self.status.value,
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "distance": self.distance,
            "time_s": self.time,
            "solve_time_s": self.solve_time,
            "preprocess_time_s": self.preprocess_time,
            "nodes": self.nodes,
            "n_vars": self.n_vars,
            "n_binaries": self.n_binaries,
            "n_constraints": self.n_constraints,
            "verified": self.verified,
            "certificate": self.certificate,
            "solver": self.solver,
            "config": self.config,
            "target": self.target,
            "gamma": self.gamma,
            "norm": self.norm,
            "margin": self.margin,
            "max_distance": self.max_distance,
            "heuristic_distance": self.heuristic_distance,
            "n_networks_model": self.n_networks_model,
            "message": self.message,
        }, "AdversarialResult")


# ---------------------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------------------
def _solver_name(solver: Any) -> str:
    """The solver's name (default: solve's default for MILPs, ``scip_direct``), checked to be available here."""
    if solver is None:
        return default_solver("MILP")
    return check_solver(solver)  # SolverNotAvailableError naming the available solvers


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


def _check_inputs(networks, x_bar, target, gamma, domain, max_distance, config, min_output):
    if isinstance(networks, Network):
        networks = [networks]
    networks = list(networks)
    if not networks:
        raise ValueError("need at least one network")
    for i, net in enumerate(networks):
        if not isinstance(net, Network):
            raise TypeError(f"networks[{i}] must be an nnblocks.Network, got {type(net).__name__}")
    n0, nK = networks[0].n_inputs, networks[0].n_outputs
    for i, net in enumerate(networks):
        if (net.n_inputs, net.n_outputs) != (n0, nK):
            raise ValueError(
                f"networks[{i}] maps {net.n_inputs} -> {net.n_outputs} inputs/outputs, networks[0] {n0} -> {nK}"
            )
    x_bar = np.asarray(x_bar, dtype=np.float64).reshape(-1)
    if x_bar.size != n0:
        raise ValueError(f"x_bar has {x_bar.size} entries but the network has {n0} inputs")
    if not np.all(np.isfinite(x_bar)):
        raise ValueError("x_bar contains NaN or infinite entries")
    if isinstance(target, bool) or not isinstance(target, int | np.integer) or not 0 <= target < nK:
        raise ValueError(f"target must be a class index in 0..{nK - 1}, got {target!r}")
    gamma = float(gamma)
    if not (math.isfinite(gamma) and gamma >= 0):
        raise ValueError(f"gamma must be finite and >= 0, got {gamma}")
    lower, upper = _check_domain(domain, n0)
    if np.any(x_bar < lower - 1e-12) or np.any(x_bar > upper + 1e-12):
        raise ValueError("x_bar lies outside the input domain")
    if max_distance is not None and not (math.isfinite(max_distance) and max_distance >= 0):
        raise ValueError(f"max_distance must be finite and >= 0, got {max_distance}")
    if config not in CONFIGS:
        raise ValueError(f"unknown config {config!r}: choose one of {CONFIGS}")
    if not min_output > 0:
        raise ValueError(f"min_output must be > 0, got {min_output}")
    return networks, x_bar, int(target), gamma, lower, upper


def _bounds_violation(net: Network, nb: NetworkBounds, x: np.ndarray) -> str | None:
    """The first neuron whose pre-activation at x lies outside ``nb`` (up to rounding), described; else None."""
    for k, (a, lb) in enumerate(zip(net.pre_activations(x), nb.layers), start=1):
        tol = 1e-6 * np.maximum(1.0, np.abs(a))
        out = np.flatnonzero((a < lb.lower - tol) | (a > lb.upper + tol))
        if out.size:
            j = int(out[0])
            return f"layer {k}, neuron {j}: {a[j]:.6g} not in [{lb.lower[j]:.6g}, {lb.upper[j]:.6g}]"
    return None


def _check_bounds(networks: list[Network], bounds: Any, x_bar: np.ndarray) -> str | list[NetworkBounds]:
    """``bounds`` as a method name, or as a list of NetworkBounds (one per network) that match the networks' layer
    sizes and contain their pre-activations at x_bar (bounds valid over the input domain always do; bounds
    restricted by output constraints are not checked at x_bar)."""
    if isinstance(bounds, str):
        if bounds not in _BOUNDS:
            raise ValueError(f"unknown bounds {bounds!r}: use one of {_BOUNDS} or a list of NetworkBounds "
                             f"(one per network)")
        return bounds
    if isinstance(bounds, NetworkBounds):
        bounds = [bounds]
    if not isinstance(bounds, list | tuple):
        raise ValueError(f"bounds must be one of {_BOUNDS} or a list of NetworkBounds (one per network), "
                         f"got {type(bounds).__name__}")
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
    return list(bounds)


def _model_bounds(nb: NetworkBounds, net: Network) -> NetworkBounds:
    """``nb`` for ``net`` whose last activation may differ (the logit network): the pre-activation bounds of every
    layer stay, the last layer's post-activation bounds and pieces follow ``net``'s output activation."""
    last = nb.layers[-1]
    return replace(nb, layers=(*nb.layers[:-1], _layer_bounds(last.lower, last.upper, net.layers[-1].activation)))


def _margin_kind(networks: list[Network], margin: str | None) -> str:
    nonneg = all(float(net.layers[-1].activation.image_bounds(np.array([-np.inf]), np.array([np.inf]))[0][0]) >= 0
                 for net in networks)
    if margin is None or margin == "auto":
        return "ratio" if nonneg else "difference"
    if margin not in ("ratio", "difference"):
        raise ValueError(f"margin must be 'auto', 'ratio' or 'difference', got {margin!r}")
    if margin == "ratio" and not nonneg:
        raise ValueError("the ratio margin needs non-negative outputs (e.g. a ReLU output layer); use 'difference'")
    return margin


def _logit_network(net: Network) -> Network:
    """The network with its output ReLU replaced by the identity: outputs a^K instead of max(0, a^K)."""
    last = net.layers[-1]
    return Network(list(net.layers[:-1]) + [Layer(last.W, last.b, Identity())])


def _check_margins(networks, x, target, gamma, kind, min_output) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per network: does the float64 forward pass y = N(x) meet the margin (bool), its smallest slack, and y.

    Network i passes when every slack is at least -VERIFY_TOL * max(1, max_j |y_j|):

    - ratio margin: y_t - (1 + gamma) y_j for every j != t, and y_t - min_output (and y_t > 0);
    - difference margin: y_t - y_j - gamma for every j != t.

    For gamma = 0 this is y_t >= y_j for every j != t within the tolerance: a tie counts for the target
    (no argmax test, which would let the order of equal outputs decide). The MILP's rows are the same
    inequalities with slack >= 0 up to the solver's feasibility tolerance (1e-6 for SCIP, 1e-7 for HiGHS),
    which the scaled tolerance here accepts.
    """
    Y = np.vstack([np.asarray(net.forward(x), dtype=np.float64).reshape(-1) for net in networks])
    yt = Y[:, target]
    others = np.delete(Y, target, axis=1)
    scale = np.maximum(1.0, np.abs(Y).max(axis=1))
    if kind == "ratio":
        slack = np.minimum((yt[:, None] - (1 + gamma) * others).min(axis=1, initial=np.inf), yt - min_output)
    else:
        slack = (yt[:, None] - others - gamma).min(axis=1, initial=np.inf)
    passed = slack >= -VERIFY_TOL * scale
    if kind == "ratio":
        passed &= yt > 0
    return passed, slack, Y


def _verify(networks, x, target, gamma, kind, min_output) -> tuple[bool, np.ndarray, np.ndarray]:
    """(every network passes :func:`_check_margins`, slack per network, outputs per network)."""
    passed, slack, Y = _check_margins(networks, x, target, gamma, kind, min_output)
    return bool(np.all(passed)), slack, Y


# ---------------------------------------------------------------------------------------------------
# model building
# ---------------------------------------------------------------------------------------------------
@dataclass
class _Prepared:
    model: Any
    kind: str
    incumbent: Any
    preprocess_time: float
    tunings: tuple[str, ...]  # solve's tuning switches (nnblocks.solve.tuning) of the configuration
    cutoff: bool = False
    lower_bound: float | None = None


def _ball_domain(lower, upper, x_bar, radius) -> InputDomain:
    return InputDomain(lower, upper, center=x_bar, norm=1, radius=float(radius))


def _output_floor(kind: str, gamma: float, min_output: float) -> float:
    """Lower bound on a^K_t that the margin on the last pre-activation needs (module docstring, item 4)."""
    return min_output if kind == "ratio" else max(gamma, min_output)


def _margin_output_rows(nK: int, target: int, gamma: float, kind: str, min_output: float):
    """(A, b) with A a^K <= b: the default configuration's margin on the last pre-activation."""
    M, r = _fj_search._margin_matrix(nK, target, gamma, kind)
    e = np.zeros((1, nK))
    e[0, target] = 1.0
    return np.vstack([-M, -e]), np.concatenate([-r, [-_output_floor(kind, gamma, min_output)]])


def _bounds_for(net, lower, upper, x_bar, radius, method, out_rows) -> NetworkBounds:
    dom = InputDomain.box(lower, upper) if radius is None else _ball_domain(lower, upper, x_bar, radius)
    if method == "lp":
        return compute_bounds(net, dom, method="lp", output_constraints=out_rows, passes=2)
    return compute_bounds(net, dom, method="interval")


def _tunings(cutoff: bool) -> tuple[str, ...]:
    """Tuning switches of the default configuration (see the module docstring, item 5)."""
    return ("no_separation", "no_heuristics") if cutoff else ("no_separation",)


_HEURISTIC_TIME = 2.0  # seconds for the primal heuristic of one (AR)FJ model
_MIN_HEURISTIC_TIME = 0.2  # a time-limited ARFJ call may overrun its limit by about this much to repair its example


def _prepare(networks, x_bar, target, gamma, norm, domain, max_distance, config, bounds, margin, min_output,
             heuristic, starts=None, lower_bound=None, heuristic_time=_HEURISTIC_TIME) -> _Prepared:
    start = time.perf_counter()
    networks, x_bar, target, gamma, lower, upper = _check_inputs(
        networks, x_bar, target, gamma, domain, max_distance, config, min_output
    )
    norm = _validate.norm(norm)
    kind = _margin_kind(networks, margin)
    bounds = _check_bounds(networks, bounds, x_bar)
    paper = config == "paper"
    relu_out = all(net.layers[-1].activation == _RELU for net in networks)
    drop_output_relu = not paper and relu_out
    model_nets = [_logit_network(n) for n in networks] if drop_output_relu else networks
    all_relu = all(layer.activation == _RELU for net in networks for layer in net.layers[:-1])

    inc = None
    if heuristic is None:
        heuristic = not paper
    identity_out = all(net.layers[-1].activation == Identity() for net in networks)
    if heuristic and norm == 1 and all_relu and (drop_output_relu or identity_out):
        # on a^K: ReLU outputs need a^K_t >= floor (see item 4 of the module docstring), identity outputs not
        floor = _output_floor(kind, gamma, min_output) if drop_output_relu else None
        inc = _fj_search.incumbent(model_nets, x_bar, lower, upper, target, gamma, kind, floor, starts=starts,
                                   time_limit=heuristic_time)
    radius = None
    if norm == 1:
        cands = [r for r in (max_distance, None if inc is None else inc.distance) if r is not None]
        radius = min(cands) if cands else None
    if bounds == "auto":
        bounds = "interval" if paper else ("ball" if radius is not None else "interval")
    out_rows = _margin_output_rows(networks[0].n_outputs, target, gamma, kind, min_output) if drop_output_relu else None
    if isinstance(bounds, str):
        if bounds == "interval":
            nbs = [compute_bounds(n, InputDomain.box(lower, upper), method="interval") for n in model_nets]
        else:
            if bounds == "lp" and out_rows is None:
                raise ValueError("bounds='lp' needs the default configuration on ReLU-output networks")
            nbs = [_bounds_for(n, lower, upper, x_bar, radius, "lp" if bounds == "lp" else "interval", out_rows)
                   for n in model_nets]
    else:
        if inc is not None and (max_distance is None or inc.distance <= max_distance):
            # the heuristic's example is a feasible input: bounds that cut it off are not valid over the domain
            for i, (net, nb) in enumerate(zip(networks, bounds)):
                problem = _bounds_violation(net, nb, inc.x)
                if problem is not None:
                    raise ValueError(f"bounds[{i}] exclude an input of the domain at distance {inc.distance:.6g} "
                                     f"from x_bar ({problem}): give bounds valid over the input domain, e.g. "
                                     f"compute_bounds(network, domain)")
        # the model's network may be the logit network (module docstring, item 4): same pre-activations
        nbs = [_model_bounds(nb, net) for nb, net in zip(bounds, model_nets)] if drop_output_relu else bounds

    m = pyo.ConcreteModel(name="ARFJ" if len(networks) > 1 else "FJ")
    n0 = x_bar.size
    idx = range(n0)
    with PauseGC():
        m.x = pyo.Var(idx, bounds=bounds_dict(idx, lower, upper))
        if norm == 1 and not paper:
            # x = x̄ + p - q with p, q >= 0: ||x - x̄||_1 = sum(p + q) at any optimum
            m.p = pyo.Var(idx, bounds=bounds_dict(idx, np.zeros(n0), upper - x_bar))
            m.q = pyo.Var(idx, bounds=bounds_dict(idx, np.zeros(n0), x_bar - lower))
            add_constraints(m, "split", {j: m.x[j] - m.p[j] + m.q[j] == float(x_bar[j]) for j in idx})
            m.distance = pyo.Expression(expr=LinearExpression(
                constant=0.0, linear_coefs=[1.0] * (2 * n0),
                linear_vars=[m.p[j] for j in idx] + [m.q[j] for j in idx]))
            if max_distance is not None:
                m.max_distance = pyo.Constraint(expr=m.distance <= float(max_distance))
        else:
            m.ball = NormBall(m.x, center=x_bar, norm=norm, radius=max_distance)
            m.distance = pyo.Expression(expr=m.ball.distance)
        m.nn = NetworkBlock(range(len(networks)))
        for i, (net, nb) in enumerate(zip(model_nets, nbs)):
            m.nn[i].build(net, inputs=[m.x[j] for j in idx], formulation="bigm", bounds=nb)
        m.margin = pyo.Block(range(len(networks)))
        for i in range(len(networks)):
            outs = m.nn[i].outputs
            blk = m.margin[i]
            if drop_output_relu:
                A, b = out_rows
                rows = range(A.shape[0])
                add_constraints(blk, "rows", {
                    r: sum(float(A[r, j]) * outs[j] for j in np.flatnonzero(A[r])) <= float(b[r]) for r in rows})
            else:
                lowers = nbs[i].layers[-1].post_lower
                blk.target = TargetMargin(outs, target=target, gamma=gamma, kind=kind, output_bounds=lowers)
                floor = min_output if kind == "ratio" else None
                if floor is not None:
                    blk.floor = pyo.Constraint(expr=outs[target] >= float(floor))
        cutoff = False
        if inc is not None and not paper and (max_distance is None or inc.distance <= max_distance):
            # the heuristic's example stays feasible: the cutoff only removes worse solutions
            m.cutoff = pyo.Constraint(expr=m.distance <= inc.distance * (1 + 1e-7) + 1e-7)
            cutoff = True
        m.obj = pyo.Objective(expr=m.distance, sense=pyo.minimize)
    opts = () if paper else _tunings(cutoff)
    polish = None
    if norm == 1 and all_relu and (relu_out or identity_out):
        floor = _output_floor(kind, gamma, min_output) if relu_out else None
        polish = ([_logit_network(n) for n in networks] if relu_out else networks, floor)
    m._nnblocks_adv = dict(networks=networks, x_bar=x_bar, target=target, gamma=gamma, kind=kind, norm=norm,
                           min_output=min_output, lower=lower, upper=upper, config=config, max_distance=max_distance,
                           polish=polish)
    return _Prepared(m, kind, inc, time.perf_counter() - start, opts, cutoff, lower_bound)


def fj_model(
    network: Network,
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
):
    """The FJ model as an unsolved Pyomo ``ConcreteModel`` (see :func:`fj` for the parameters).

    Components: ``x`` (input), ``distance`` (expression), ``nn[0]`` (the :class:`NetworkBlock`),
    ``margin[0]`` (target margin), ``obj``; in the default configuration also ``p``, ``q``, ``split``
    and, when the heuristic found an example, ``cutoff``.
    """
    return _prepare([network], x_bar, target, gamma, norm, domain, max_distance, config, bounds, margin,
                    min_output, heuristic).model


def arfj_model(networks: Sequence[Network], x_bar: Any, target: int, gamma: float = 0.2, **kwargs):
    """The extensive form of ARFJ (4.1) as an unsolved Pyomo model: ``nn[i]`` / ``margin[i]`` per network."""
    networks = [networks] if isinstance(networks, Network) else list(networks)
    return _prepare(networks, x_bar, target, gamma, kwargs.pop("norm", 1), kwargs.pop("domain", (0.0, 1.0)),
                    kwargs.pop("max_distance", None), kwargs.pop("config", "default"), kwargs.pop("bounds", "auto"),
                    kwargs.pop("margin", "auto"), kwargs.pop("min_output", 1e-3), kwargs.pop("heuristic", None)).model


DEFAULT_MIP_GAP = 1e-4


def _run(prep: _Prepared, name: str, time_limit, threads, tee, solver_options, start,
         mip_gap=None) -> AdversarialResult:
    """Solve a prepared model with the solver ``name`` (already checked by :func:`_solver_name`)."""
    m = prep.model
    info = m._nnblocks_adv
    opts = {key: value for switch in prep.tunings for key, value in tuning(name, switch).items()}
    opts.update(solver_options or {})
    size = model_size(m)
    remaining = None
    if time_limit is not None:
        remaining = max(1e-3, time_limit - (time.perf_counter() - start))
    if mip_gap is None and info["config"] == "default":
        mip_gap = DEFAULT_MIP_GAP
    lb, inc0 = prep.lower_bound, prep.incumbent if prep.cutoff else None
    lb0 = 0.0 if lb is None else max(lb, 0.0)  # a distance is >= 0: x_bar itself (distance 0) needs no MILP
    closed = inc0 is not None and inc0.distance - lb0 <= (mip_gap or 0.0) * inc0.distance
    if closed:
        # the heuristic's example is within mip_gap of a proven lower bound: optimal without a MILP solve
        res = SolveResult(SolveStatus.OPTIMAL, inc0.distance, lb0,
                          (inc0.distance - lb0) / max(inc0.distance, 1e-10), 0.0, name, 0, "closed by the lower bound",
                          None, False)
    else:
        if lb is not None:
            # stop as soon as a solution within mip_gap of the proven lower bound is found (a constraint
            # distance >= lb would make every node LP degenerate and blind the branching)
            for key, value in tuning(name, "objective_stop", lb * (1 + (mip_gap or 0.0))).items():
                opts.setdefault(key, value)
        res = solve(m, solver=name, time_limit=remaining, mip_gap=mip_gap, threads=threads, tee=tee, **opts)
    status, message = res.status, ""
    x = None
    objective, bound, gap = res.objective, res.bound, res.gap
    if closed:
        x = inc0.x.copy()
    elif res.has_solution:
        x = np.array([pyo.value(m.x[j]) for j in range(info["x_bar"].size)], dtype=np.float64)
    inc = prep.incumbent if prep.cutoff else None  # only an incumbent within max_distance may stand in
    if inc is not None and (x is None or (objective is not None and inc.distance < objective - 1e-9)):
        if status in (SolveStatus.TIME_LIMIT_NO_SOLUTION, SolveStatus.INFEASIBLE, SolveStatus.ERROR,
                      SolveStatus.INFEASIBLE_OR_UNBOUNDED) or x is None:
            # the cutoff made the model numerically empty or time ran out: the heuristic example stands
            if status != SolveStatus.TIME_LIMIT_NO_SOLUTION:
                message = (f"the solver ended with status {status.value} although the primal heuristic's example "
                           f"is feasible; that example is returned, without a proof of optimality")
            status = SolveStatus.TIME_LIMIT if status == SolveStatus.TIME_LIMIT_NO_SOLUTION else SolveStatus.FEASIBLE
            x = inc.x.copy()
            objective = inc.distance
            if status == SolveStatus.TIME_LIMIT:
                # the model with the cutoff row has the same optimum (the example satisfies the cutoff), so its
                # dual bound stays a valid lower bound
                bound = bound if bound is not None and math.isfinite(bound) and bound <= objective else None
            gap = None if bound is None else max(0.0, objective - bound) / max(abs(objective), 1e-10)
    if (lb is not None and x is not None and objective is not None
            and objective <= lb * (1 + (mip_gap or 0.0)) * (1 + 1e-9) + 1e-12):
        status, message = SolveStatus.OPTIMAL, ""  # within mip_gap of the proven lower bound
        bound = lb if bound is None else max(bound, lb)
        gap = max(0.0, objective - bound) / max(abs(objective), 1e-10)
    certificate = status == SolveStatus.INFEASIBLE and info["max_distance"] is not None
    verified, slack, Y = False, np.empty(0), np.empty((0, 0))
    distance = None
    if x is not None:
        x = np.clip(x, info["lower"], info["upper"])
        verified, slack, Y = _verify(info["networks"], x, info["target"], info["gamma"], info["kind"],
                                     info["min_output"])
        if not verified and info["polish"] is not None:
            # margins met only within the solver's tolerances: re-solve the LP of the example's regions exactly
            nets_p, floor = info["polish"]
            xp = _fj_search.polish(nets_p, x, info["x_bar"], info["lower"], info["upper"], info["target"],
                                   info["gamma"], info["kind"], floor)
            if xp is not None:
                ok, slack_p, Y_p = _verify(info["networks"], xp, info["target"], info["gamma"], info["kind"],
                                           info["min_output"])
                if ok:
                    x, verified, slack, Y = xp, ok, slack_p, Y_p
                    objective = float(np.abs(xp - info["x_bar"]).sum())
        if not verified:
            i = int(np.argmin(slack))
            message = (f"the solver's example (status {status.value}) misses the margin of network {i} by "
                       f"{-float(slack[i]):.3g}, more than the tolerance {VERIFY_TOL:g} * max(1, |output|)"
                       + (", also after re-solving the LP of its activation regions" if info["polish"] else ""))
            # inc (the heuristic's example, set only when it lies within max_distance) may stand in
            if inc is not None and _verify(info["networks"], inc.x, info["target"], info["gamma"], info["kind"],
                                           info["min_output"])[0]:
                # the heuristic's example holds on every network: it stands, without the solver's proof
                x, objective = np.clip(inc.x, info["lower"], info["upper"]), inc.distance
                verified, slack, Y = _verify(info["networks"], x, info["target"], info["gamma"], info["kind"],
                                             info["min_output"])
                status = SolveStatus.TIME_LIMIT if status == SolveStatus.TIME_LIMIT else SolveStatus.FEASIBLE
                gap = None if bound is None else max(0.0, objective - bound) / max(abs(objective), 1e-10)
                message += "; the primal heuristic's verified example is returned instead"
            else:
                # an example that fails the independent check is no answer: say so instead of its solver status
                status = SolveStatus.ERROR
        d = x - info["x_bar"]
        norm = info["norm"]
        distance = float(np.abs(d).sum() if norm == 1 else (np.abs(d).max() if norm == "inf" else np.sqrt(d @ d)))
    return AdversarialResult(
        x_adv=x, distance=distance, status=status, objective=objective, bound=bound, gap=gap,
        time=time.perf_counter() - start, solve_time=res.time, nodes=res.nodes, n_vars=size.n_vars,
        n_binaries=size.n_binaries, n_constraints=size.n_constraints, verified=verified, certificate=certificate,
        solver=name, config=info["config"], target=info["target"], gamma=info["gamma"], norm=info["norm"],
        margin=info["kind"], max_distance=info["max_distance"],
        heuristic_distance=None if inc is None else inc.distance, preprocess_time=prep.preprocess_time,
        margins=slack, outputs=Y, n_networks_model=len(info["networks"]), message=message,
    )


def fj(
    network: Network,
    x_bar: Any,
    target: int,
    gamma: float = 0.2,
    norm: int | str = 1,
    domain: tuple[Any, Any] = (0.0, 1.0),
    solver: str | None = None,
    time_limit: float | None = None,
    max_distance: float | None = None,
    config: str = "default",
    bounds: Any = "auto",
    margin: str | None = "auto",
    min_output: float = 1e-3,
    heuristic: bool | None = None,
    mip_gap: float | None = None,
    threads: int | None = None,
    tee: bool = False,
    solver_options: dict | None = None,
) -> AdversarialResult:
    """Closest input (in ``norm``) to ``x_bar`` that ``network`` classifies as ``target`` with margin gamma.

    Parameters
    ----------
    network : Network
        A trained network (ReLU or piecewise-linear activations).
    x_bar : array
        The nominal input x̄ (flattened to n_0 entries).
    target : int
        Target class t.
    gamma : float
        Margin: x^K_t >= (1 + gamma) x^K_j (ratio) or x^K_t >= x^K_j + gamma (difference), j != t. For
        gamma = 0 a tie counts for the target (see ``verified`` of :class:`AdversarialResult`).
    norm : 1, 2 or "inf"
        Distance; the paper uses 1. For 2 the objective is the squared distance.
    domain : (lower, upper)
        Input box [l̄, ū] (scalars or arrays).
    solver : str, optional
        Any solver name of :func:`nnblocks.solve.solve`; default ``scip_direct``.
    time_limit : float, optional
        Seconds for the whole call (positive; None or inf: no limit).
    max_distance : float, optional
        Certification: adds ||x - x̄|| <= max_distance. Status INFEASIBLE is then a certificate that no
        adversarial example exists within that distance (``certificate=True``).
    config : "default" or "paper"
        See the module docstring.
    bounds : "auto", "interval", "ball", "lp" or a list of NetworkBounds
        Neuron bounds for big-M: over the input box, over box ∩ L1 ball of the heuristic's (or
        ``max_distance``'s) radius, or LP-tightened over the FJ region (ball and margin). Given
        NetworkBounds (one per network, as from :func:`nnblocks.bounds.compute_bounds`) must hold over the
        input domain (∩ the ``max_distance`` ball), or over its inputs that meet the margin when computed with
        ``output_constraints``; a ValueError names a layer whose sizes differ or a pre-activation at ``x_bar``
        (unless output-constrained) or at the heuristic's example outside them. In the default configuration
        the output ReLU is not encoded: the output layer's pre-activation bounds are used as they are.
    margin : "auto", "ratio" or "difference"
        "auto": ratio when the outputs are provably non-negative, else difference.
    min_output : float
        Required target output (ratio margin): excludes the all-zero output.
    heuristic : bool, optional
        Run the primal heuristic (default: on in the default configuration, L1 norm, ReLU networks).
    mip_gap : float, optional
        Relative gap at which the solver stops (default: 1e-4 in the default configuration, the solver's
        own default in the paper configuration).
    threads, tee, solver_options
        Passed to :func:`nnblocks.solve.solve`.
    """
    start = time.perf_counter()
    time_limit = _validate.time_limit(time_limit)
    solver = _solver_name(solver)
    prep = _prepare([network], x_bar, target, gamma, norm, domain, max_distance, config, bounds, margin,
                    min_output, heuristic, heuristic_time=_heuristic_time(time_limit))
    return _run(prep, solver, time_limit, threads, tee, solver_options, start, mip_gap)


def arfj(
    networks: Sequence[Network],
    x_bar: Any,
    target: int,
    gamma: float = 0.2,
    norm: int | str = 1,
    domain: tuple[Any, Any] = (0.0, 1.0),
    solver: str | None = None,
    time_limit: float | None = None,
    max_distance: float | None = None,
    config: str = "default",
    bounds: Any = "auto",
    margin: str | None = "auto",
    min_output: float = 1e-3,
    heuristic: bool | None = None,
    mip_gap: float | None = None,
    threads: int | None = None,
    tee: bool = False,
    solver_options: dict | None = None,
) -> AdversarialResult:
    """Robust adversarial example: the extensive form of ARFJ (4.1) over the finite set ``networks``.

    One shared input x and distance d; one network block (own recourse variables x, s, z) per network;
    the margin must hold for every network. The nominal network is an ordinary member of the list (leave it
    out for the grey-box attack). ``verified`` checks every network. Parameters as in :func:`fj`.

    In the default configuration (L1 norm, no ``max_distance``) the extensive form is solved by scenario
    generation: start with Z' = {networks[0]}; solve ARFJ over Z' (for one network: FJ); if its example
    fools every network of the list it is optimal for the whole set (Z' ⊂ Z, so ARFJ(Z') <= ARFJ(Z)),
    else add the network not yet in Z' with the most violated margin to Z' and repeat. Each optimum over Z'
    is a proven lower bound for the next round, and the previous example starts the next round's heuristic;
    when the heuristic's example is within ``mip_gap`` of the bound, the round needs no MILP. The model size
    reported is that of the last round (``n_networks_model`` networks).

    No network enters Z' twice, so there are at most ``len(networks)`` rounds. When the rounds stop without
    an example verified on every network (a round's example fails the check, the solver fails, the time
    limit), the heuristic over the whole set is tried; the status says what happened: TIME_LIMIT /
    TIME_LIMIT_NO_SOLUTION only when the time limit was reached, else FEASIBLE (the heuristic's verified
    example) or ERROR (or the round's own status, e.g. ITERATION_LIMIT), with ``message``.
    """
    start = time.perf_counter()
    networks = [networks] if isinstance(networks, Network) else list(networks)
    time_limit = _validate.time_limit(time_limit)
    solver = _solver_name(solver)
    if not (config == "default" and len(networks) > 1 and max_distance is None and _validate.norm(norm) == 1):
        prep = _prepare(networks, x_bar, target, gamma, norm, domain, max_distance, config, bounds, margin,
                        min_output, heuristic, heuristic_time=_heuristic_time(time_limit))
        return _run(prep, solver, time_limit, threads, tee, solver_options, start, mip_gap)
    networks_checked, x_bar_c, target_c, gamma_c, lower, upper = _check_inputs(
        networks, x_bar, target, gamma, domain, max_distance, config, min_output)
    kind = _margin_kind(networks_checked, margin)
    bounds = _check_bounds(networks_checked, bounds, x_bar_c)
    chosen = [0]
    starts, lower_bound, res, best_full, failure = None, None, None, None, None
    while True:
        left = None if time_limit is None else time_limit - (time.perf_counter() - start)
        if left is not None and left <= 0:
            failure = "time"
            break
        sub = [networks[i] for i in chosen]
        sub_bounds = bounds if isinstance(bounds, str) else [bounds[i] for i in chosen]
        round_start = time.perf_counter()
        prep = _prepare(sub, x_bar, target, gamma, norm, domain, max_distance, config, sub_bounds, margin,
                        min_output, heuristic, starts=starts, lower_bound=lower_bound,
                        heuristic_time=_heuristic_time(left))
        res = _run(prep, solver, left, threads, tee, solver_options, round_start, mip_gap)
        if res.status == SolveStatus.INFEASIBLE:  # no example for a subset: none for the set
            break
        if res.status not in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE) or res.x_adv is None:
            break  # a FEASIBLE round (the heuristic's example, no proof) still tells which network to add
        passed, slack, _ = _check_margins(networks, res.x_adv, target_c, gamma_c, kind, min_output)
        if passed.all():
            break
        # only a network not chosen yet can enter: the round's example is verified on the chosen ones
        new = np.flatnonzero(~passed & ~np.isin(np.arange(len(networks)), chosen))
        if new.size == 0:
            # (cannot happen while _run verifies with the same check; kept so that the loop cannot repeat a round)
            failure = "numerical"
            break
        if res.status == SolveStatus.OPTIMAL and res.bound is not None:
            # the heuristic over the whole set, started at this round's example, may already be within mip_gap
            left = None if time_limit is None else time_limit - (time.perf_counter() - start)
            inc = _whole_set_incumbent(networks, x_bar_c, lower, upper, target_c, gamma_c, kind, min_output,
                                       res.x_adv, _heuristic_time(left))
            if inc is not None and (best_full is None or inc.distance < best_full.distance):
                best_full = inc
            gap_tol = DEFAULT_MIP_GAP if mip_gap is None else mip_gap
            if inc is not None and inc.distance - res.bound <= gap_tol * inc.distance:
                res.x_adv, res.distance, res.objective = inc.x, inc.distance, inc.distance
                res.gap = max(0.0, inc.distance - res.bound) / max(inc.distance, 1e-10)
                break
        if res.status == SolveStatus.OPTIMAL and res.bound is not None:
            # the tolerance-loosened bound of this round is a valid lower bound for every superset
            lower_bound = max(res.bound * (1 - 1e-6) - 1e-9, -math.inf if lower_bound is None else lower_bound)
        # this round's example, and the best example over the whole set (feasible for every subset)
        starts = [res.x_adv] + ([] if best_full is None else [best_full.x])
        chosen.append(int(new[np.argmin(slack[new])]))  # the most violated margin
    return _finish_generation(res, networks, chosen, x_bar_c, target_c, gamma_c, kind, min_output, lower, upper,
                              lower_bound, start, best_full, failure, solver)


def _heuristic_time(left: float | None) -> float:
    """Heuristic budget within the time left (or the time limit) of a call: at most _HEURISTIC_TIME, at least
    _MIN_HEURISTIC_TIME."""
    return _HEURISTIC_TIME if left is None else min(_HEURISTIC_TIME, max(_MIN_HEURISTIC_TIME, left))


def _whole_set_incumbent(networks, x_bar, lower, upper, target, gamma, kind, min_output, x_start, time_limit):
    relu_out = all(n.layers[-1].activation == _RELU for n in networks)
    if not relu_out or not all(layer.activation == _RELU for n in networks for layer in n.layers[:-1]):
        return None
    return _fj_search.incumbent([_logit_network(n) for n in networks], x_bar, lower, upper, target, gamma, kind,
                                _output_floor(kind, gamma, min_output), starts=None if x_start is None else [x_start],
                                time_limit=time_limit)


def _finish_generation(res, networks, chosen, x_bar, target, gamma, kind, min_output, lower, upper, lower_bound,
                       start, best_full=None, failure=None, solver="scip_direct") -> AdversarialResult:
    """Result over the whole set from the last round of scenario generation (see :func:`arfj`).

    ``failure`` says why the rounds stopped without an example verified on every network: "time" (the time
    limit), "numerical" (a round's example failed the check on a network of its own model), or None (the
    round's status says why).
    """
    x = None if res is None else res.x_adv
    ok, slack, Y = (False, np.empty(0), np.empty((0, 0))) if x is None else _verify(
        networks, x, target, gamma, kind, min_output)
    if res is not None and res.status == SolveStatus.INFEASIBLE:
        out = res
        out.x_adv, out.distance = None, None
    elif ok:
        out = res
    else:
        # stopped with an example that does not fool every network (or none): repair it with the heuristic over
        # the whole set; the last round's bound stays a valid lower bound
        timed_out = failure == "time" or (res is not None and res.status in (SolveStatus.TIME_LIMIT,
                                                                            SolveStatus.TIME_LIMIT_NO_SOLUTION))
        inc = _whole_set_incumbent(networks, x_bar, lower, upper, target, gamma, kind, min_output, x,
                                   _MIN_HEURISTIC_TIME if timed_out else _HEURISTIC_TIME)
        if best_full is not None and (inc is None or best_full.distance < inc.distance):
            inc = best_full  # the best example over the whole set seen in earlier rounds
        if inc is not None:
            ok_inc, slack_inc, Y_inc = _verify(networks, inc.x, target, gamma, kind, min_output)
            if ok_inc:
                ok, slack, Y = ok_inc, slack_inc, Y_inc
            else:
                inc = None
        if failure == "numerical":
            why = "a round's example fails the check on a network of its own model"
        elif timed_out:
            why = "the time limit was reached"
        elif res is None:
            why = "no round was solved"
        else:
            why = f"a round ended with status {res.status.value}" + (f": {res.message}" if res.message else "")
        if inc is not None:
            status, x_out = (SolveStatus.TIME_LIMIT if timed_out else SolveStatus.FEASIBLE), inc.x
            message = "" if timed_out else (why + "; the primal heuristic's example over the whole set is returned, "
                                            "verified on every network but not proven optimal")
        elif timed_out:
            status, x_out, message = SolveStatus.TIME_LIMIT_NO_SOLUTION, None, ""
        else:
            keep = res is not None and res.status not in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE,
                                                          SolveStatus.TIME_LIMIT)
            status = res.status if keep else SolveStatus.ERROR
            x_out = x if status == SolveStatus.ERROR else None  # ERROR keeps the unverified example, for inspection
            message = why + "; no example verified on every network was found"
        if x_out is None:
            slack, Y = np.empty(0), np.empty((0, 0))
        out = AdversarialResult(
            x_adv=x_out, distance=None if x_out is None else float(np.abs(x_out - x_bar).sum()), status=status,
            objective=None if inc is None else inc.distance, bound=lower_bound, gap=None, time=0.0,
            solve_time=0.0 if res is None else res.solve_time, nodes=None if res is None else res.nodes,
            n_vars=0 if res is None else res.n_vars, n_binaries=0 if res is None else res.n_binaries,
            n_constraints=0 if res is None else res.n_constraints, verified=False, certificate=False,
            solver=solver if res is None else res.solver, config="default", target=target, gamma=gamma,
            norm=1, margin=kind, message=message,
        )
    out.verified, out.margins, out.outputs = ok, slack, Y
    if lower_bound is not None and out.objective is not None:
        out.bound = lower_bound if out.bound is None else max(out.bound, lower_bound)
        out.gap = max(0.0, out.objective - out.bound) / max(abs(out.objective), 1e-10)
    out.time = time.perf_counter() - start
    out.n_networks_model = len(chosen)
    return out
