"""Argument checks the sets share: the direction x of a worst case, scenario rows, the decision terms of a
robust counterpart and the name of its block."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyomo.environ as pyo

__all__ = ["decision_terms", "direction", "free_name", "scenario_rows"]


def direction(x: Any, dim: int) -> np.ndarray:
    """The direction x of max_{c in U} c'x as a finite float vector of length ``dim`` (ValueError otherwise)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.shape != (dim,):
        raise ValueError(f"x must have {dim} entries (the uncertainty set has dimension {dim}), got {x.size}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains NaN or infinite entries")
    return x


def scenario_rows(points: Any, name: str = "points") -> np.ndarray:
    """``points`` as a non-empty finite (m, n) float array (one row for a vector); ValueError naming ``name``."""
    P = np.asarray(points, dtype=float)
    if P.ndim == 1:
        P = P[None, :]
    if P.ndim != 2 or P.shape[0] == 0 or P.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (scenarios x dimension), got shape {P.shape}")
    if not np.all(np.isfinite(P)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return P


def decision_terms(model_x: Any, dim: int) -> list:
    """The decision variables / linear expressions x_1..x_n as a list (indexed component, list, or dict)."""
    if hasattr(model_x, "is_indexed") and model_x.is_indexed():
        items = [model_x[i] for i in model_x.index_set()]
    else:
        items = list(model_x)
    if len(items) != dim:
        raise ValueError(f"x has {len(items)} entries, the uncertainty set has dimension {dim}")
    return items


def free_name(model: pyo.Block, base: str) -> str:
    """``base``, or ``base_2``, ``base_3``, ... : the first name no component of ``model`` has."""
    name, k = base, 1
    while model.component(name) is not None:
        k += 1
        name = f"{base}_{k}"
    return name
