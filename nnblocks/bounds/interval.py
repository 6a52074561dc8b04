"""Interval bounds: the range of every pre-activation by interval arithmetic, rounded outward.

With W = W^+ + W^-, W^+ = max(W, 0), layer k gets
L^k = W^+ L_h^{k-1} + W^- U_h^{k-1} + b^k and U^k = W^+ U_h^{k-1} + W^- L_h^{k-1} + b^k, where
[L_h, U_h] are the exact ranges of sigma over [L, U]. In the first layer the ball enters through the
dual norm, W_j c + b_j -+ r ||W_j||_q (1/p + 1/q = 1), and through the exact range over box ∩ ball
(L1: a fractional knapsack; L2: a Lagrangian dual; Linf: a box); all ranges are intersected. Every bound
is widened by the floating-point error margin of its dot product (:func:`gamma`).
"""

from __future__ import annotations

import time as _time
from typing import Any

import numpy as np

from nnblocks._validate import dual_norm, norm_of
from nnblocks.activations import PiecewiseLinear
from nnblocks.bounds.domain import InputDomain
from nnblocks.bounds.results import LayerBounds, NetworkBounds
from nnblocks.network import Network

__all__ = ["gamma", "interval_bounds", "interval_method", "layer_bounds"]

_EPS = float(np.finfo(np.float64).eps)


def layer_bounds(lower: np.ndarray, upper: np.ndarray, act: PiecewiseLinear) -> LayerBounds:
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


def gamma(n: int) -> float:
    """2 gamma_{n+2}: covers the rounding of an n-term dot product in the bound and in a forward pass."""
    return 2.0 * (n + 2) * _EPS / (1.0 - (n + 2) * _EPS)


def _pad(n: int, scale: np.ndarray) -> np.ndarray:
    """Outward rounding margin of an n-term dot product whose absolute terms sum to ``scale``.

    Zero where every term is zero (the result is then exact); otherwise 2 gamma_{n+2} scale plus n
    times the smallest normal number (for underflow).
    """
    return np.where(scale > 0, gamma(n) * scale + n * np.finfo(np.float64).tiny, 0.0)


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


def interval_bounds(network: Network, domain: InputDomain) -> list[LayerBounds]:
    """Interval bounds of every layer over the domain (the first layer by :func:`_first_layer_interval`)."""
    layers: list[LayerBounds] = []
    for k, layer in enumerate(network.layers):
        if k == 0:
            lower, upper = _first_layer_interval(layer.W, layer.b, domain)
        else:
            prev = layers[-1]
            lower, upper = _affine_interval(layer.W, layer.b, prev.post_lower, prev.post_upper)
        layers.append(layer_bounds(lower, upper, layer.activation))
    return layers


def interval_method(
    network: Network, domain: InputDomain, *, output_constraints: Any = None, **lp_options: Any
) -> NetworkBounds:
    """``compute_bounds(method="interval")``: the interval bounds of every layer (the LP's options are ignored)."""
    start = _time.perf_counter()
    if output_constraints is not None:
        raise ValueError("output_constraints need method='lp'")
    layers = interval_bounds(network, domain)
    return NetworkBounds(tuple(layers), "interval", _time.perf_counter() - start)
