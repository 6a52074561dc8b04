"""Sound bounds on every pre-activation of a network over an input domain.

For layer k the pre-activation is a^k = W^k h^{k-1} + b^k and the post-activation h^k = sigma^k(a^k)
(notation of :mod:`nnblocks.network`). Given an input domain X (a box [l, u], optionally intersected
with a norm ball B_p(c, r) = {x : ||x - c||_p <= r}), :func:`compute_bounds` returns for every layer
vectors L^k <= U^k with

    L^k <= a^k(x) <= U^k        for every x in X.

These bounds are the big-M constants of every mixed-integer encoding in :mod:`nnblocks.blocks`, so they
must be *sound* above all: every bound is widened by a floating-point error margin, and the LP bounds
are not read off the solver's objective but recomputed from its dual solution (a weak-duality bound that
holds for any dual vector, whatever the solver's tolerances).

Two methods:

``"interval"``
    Interval arithmetic, W = W^+ + W^- with W^+ = max(W, 0):
    L^k = W^+ L_h^{k-1} + W^- U_h^{k-1} + b^k and U^k = W^+ U_h^{k-1} + W^- L_h^{k-1} + b^k, where
    [L_h, U_h] are the exact ranges of sigma over [L, U]. In the first layer the ball enters through the
    dual norm, W_j c + b_j -+ r ||W_j||_q (1/p + 1/q = 1), and through the exact range over box ∩ ball
    (L1: a fractional knapsack; L2: a Lagrangian dual; Linf: a box); all ranges are intersected.
``"lp"``
    LP tightening: the bounds of layer k are the optimal values of min / max a^k_j over the convex
    relaxation of layers 1..k-1 (each neuron's graph over [L, U] replaced by its convex hull; the triangle
    for ReLU), the input box and the ball, solved with HiGHS (highspy); one LP per layer, warm-started,
    only the objective changes from neuron to neuron. Always intersected with the interval bounds.
    Optional output constraints A h^K <= b restrict the domain to inputs whose output satisfies them.
"""

from __future__ import annotations

import time as _time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from nnblocks import _validate
from nnblocks._highs import new_highs
from nnblocks._results import AsDict
from nnblocks._validate import dual_norm, norm_of
from nnblocks._validate import time_limit as _check_time_limit
from nnblocks.activations import PiecewiseLinear
from nnblocks.network import Network

__all__ = ["InputDomain", "LayerBounds", "NetworkBounds", "compute_bounds"]

_EPS = float(np.finfo(np.float64).eps)


# ---------------------------------------------------------------------------------------------
# input domain
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class InputDomain:
    """The box [lower, upper], optionally intersected with the ball ||x - center||_norm <= radius.

    ``lower`` / ``upper`` may contain -inf / +inf. ``norm`` is 1, 2 or ``"inf"`` (``np.inf``, ``"l1"``,
    ``"L2"``, ... are accepted and normalised). A size-1 box is broadcast to the center's size (and, in
    :func:`compute_bounds`, to the network's input size).

    Raises
    ------
    ValueError
        For NaN or mismatched shapes, ``lower > upper``, a NaN/inf center, a negative or non-finite
        radius, an unknown norm, a ball given only in part, or an empty intersection of box and ball.
    """

    lower: np.ndarray
    upper: np.ndarray
    center: np.ndarray | None = None
    norm: int | str | None = None
    radius: float | None = None

    def __post_init__(self) -> None:
        lo = np.atleast_1d(np.array(self.lower, dtype=np.float64)).ravel()
        hi = np.atleast_1d(np.array(self.upper, dtype=np.float64)).ravel()
        ball = (self.center is not None, self.norm is not None, self.radius is not None)
        if any(ball) and not all(ball):
            raise ValueError("a ball needs all of center, norm and radius (or none of them)")
        center = None
        if self.center is not None:
            center = np.atleast_1d(np.array(self.center, dtype=np.float64)).ravel()
            if not np.all(np.isfinite(center)):
                raise ValueError("ball center contains NaN or infinite entries")
            if lo.size == 1 and center.size > 1:
                lo = np.full(center.size, lo[0])
            if hi.size == 1 and center.size > 1:
                hi = np.full(center.size, hi[0])
        if lo.shape != hi.shape:
            raise ValueError(f"box lower and upper have different shapes {lo.shape} and {hi.shape}")
        if np.any(np.isnan(lo)) or np.any(np.isnan(hi)):
            raise ValueError("box bounds contain NaN")
        if np.any(lo > hi):
            i = int(np.argmax(lo > hi))
            raise ValueError(f"empty box: lower[{i}] = {lo[i]:g} > upper[{i}] = {hi[i]:g}")
        if np.any(lo == np.inf) or np.any(hi == -np.inf):
            raise ValueError("empty box: a lower bound is +inf or an upper bound is -inf")
        norm, radius = None, None
        if center is not None:
            if center.shape != lo.shape:
                raise ValueError(f"ball center has shape {center.shape}, the box has shape {lo.shape}")
            norm = _validate.norm(self.norm)
            radius = float(self.radius)  # type: ignore[arg-type]
            if not np.isfinite(radius) or radius < 0:
                raise ValueError(f"ball radius must be finite and non-negative, got {self.radius!r}")
            dist = norm_of(center - np.clip(center, lo, hi), norm)
            if dist > radius * (1 + 1e-12) + 1e-300:
                raise ValueError(
                    f"empty domain: the ball of radius {radius:g} ({norm}-norm) does not meet the box "
                    f"(distance from the center to the box: {dist:g})"
                )
            center.setflags(write=False)
        lo.setflags(write=False)
        hi.setflags(write=False)
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "upper", hi)
        object.__setattr__(self, "center", center)
        object.__setattr__(self, "norm", norm)
        object.__setattr__(self, "radius", radius)

    @classmethod
    def box(cls, lower: Any, upper: Any) -> InputDomain:
        """The box [lower, upper] (no ball)."""
        return cls(lower, upper)

    @classmethod
    def ball(
        cls, center: Any, norm: int | str, radius: float, lower: Any = -np.inf, upper: Any = np.inf
    ) -> InputDomain:
        """The ball ||x - center||_norm <= radius, intersected with the box [lower, upper] (default: none)."""
        return cls(lower, upper, center, norm, radius)

    @property
    def dim(self) -> int:
        """Number of input variables."""
        return int(self.lower.size)

    @property
    def has_ball(self) -> bool:
        return self.center is not None

    def contains(self, X: Any, tol: float = 1e-9) -> np.ndarray | bool:
        """Whether the point(s) X (shape (n,) or (N, n)) lie in the domain, up to ``tol``."""
        X = np.asarray(X, dtype=np.float64)
        single = X.ndim == 1
        X2 = X.reshape(1, -1) if single else X
        ok = np.all((X2 >= self.lower - tol) & (X2 <= self.upper + tol), axis=1)
        if self.center is not None:
            ok &= norm_of(X2 - self.center, self.norm, axis=1) <= self.radius + tol  # type: ignore[arg-type]
        return bool(ok[0]) if single else ok

    def effective_box(self) -> tuple[np.ndarray, np.ndarray]:
        """A box containing the domain: the box intersected with [c - r, c + r] (valid for every p-norm)."""
        if self.center is None:
            return self.lower, self.upper
        lo = np.maximum(self.lower, self.center - self.radius)  # type: ignore[operator]
        hi = np.minimum(self.upper, self.center + self.radius)  # type: ignore[operator]
        return lo, np.maximum(hi, lo)

    def _broadcast(self, n: int) -> InputDomain:
        if self.dim == n:
            return self
        if self.dim == 1 and self.center is None:
            return InputDomain(np.full(n, self.lower[0]), np.full(n, self.upper[0]))
        raise ValueError(f"input domain has dimension {self.dim}, the network expects {n} inputs")


