"""Encodings of window maxima y_j = max_{i in S_j} x_i (MaxPool, elementwise Max of tensors), one per formulation.

A graph's WindowMax node is encoded on its own block ``m.nn.nodes[k]`` with the output variables ``x[j]``
(= y_j). Element i of window j is *ruled out* when another element's lower bound exceeds its upper bound
(L_i' > U_i: it is never the maximum); the others are the window's *candidates* C_j. A window with one
candidate is y_j = x_i (no binary). Otherwise, per formulation:

- ``bigm`` (Tjeng, Xiao & Tedrake 2019, MIPVerify's max; Anderson et al. 2020, sec. 2): one binary z_{j,i}
  per candidate, ``ge``: y >= x_i, ``le``: y <= x_i + (U_{-i} - L_i)(1 - z_i), ``one``: sum_i z_i = 1, with
  U_{-i} the largest upper bound of the other candidates (the window's largest U in Tjeng et al.; this is
  never weaker).
- ``hull`` (Balas' disaggregation of the disjunction over i in C_j of {y = x_i, x_l <= x_i for all l}):
  copies v_{j,i,l} of every candidate l per disjunct i, ``split``: x_l = sum_i v_{i,l}, ``y_split``:
  y = sum_i v_{i,i}, ``dominate``: v_{i,l} <= v_{i,i}, ``v_lower``/``v_upper``: L_l z_i <= v_{i,l} <= U_l z_i,
  ``one``: sum_i z_i = 1: the convex hull of the graph of max over the box, with binary z_i.
- ``relaxation``: the hull with z in [0, 1] (an LP).
- ``pattern``: the argmax i* of every window given: ``single``: y = x_{i*} and ``ge``: y >= x_l for every
  element l of the window (the region where i* is the maximum).

A pattern of a WindowMax node is, per output j, the position (column of ``windows``) of its argmax.
A new formulation gets its window-max encoding as a subclass of :class:`WindowMaxEncoding` here, registered
with :func:`register_window_max` under the formulation's name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pyomo.environ as pyo

from nnblocks._pyomo import add_constraints, bounds_dict
from nnblocks.blocks.formulations._common import eq, ge, le, sum_is_one
from nnblocks.blocks.formulations.base import Previous

__all__ = [
    "WINDOW_MAX_ENCODINGS", "BigMWindowMax", "HullWindowMax", "PatternWindowMax", "RelaxationWindowMax",
    "WindowMaxEncoding", "WindowMaxSpec", "register_window_max", "window_candidates", "window_max_encoding",
]

_INF = float("inf")


def window_candidates(windows: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The candidates of every window and the largest upper bound of the other candidates.

    Returns ``mask`` (m, w): place p of window j holds an element that the bounds do not rule out (no other
    element of the window has a lower bound above its upper bound), and ``u_other`` (m, w): the largest
    upper bound among the window's other candidates (-inf when there is none).
    """
    valid = windows >= 0
    idx = np.where(valid, windows, 0)
    Lw = np.where(valid, lower[idx], -_INF)
    Uw = np.where(valid, upper[idx], -_INF)
    mask = valid & ~(_max_of_others(Lw) > Uw)
    return mask, _max_of_others(np.where(mask, Uw, -_INF))


def _max_of_others(A: np.ndarray) -> np.ndarray:
    """For every entry of every row, the maximum of the row's other entries (-inf for a single entry)."""
    m, w = A.shape
    if w == 1:
        return np.full((m, 1), -_INF)
    top = np.argmax(A, axis=1)
    first = A[np.arange(m), top]
    rest = A.copy()
    rest[np.arange(m), top] = -_INF
    second = rest.max(axis=1)
    out = np.repeat(first[:, None], w, axis=1)
    out[np.arange(m), top] = second
    return out


