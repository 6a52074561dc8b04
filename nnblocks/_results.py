"""Plain JSON data from result objects.

Every result dataclass of nnblocks derives from :class:`AsDict`, whose ``as_dict()`` returns its fields as data
that :func:`json.dumps` writes with ``allow_nan=False``:

- numpy arrays become (nested) lists, numpy scalars Python numbers, tuples and sets lists;
- enumerations become their value (``SolveStatus.OPTIMAL`` -> ``"optimal"``);
- nested results (and other dataclasses) become dicts, through their own ``as_dict`` where they have one;
- dict keys become strings (as :func:`json.dumps` writes them);
- ``inf`` and ``-inf`` become the strings ``"inf"`` and ``"-inf"`` (``float()`` reads them back), NaN becomes
  ``None``.

A class leaves fields out with ``class R(AsDict, exclude=("raw",))`` (objects of a solver interface, networks).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

__all__ = ["AsDict", "result_dict", "to_jsonable"]


def _float(v: float) -> float | str | None:
    if math.isfinite(v):
        return v
    if math.isnan(v):
        return None
    return "inf" if v > 0 else "-inf"


def _array(a: np.ndarray, where: str) -> Any:
    kind = a.dtype.kind
    if kind in "biu":  # bool, signed and unsigned integers
        return a.tolist()
    if kind == "f":
        values = a.tolist()
        return values if np.isfinite(a).all() else to_jsonable(values, where)
    if kind in "OUS":  # objects, strings, bytes: element by element
        return [to_jsonable(v, f"{where}[{i}]") for i, v in enumerate(a.tolist())] if a.ndim else to_jsonable(
            a.item(), where)
    raise TypeError(f"{where}: a numpy array of dtype {a.dtype} has no JSON form")


def to_jsonable(value: Any, where: str = "value") -> Any:
    """``value`` as plain JSON data (the rules of this module); ``where`` names it in the TypeError raised for an
    object that has no JSON form."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, where)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return _float(float(value))
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return _array(value, where)
    if isinstance(value, Mapping):
        return {k if isinstance(k, str) else str(to_jsonable(k, where)): to_jsonable(v, f"{where}[{k!r}]")
                for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if callable(getattr(value, "as_dict", None)):
        return to_jsonable(value.as_dict(), where)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return result_dict(value, where=where)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{where}: an object of type {type(value).__name__} has no JSON form")


def result_dict(result: Any, exclude: tuple[str, ...] = (), where: str | None = None) -> dict[str, Any]:
    """The fields of the dataclass instance ``result``, but those named in ``exclude``, as plain JSON data."""
    where = type(result).__name__ if where is None else where
    return {f.name: to_jsonable(getattr(result, f.name), f"{where}.{f.name}")
            for f in dataclasses.fields(result) if f.name not in exclude}


class AsDict:
    """Base of result dataclasses: ``as_dict()`` gives the fields as plain JSON data (see :mod:`nnblocks._results`).

    ``class R(AsDict, exclude=(...))`` names the fields left out.
    """

    _as_dict_exclude: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, exclude: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if exclude:
            cls._as_dict_exclude = tuple(exclude)

    def as_dict(self) -> dict[str, Any]:
        """The fields as plain JSON data: arrays as lists, enumerations as their values, nested results as dicts,
        +-inf as ``"inf"``/``"-inf"`` and NaN as ``None`` (``json.dumps(r.as_dict(), allow_nan=False)`` works)."""
        return result_dict(self, self._as_dict_exclude)
