"""Linear relaxations of the graph's operations, the building blocks of linear bound propagation.

- :class:`~nnblocks.graph.Linear` needs none: y = sum_i W_i x_i + b is exact.
- :class:`~nnblocks.graph.Elementwise` y = sigma(z), z in [l, u]: per element a lower and an upper line
  s_L z + q_L <= sigma(z) <= s_U z + q_U on [l, u] (:func:`elementwise_lines`). For a piecewise-affine sigma
  the lines above sigma on [l, u] are those above its vertices (l, u and the breakpoints inside); among
  them the face of the concave envelope at the midpoint m = (l + u) / 2 minimises the area between line
  and sigma (the area is (u - l) times the line's value at m). Likewise below with the convex envelope.
  For ReLU this is the triangle's upper side U (z - L) / (U - L) and CROWN's adaptive lower slope
  (1 when u > -l, else 0). :func:`kink_lower_line` gives the lower lines of a convex two-piece sigma
  (ReLU, leaky ReLU) through the kink with any slope s in [a_0, a_1], the parameters alpha-CROWN optimises.
- :class:`~nnblocks.graph.WindowMax` y = max_{i in S} x_i: lower line y >= x_{i*} with i* the element of
  largest lower bound; upper line y <= x_{i*} when i* is decided (its lower bound is at least every other
  upper bound, then y = x_{i*}), otherwise the constant y <= max_{i in S} u_i (:func:`window_max_lines`).

Every line is sound in floating point: its intercept is moved outward by its largest violation at the
vertices, computed in float64, plus a rounding margin (a line and sigma are affine between vertices, so a
line on the right side of every vertex is on the right side on all of [l, u]). At a breakpoint both
neighbouring pieces are evaluated (an activation may jump there by its continuity tolerance).
"""

from __future__ import annotations

import numpy as np

from nnblocks.activations import PiecewiseLinear
from nnblocks.graph import WindowMax

__all__ = ["ElementLines", "elementwise_lines", "kink_lower_line", "kink_slopes", "window_max_lines"]

_EPS = float(np.finfo(np.float64).eps)
_TINY = float(np.finfo(np.float64).tiny)