@dataclass(frozen=True, eq=False)
class WindowMaxSpec:
    """What one WindowMax node's encoding is built from.

    ``windows`` (m, w) indexes ``prev`` (the concatenation of the node's input tensors; -1 = unused place);
    ``lower``/``upper`` are the bounds of ``prev``'s entries (None without bounds); ``mask`` the candidates
    (:func:`window_candidates`, every used place without bounds), ``u_other`` the big-M data; ``pattern``
    the argmax place of every window when the formulation builds the pattern in.
    """

    k: int
    windows: np.ndarray
    prev: Previous
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    pattern: np.ndarray | None = None
    mask: np.ndarray | None = None
    u_other: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.mask is None:
            if self.lower is None:
                mask, u_other = self.windows >= 0, None
            else:
                mask, u_other = window_candidates(self.windows, self.lower, self.upper)
            object.__setattr__(self, "mask", mask)
            object.__setattr__(self, "u_other", u_other)

    @property
    def n(self) -> int:
        """The number of outputs (windows)."""
        return int(self.windows.shape[0])

    @property
    def n_candidates(self) -> np.ndarray:
        """The number of candidates of every window."""
        return self.mask.sum(axis=1)

    @property
    def open(self) -> np.ndarray:
        """The windows with more than one candidate (those that get indicators)."""
        return np.flatnonzero(self.n_candidates > 1)

    def output_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """[max of the candidates' L, max of the candidates' U] per window (-inf/inf without bounds)."""
        if self.lower is None:
            return np.full(self.n, -_INF), np.full(self.n, _INF)
        idx = np.where(self.mask, self.windows, 0)
        return (np.where(self.mask, self.lower[idx], -_INF).max(axis=1),
                np.where(self.mask, self.upper[idx], -_INF).max(axis=1))

    def term(self, e: int) -> tuple[Any, float]:
        """Element e of the inputs as (variable, 0.0), or (None, value) when it is a constant."""
        c = self.prev.const[e]
        return (None, float(c)) if not np.isnan(c) else (self.prev.vars[e], 0.0)


def _constraint(pairs: list[tuple[float, Any, float]], sense: str, rhs: float):
    """sum coef * term (sense) rhs with the constant terms moved to the right; None when no variable is left
    and the constraint holds, False when it fails."""
    coefs, vars_ = [], []
    for c, v, const in pairs:
        if v is None:
            rhs -= c * const
        else:
            coefs.append(c)
            vars_.append(v)
    if not vars_:
        ok = {"<=": 0.0 <= rhs + 1e-12, ">=": 0.0 >= rhs - 1e-12, "==": abs(rhs) <= 1e-12}[sense]
        return None if ok else False
    return {"<=": le, ">=": ge, "==": eq}[sense](coefs, vars_, rhs)


class _Constraints:
    """Constraint expressions collected by name, added in bulk; a constant constraint that fails marks the
    block infeasible (``empty_region``, as the pattern formulation does)."""

    def __init__(self) -> None:
        self.exprs: dict[str, dict] = {}
        self.empty = False

    def add(self, name: str, key: Any, pairs, sense: str, rhs: float) -> None:
        e = _constraint(pairs, sense, rhs)
        if e is False:
            self.empty = True
        elif e is not None:
            self.exprs.setdefault(name, {})[key] = e

    def commit(self, lb, names: tuple[str, ...]) -> None:
        for name in names:
            add_constraints(lb, name, self.exprs.get(name, {}))
        if self.empty:
            lb.empty = pyo.Var(bounds=(0.0, 0.0))
            lb.empty_region = pyo.Constraint(expr=lb.empty >= 1.0)


def _singles(lb, spec: WindowMaxSpec, cons: _Constraints, rows: np.ndarray, places: np.ndarray) -> None:
    """y_j = x_e for the element e at place ``places[i]`` of window ``rows[i]``: fixed when e is a constant."""
    for j, p in zip(rows.tolist(), places.tolist()):
        v, c = spec.term(int(spec.windows[j, p]))
        if v is None:
            lb.x[j].fix(c)
        else:
            cons.add("single", j, [(1.0, lb.x[j], 0.0), (-1.0, v, 0.0)], "==", 0.0)


