"""The Discrete baseline of Goerigk & Kurtz's experiments: the observed scenarios themselves.

U = {c^1, ..., c^m} (equivalently its convex hull, since a linear function is maximised): its worst case is a
maximum over the points, and its robust counterpart (:meth:`DiscreteUncertaintySet.robust_counterpart`) adds one
epigraph row per scenario to a user's Pyomo model, so one LP/MILP solves the robust problem.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pyomo.environ as pyo

from nnblocks._pyomo import add_constraints
from nnblocks.robust.base import WorstCase
from nnblocks.robust.sets._common import decision_terms, direction, free_name, scenario_rows

__all__ = ["DiscreteUncertaintySet"]


class DiscreteUncertaintySet:
    """U = {c^1, ..., c^m}: the given scenarios (rows of ``points``).

    Since max_{c in U} c'x is linear in c, U acts as its convex hull in every robust linear problem.
    """

    def __init__(self, points: Any) -> None:
        self.points = scenario_rows(points)

    @property
    def dim(self) -> int:
        return self.points.shape[1]

    def __len__(self) -> int:
        return self.points.shape[0]

    def contains(self, C: Any, tol: float = 1e-9) -> np.ndarray:
        """Whether each row of C equals one of the points (up to ``tol`` in the max norm)."""
        C = scenario_rows(C, "C")
        out = np.zeros(C.shape[0], dtype=bool)
        for start in range(0, C.shape[0], 1024):
            block = C[start:start + 1024]
            d = np.abs(block[:, None, :] - self.points[None, :, :]).max(axis=2)
            out[start:start + 1024] = (d <= tol).any(axis=1)
        return out

    def worst_case(self, x: Any, **kwargs: Any) -> WorstCase:
        """max_j (c^j)'x by enumeration (exact)."""
        t0 = time.perf_counter()
        x = direction(x, self.dim)
        values = self.points @ x
        j = int(np.argmax(values))
        v = float(values[j])
        return WorstCase(scenario=self.points[j].copy(), value=v, bound=v, status="optimal", method="enumeration",
                         time=time.perf_counter() - t0, stats={"index": j, "n_points": len(self)})

    def robust_counterpart(self, model: pyo.Block, x: Any, name: str | None = None) -> pyo.Block:
        """Add t >= (c^j)'x for all j (epigraph form) to ``model``; the block's ``value`` is t."""
        xs = decision_terms(x, self.dim)
        b = pyo.Block(concrete=True)
        b.t = pyo.Var(domain=pyo.Reals)
        P = self.points
        b.scenarios = pyo.RangeSet(0, P.shape[0] - 1)

        cuts = {j: b.t >= sum(float(P[j, k]) * xs[k] for k in np.flatnonzero(P[j])) for j in range(P.shape[0])}
        add_constraints(b, "cut", cuts, b.scenarios)
        b.value = pyo.Expression(expr=b.t)
        model.add_component(name or free_name(model, "discrete_rc"), b)
        return b
