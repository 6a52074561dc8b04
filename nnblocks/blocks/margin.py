r"""``TargetMargin``: the network output ``target`` beats every other output by a margin gamma.

Two forms, one constraint per other class j (indexed by the set ``others``):

- ``kind="ratio"`` (Fischetti & Jo; Rambau & Richter (4.1)): :math:`y_t \ge (1 + \gamma)\, y_j`.
  This means "t wins" only where the outputs are non-negative (for y_j < 0 it allows y_t < y_j), so it is
  accepted only when non-negativity of every y_j, j != t, is proven by ``output_bounds`` or by the
  variables' own lower bounds (e.g. a ReLU on the output layer).
- ``kind="difference"``: :math:`y_t \ge y_j + \gamma`, sound for outputs of any sign.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.core.base.block import ScalarBlock

from nnblocks._pyomo import add_constraints as _add_constraints
from nnblocks.blocks.norms import _as_term_list

__all__ = ["TargetMargin"]

KINDS = ("ratio", "difference")


def _lower_bounds(outputs: list, output_bounds: Any) -> np.ndarray:
    """Proven lower bounds of the outputs: ``output_bounds`` if given, else the variables' lower bounds."""
    n = len(outputs)
    if output_bounds is not None:
        lower = getattr(output_bounds, "post_lower", output_bounds)  # a LayerBounds of the output layer works
        lower = np.asarray(lower, dtype=float).ravel()
        if lower.size != n:
            raise ValueError(f"output_bounds has {lower.size} lower bounds but there are {n} outputs")
        if np.any(np.isnan(lower)):
            raise ValueError("output_bounds contains NaN")
        return lower
    lower = np.full(n, -np.inf)
    for j, y in enumerate(outputs):
        if getattr(y, "is_variable_type", lambda: False)():
            if y.fixed:
                lower[j] = pyo.value(y)
            elif y.lb is not None:
                lower[j] = y.lb
    return lower


class TargetMargin(ScalarBlock):
    """Constraints making output ``target`` the winner with margin ``gamma``, as a Pyomo block.

    Usage::

        m.margin = TargetMargin(m.nn.outputs, target=3, gamma=0.2)              # FJ ratio form
        m.margin = TargetMargin(m.nn.outputs, target=3, gamma=0.5, kind="difference")

    Parameters
    ----------
    outputs
        Indexed Var, list of variables or linear expressions y_0..y_{n-1} (n >= 2).
    target
        Index t of the class that must win.
    gamma
        Margin, finite and >= 0.
    kind
        ``"ratio"`` (y_t >= (1 + gamma) y_j) or ``"difference"`` (y_t >= y_j + gamma).
    output_bounds
        Lower bounds of the outputs (array, or a ``LayerBounds`` whose ``post_lower`` is used) proving
        y_j >= 0 for the ratio form; without it the variables' own lower bounds are used.

    Notes
    -----
    Components: ``others`` (the classes j != t) and ``margin[j]``.
    """

    def __init__(
        self,
        outputs: Any,
        target: int,
        gamma: float,
        kind: str = "ratio",
        output_bounds: Any = None,
        **kwds,
    ) -> None:
        ys = _as_term_list(outputs, "outputs")
        n = len(ys)
        if n < 2:
            raise ValueError(f"a target margin needs at least 2 outputs, got {n}")
        if isinstance(target, bool) or not isinstance(target, int | np.integer) or not 0 <= target < n:
            raise ValueError(f"target must be an integer in 0..{n - 1}, got {target!r}")
        gamma = float(gamma)
        if not (math.isfinite(gamma) and gamma >= 0):
            raise ValueError(f"gamma must be finite and >= 0, got {gamma}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if kind == "ratio":
            lower = _lower_bounds(ys, output_bounds)
            others = np.delete(np.arange(n), int(target))
            bad = others[~(lower[others] >= 0)]
            if bad.size:
                raise ValueError(
                    "kind='ratio' (y_t >= (1 + gamma) y_j) is sound only for non-negative outputs, but outputs "
                    f"{bad.tolist()} are not proven >= 0 (lower bounds {lower[bad].tolist()}); pass output_bounds "
                    "proving y >= 0 or use kind='difference'"
                )
        kwds.setdefault("rule", TargetMargin._construct)
        super().__init__(**kwds)
        self._outputs = ys
        self._target = int(target)
        self._gamma = gamma
        self._kind = kind

    @property
    def target(self) -> int:
        return self._target

    @property
    def gamma(self) -> float:
        return self._gamma

    @property
    def kind(self) -> str:
        return self._kind

    def satisfied(self, tol: float = 1e-6) -> bool:
        """Whether the current values of the outputs satisfy every margin constraint (float64, tolerance tol)."""
        y = np.array([pyo.value(t) for t in self._outputs], dtype=float)
        others = np.delete(y, self._target)
        rhs = (1 + self._gamma) * others if self._kind == "ratio" else others + self._gamma
        return bool(np.all(y[self._target] >= rhs - tol))

    @staticmethod
    def _construct(b: TargetMargin) -> None:
        y, t, g = b._outputs, b._target, b._gamma
        b.others = pyo.Set(initialize=[j for j in range(len(y)) if j != t], ordered=True)
        if b._kind == "ratio":
            exprs = {j: y[t] - (1 + g) * y[j] >= 0 for j in b.others}
        else:
            exprs = {j: y[t] - y[j] >= g for j in b.others}
        _add_constraints(b, "margin", exprs, b.others)
