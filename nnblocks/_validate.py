"""Shared checks of scalar arguments: numbers given as Python, numpy or torch scalars (0-d arrays included)."""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

__all__ = ["integer", "nonnegative", "real_number"]


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