def _as_domain(domain: Any, n: int) -> InputDomain:
    if isinstance(domain, InputDomain):
        return domain._broadcast(n)
    if isinstance(domain, tuple | list) and len(domain) == 2:
        return InputDomain(*domain)._broadcast(n)
    raise TypeError(f"domain must be an InputDomain or a (lower, upper) tuple, got {type(domain).__name__}")


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class LayerBounds(AsDict):
    """Bounds of one layer: pre-activation a^k in [lower, upper], post-activation h^k in [post_lower, post_upper].

    ``first_piece`` / ``last_piece``: the range of activation pieces whose closed interval
    [t_{p-1}, t_p] meets [lower, upper] in more than one point (a degenerate interval gets the piece
    ``piece_index`` gives it). A neuron is *stable* when first == last: one affine piece
    sigma(z) = a_p z + c_p holds on all of [lower, upper]. (On a breakpoint both neighbouring pieces
    agree, so :meth:`PiecewiseLinear.piece_index` may report the neighbour there.)
    With ReLU semantics a stable neuron is *active* when its piece is the last one and *inactive*
    when it is piece 0 of an activation with more than one piece.
    """

    lower: np.ndarray
    upper: np.ndarray
    post_lower: np.ndarray
    post_upper: np.ndarray
    first_piece: np.ndarray
    last_piece: np.ndarray
    n_pieces: int = 2

    @property
    def n(self) -> int:
        return int(self.lower.size)

    @property
    def width(self) -> np.ndarray:
        """upper - lower (inf where a bound is infinite)."""
        return self.upper - self.lower

    @property
    def stable(self) -> np.ndarray:
        """Boolean mask of the neurons with one possible piece."""
        return self.first_piece == self.last_piece

    @property
    def n_stable(self) -> int:
        return int(np.count_nonzero(self.stable))

    @property
    def n_unstable(self) -> int:
        return self.n - self.n_stable

    @property
    def n_active(self) -> int:
        return int(np.count_nonzero(self.stable & (self.first_piece == self.n_pieces - 1)))

    @property
    def n_inactive(self) -> int:
        if self.n_pieces < 2:
            return 0
        return int(np.count_nonzero(self.stable & (self.first_piece == 0)))


@dataclass(frozen=True, eq=False)
class NetworkBounds(AsDict):
    """Bounds of every layer (``layers[k-1]`` is layer k), the method used and the wall-clock time (s).

    ``complete`` is False when a ``time_limit`` stopped LP tightening early (the bounds are sound but
    partly interval bounds). ``infeasible`` is True when an LP proved, with a checked Farkas certificate,
    that no input of the domain satisfies the ``output_constraints`` (every bound is then vacuously valid).
    ``output_constrained`` is True when ``output_constraints`` were given: the bounds then hold only for
    the inputs of the domain whose outputs satisfy them.
    """

    layers: tuple[LayerBounds, ...]
    method: str
    time: float
    complete: bool = True
    infeasible: bool = False
    n_lps: int = field(default=0)
    output_constrained: bool = False

    def __getitem__(self, k: int) -> LayerBounds:
        return self.layers[k]

    def __len__(self) -> int:
        return len(self.layers)

    def summary(self) -> list[dict]:
        """Per layer: layer (1-based), n, active, inactive, unstable, stable, mean_width, max_width."""
        rows = []
        for k, lb in enumerate(self.layers, start=1):
            w = lb.width
            rows.append(
                {
                    "layer": k,
                    "n": lb.n,
                    "active": lb.n_active,
                    "inactive": lb.n_inactive,
                    "stable": lb.n_stable,
                    "unstable": lb.n_unstable,
                    "mean_width": float(np.mean(w)) if w.size else 0.0,
                    "max_width": float(np.max(w)) if w.size else 0.0,
                }
            )
        return rows

    def lower(self, k: int) -> np.ndarray:
        """Pre-activation lower bounds of layer k (1-based)."""
        return self.layers[k - 1].lower

    def upper(self, k: int) -> np.ndarray:
        """Pre-activation upper bounds of layer k (1-based)."""
        return self.layers[k - 1].upper


