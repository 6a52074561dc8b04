"""The pattern formulation: one activation pattern built in, the LP of its linear region (Theorem 1).

No bounds and no indicators: every neuron j is in its given piece p, so the layer is the affine map
x = a_p (W h + b) + c_p on the region t_{p-1} <= W h + b <= t_p (Goerigk & Kurtz, eqs. (16)-(18) with u
given).
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from nnblocks._pyomo import add_constraints, none_if_inf
from nnblocks.blocks.formulations._common import Affine, post_vars, stable_neurons
from nnblocks.blocks.formulations.base import Formulation, LayerSpec

__all__ = ["Pattern", "pattern_layer"]

_INF = float("inf")


class Pattern(Formulation):
    """A fixed activation pattern: components ``x``, ``affine`` and ``region`` per layer, no indicators."""

    name = "pattern"
    needs_bounds = False
    builds_pattern = True

    def build_layer(self, lb, spec: LayerSpec) -> np.ndarray:
        pattern_layer(lb, spec.activation, spec.W, spec.b, spec.prev, spec.pattern)
        return np.empty(0, dtype=int)

    def indicator_names(self, spec: LayerSpec) -> tuple[str, ...]:
        return ()

    def fix_layer(self, lb, spec: LayerSpec, pieces: np.ndarray) -> None:
        raise ValueError(f'a formulation="{self.name}" block has its pattern built in')


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
    post_vars(lb, n, lower, upper)
    stable_neurons(lb, act, W, b, prev, pieces, np.arange(n), name="affine")
    flat = np.flatnonzero((a == 0) & (np.isfinite(t_lo[pieces]) | np.isfinite(t_hi[pieces])))
    if flat.size == 0:
        return
    aff = Affine.of(W, b, prev, flat)
    rng, empty = {}, []
    for i, j in enumerate(flat.tolist()):
        p = int(pieces[j])
        if not aff.vars[i]:  # the pre-activation is a constant: the region is everything or nothing
            if not t_lo[p] <= aff.constant[i] <= t_hi[p]:
                empty.append(j)
            continue
        e = aff.expression(i, with_constant=False)
        lo = none_if_inf(t_lo[p] - aff.constant[i])
        hi = none_if_inf(t_hi[p] - aff.constant[i])
        rng[j] = (lo, e, hi)
    add_constraints(lb, "region", rng)
    if empty:
        # the pattern asks a constant neuron for a piece it is not in: an empty region, stated with a
        # variable so that every solver interface reports infeasibility
        lb.empty = pyo.Var(bounds=(0.0, 0.0))
        lb.empty_region = pyo.Constraint(expr=lb.empty >= 1.0)