ElementLines = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""(s_L, q_L, s_U, q_U): s_L z + q_L <= sigma(z) <= s_U z + q_U on [l, u], elementwise."""


def _vertices(act: PiecewiseLinear, lo: np.ndarray, hi: np.ndarray):
    """Vertices Z (N, P+1) = (l, t_0, ..., t_{P-2}, u), their validity and the smallest / largest value of
    sigma at each (both neighbouring pieces at a breakpoint)."""
    t, a, c = act.breakpoints, act.slopes, act.intercepts
    N = lo.size
    Z = np.concatenate([lo[:, None], np.broadcast_to(t, (N, t.size)), hi[:, None]], axis=1)
    valid = np.ones(Z.shape, dtype=bool)
    valid[:, 0] = np.isfinite(lo)
    valid[:, -1] = np.isfinite(hi)
    valid[:, 1:-1] = (t >= lo[:, None]) & (t <= hi[:, None])
    Zf = np.where(valid, Z, 0.0)
    p = np.searchsorted(t, Zf, side="left")
    F = a[p] * Zf + c[p]
    Fo = F.copy()
    if t.size:  # the right-hand piece at the breakpoints
        Fo[:, 1:-1] = np.where(valid[:, 1:-1], a[1:] * t + c[1:], 0.0)
    return Zf, valid, np.minimum(F, Fo), np.maximum(F, Fo)


def _shift_up(s: np.ndarray, q: np.ndarray, Z: np.ndarray, valid: np.ndarray, Fmax: np.ndarray) -> np.ndarray:
    """The intercept q' >= q with s z + q' >= sigma at every valid vertex, with a float64 rounding margin."""
    # column by column (a few vertices, many neurons): reductions along a short axis are slow in numpy
    viol = np.full(s.shape, -np.inf)
    scale = np.zeros(s.shape)
    aq = np.abs(q)
    for v in range(Z.shape[1]):
        sz = s * Z[:, v]
        ok = valid[:, v]
        f = Fmax[:, v]
        np.maximum(viol, np.where(ok, f - (sz + q), -np.inf), out=viol)
        np.maximum(scale, np.where(ok, np.abs(f) + np.abs(sz) + aq, 0.0), out=scale)
    q2 = q + np.maximum(viol, 0.0) + 8 * _EPS * scale + _TINY
    return np.nextafter(q2, np.inf)


def _face_at_mid(Z: np.ndarray, valid: np.ndarray, F: np.ndarray, upper: bool) -> tuple[np.ndarray, np.ndarray]:
    """Slope and intercept of the concave (upper) / convex (lower) envelope's face at the midpoint of [Z_0, Z_-1]."""
    V = Z.shape[1]
    ii, jj = np.triu_indices(V, k=1)
    m = 0.5 * (Z[:, 0] + Z[:, -1])
    dz = Z[:, jj] - Z[:, ii]
    ok = valid[:, ii] & valid[:, jj] & (dz > 0) & (Z[:, ii] <= m[:, None]) & (Z[:, jj] >= m[:, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        S = np.where(ok, (F[:, jj] - F[:, ii]) / np.where(ok, dz, 1.0), 0.0)
    Q = F[:, ii] - S * Z[:, ii]
    val = S * m[:, None] + Q
    val = np.where(ok, val, -np.inf if upper else np.inf)
    best = val.argmax(axis=1) if upper else val.argmin(axis=1)
    r = np.arange(Z.shape[0])
    return S[r, best], Q[r, best]


def elementwise_lines(act: PiecewiseLinear, lower: np.ndarray, upper: np.ndarray) -> ElementLines:
    """Sound lower and upper lines of sigma on [lower, upper] (any equal shapes), see the module docstring.

    Where the function is affine on the interval (a stable neuron) both lines are that piece; where an
    interval end is infinite and the neuron is not stable the lines are the constants of sigma's range.
    """
    shape = np.shape(lower)
    lo = np.asarray(lower, dtype=np.float64).ravel()
    hi = np.asarray(upper, dtype=np.float64).ravel()
    t, a, c = act.breakpoints, act.slopes, act.intercepts
    first = np.searchsorted(t, lo, side="right")
    last = np.searchsorted(t, hi, side="left")
    stable = first >= last
    p = np.minimum(first, last)
    Z, valid, Fmin, Fmax = _vertices(act, lo, hi)
    sU, qU = a[p].copy(), c[p].copy()
    finite = np.isfinite(lo) & np.isfinite(hi)
    unst = ~stable & finite
    if unst.any():
        sU[unst], qU[unst] = _face_at_mid(Z[unst], valid[unst], Fmax[unst], upper=True)
    sL, qL = sU.copy(), qU.copy()
    if unst.any():
        sL[unst], qL[unst] = _face_at_mid(Z[unst], valid[unst], Fmin[unst], upper=False)
    qU = _shift_up(sU, qU, Z, valid, Fmax)
    qL = -_shift_up(-sL, -qL, Z, valid, -Fmin)
    loose = ~stable & ~finite
    if loose.any():
        ilo, ihi = act.image_bounds(lo[loose], hi[loose])
        sL[loose], sU[loose] = 0.0, 0.0
        qL[loose], qU[loose] = ilo, ihi
    return sL.reshape(shape), qL.reshape(shape), sU.reshape(shape), qU.reshape(shape)


def kink_slopes(act: PiecewiseLinear) -> tuple[float, float, float] | None:
    """(a_0, a_1, t_0) when sigma is a convex two-piece function (ReLU, leaky ReLU: a_0 < a_1), else None:
    then every line through the kink (t_0, sigma(t_0)) with slope in [a_0, a_1] lies below sigma."""
    if act.n_pieces != 2 or not act.slopes[0] < act.slopes[1]:
        return None
    return float(act.slopes[0]), float(act.slopes[1]), float(act.breakpoints[0])


def kink_lower_line(act: PiecewiseLinear, lower: np.ndarray, upper: np.ndarray, alpha: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Lower lines s z + q <= sigma(z) on [lower, upper] of a convex two-piece sigma with slopes
    s = a_0 + alpha (a_1 - a_0) (alpha clipped to [0, 1]) through the kink, shifted to be sound.

    ``alpha`` broadcasts against ``lower`` (e.g. (B, R, n) against (B, 1, n)); returns arrays of the
    broadcast shape.
    """
    ks = kink_slopes(act)
    if ks is None:
        raise ValueError(f"kink_lower_line needs a convex two-piece activation, got {act!r}")
    a0, a1, t0 = ks
    alpha = np.clip(np.asarray(alpha, dtype=np.float64), 0.0, 1.0)
    lo, hi, alpha = np.broadcast_arrays(np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64),
                                        alpha)
    shape = lo.shape
    s = np.clip(a0 + alpha.ravel() * (a1 - a0), min(a0, a1), max(a0, a1))
    f_t = float(act(np.array([t0]))[0])
    q = f_t - s * t0
    Z, valid, Fmin, _ = _vertices(act, lo.ravel(), hi.ravel())
    q = -_shift_up(-s, -q, Z, valid, -Fmin)
    return s.reshape(shape), q.reshape(shape)


def window_max_lines(op: WindowMax, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The relaxation of y = max over each window, given the bounds (B, total) of the inputs' concatenation.

    Returns (index, decided, cap), each (B, m): ``index`` the flat input index i* of largest lower bound in the
    window (y >= x_{i*}, exact); ``decided`` where l_{i*} >= u_i for every other i of the window (then y = x_{i*});
    ``cap`` = max_{i in S} u_i (the upper line y <= cap where not decided).
    """
    w = op.windows
    B = lo.shape[0]
    idx = np.where(w >= 0, w, 0)
    used = w >= 0
    L = np.where(used, lo[:, idx], -np.inf)  # (B, m, k)
    U = np.where(used, hi[:, idx], -np.inf)
    pos = L.argmax(axis=2)
    index = np.take_along_axis(np.broadcast_to(idx, (B, *idx.shape)), pos[..., None], axis=2)[..., 0]
    l_star = np.take_along_axis(L, pos[..., None], axis=2)[..., 0]
    others = U.copy()
    np.put_along_axis(others, pos[..., None], -np.inf, axis=2)
    decided = l_star >= others.max(axis=2)
    cap = U.max(axis=2)
    return index, decided, cap