class WindowMaxEncoding(ABC):
    """The window-max encoding of the formulation called ``formulation``: stateless, like a Formulation."""

    formulation: ClassVar[str]
    relaxed: ClassVar[bool] = False

    @abstractmethod
    def build(self, lb: Any, spec: WindowMaxSpec) -> np.ndarray:
        """Add ``x[j]`` = y_j and the encoding to the node block ``lb``; return the windows with indicators."""

    def indicator_names(self, spec: WindowMaxSpec) -> tuple[str, ...]:
        return ("z",)

    def fix(self, lb: Any, spec: WindowMaxSpec, places: np.ndarray) -> None:
        """Fix the indicators: z[j, places[j]] = 1, the window's other z = 0 (places the bounds allow)."""
        for j, p in lb.z.index_set():
            lb.z[j, p].fix(1.0 if places[j] == p else 0.0)

    def unfix(self, lb: Any, spec: WindowMaxSpec) -> None:
        for v in lb.z.values():
            v.unfix()

    def _outputs_and_singles(self, lb, spec: WindowMaxSpec, cons: _Constraints) -> tuple[np.ndarray, list]:
        lo, hi = spec.output_bounds()
        lb.x = pyo.Var(range(spec.n), bounds=bounds_dict(range(spec.n), lo, hi))
        one = np.flatnonzero(spec.n_candidates == 1)
        _singles(lb, spec, cons, one, np.argmax(spec.mask[one], axis=1))
        rows = spec.open
        jp = [(int(j), int(p)) for j in rows.tolist() for p in np.flatnonzero(spec.mask[j]).tolist()]
        lb.z = pyo.Var(jp, domain=pyo.UnitInterval if self.relaxed else pyo.Binary)
        return rows, jp


class BigMWindowMax(WindowMaxEncoding):
    """The big-M form (module docstring): components ``x``, ``z``, ``single``, ``ge``, ``le``, ``one``."""

    formulation = "bigm"

    def build(self, lb, spec: WindowMaxSpec) -> np.ndarray:
        cons = _Constraints()
        rows, jp = self._outputs_and_singles(lb, spec, cons)
        x, z = lb.x, lb.z
        for j, p in jp:
            v, c = spec.term(int(spec.windows[j, p]))
            e = int(spec.windows[j, p])
            M = float(spec.u_other[j, p] - spec.lower[e])
            cons.add("ge", (j, p), [(1.0, x[j], 0.0), (-1.0, v, c)], ">=", 0.0)
            # y - x_i + M z_i <= M
            cons.add("le", (j, p), [(1.0, x[j], 0.0), (-1.0, v, c), (M, z[j, p], 0.0)], "<=", M)
        for j in rows.tolist():
            cons.exprs.setdefault("one", {})[j] = sum_is_one([z[j, p] for p in np.flatnonzero(spec.mask[j]).tolist()])
        cons.commit(lb, ("single", "ge", "le", "one"))
        return rows


class HullWindowMax(WindowMaxEncoding):
    """The disjunctive (hull) form (module docstring): components ``x``, ``z``, ``v``, ``single``, ``split``,
    ``y_split``, ``dominate``, ``v_lower``, ``v_upper``, ``one``."""

    formulation = "hull"

    def build(self, lb, spec: WindowMaxSpec) -> np.ndarray:
        cons = _Constraints()
        rows, jp = self._outputs_and_singles(lb, spec, cons)
        cand = {j: np.flatnonzero(spec.mask[j]).tolist() for j in rows.tolist()}
        jpq = [(j, p, q) for j in cand for p in cand[j] for q in cand[j]]
        L, U = spec.lower, spec.upper
        W = spec.windows
        lb.v = pyo.Var(jpq, bounds={(j, p, q): (min(float(L[W[j, q]]), 0.0), max(float(U[W[j, q]]), 0.0))
                                    for j, p, q in jpq})
        x, z, v = lb.x, lb.z, lb.v
        for j, ps in cand.items():
            cons.exprs.setdefault("one", {})[j] = sum_is_one([z[j, p] for p in ps])
            cons.add("y_split", j, [(1.0, x[j], 0.0)] + [(-1.0, v[j, p, p], 0.0) for p in ps], "==", 0.0)
            for q in ps:
                xv, c = spec.term(int(W[j, q]))
                cons.add("split", (j, q), [(1.0, xv, c)] + [(-1.0, v[j, p, q], 0.0) for p in ps], "==", 0.0)
            for p in ps:
                for q in ps:
                    lq, uq = float(L[W[j, q]]), float(U[W[j, q]])
                    cons.add("v_lower", (j, p, q), [(1.0, v[j, p, q], 0.0), (-lq, z[j, p], 0.0)], ">=", 0.0)
                    cons.add("v_upper", (j, p, q), [(1.0, v[j, p, q], 0.0), (-uq, z[j, p], 0.0)], "<=", 0.0)
                    if q != p:
                        cons.add("dominate", (j, p, q), [(1.0, v[j, p, q], 0.0), (-1.0, v[j, p, p], 0.0)], "<=", 0.0)
        cons.commit(lb, ("single", "one", "y_split", "split", "dominate", "v_lower", "v_upper"))
        return rows


