"""Pyomo components built from data, so that a model pickles and clones.

Pyomo keeps a component's construction rule on the component; a lambda or a local function there makes
``pickle.dumps(model)`` fail (a Dask worker or a process pool needs it). Components built here hold only
data: variable bounds as dicts, constraints whose expressions are set one by one after declaration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pyomo.environ as pyo

__all__ = ["add_constraints", "bounds_dict", "none_if_inf"]


def none_if_inf(v: float) -> float | None:
    """``v`` as a Pyomo bound: ``None`` for an infinite (or NaN) value."""
    return None if not np.isfinite(v) else float(v)


def bounds_dict(index: Iterable, lower: Any, upper: Any) -> dict:
    """``{j: (lower_j, upper_j)}`` over ``index`` for ``pyo.Var(index, bounds=...)``; infinite bounds are None."""
    return {j: (none_if_inf(lo), none_if_inf(hi)) for j, lo, hi in zip(index, lower, upper)}


def add_constraints(block: Any, name: str, exprs: Mapping, index: Any = None) -> Any:
    """Declare ``block.<name>`` indexed by ``index`` (default: the keys of ``exprs``) holding ``exprs``.

    Each expression is set directly, so the component keeps no construction rule. Returns the component.
    """
    con = pyo.Constraint(list(exprs) if index is None else index)
    block.add_component(name, con)
    for key, e in exprs.items():
        con[key] = e
    return con
