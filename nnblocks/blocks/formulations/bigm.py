"""The big-M formulation: Fischetti–Jo on ReLU layers, one indicator per reachable piece on the others.

ReLU layers get the FJ model of Fischetti & Jo (Rambau & Richter sec. 2): a slack s and one binary z per
unstable neuron. Every other piecewise-linear activation gets the big-M form of Goerigk & Kurtz,
Theorem 3, eqs. (16)-(19): the pre-activation variable a and an indicator u_p per reachable piece.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
from pyomo.core.expr.numeric_expr import LinearExpression
from pyomo.core.expr.relational_expr import EqualityExpression, InequalityExpression

from nnblocks._pyomo import add_constraints, bounds_dict
from nnblocks.blocks.formulations._common import (
    Affine,
    fix_piece_indicators,
    ge,
    indicator_domain,
    le,
    post_vars,
    stable_and_unstable,
    stable_neurons,
    sum_is_one,
)
from nnblocks.blocks.formulations.base import Formulation, LayerSpec

__all__ = ["BigM", "fj_fix", "fj_layer", "fj_pre", "pwl_bigm", "relu_fj"]


class PieceIndicators:
    """The binaries of the formulations with one indicator per piece: FJ's z on a ReLU layer (z = 1: inactive),
    u[j, p] on any other (u[j, p] = 1: neuron j on piece p); fixing a pattern fixes them."""

    def indicator_names(self, spec: LayerSpec) -> tuple[str, ...]:
        return ("z",) if spec.is_relu else ("u",)

    def fix_layer(self, lb, spec: LayerSpec, pieces: np.ndarray) -> None:
        if spec.is_relu:
            fj_fix(lb, pieces)
        else:
            fix_piece_indicators(lb.u, pieces)


class BigM(PieceIndicators, Formulation):
    """Big-M: FJ on ReLU layers (binary z, x <= U (1 - z), s <= -L z), per-piece big-M eqs. (16)-(19) otherwise.

    Layer components: ``x``, ``s``, ``z`` and ``affine``, ``affine_stable``, ``x_bound``, ``s_bound`` (ReLU);
    ``x``, ``a``, ``u`` and ``affine``, ``affine_stable``, ``one``, ``piece_lower``, ``piece_upper``,
    ``map_lower``, ``map_upper`` (other activations). Binaries: ``z[j]``, or ``u[j, p]`` for every reachable
    piece but the last.
    """

    name = "bigm"

    def build_layer(self, lb, spec: LayerSpec) -> np.ndarray:
        if spec.is_relu:
            return fj_layer(lb, spec, relax=False)
        return pwl_bigm(lb, spec.activation, spec.W, spec.b, spec.prev, spec.lower, spec.upper, spec.first,
                        spec.last, spec.post_lower, spec.post_upper)

    def pre_activation(self, lb, spec: LayerSpec, j: int):
        """x - s (FJ) or the variable a[j] (eq. (19))."""
        return fj_pre(lb, j) if spec.is_relu else lb.a[j]



def fj_layer(lb, spec: LayerSpec, relax: bool) -> np.ndarray:
    """A ReLU layer in the FJ form (:func:`relu_fj`) from its spec; z in [0, 1] when ``relax``."""
    first, last = spec.first, spec.last
    stable_piece = np.where(first == last, first, -1)
    return relu_fj(lb, spec.W, spec.b, spec.prev, spec.lower, spec.upper, stable_piece, relax)


def fj_pre(lb, j: int):
    """The pre-activation of an unstable FJ neuron: W_j h + b_j = x_j - s_j."""
    return lb.x[j] - lb.s[j]


def fj_fix(lb, pieces: np.ndarray) -> None:
    """Fix z to the pattern: z = 1 (x = 0, pre = -s <= 0) for piece 0, z = 0 (s = 0, pre = x >= 0) for piece 1."""
    for j in lb.z:
        lb.z[j].fix(1.0 if pieces[j] == 0 else 0.0)


class _ReLUPieces:
    """The two pieces of max(0, a) as the slopes and intercepts stable_neurons reads."""

    slopes = np.array([0.0, 1.0])
    intercepts = np.array([0.0, 0.0])


_RELU_PIECES = _ReLUPieces()


def relu_fj(lb, W, b, prev, L, U, stable_piece: np.ndarray, relax: bool) -> np.ndarray:
    """ReLU layer in the Fischetti–Jo form (FJ model, Rambau & Richter sec. 2).

    Unstable neurons: W h + b = x - s, x, s >= 0, z in {0,1}, x <= U (1 - z), s <= -L z
    (z = 1 forces x = 0, z = 0 forces s = 0). Stable active neurons: x = W h + b; stable inactive:
    x = 0 (fixed). Returns the indices of the unstable neurons.
    """
    n = W.shape[0]
    unstable = np.flatnonzero(stable_piece < 0)
    post_vars(lb, n, np.zeros(n), np.maximum(U, 0.0))
    for j in np.flatnonzero(stable_piece == 0):
        lb.x[int(j)].fix(0.0)
    active = np.flatnonzero(stable_piece == 1)
    if active.size:
        stable_neurons(lb, _RELU_PIECES, W, b, prev, np.ones(active.size, dtype=int), active, name="affine_stable")
    idx = unstable.tolist()
    lb.s = pyo.Var(idx, bounds=bounds_dict(idx, np.zeros(len(idx)), -L[unstable]))
    lb.z = pyo.Var(idx, domain=pyo.UnitInterval if relax else pyo.Binary)
    if not idx:
        return unstable
    aff = Affine.of(W, b, prev, unstable)
    x, s, z = lb.x, lb.s, lb.z
    aff_e, xb_e, sb_e = {}, {}, {}
    for i, j in enumerate(idx):
        e = aff.expression(i, extra_coefs=(-1.0, 1.0), extra_vars=(x[j], s[j]), with_constant=False)
        aff_e[j] = EqualityExpression((e, float(-aff.constant[i])))
        u, lo = float(U[j]), float(L[j])
        xb_e[j] = InequalityExpression((LinearExpression(linear_coefs=[1.0, u], linear_vars=[x[j], z[j]]), u), False)
        sb_e[j] = InequalityExpression((LinearExpression(linear_coefs=[1.0, lo], linear_vars=[s[j], z[j]]), 0.0), False)
    add_constraints(lb, "affine", aff_e)
    add_constraints(lb, "x_bound", xb_e)
    add_constraints(lb, "s_bound", sb_e)
    return unstable


def pwl_bigm(lb, act, W, b, prev, L, U, first, last, post_lower, post_upper) -> np.ndarray:
    """General piecewise-linear layer, big-M form of Goerigk & Kurtz Theorem 3, eqs. (16)-(19).

    Per unstable neuron j: the pre-activation variable a[j] = W h + b, one indicator u[j,p] per piece p
    reachable within [L, U] (binary but for the last, see indicator_domain), sum_p u[j,p] = 1, and for
    every reachable piece

        a >= t_{p-1} - (t_{p-1} - L)(1 - u_p)          (17, piece_lower; p not the first reachable)
        a <= t_p + (U - t_p)(1 - u_p)                   (16, piece_upper; p not the last reachable)
        |x - a_p a - c_p| <= M_p (1 - u_p)              (18, map_lower / map_upper)

    with M_p the largest deviation of sigma from piece p's affine map over [L, U].
    """
    unstable, idx, jp = stable_and_unstable(lb, act, W, b, prev, first, last, post_lower, post_upper)
    lb.a = pyo.Var(idx, bounds=bounds_dict(idx, L[unstable], U[unstable]))
    lb.u = pyo.Var(jp, domain=indicator_domain(jp, last, relax=False))
    if not idx:
        return unstable
    aff = Affine.of(W, b, prev, unstable)
    x, a, u = lb.x, lb.a, lb.u
    t_lo, t_hi = act.piece_bounds()
    dev_hi, dev_lo = _deviation(act, L[unstable], U[unstable])  # (n_unstable, P)
    aff_e, one_e = {}, {}
    for i, j in enumerate(idx):
        e = aff.expression(i, extra_coefs=(-1.0,), extra_vars=(a[j],), with_constant=False)
        aff_e[j] = EqualityExpression((e, float(-aff.constant[i])))
        one_e[j] = sum_is_one([u[j, p] for p in range(int(first[j]), int(last[j]) + 1)])
    add_constraints(lb, "affine", aff_e)
    add_constraints(lb, "one", one_e)
    pos = {j: i for i, j in enumerate(idx)}
    lower_e, upper_e, map_hi_e, map_lo_e = {}, {}, {}, {}
    for j, p in jp:
        aj, ujp, xj = a[j], u[j, p], x[j]
        if p > first[j]:  # a - (t_{p-1} - L) u_p >= L
            lower_e[j, p] = ge([1.0, -float(t_lo[p] - L[j])], [aj, ujp], float(L[j]))
        if p < last[j]:  # a + (U - t_p) u_p <= U
            upper_e[j, p] = le([1.0, float(U[j] - t_hi[p])], [aj, ujp], float(U[j]))
        slope, icpt = float(act.slopes[p]), float(act.intercepts[p])
        m_hi, m_lo = float(dev_hi[pos[j], p]), float(dev_lo[pos[j], p])
        # x - a_p a - c_p <= M+ (1 - u_p)  and  x - a_p a - c_p >= -M- (1 - u_p)
        map_hi_e[j, p] = le([1.0, -slope, m_hi], [xj, aj, ujp], m_hi + icpt)
        map_lo_e[j, p] = ge([1.0, -slope, -m_lo], [xj, aj, ujp], icpt - m_lo)
    add_constraints(lb, "piece_lower", lower_e)
    add_constraints(lb, "piece_upper", upper_e)
    add_constraints(lb, "map_upper", map_hi_e)
    add_constraints(lb, "map_lower", map_lo_e)
    return unstable


def _deviation(act, L: np.ndarray, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """max over w in [L, U] of sigma(w) - (a_p w + c_p) and of (a_p w + c_p) - sigma(w), per piece p.

    The difference of two piecewise-affine functions attains its extremes at L, U or at breakpoints
    inside [L, U], so those points suffice (breakpoints outside are clipped onto L or U).
    """
    pts = np.column_stack([L, U, np.clip(act.breakpoints[None, :], L[:, None], U[:, None])])
    sig = act(pts)
    lin = pts[:, :, None] * act.slopes[None, None, :] + act.intercepts[None, None, :]
    diff = sig[:, :, None] - lin
    return np.maximum(diff.max(axis=1), 0.0), np.maximum((-diff).max(axis=1), 0.0)