class RelaxationWindowMax(HullWindowMax):
    """The hull form with z in [0, 1]: the same components, no binaries."""

    formulation = "relaxation"
    relaxed = True


class PatternWindowMax(WindowMaxEncoding):
    """The argmax of every window given (``spec.pattern``): components ``x``, ``single``, ``ge``; no indicators."""

    formulation = "pattern"

    def build(self, lb, spec: WindowMaxSpec) -> np.ndarray:
        cons = _Constraints()
        lb.x = pyo.Var(range(spec.n))
        places = np.asarray(spec.pattern, dtype=int)
        _singles(lb, spec, cons, np.arange(spec.n), places)
        x = lb.x
        for j in range(spec.n):
            for q in np.flatnonzero(spec.windows[j] >= 0).tolist():
                if q == places[j]:
                    continue
                xv, c = spec.term(int(spec.windows[j, q]))
                yv, yc = (None, x[j].value) if x[j].fixed else (x[j], 0.0)
                cons.add("ge", (j, q), [(1.0, yv, yc), (-1.0, xv, c)], ">=", 0.0)
        cons.commit(lb, ("single", "ge"))
        return np.empty(0, dtype=int)

    def indicator_names(self, spec: WindowMaxSpec) -> tuple[str, ...]:
        return ()

    def fix(self, lb, spec: WindowMaxSpec, places: np.ndarray) -> None:
        raise ValueError('a formulation="pattern" block has its pattern built in')

    def unfix(self, lb, spec: WindowMaxSpec) -> None:
        raise ValueError('a formulation="pattern" block has its pattern built in')


WINDOW_MAX_ENCODINGS: dict[str, type[WindowMaxEncoding]] = {}
"""The window-max encodings by formulation name."""


def register_window_max(cls: type[WindowMaxEncoding], *, replace: bool = False) -> type[WindowMaxEncoding]:
    """Make ``cls`` the window-max encoding of the formulation ``cls.formulation``; returns ``cls``."""
    if not (isinstance(cls, type) and issubclass(cls, WindowMaxEncoding)) or getattr(cls, "__abstractmethods__", None):
        raise TypeError(f"a window-max encoding must be a concrete subclass of WindowMaxEncoding, got {cls!r}")
    name = getattr(cls, "formulation", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{cls.__name__}.formulation must be a non-empty string, got {name!r}")
    known = WINDOW_MAX_ENCODINGS.get(name)
    if known is not None and known is not cls and not replace:
        raise ValueError(f"formulation {name!r} already has a window-max encoding ({known.__qualname__})")
    WINDOW_MAX_ENCODINGS[name] = cls
    return cls


def window_max_encoding(name: str) -> WindowMaxEncoding:
    """The window-max encoding of formulation ``name``; a formulation without one raises one line."""
    cls = WINDOW_MAX_ENCODINGS.get(name)
    if cls is None:
        raise ValueError(f"formulation {name!r} has no encoding of window maxima (WindowMax, MaxPool); "
                         f"choose one of {', '.join(WINDOW_MAX_ENCODINGS)}")
    return cls()