def _layer_bounds(lower: np.ndarray, upper: np.ndarray, act: PiecewiseLinear) -> LayerBounds:
    """Post-activation ranges and piece ranges of the pre-activation intervals [lower, upper]."""
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    post_lower, post_upper = act.image_bounds(lower, upper)
    t = act.breakpoints
    first = np.searchsorted(t, lower, side="right")
    last = np.searchsorted(t, upper, side="left")
    degenerate = first > last  # lower == upper == a breakpoint
    first = np.where(degenerate, last, first)
    arrays = [lower, upper, np.asarray(post_lower, dtype=np.float64), np.asarray(post_upper, dtype=np.float64)]
    arrays += [first.astype(np.int64), last.astype(np.int64)]
    for a in arrays:
        a.setflags(write=False)
    return LayerBounds(*arrays, n_pieces=act.n_pieces)


# ---------------------------------------------------------------------------------------------
# interval arithmetic
# ---------------------------------------------------------------------------------------------
def _gamma(n: int) -> float:
    """2 gamma_{n+2}: covers the rounding of an n-term dot product in the bound and in a forward pass."""
    return 2.0 * (n + 2) * _EPS / (1.0 - (n + 2) * _EPS)


def _pad(n: int, scale: np.ndarray) -> np.ndarray:
    """Outward rounding margin of an n-term dot product whose absolute terms sum to ``scale``.

    Zero where every term is zero (the result is then exact); otherwise 2 gamma_{n+2} scale plus n
    times the smallest normal number (for underflow).
    """
    return np.where(scale > 0, _gamma(n) * scale + n * np.finfo(np.float64).tiny, 0.0)


