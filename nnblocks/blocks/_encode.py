"""Bulk construction of the per-layer Pyomo components of a :class:`~nnblocks.blocks.NetworkBlock`.

Every function here fills one layer block with the variables and constraints of one formulation.
Expressions are built row by row from numpy arrays as ``LinearExpression`` objects (zero weights
dropped, previous-layer neurons that are constant folded into the bias); one Python step per
neuron is unavoidable because Pyomo stores one expression object per constraint, but nothing is
done per weight in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo
from pyomo.core.expr.numeric_expr import LinearExpression
from pyomo.core.expr.relational_expr import EqualityExpression, InequalityExpression

from nnblocks._pyomo import add_constraints as _add_constraints
from nnblocks._pyomo import bounds_dict as _bounds_dict
from nnblocks._pyomo import none_if_inf as _none_if_inf

_INF = float("inf")


@dataclass
class _Previous:
    """The previous layer's post-activations h^{k-1}: variables and, where a neuron is constant, its value."""

    vars: np.ndarray  # object array of VarData (None where constant)
    const: np.ndarray  # float array: the constant value, NaN where the neuron is a variable


@dataclass
class _Affine:
    """a = W h + b with constant neurons of h folded into b and zero weights dropped, row by row."""

    coefs: list[list[float]]
    vars: list[list[object]]
    constant: np.ndarray

    @classmethod
    def of(cls, W: np.ndarray, b: np.ndarray, prev: _Previous, rows: np.ndarray | None = None) -> _Affine:
        free = np.isnan(prev.const)
        const = b + (W[:, ~free] @ prev.const[~free] if (~free).any() else 0.0)
        Wf = W[:, free]
        hv = prev.vars[free]
        if rows is None:
            rows = np.arange(W.shape[0])
        coefs, vars_ = [], []
        for j in rows:
            row = Wf[j]
            nz = np.flatnonzero(row)
            coefs.append(row[nz].tolist())
            vars_.append(hv[nz].tolist())
        return cls(coefs, vars_, np.asarray(const, dtype=np.float64)[rows])

    def expression(self, i: int, scale: float = 1.0, extra_coefs=(), extra_vars=(), with_constant=True):
        """scale * (W_j h + b_j) + sum(extra_coefs * extra_vars) as one LinearExpression (row i of this set)."""
        c = self.coefs[i] if scale == 1.0 else [scale * w for w in self.coefs[i]]
        return LinearExpression(
            constant=float(scale * self.constant[i]) if with_constant else None,
            linear_coefs=c + list(extra_coefs),
            linear_vars=self.vars[i] + list(extra_vars),
        )


def _post_vars(lb, n: int, lower: np.ndarray, upper: np.ndarray) -> None:
    """x[j], the post-activation h^k_j of every neuron, with the given bounds."""
    lb.x = pyo.Var(range(n), bounds=_bounds_dict(range(n), lower, upper))


def _stable(lb, act, W, b, prev, pieces: np.ndarray, rows: np.ndarray, name: str = "affine") -> None:
    """Neurons whose piece p is known: x = a_p (W h + b) + c_p (eq. (18) with u fixed).

    With slope a_p = 0 the neuron is the constant c_p: x is fixed, no constraint. Otherwise one
    equality ``affine[j]``.
    """
    slopes = act.slopes[pieces]
    inter = act.intercepts[pieces]
    flat = slopes == 0
    for j, c in zip(rows[flat], inter[flat]):
        lb.x[int(j)].fix(float(c))
    keep = rows[~flat]
    if keep.size == 0:
        return
    aff = _Affine.of(W, b, prev, keep)
    sl, ic = slopes[~flat], inter[~flat]
    x = lb.x
    exprs = {}
    for i, j in enumerate(keep.tolist()):
        e = aff.expression(i, scale=float(sl[i]), extra_coefs=(-1.0,), extra_vars=(x[j],), with_constant=False)
        exprs[j] = EqualityExpression((e, float(-sl[i] * aff.constant[i] - ic[i])))
    _add_constraints(lb, name, exprs)


