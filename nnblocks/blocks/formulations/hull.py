"""The hull formulation: per neuron the convex hull of its graph over [L, U] (Balas' disaggregation).

ReLU layers keep the Fischetti–Jo form of the big-M formulation (for two pieces it is already that tight
in the binaries it needs); every other piecewise-linear activation gets one copy v_p of the
pre-activation and one indicator u_p per reachable piece.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyomo.environ as pyo
from pyomo.core.expr.relational_expr import EqualityExpression

from nnblocks._pyomo import add_constraints
from nnblocks.blocks.formulations._common import (
    Affine,
    eq,
    ge,
    indicator_domain,
    le,
    stable_and_unstable,
    sum_is_one,
)
from nnblocks.blocks.formulations.base import Formulation, LayerSpec
from nnblocks.blocks.formulations.bigm import PieceIndicators, fj_layer, fj_pre

__all__ = ["Hull", "pwl_hull"]


class Hull(PieceIndicators, Formulation):
    """Per-neuron convex hull: W h + b = sum_p v_p, x = sum_p (a_p v_p + c_p u_p), sum_p u_p = 1.

    Layer components: ``x``, ``v``, ``u`` and ``affine``, ``affine_stable``, ``one``, ``map``, ``v_lower``,
    ``v_upper``; ReLU layers those of the FJ form (``s``, ``z``, ``x_bound``, ``s_bound``). Binaries: ``z[j]``,
    or ``u[j, p]`` for every reachable piece but the last; none when ``relaxed``.
    """

    name = "hull"
    relaxed: ClassVar[bool] = False  # the indicators z and u in [0, 1] instead of binary

    def build_layer(self, lb, spec: LayerSpec) -> np.ndarray:
        if spec.is_relu:
            return fj_layer(lb, spec, relax=self.relaxed)
        return pwl_hull(lb, spec.activation, spec.W, spec.b, spec.prev, spec.lower, spec.upper, spec.first,
                        spec.last, spec.post_lower, spec.post_upper, self.relaxed)

    def pre_activation(self, lb, spec: LayerSpec, j: int):
        """x - s (FJ) or sum_p v[j, p] over the reachable pieces."""
        if spec.is_relu:
            return fj_pre(lb, j)
        return sum(lb.v[j, p] for p in range(int(spec.first[j]), int(spec.last[j]) + 1))


def pwl_hull(lb, act, W, b, prev, L, U, first, last, post_lower, post_upper, relax: bool) -> np.ndarray:
    """General piecewise-linear layer, per-neuron convex hull (Balas' disaggregation).

    Per unstable neuron j and reachable piece p: a copy v[j,p] of the pre-activation and u[j,p],

        W h + b = sum_p v_p,   x = sum_p (a_p v_p + c_p u_p),   sum_p u_p = 1,
        max(t_{p-1}, L) u_p <= v_p <= min(t_p, U) u_p.
    """
    unstable, idx, jp = stable_and_unstable(lb, act, W, b, prev, first, last, post_lower, post_upper)
    t_lo, t_hi = act.piece_bounds()
    lo = {(j, p): max(float(t_lo[p]), float(L[j])) for j, p in jp}
    hi = {(j, p): min(float(t_hi[p]), float(U[j])) for j, p in jp}
    lb.v = pyo.Var(jp, bounds={jp_: (min(lo[jp_], 0.0), max(hi[jp_], 0.0)) for jp_ in jp})
    lb.u = pyo.Var(jp, domain=indicator_domain(jp, last, relax))
    if not idx:
        return unstable
    aff = Affine.of(W, b, prev, unstable)
    x, v, u = lb.x, lb.v, lb.u
    pieces = {j: range(int(first[j]), int(last[j]) + 1) for j in idx}
    sl, ic = act.slopes, act.intercepts
    aff_e, one_e, map_e = {}, {}, {}
    for i, j in enumerate(idx):
        vs = [v[j, p] for p in pieces[j]]
        us = [u[j, p] for p in pieces[j]]
        e = aff.expression(i, extra_coefs=[-1.0] * len(vs), extra_vars=vs, with_constant=False)
        aff_e[j] = EqualityExpression((e, float(-aff.constant[i])))
        one_e[j] = sum_is_one(us)
        # x - sum_p (a_p v_p + c_p u_p) = 0
        coefs = [1.0] + [-float(sl[p]) for p in pieces[j]] + [-float(ic[p]) for p in pieces[j]]
        map_e[j] = eq(coefs, [x[j], *vs, *us], 0.0)
    add_constraints(lb, "affine", aff_e)
    add_constraints(lb, "one", one_e)
    add_constraints(lb, "map", map_e)
    add_constraints(lb, "v_lower", {(j, p): ge([1.0, -lo[j, p]], [v[j, p], u[j, p]], 0.0) for j, p in jp})
    add_constraints(lb, "v_upper", {(j, p): le([1.0, -hi[j, p]], [v[j, p], u[j, p]], 0.0) for j, p in jp})
    return unstable
