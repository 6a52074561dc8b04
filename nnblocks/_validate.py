"""Shared checks of scalar arguments: numbers given as Python, numpy or torch scalars (0-d arrays included)."""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

__all__ = ["dual_norm", "enum_member", "integer", "nonnegative", "norm", "norm_of", "real_number", "time_limit"]


def _not_a_scalar(value: Any) -> bool:
    return isinstance(value, bool | np.bool_ | str | bytes) or np.ndim(value) != 0


def real_number(value: Any, name: str) -> float:
    """``value`` as a float (NaN and inf pass: the caller decides); TypeError naming ``name`` for anything that is
    not one real number (a flag, a string, an array of several entries)."""
    try:
        if _not_a_scalar(value):
            raise TypeError
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None


def integer(value: Any, name: str) -> int:
    """``value`` as an int: integers of any kind, and floats with an integral value (1.0); TypeError naming
    ``name`` otherwise (1.7, a flag, a string)."""
    try:
        if _not_a_scalar(value):
            raise TypeError
        try:
            return operator.index(value)
        except TypeError:
            f = float(value)
            if not f.is_integer():
                raise
            return int(f)
    except (TypeError, ValueError, OverflowError):
        raise TypeError(f"{name} must be an integer, got {value!r}") from None


def nonnegative(value: Any, name: str) -> float:
    """``value`` as a finite float >= 0 (a tolerance): TypeError as :func:`real_number`, ValueError for NaN, inf
    or a negative number (a NaN tolerance would accept everything)."""
    number = real_number(value, name)
    if not (math.isfinite(number) and number >= 0):
        raise ValueError(f"{name} must be finite and >= 0, got {number}")
    return number


def time_limit(value: Any) -> float | None:
    """A time limit in seconds: None (or inf) for none; anything else must be a positive number."""
    if value is None:
        return None
    seconds = real_number(value, "time_limit")
    if not seconds > 0:
        raise ValueError(f"time_limit must be positive (None for no limit), got {value}")
    return None if math.isinf(seconds) else seconds


def norm(value: Any, name: str = "norm") -> int | str:
    """The one reading of a norm argument: 1, 2 or ``"inf"``.

    Accepted: the numbers 1, 2 and infinity (Python, numpy or torch scalars, integral floats) and the strings
    ``"1"``, ``"2"``, ``"inf"``, ``"infinity"``, ``"l1"``, ``"l2"``, ``"linf"`` in any case and with
    surrounding blanks. A bool is refused: ``True == 1`` in Python, but a flag is not a norm.
    """
    if isinstance(value, str):
        key = value.strip().lower()
        key = key[1:] if key.startswith("l") else key
        if key in ("1", "2"):
            return int(key)
        if key in ("inf", "infinity"):
            return "inf"
    elif not isinstance(value, bool | np.bool_) and not _not_a_scalar(value):
        try:
            v = float(value)
        except (TypeError, ValueError):
            v = math.nan
        if v in (1.0, 2.0):
            return int(v)
        if v == math.inf:
            return "inf"
    raise ValueError(f"unknown {name} {value!r}: use 1, 2 or 'inf' (or 'l1', 'l2', 'linf'), got {type(value).__name__}")


def norm_of(v: Any, p: int | str, axis: int | None = -1) -> Any:
    """``||v||_p`` along ``axis`` (all entries for ``axis=None``) for a parsed norm ``p`` (see :func:`norm`)."""
    a = np.abs(np.asarray(v, dtype=np.float64))
    if axis is None:
        a, axis = a.ravel(), 0
    if p == 1:
        return a.sum(axis=axis)
    if p == "inf":
        return a.max(axis=axis, initial=0.0)
    return np.linalg.norm(a, axis=axis)  # scaled, so no overflow for entries near the float range


def dual_norm(p: int | str) -> int | str:
    """The dual of a parsed norm: 1 <-> inf, 2 <-> 2."""
    return {1: "inf", 2: 2, "inf": 1}[p]


def enum_member(cls: Any, value: Any, name: str) -> Any:
    """``value`` as a member of the enumeration ``cls`` (a member, or its value such as ``"optimal"``).

    ValueError naming ``name`` and the allowed values otherwise.
    """
    try:
        return cls(value)
    except ValueError:
        raise ValueError(f"{name} must be one of {[m.value for m in cls]}, got {value!r}") from None