def relu_fj(lb, W, b, prev, L, U, stable_piece: np.ndarray, relax: bool) -> np.ndarray:
    """ReLU layer in the Fischetti–Jo form (FJ model, Rambau & Richter sec. 2).

    Unstable neurons: W h + b = x - s, x, s >= 0, z in {0,1}, x <= U (1 - z), s <= -L z
    (z = 1 forces x = 0, z = 0 forces s = 0). Stable active neurons: x = W h + b; stable inactive:
    x = 0 (fixed). Returns the indices of the unstable neurons.
    """
    n = W.shape[0]
    unstable = np.flatnonzero(stable_piece < 0)
    _post_vars(lb, n, np.zeros(n), np.maximum(U, 0.0))
    for j in np.flatnonzero(stable_piece == 0):
        lb.x[int(j)].fix(0.0)
    active = np.flatnonzero(stable_piece == 1)
    if active.size:
        _stable(lb, _RELU_PIECES, W, b, prev, np.ones(active.size, dtype=int), active, name="affine_stable")
    idx = unstable.tolist()
    lb.s = pyo.Var(idx, bounds=_bounds_dict(idx, np.zeros(len(idx)), -L[unstable]))
    lb.z = pyo.Var(idx, domain=pyo.UnitInterval if relax else pyo.Binary)
    if not idx:
        return unstable
    aff = _Affine.of(W, b, prev, unstable)
    x, s, z = lb.x, lb.s, lb.z
    aff_e, xb_e, sb_e = {}, {}, {}
    for i, j in enumerate(idx):
        e = aff.expression(i, extra_coefs=(-1.0, 1.0), extra_vars=(x[j], s[j]), with_constant=False)
        aff_e[j] = EqualityExpression((e, float(-aff.constant[i])))
        u, lo = float(U[j]), float(L[j])
        xb_e[j] = InequalityExpression((LinearExpression(linear_coefs=[1.0, u], linear_vars=[x[j], z[j]]), u), False)
        sb_e[j] = InequalityExpression((LinearExpression(linear_coefs=[1.0, lo], linear_vars=[s[j], z[j]]), 0.0), False)
    _add_constraints(lb, "affine", aff_e)
    _add_constraints(lb, "x_bound", xb_e)
    _add_constraints(lb, "s_bound", sb_e)
    return unstable


class _ReLUPieces:
    slopes = np.array([0.0, 1.0])
    intercepts = np.array([0.0, 0.0])


_RELU_PIECES = _ReLUPieces()


def _indicator_domain(jp: list[tuple[int, int]], last: np.ndarray, relax: bool):
    """Binary for every reachable piece but the last; u of the last piece is continuous in [0, 1].

    sum_p u_p = 1 makes the last indicator integral whenever the others are, so P reachable pieces
    need P - 1 binaries (one for two pieces); the LP relaxation is the same. Returned as a dict
    (j, p) -> domain (data, not a function, so that the model pickles).
    """
    if relax:
        return pyo.UnitInterval
    return {(j, p): pyo.UnitInterval if p == last[j] else pyo.Binary for j, p in jp}


def _reachable_pieces(first: np.ndarray, last: np.ndarray, unstable: np.ndarray) -> list[tuple[int, int]]:
    return [(int(j), p) for j in unstable.tolist() for p in range(int(first[j]), int(last[j]) + 1)]


def _stable_and_unstable(lb, act, W, b, prev, first, last, post_lower, post_upper):
    """Post-activation variables for the layer, the affine map of every stable neuron, and for the unstable
    ones their indices (array and list) and the (neuron, piece) pairs the bounds leave reachable."""
    stable = first == last
    unstable = np.flatnonzero(~stable)
    _post_vars(lb, W.shape[0], post_lower, post_upper)
    srows = np.flatnonzero(stable)
    if srows.size:
        _stable(lb, act, W, b, prev, first[srows], srows, name="affine_stable")
    return unstable, unstable.tolist(), _reachable_pieces(first, last, unstable)