def _affine_interval(W: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sound range of W h + b over the box lo <= h <= hi (entries may be infinite; 0 * inf counts as 0)."""
    Wp = np.maximum(W, 0.0)
    Wm = np.minimum(W, 0.0)
    lo_f = np.where(np.isfinite(lo), lo, 0.0)
    hi_f = np.where(np.isfinite(hi), hi, 0.0)
    lower = Wp @ lo_f + Wm @ hi_f + b
    upper = Wp @ hi_f + Wm @ lo_f + b
    mag = np.maximum(np.abs(lo_f), np.abs(hi_f))
    pad = _pad(W.shape[1], np.abs(W) @ mag + np.abs(b))
    lower -= pad
    upper += pad
    inf_lo, inf_hi = np.isinf(lo), np.isinf(hi)
    if inf_lo.any() or inf_hi.any():
        # lower is -inf when a positive weight meets lo = -inf or a negative weight meets hi = +inf
        to_minus = ((Wp > 0) & inf_lo).any(axis=1) | ((Wm < 0) & inf_hi).any(axis=1)
        to_plus = ((Wp > 0) & inf_hi).any(axis=1) | ((Wm < 0) & inf_lo).any(axis=1)
        lower = np.where(to_minus, -np.inf, lower)
        upper = np.where(to_plus, np.inf, upper)
    return lower, upper


def _l1_knapsack(W: np.ndarray, dlo: np.ndarray, dhi: np.ndarray, budget: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact min and max of W d over {d : dlo <= d <= dhi, ||d||_1 <= budget} (finite dlo, dhi).

    Starting from d0 = clip(0, dlo, dhi) (the cheapest point), every unit moved in the direction of
    sign(W_ji) costs one unit of the remaining budget budget - ||d0||_1 and gains |W_ji|: a fractional
    knapsack, solved greedily by sorting |W_ji| in decreasing order (vectorised over rows).
    """
    d0 = np.clip(0.0, dlo, dhi)
    rest = max(budget - float(np.abs(d0).sum()), 0.0)
    rate = np.abs(W)
    base = W @ d0
    caps = [np.where(rate > 0, np.where(sign * W > 0, dhi - d0, d0 - dlo), 0.0) for sign in (1.0, -1.0)]
    # Only the largest rates matter when the budget is small: sort a partition of the top k first,
    # and fall back to a full sort in the rows whose top k capacities do not exhaust the budget.
    k = min(W.shape[1], 64)
    order = np.argpartition(-rate, k - 1, axis=1)[:, :k] if k < W.shape[1] else np.argsort(-rate, axis=1)
    top = np.take_along_axis(rate, order, axis=1)
    order = np.take_along_axis(order, np.argsort(-top, axis=1), axis=1)
    gains = [_greedy(rate, cap, order, rest) for cap in caps]
    short = np.zeros(W.shape[0], dtype=bool)
    if k < W.shape[1]:
        for cap in caps:
            short |= np.take_along_axis(cap, order, axis=1).sum(axis=1) < rest
    if short.any():
        full = np.argsort(-rate[short], axis=1)
        for g, cap in zip(gains, caps):
            g[short] = _greedy(rate[short], cap[short], full, rest)
    out = [base + gains[0], -base + gains[1]]
    return -out[1], out[0]


def _greedy(rate: np.ndarray, cap: np.ndarray, order: np.ndarray, rest: float) -> np.ndarray:
    """Fractional knapsack value per row: items in ``order`` (by decreasing rate), capacities cap, budget rest."""
    rate_s = np.take_along_axis(rate, order, axis=1)
    cap_s = np.take_along_axis(cap, order, axis=1)
    before = np.cumsum(cap_s, axis=1) - cap_s
    used = np.clip(rest - before, 0.0, cap_s)
    return np.sum(rate_s * used, axis=1)


def _l2_lagrangian(
    W: np.ndarray, dlo: np.ndarray, dhi: np.ndarray, radius: float, iterations: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of W d over {d : dlo <= d <= dhi, ||d||_2 <= radius} by Lagrangian duality (finite dlo, dhi).

    For every lambda > 0, max_d w^T d <= g(lambda) = lambda r^2 + sum_i max_{d_i in [dlo_i, dhi_i]}
    (w_i d_i - lambda d_i^2), attained at d_i = clip(mu w_i, dlo_i, dhi_i) with mu = 1 / (2 lambda)
    (weak duality: every lambda gives a valid bound). g is convex; its minimiser solves
    ||d(mu)||_2 = r, found by bisection on log(mu) between r / ||w||_2 (no coordinate clipped yet, so
    ||d|| <= r when 0 lies in the box) and max_i |d_i bound| / |w_i| (all coordinates clipped).
    Exact in the limit; vectorised over the rows of W.
    """
    r2 = radius * radius
    absW = np.abs(W)
    wnorm = np.sqrt((W * W).sum(axis=1, keepdims=True))
    nz = absW > 0
    out = []
    for w in (W, -W):  # max of W d, then max of -W d
        cap = np.where(w > 0, np.abs(dhi), np.abs(dlo))
        with np.errstate(divide="ignore"):
            mu_sat = np.where(nz, cap / np.where(nz, absW, 1.0), 0.0).max(axis=1, keepdims=True)
        log_lo = np.log(np.maximum(radius, 1e-300) / np.where(wnorm > 0, wnorm, 1.0))
        log_hi = np.log(np.maximum(mu_sat, np.exp(log_lo)))
        for _ in range(iterations):
            mid = 0.5 * (log_lo + log_hi)
            d = np.clip(w * np.exp(mid), dlo, dhi)
            inside = (d * d).sum(axis=1, keepdims=True) <= r2
            log_lo = np.where(inside, mid, log_lo)
            log_hi = np.where(inside, log_hi, mid)
        mu = np.exp(log_hi)
        lam = 1.0 / (2.0 * mu)
        d = np.clip(w * mu, dlo, dhi)
        g = lam[:, 0] * r2 + np.sum(w * d - lam * d * d, axis=1)
        scale = lam[:, 0] * r2 + np.sum(np.abs(w * d) + lam * d * d, axis=1)
        g = np.where(wnorm[:, 0] > 0, g + _pad(W.shape[1], scale), 0.0)
        out.append(g)
    return -out[1], out[0]


def _first_layer_interval(W: np.ndarray, b: np.ndarray, domain: InputDomain) -> tuple[np.ndarray, np.ndarray]:
    """Range of a^1 = W x + b over the domain: box interval, dual-norm ball interval, L1 knapsack; intersected."""
    lo, hi = domain.effective_box()
    lower, upper = _affine_interval(W, b, lo, hi)
    if domain.center is not None:
        c, r = domain.center, float(domain.radius)  # type: ignore[arg-type]
        n = W.shape[1]
        dual = dual_norm(domain.norm)  # type: ignore[arg-type]
        mid = W @ c + b
        spread = r * norm_of(W, dual, axis=1)
        pad = _pad(n, np.abs(W) @ (np.abs(c) + r) + np.abs(b))
        lower = np.maximum(lower, mid - spread - pad)
        upper = np.minimum(upper, mid + spread + pad)
        if domain.norm == 2:
            kl, ku = _l2_lagrangian(W, lo - c, hi - c, r)
            lower = np.maximum(lower, kl + mid - pad)
            upper = np.minimum(upper, ku + mid + pad)
            lower = np.minimum(lower, upper)
        if domain.norm == 1:
            kl, ku = _l1_knapsack(W, lo - c, hi - c, r)
            lower = np.maximum(lower, kl + mid - pad)
            upper = np.minimum(upper, ku + mid + pad)
            lower = np.minimum(lower, upper)
    return lower, upper


def _interval_bounds(network: Network, domain: InputDomain) -> list[LayerBounds]:
    layers: list[LayerBounds] = []
    for k, layer in enumerate(network.layers):
        if k == 0:
            lower, upper = _first_layer_interval(layer.W, layer.b, domain)
        else:
            prev = layers[-1]
            lower, upper = _affine_interval(layer.W, layer.b, prev.post_lower, prev.post_upper)
        layers.append(_layer_bounds(lower, upper, layer.activation))
    return layers


# ---------------------------------------------------------------------------------------------
# public entry point
# ---------------------------------------------------------------------------------------------
def compute_bounds(
    network: Network,
    domain: InputDomain | tuple[Any, Any],
    method: str = "interval",
    only_unstable: bool = True,
    time_limit: float | None = None,
    output_constraints: Any = None,
    passes: int = 1,
) -> NetworkBounds:
    """Sound lower and upper bounds of every pre-activation of ``network`` over ``domain``.

    Parameters
    ----------
    network:
        The network.
    domain:
        An :class:`InputDomain` or a ``(lower, upper)`` box (scalars are broadcast).
    method:
        ``"interval"`` or ``"lp"`` (see the module docstring).
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

    Raises
    ------
    ValueError
        For a domain of the wrong dimension, an unknown method, malformed output constraints,
        ``passes < 1`` or a non-positive time limit (and the :class:`InputDomain` errors).
    """
    if not isinstance(network, Network):
        raise TypeError(f"network must be an nnblocks.Network, got {type(network).__name__}")
    dom = _as_domain(domain, network.n_inputs)
    if method not in ("interval", "lp"):
        raise ValueError(f"unknown bounds method {method!r}: use 'interval' or 'lp'")
    start = _time.perf_counter()
    layers = _interval_bounds(network, dom)
    if method == "interval":
        if output_constraints is not None:
            raise ValueError("output_constraints need method='lp'")
        return NetworkBounds(tuple(layers), "interval", _time.perf_counter() - start)
    layers, complete, infeasible, n_lps = _lp_tighten(
        network, dom, layers, only_unstable, time_limit, output_constraints, passes, start
    )
    return NetworkBounds(tuple(layers), "lp", _time.perf_counter() - start, complete, infeasible, n_lps,
                         output_constrained=output_constraints is not None)


# ---------------------------------------------------------------------------------------------
# LP tightening
# ---------------------------------------------------------------------------------------------
_IPM_NNZ = 100_000  # LPs with more nonzeros are solved by interior point (see _LayerLP._build_highs)
_MAX_SLOPE = 1e7  # relaxation lines steeper than this (near-degenerate intervals) are dropped: still sound
_KELLEY_ROUNDS = 2  # tangent cuts of the L2 ball added per objective at most (each costs a re-solve)


def _majorants(
    act_t: np.ndarray, act_a: np.ndarray, act_c: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Affine majorants s z + q >= f(z) on [lower_j, upper_j] of the PWL f = (act_t, act_a, act_c).

    Returns (S, Q, ok) of shape (n, C): candidate lines per neuron and which of them are kept. Together
    the kept lines are the faces of the concave envelope (upper side of the convex hull of the graph):
    the lines through two vertices of the graph (interval ends and breakpoints inside) that dominate
    every vertex, and, at an infinite end, the lines through a vertex with the slope of the outer piece.
    Each kept line is shifted up by its largest violation at the vertices (plus a rounding margin), so it
    dominates f on the whole interval whatever the rounding.
    """
    n, P = lower.size, act_a.size
    Z = np.concatenate([lower[:, None], np.broadcast_to(act_t, (n, P - 1)), upper[:, None]], axis=1)
    valid = np.ones(Z.shape, dtype=bool)
    valid[:, 0] = np.isfinite(lower)
    valid[:, -1] = np.isfinite(upper)
    valid[:, 1:-1] = (act_t > lower[:, None]) & (act_t < upper[:, None])
    Zf = np.where(valid, Z, 0.0)
    piece = np.searchsorted(act_t, Zf, side="left")
    F = act_a[piece] * Zf + act_c[piece]
    ii, jj = np.triu_indices(P + 1, k=1)
    dz = Zf[:, jj] - Zf[:, ii]
    ok_pair = valid[:, ii] & valid[:, jj] & (dz > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        S_pair = np.where(ok_pair, (F[:, jj] - F[:, ii]) / np.where(ok_pair, dz, 1.0), 0.0)
    Q_pair = F[:, ii] - S_pair * Zf[:, ii]
    left_inf, right_inf = ~np.isfinite(lower), ~np.isfinite(upper)
    S = [S_pair, np.full(Z.shape, act_a[0]), np.full(Z.shape, act_a[-1])]
    Q = [Q_pair, F - act_a[0] * Zf, F - act_a[-1] * Zf]
    ok = [ok_pair, valid & left_inf[:, None], valid & right_inf[:, None]]
    S, Q, ok = (np.concatenate(v, axis=1) for v in (S, Q, ok))
    ok &= ~left_inf[:, None] | (S <= act_a[0])
    ok &= ~right_inf[:, None] | (S >= act_a[-1])
    ok &= np.abs(S) <= _MAX_SLOPE * (1.0 + np.abs(act_a).max())
    line = S[:, :, None] * Zf[:, None, :] + Q[:, :, None]
    viol = np.where(valid[:, None, :], F[:, None, :] - line, -np.inf).max(axis=2)
    scale = 1.0 + np.where(valid[:, None, :], np.abs(F)[:, None, :] + np.abs(line), 0.0).max(axis=2)
    ok &= viol <= 1e-7 * scale
    Q = Q + np.maximum(viol, 0.0) + 8 * _EPS * scale
    return S, Q, ok


def _relaxation_rows(act: PiecewiseLinear, lb: LayerBounds) -> tuple[np.ndarray, ...]:
    """Rows of the convex relaxation of h_j = sigma(a_j), a_j in [lower_j, upper_j], per neuron j.

    Returns (neuron, coef_a, row_lo, row_hi) for rows ``row_lo <= h_j + coef_a a_j <= row_hi``:
    stable neurons (one piece p) get the equality h_j = a_p a_j + c_p; unstable neurons the faces of the
    convex hull of the graph {(z, sigma(z)) : lower_j <= z <= upper_j}, i.e. h <= s z + q for the faces
    of the concave envelope and h >= s z + q for those of the convex envelope (for ReLU the triangle
    h >= 0, h >= a, h <= U (a - L) / (U - L)).
    """
    t, a, c = act.breakpoints, act.slopes, act.intercepts
    stable = lb.stable
    js = np.flatnonzero(stable)
    p = lb.first_piece[js]
    parts = [(js, -a[p], c[p], c[p])]
    ju = np.flatnonzero(~stable)
    if ju.size:
        l, u = lb.lower[ju], lb.upper[ju]
        S, Q, ok = _majorants(t, a, c, l, u)  # h <= S z + Q
        r, k = np.nonzero(ok)
        parts.append((ju[r], -S[r, k], np.full(r.size, -np.inf), Q[r, k]))
        S, Q, ok = _majorants(t, -a, -c, l, u)  # -h <= S z + Q  <=>  h + S z >= -Q
        r, k = np.nonzero(ok)
        parts.append((ju[r], S[r, k], -Q[r, k], np.full(r.size, np.inf)))
    return tuple(np.concatenate(v) for v in zip(*parts))


def _output_rows(output_constraints: Any, n_out: int) -> tuple[np.ndarray, np.ndarray] | None:
    if output_constraints is None:
        return None
    pairs = [output_constraints] if isinstance(output_constraints, tuple) else list(output_constraints)
    As, bs = [], []
    for pair in pairs:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise ValueError("output_constraints must be a pair (A, b) or a list of such pairs")
        A = np.atleast_2d(np.asarray(pair[0], dtype=np.float64))
        b = np.atleast_1d(np.asarray(pair[1], dtype=np.float64)).ravel()
        if A.shape[1] != n_out or b.shape != (A.shape[0],):
            raise ValueError(
                f"output constraint A h <= b needs A of shape (m, {n_out}) and b of shape (m,); "
                f"got A {A.shape} and b {b.shape}"
            )
        if not (np.all(np.isfinite(A)) and np.all(np.isfinite(b))):
            raise ValueError("output constraint A h <= b contains NaN or infinite entries")
        As.append(A)
        bs.append(b)
    return np.concatenate(As), np.concatenate(bs)


class _LayerLP:
    """One LP over the input domain and the relaxation of layers 1..m, with the pre-activation a^k of a
    target layer k as columns; re-used (warm-started) for min / max of every a^k_j.

    Input columns: x itself (box, or box ∩ Linf ball, as column bounds), or for an L1 / L2 ball the
    split x = c + dp - dm with dp, dm >= 0 bounded so that x stays in the box and one budget row
    sum(dp + dm) <= r (L1; exact). The L2 ball is outer-approximated: |x_i - c_i| <= r (column bounds),
    sum(dp + dm) <= sqrt(n) r, and tangent cuts g^T (x - c) <= r (g = (x* - c) / ||x* - c||) added
    at LP solutions outside the ball (Kelley). Each bound is recomputed from the dual solution (see
    :meth:`_safe_min`), so it is valid whatever the solver's tolerances.
    """

    def __init__(
        self,
        network: Network,
        dom: InputDomain,
        layers: list[LayerBounds],
        n_relaxed: int,
        target: int,
        out_rows: tuple[np.ndarray, np.ndarray] | None,
    ) -> None:
        import highspy

        self._highspy = highspy
        n0 = network.n_inputs
        lo, hi = dom.effective_box()
        col_lo, col_hi = [], []
        rows, cols, vals, row_lo, row_hi = [], [], [], [], []
        n_rows = 0

        def add_rows(r: np.ndarray, cidx: np.ndarray, v: np.ndarray, rl: np.ndarray, rh: np.ndarray) -> None:
            nonlocal n_rows
            rows.append(r + n_rows)
            cols.append(cidx)
            vals.append(v)
            row_lo.append(rl)
            row_hi.append(rh)
            n_rows += rl.size

        self.split = dom.norm in (1, 2)
        if self.split:
            c = dom.center
            col_lo += [np.maximum(0.0, lo - c), np.maximum(0.0, c - hi)]
            col_hi += [np.maximum(0.0, hi - c), np.maximum(0.0, c - lo)]
            budget = dom.radius if dom.norm == 1 else np.sqrt(n0) * dom.radius
            add_rows(
                np.zeros(2 * n0, dtype=np.int64),
                np.arange(2 * n0),
                np.ones(2 * n0),
                np.array([-np.inf]),
                np.array([budget]),
            )
            n_in_cols = 2 * n0
        else:
            col_lo.append(lo)
            col_hi.append(hi)
            n_in_cols = n0
        self.n0 = n0
        self.center = dom.center
        self.radius = dom.radius
        self.kelley = dom.norm == 2
        prev = np.arange(n0)  # columns of h^{k-1} (for k = 1: of x, or of dp)
        pos = n_in_cols
        self.a_cols: list[np.ndarray] = []
        self.h_cols: list[np.ndarray] = []
        for k in range(min(max(n_relaxed, target + 1), len(network.layers))):
            layer, lb = network.layers[k], layers[k]
            n = layer.n_out
            a_col = pos + np.arange(n)
            col_lo.append(lb.lower)
            col_hi.append(lb.upper)
            pos += n
            # a^k - W^k h^{k-1} = b^k (eq. for the first layer with x = c + dp - dm: a - W dp + W dm = W c + b)
            W = layer.W
            r_w, c_w = np.nonzero(W)
            v_w = W[r_w, c_w]
            rhs = layer.b.copy()
            r_all = [np.arange(n), r_w]
            c_all = [a_col, prev[c_w]]
            v_all = [np.ones(n), -v_w]
            if k == 0 and self.split:
                rhs = rhs + W @ dom.center
                r_all.append(r_w)
                c_all.append(n0 + c_w)
                v_all.append(v_w)
            add_rows(np.concatenate(r_all), np.concatenate(c_all), np.concatenate(v_all), rhs, rhs)
            self.a_cols.append(a_col)
            if k >= n_relaxed:
                break
            h_col = pos + np.arange(n)
            col_lo.append(lb.post_lower)
            col_hi.append(lb.post_upper)
            pos += n
            self.h_cols.append(h_col)
            j, coef, rl, rh = _relaxation_rows(layer.activation, lb)
            m = j.size
            add_rows(
                np.repeat(np.arange(m), 2),
                np.column_stack([h_col[j], a_col[j]]).ravel(),
                np.column_stack([np.ones(m), coef]).ravel(),
                rl,
                rh,
            )
            prev = h_col
        if out_rows is not None and n_relaxed == len(network.layers):
            A, b = out_rows
            r_o, c_o = np.nonzero(A)
            add_rows(r_o, self.h_cols[-1][c_o], A[r_o, c_o], np.full(b.size, -np.inf), b)
        self.col_lo = np.concatenate(col_lo)
        self.col_hi = np.concatenate(col_hi)
        self.row_lo = np.concatenate(row_lo)
        self.row_hi = np.concatenate(row_hi)
        self.A = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_rows, pos)
        )
        self.AT = self.A.T.tocsr()
        self.absAT = abs(self.AT)
        self.cuts: list[np.ndarray] = []  # Kelley cuts g over (dp, dm), rhs radius
        self.n_cols = pos
        self._build_highs()

    def _build_highs(self) -> None:
        hs = self._highspy
        h = new_highs()  # silent, banner included
        h.setOptionValue("presolve", "off")  # keeps the basis for warm starts; presolve also slowed IPM 25x here
        if self.A.nnz <= _IPM_NNZ:
            # dual simplex, warm-started from the previous basis after each change of objective
            h.setOptionValue("solver", "simplex")
        else:
            # large LPs: interior point without crossover was faster than warm-started simplex
            # (784-256-256-10, layer 2: 0.31 s vs 0.53 s per LP); its approximate duals still give
            # valid bounds through _lagrangian_bound
            h.setOptionValue("solver", "ipm")
            h.setOptionValue("run_crossover", "off")
        lp = hs.HighsLp()
        lp.num_col_ = self.n_cols
        lp.num_row_ = self.A.shape[0]
        lp.col_cost_ = np.zeros(self.n_cols)
        lp.col_lower_ = self.col_lo
        lp.col_upper_ = self.col_hi
        lp.row_lower_ = self.row_lo
        lp.row_upper_ = self.row_hi
        csc = self.A.tocsc()
        lp.a_matrix_.format_ = hs.MatrixFormat.kColwise
        lp.a_matrix_.start_ = csc.indptr
        lp.a_matrix_.index_ = csc.indices
        lp.a_matrix_.value_ = csc.data
        h.passModel(lp)
        self.h = h

    # -- bounds from duals ----------------------------------------------------------------------
    def _lagrangian_bound(self, cost: np.ndarray, y: np.ndarray) -> float:
        """min cost^T v over the LP's rows and column bounds, bounded below through the multipliers y.

        For any y: cost^T v = y^T (A v) + (cost - A^T y)^T v, and each term is bounded below by the row
        or column bounds on the side its sign selects (weak duality). Wrong-signed multipliers of
        infinite row sides are set to zero first (any y gives a valid bound).
        """
        n_main = self.A.shape[0]
        row_lo = np.concatenate([self.row_lo, np.full(len(self.cuts), -np.inf)])
        row_hi = np.concatenate([self.row_hi, np.full(len(self.cuts), self.radius if self.cuts else 0.0)])
        y = np.where(((y > 0) & np.isinf(row_lo)) | ((y < 0) & np.isinf(row_hi)), 0.0, y)
        r = cost - self.AT @ y[:n_main]
        r_err = self.absAT @ np.abs(y[:n_main])  # |A^T| |y|: scale of the rounding error of r
        if self.cuts:
            G = np.asarray(self.cuts)
            r[: 2 * self.n0] -= G.T @ y[n_main:]
            r_err[: 2 * self.n0] += np.abs(G.T) @ np.abs(y[n_main:])
        row_terms = np.where(y > 0, y * np.where(y > 0, row_lo, 0.0), y * np.where(y < 0, row_hi, 0.0))
        col_terms = r * np.where(r > 0, self.col_lo, np.where(r < 0, self.col_hi, 0.0))
        terms = np.concatenate([row_terms, col_terms])
        total = float(terms.sum())
        if not np.isfinite(total):
            return -np.inf
        # rounding: of the sum, and of r (|r_exact - r| <= gamma |A^T| |y|) times the column magnitudes
        col_mag = np.maximum(np.abs(self.col_lo), np.abs(self.col_hi))
        r_pad = np.zeros_like(r_err)  # 0 where r is exact, also for unbounded columns (no 0 * inf)
        np.multiply(r_err, col_mag, out=r_pad, where=r_err > 0)
        pad = _gamma(terms.size) * (float(np.abs(terms).sum()) + float(r_pad.sum()))
        return total - pad if np.isfinite(pad) else -np.inf

    def _add_cut(self, d: np.ndarray) -> None:
        """Tangent cut g^T (x - c) <= r of the L2 ball at the point c + r g, g = d / ||d||."""
        g = d / np.linalg.norm(d)
        coef = np.concatenate([g, -g])
        self.cuts.append(coef)
        self.h.addRow(-np.inf, float(self.radius), coef.size, np.arange(coef.size, dtype=np.int32), coef)

    def minimize(self, col: int, sense: float, time_left: float | None) -> tuple[float, str]:
        """A sound lower bound of min sense * v[col]; status "ok", "infeasible" (proven) or "none"."""
        hs = self._highspy
        h = self.h
        h.changeColCost(int(col), float(sense))
        cost = np.zeros(self.n_cols)
        cost[col] = sense
        best = -np.inf
        status = "none"
        for _ in range(_KELLEY_ROUNDS if self.kelley else 1):
            if time_left is not None:
                h.setOptionValue("time_limit", max(float(time_left), 1e-3))
            h.run()
            ms = h.getModelStatus()
            if ms == hs.HighsModelStatus.kInfeasible:
                if self._farkas():
                    status = "infeasible"
                break
            sol = h.getSolution()
            if not sol.dual_valid:
                break
            y = np.asarray(sol.row_dual)
            best = max(best, self._lagrangian_bound(cost, y))
            status = "ok"
            if ms != hs.HighsModelStatus.kOptimal or not self.kelley:
                break
            v = np.asarray(sol.col_value)
            d = v[: self.n0] - v[self.n0 : 2 * self.n0]
            if np.linalg.norm(d) <= self.radius * (1 + 1e-6):
                break
            self._add_cut(d)
        h.changeColCost(int(col), 0.0)
        return best, status

    def _farkas(self) -> bool:
        """True when HiGHS's dual ray proves infeasibility (checked: its Lagrangian bound of 0 is > 0)."""
        try:
            _, has, ray = self.h.getDualRay()
        except Exception:  # noqa: BLE001 - any failure means: not proven
            return False
        if not has:
            return False
        ray = np.asarray(ray, dtype=np.float64)
        zero = np.zeros(self.n_cols)
        return any(self._lagrangian_bound(zero, s * ray) > 0 for s in (1.0, -1.0))


def _tightened(lb: LayerBounds, lower: np.ndarray, upper: np.ndarray, act: PiecewiseLinear) -> LayerBounds:
    """LP bounds intersected with the bounds they started from (never wider)."""
    lower = np.maximum(lb.lower, lower)
    upper = np.minimum(lb.upper, upper)
    lower = np.minimum(lower, upper)  # only crossed when no input satisfies the output constraints
    return _layer_bounds(lower, upper, act)


def _lp_tighten(
    network: Network,
    dom: InputDomain,
    layers: list[LayerBounds],
    only_unstable: bool,
    time_limit: float | None,
    output_constraints: Any,
    passes: int,
    start: float,
) -> tuple[list[LayerBounds], bool, bool, int]:
    """LP tightening of interval bounds, layer by layer (see :func:`compute_bounds`)."""
    K = len(network.layers)
    out_rows = _output_rows(output_constraints, network.n_outputs)
    if int(passes) < 1:
        raise ValueError(f"passes must be >= 1, got {passes}")
    time_limit = _check_time_limit(time_limit)
    # Without output constraints the first layer's interval is already the exact range over the domain
    # (up to the bisection of the L2 case), and a second pass reproduces the first.
    first = 0 if out_rows is not None else 1
    n_passes = int(passes) if out_rows is not None else 1
    n_lps = 0
    n_failed = 0  # LPs without a usable dual solution: their neurons keep the interval bounds
    for _ in range(n_passes):
        for k in range(first, K):
            layer, lb = network.layers[k], layers[k]
            select = np.ones(lb.n, dtype=bool)
            if only_unstable and lb.n_pieces > 1:
                select = ~lb.stable
            idx = np.flatnonzero(select)
            if not idx.size:
                continue
            n_relaxed = K if out_rows is not None else k
            lp = _LayerLP(network, dom, layers, n_relaxed, k, out_rows)
            lower, upper = lb.lower.copy(), lb.upper.copy()
            act = layer.activation
            # once a^k_j <= t_0 on a flat first piece, h_j is constant and the lower bound is moot
            flat_first = act.n_pieces > 1 and act.slopes[0] == 0.0
            for j in idx:
                for sense in (-1.0, 1.0):  # the upper bound first
                    if sense > 0 and flat_first and upper[j] <= act.breakpoints[0]:
                        continue
                    left = None if time_limit is None else time_limit - (_time.perf_counter() - start)
                    if left is not None and left <= 0:
                        layers[k] = _tightened(lb, lower, upper, act)
                        return layers, False, False, n_lps
                    value, status = lp.minimize(int(lp.a_cols[k][j]), sense, left)
                    n_lps += 1
                    if status == "infeasible":
                        return layers, True, True, n_lps
                    if status == "none":
                        n_failed += 1
                    if status == "ok":
                        if sense > 0:
                            lower[j] = max(lower[j], value)
                        else:
                            upper[j] = min(upper[j], -value)
            layers[k] = _tightened(lb, lower, upper, act)
        if out_rows is None:
            break
    if n_failed:
        warnings.warn(
            f"LP bound tightening: {n_failed} of {n_lps} LPs gave no usable dual solution; those neurons keep "
            "their interval bounds (sound but looser)",
            RuntimeWarning,
            stacklevel=3,
        )
    return layers, True, False, n_lps
