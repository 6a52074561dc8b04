r"""``NormBall``: the distance ||v - c|| of model terms v to a center c, and optionally ||v - c|| <= R.

For the L1 norm this is the linear model of Fischetti & Jo's adversarial problem (Rambau & Richter,
(4.1), first lines): one auxiliary ``d[j]`` per coordinate with

.. math:: d_j \ge v_j - c_j, \qquad d_j \ge c_j - v_j, \qquad \|v - c\|_1 \le \sum_j d_j,

so ``distance = sum_j d_j`` is exact wherever it is minimised or bounded from above (``radius``); it is only
an upper bound of the norm where the model pushes it up. L-infinity uses one auxiliary ``t`` with
``t >= |v_j - c_j|`` for all j. L2 uses no auxiliary: ``distance`` is the **squared** distance
``sum_j (v_j - c_j)^2`` (a convex quadratic, so minimising it minimises the norm), and ``radius`` gives the
convex quadratic constraint ``sum_j (v_j - c_j)^2 <= R^2`` (Goerigk & Kurtz: ||f(c) - c_bar||_2 <= R) that
needs a solver taking quadratic constraints (SCIP; HiGHS does not).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC
from pyomo.core.base.block import ScalarBlock
from pyomo.core.base.indexed_component import IndexedComponent

from nnblocks import _validate
from nnblocks._pyomo import add_constraints as _add_constraints

__all__ = ["NormBall"]

def _as_term_list(terms: Any, what: str) -> list:
    """Ordered list of the scalar Pyomo terms in ``terms``.

    Accepts an indexed component (order of its index set), a list/tuple or object array of variables or
    expressions, or a single scalar variable/expression.
    """
    if isinstance(terms, IndexedComponent):
        out = [terms[i] for i in terms.index_set()]
    elif isinstance(terms, np.ndarray):
        out = list(terms.ravel())
    elif isinstance(terms, list | tuple):
        out = list(terms)
    elif hasattr(terms, "is_expression_type") or hasattr(terms, "is_variable_type"):
        out = [terms]
    elif hasattr(terms, "keys") and hasattr(terms, "__getitem__"):  # read-only mappings 0..n-1 (e.g. pre-activations)
        out = [terms[i] for i in terms.keys()]
    else:
        raise TypeError(
            f"{what} must be an indexed Var, a list of variables or expressions; got {type(terms).__name__}"
        )
    if not out:
        raise ValueError(f"{what} is empty")
    for t in out:
        if isinstance(t, int | float | np.number):
            raise TypeError(f"{what} contains the constant {t!r}; expected model variables or expressions")
    return out


class NormBall(ScalarBlock):
    """Distance of ``vars`` to ``center`` in the 1-, 2- or inf-norm, as a Pyomo block.

    Usage::

        m.ball = NormBall(m.x, x_bar, norm=1, radius=eps)    # ||x - x_bar||_1 <= eps
        m.obj = pyo.Objective(expr=m.ball.distance)          # or minimise the distance

    Parameters
    ----------
    vars
        An indexed Var, a list of variables, or a list of linear expressions (e.g. network outputs).
    center
        Array with one finite entry per term (any shape with that many entries; flattened in C order).
    norm
        ``1``, ``2`` or ``"inf"``.
    radius
        Optional R >= 0: adds the constraint ``radius_con`` (L2: squared distance <= R^2).

    Notes
    -----
    Components: ``J`` coordinate set; ``d[j]`` (L1) or ``t`` (inf) auxiliaries with ``above[j]``/``below[j]``
    constraints d_j >= +-(v_j - c_j); ``distance`` (Expression; squared for L2); ``radius_con``.
    """

    def __init__(self, vars: Any, center: Any, norm: int | str = 1, radius: float | None = None, **kwds) -> None:
        terms = _as_term_list(vars, "vars")
        c = np.asarray(center, dtype=float)
        if c.size != len(terms):
            raise ValueError(f"center has {c.size} entries (shape {c.shape}) but vars has {len(terms)} terms")
        c = c.ravel()
        if not np.all(np.isfinite(c)):
            raise ValueError(f"center must be finite; entries {np.flatnonzero(~np.isfinite(c)).tolist()} are not")
        p = _validate.norm(norm)
        if radius is not None:
            radius = float(radius)
            if not (math.isfinite(radius) and radius >= 0):
                raise ValueError(f"radius must be finite and >= 0, got {radius}")
        kwds.setdefault("rule", NormBall._construct)
        super().__init__(**kwds)
        self._terms = terms
        self._center_values = c
        self._norm = p
        self._radius = radius

    # read-only descriptors of the ball
    @property
    def center(self) -> np.ndarray:
        """The center c (a copy)."""
        return self._center_values.copy()

    @property
    def norm(self) -> int | str:
        return self._norm

    @property
    def radius(self) -> float | None:
        return self._radius

    @property
    def terms(self) -> list:
        """The terms v_j, in coordinate order."""
        return list(self._terms)

    @property
    def squared(self) -> bool:
        """True when ``distance`` is the squared distance (L2)."""
        return self._norm == 2

    def distance_value(self) -> float:
        """||v - c|| at the current values of the terms (not squared), evaluated in float64."""
        v = np.array([pyo.value(t) for t in self._terms], dtype=float)
        return float(_validate.norm_of(v - self._center_values, self._norm))

    @staticmethod
    def _construct(b: NormBall) -> None:
        v, c, p, r = b._terms, b._center_values.tolist(), b._norm, b._radius
        n = len(v)
        with PauseGC():
            b.J = pyo.RangeSet(0, n - 1)
            if p == 1:
                b.d = pyo.Var(b.J, bounds=_aux_bounds(v, b._center_values, r, per_coordinate=True))
                _add_constraints(b, "above", {j: b.d[j] - v[j] >= -c[j] for j in range(n)}, b.J)
                _add_constraints(b, "below", {j: b.d[j] + v[j] >= c[j] for j in range(n)}, b.J)
                b.distance = pyo.Expression(expr=pyo.quicksum(b.d[j] for j in range(n)))
            elif p == "inf":
                lo, hi = _aux_bounds(v, b._center_values, r, per_coordinate=False)
                b.t = pyo.Var(bounds=(lo, hi))
                _add_constraints(b, "above", {j: b.t - v[j] >= -c[j] for j in range(n)}, b.J)
                _add_constraints(b, "below", {j: b.t + v[j] >= c[j] for j in range(n)}, b.J)
                b.distance = pyo.Expression(expr=b.t)
            else:
                b.distance = pyo.Expression(expr=pyo.quicksum((v[j] - c[j]) ** 2 for j in range(n)))
            if r is not None:
                b.radius_con = pyo.Constraint(expr=b.distance <= (r * r if p == 2 else r))


def _aux_bounds(v: list, c: np.ndarray, radius: float | None, per_coordinate: bool):
    """Bounds of the auxiliaries: 0 <= d_j <= min(R, max |bound - c_j|) from the variables' own bounds.

    Tight auxiliary bounds cost nothing and keep the LP relaxation of a surrounding MILP bounded.
    """
    lo = np.full(len(v), -np.inf)
    hi = np.full(len(v), np.inf)
    for j, t in enumerate(v):
        if getattr(t, "is_variable_type", lambda: False)():
            lo[j] = -np.inf if t.lb is None else t.lb
            hi[j] = np.inf if t.ub is None else t.ub
    reach = np.maximum(np.abs(hi - c), np.abs(c - lo))
    if radius is not None:
        reach = np.minimum(reach, radius)
    if per_coordinate:
        return {j: (0.0, float(r) if np.isfinite(r) else None) for j, r in enumerate(reach.tolist())}
    top = float(reach.max())
    return 0.0, (top if np.isfinite(top) else None)