def pwl_bigm(lb, act, W, b, prev, L, U, first, last, post_lower, post_upper) -> np.ndarray:
    """General piecewise-linear layer, big-M form of Goerigk & Kurtz Theorem 3, eqs. (16)-(19).

    Per unstable neuron j: the pre-activation variable a[j] = W h + b, one indicator u[j,p] per piece p
    reachable within [L, U] (binary but for the last, see _indicator_domain), sum_p u[j,p] = 1, and for
    every reachable piece

        a >= t_{p-1} - (t_{p-1} - L)(1 - u_p)          (17, piece_lower; p not the first reachable)
        a <= t_p + (U - t_p)(1 - u_p)                   (16, piece_upper; p not the last reachable)
        |x - a_p a - c_p| <= M_p (1 - u_p)              (18, map_lower / map_upper)

    with M_p the largest deviation of sigma from piece p's affine map over [L, U].
    """
    unstable, idx, jp = _stable_and_unstable(lb, act, W, b, prev, first, last, post_lower, post_upper)
    lb.a = pyo.Var(idx, bounds=_bounds_dict(idx, L[unstable], U[unstable]))
    lb.u = pyo.Var(jp, domain=_indicator_domain(jp, last, relax=False))
    if not idx:
        return unstable
    aff = _Affine.of(W, b, prev, unstable)
    x, a, u = lb.x, lb.a, lb.u
    t_lo, t_hi = act.piece_bounds()
    dev_hi, dev_lo = _deviation(act, L[unstable], U[unstable])  # (n_unstable, P)
    aff_e, one_e = {}, {}
    for i, j in enumerate(idx):
        e = aff.expression(i, extra_coefs=(-1.0,), extra_vars=(a[j],), with_constant=False)
        aff_e[j] = EqualityExpression((e, float(-aff.constant[i])))
        one_e[j] = _sum_is_one([u[j, p] for p in range(int(first[j]), int(last[j]) + 1)])
    _add_constraints(lb, "affine", aff_e)
    _add_constraints(lb, "one", one_e)
    pos = {j: i for i, j in enumerate(idx)}
    lower_e, upper_e, map_hi_e, map_lo_e = {}, {}, {}, {}
    for j, p in jp:
        aj, ujp, xj = a[j], u[j, p], x[j]
        if p > first[j]:  # a - (t_{p-1} - L) u_p >= L
            lower_e[j, p] = _ge([1.0, -float(t_lo[p] - L[j])], [aj, ujp], float(L[j]))
        if p < last[j]:  # a + (U - t_p) u_p <= U
            upper_e[j, p] = _le([1.0, float(U[j] - t_hi[p])], [aj, ujp], float(U[j]))
        slope, icpt = float(act.slopes[p]), float(act.intercepts[p])
        m_hi, m_lo = float(dev_hi[pos[j], p]), float(dev_lo[pos[j], p])
        # x - a_p a - c_p <= M+ (1 - u_p)  and  x - a_p a - c_p >= -M- (1 - u_p)
        map_hi_e[j, p] = _le([1.0, -slope, m_hi], [xj, aj, ujp], m_hi + icpt)
        map_lo_e[j, p] = _ge([1.0, -slope, -m_lo], [xj, aj, ujp], icpt - m_lo)
    _add_constraints(lb, "piece_lower", lower_e)
    _add_constraints(lb, "piece_upper", upper_e)
    _add_constraints(lb, "map_upper", map_hi_e)
    _add_constraints(lb, "map_lower", map_lo_e)
    return unstable


def _linear(coefs: list[float], vars_: list) -> LinearExpression:
    """sum(coefs * vars) with the zero coefficients dropped."""
    keep = [(c, v) for c, v in zip(coefs, vars_) if c != 0.0]
    return LinearExpression(linear_coefs=[c for c, _ in keep], linear_vars=[v for _, v in keep])


def _le(coefs: list[float], vars_: list, rhs: float) -> InequalityExpression:
    """sum(coefs * vars) <= rhs."""
    return InequalityExpression((_linear(coefs, vars_), rhs), False)


def _ge(coefs: list[float], vars_: list, rhs: float) -> InequalityExpression:
    """sum(coefs * vars) >= rhs."""
    return InequalityExpression((rhs, _linear(coefs, vars_)), False)


def _eq(coefs: list[float], vars_: list, rhs: float) -> EqualityExpression:
    """sum(coefs * vars) == rhs."""
    return EqualityExpression((_linear(coefs, vars_), rhs))


def _sum_is_one(vars_: list) -> EqualityExpression:
    return _eq([1.0] * len(vars_), vars_, 1.0)


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


def pwl_hull(lb, act, W, b, prev, L, U, first, last, post_lower, post_upper, relax: bool) -> np.ndarray:
    """General piecewise-linear layer, per-neuron convex hull (Balas' disaggregation).

    Per unstable neuron j and reachable piece p: a copy v[j,p] of the pre-activation and u[j,p],

        W h + b = sum_p v_p,   x = sum_p (a_p v_p + c_p u_p),   sum_p u_p = 1,
        max(t_{p-1}, L) u_p <= v_p <= min(t_p, U) u_p.
    """
    unstable, idx, jp = _stable_and_unstable(lb, act, W, b, prev, first, last, post_lower, post_upper)
    t_lo, t_hi = act.piece_bounds()
    lo = {(j, p): max(float(t_lo[p]), float(L[j])) for j, p in jp}
    hi = {(j, p): min(float(t_hi[p]), float(U[j])) for j, p in jp}
    lb.v = pyo.Var(jp, bounds={jp_: (min(lo[jp_], 0.0), max(hi[jp_], 0.0)) for jp_ in jp})
    lb.u = pyo.Var(jp, domain=_indicator_domain(jp, last, relax))
    if not idx:
        return unstable
    aff = _Affine.of(W, b, prev, unstable)
    x, v, u = lb.x, lb.v, lb.u
    pieces = {j: range(int(first[j]), int(last[j]) + 1) for j in idx}
    sl, ic = act.slopes, act.intercepts
    aff_e, one_e, map_e = {}, {}, {}
    for i, j in enumerate(idx):
        vs = [v[j, p] for p in pieces[j]]
        us = [u[j, p] for p in pieces[j]]
        e = aff.expression(i, extra_coefs=[-1.0] * len(vs), extra_vars=vs, with_constant=False)
        aff_e[j] = EqualityExpression((e, float(-aff.constant[i])))
        one_e[j] = _sum_is_one(us)
        # x - sum_p (a_p v_p + c_p u_p) = 0
        coefs = [1.0] + [-float(sl[p]) for p in pieces[j]] + [-float(ic[p]) for p in pieces[j]]
        map_e[j] = _eq(coefs, [x[j], *vs, *us], 0.0)
    _add_constraints(lb, "affine", aff_e)
    _add_constraints(lb, "one", one_e)
    _add_constraints(lb, "map", map_e)
    _add_constraints(lb, "v_lower", {(j, p): _ge([1.0, -lo[j, p]], [v[j, p], u[j, p]], 0.0) for j, p in jp})
    _add_constraints(lb, "v_upper", {(j, p): _le([1.0, -hi[j, p]], [v[j, p], u[j, p]], 0.0) for j, p in jp})
    return unstable


def pattern_layer(lb, act, W, b, prev, pieces: np.ndarray) -> None:
    """Fixed activation pattern: the linear region of Theorem 1 (Goerigk & Kurtz), eqs. (16)-(18) with u given.

    Neuron j with piece p: t_{p-1} <= W h + b <= t_p and x = a_p (W h + b) + c_p. With a_p != 0 the
    region is imposed as bounds on x (the affine image of [t_{p-1}, t_p]); with a_p = 0, x = c_p is
    fixed and the range constraint ``region[j]`` bounds the pre-activation.
    """
    n = W.shape[0]
    t_lo, t_hi = act.piece_bounds()
    a, c = act.slopes[pieces], act.intercepts[pieces]
    with np.errstate(invalid="ignore"):
        ends = np.stack([a * t_lo[pieces] + c, a * t_hi[pieces] + c])
        ends = np.where(np.isnan(ends), np.sign(a) * np.array([[-_INF], [_INF]]), ends)
    lower, upper = np.min(ends, axis=0), np.max(ends, axis=0)
    lower = np.where(a == 0, c, lower)
    upper = np.where(a == 0, c, upper)
    _post_vars(lb, n, lower, upper)
    _stable(lb, act, W, b, prev, pieces, np.arange(n), name="affine")
    flat = np.flatnonzero((a == 0) & (np.isfinite(t_lo[pieces]) | np.isfinite(t_hi[pieces])))
    if flat.size == 0:
        return
    aff = _Affine.of(W, b, prev, flat)
    rng, empty = {}, []
    for i, j in enumerate(flat.tolist()):
        p = int(pieces[j])
        if not aff.vars[i]:  # the pre-activation is a constant: the region is everything or nothing
            if not t_lo[p] <= aff.constant[i] <= t_hi[p]:
                empty.append(j)
            continue
        e = aff.expression(i, with_constant=False)
        lo = _none_if_inf(t_lo[p] - aff.constant[i])
        hi = _none_if_inf(t_hi[p] - aff.constant[i])
        rng[j] = (lo, e, hi)
    _add_constraints(lb, "region", rng)
    if empty:
        # the pattern asks a constant neuron for a piece it is not in: an empty region, stated with a
        # variable so that every solver interface reports infeasibility
        lb.empty = pyo.Var(bounds=(0.0, 0.0))
        lb.empty_region = pyo.Constraint(expr=lb.empty >= 1.0)
