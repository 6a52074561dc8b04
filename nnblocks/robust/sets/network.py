"""Uncertainty sets learned by one-class networks (Goerigk & Kurtz, eq. (11)).

    U = U_f(W, c_bar, R) = { c in R^N : ||f(c) - c_bar|| <= R }

with f a trained piecewise-affine network, c_bar its center and R a radius, usually the q-quantile of
the training radii ||f(c_i) - c_bar||. The adversarial problem max_{c in U} c'x is solved

* ``method="exact"``: as the mixed-integer program of Theorem 3 (eq. (15)-(22)), built from a
  :class:`~nnblocks.blocks.NetworkBlock` on inputs c in the domain box and a
  :class:`~nnblocks.blocks.NormBall` of radius R around c_bar on its outputs (MIQCP for the Euclidean
  norm, MILP for the 1- and inf-norm), big-M bounds tightened over the domain by LP;
* ``method="patterns"``: by the decomposition of Theorem 1, one convex problem per distinct activation
  pattern of given points (by default the data points inside U, as in the authors' experiments); the
  best region's optimum is returned. This is exact over the union of those regions, a heuristic for U.

This module holds the set's data, its membership test and the dispatch; the methods are
:mod:`nnblocks.robust.sets.patterns` and :mod:`nnblocks.robust.sets.exact`, which read the set through the
:class:`~nnblocks.robust.base.NetworkSet` protocol.

Every returned scenario is re-evaluated with a fresh forward pass and must satisfy
||f(c) - c_bar|| <= R + tol * max(1, R) (``tol`` = 1e-6 unless given); a solver point slightly outside
is moved towards a known member of its region until it does, and a scenario outside U is never returned.
"""

from __future__ import annotations

import math
from concurrent.futures import Executor
from operator import attrgetter
from typing import Any

import numpy as np

from nnblocks import _validate
from nnblocks._validate import nonnegative, norm_of
from nnblocks._validate import time_limit as _check_time_limit
from nnblocks.network import Network
from nnblocks.robust.base import WorstCase
from nnblocks.robust.sets._common import direction
from nnblocks.robust.sets.exact import worst_case_exact
from nnblocks.robust.sets.patterns import PatternMethod, PatternSet
from nnblocks.solve import SOLUTION_TOL

__all__ = ["DEFAULT_TOL", "NetworkUncertaintySet"]

DEFAULT_TOL = SOLUTION_TOL


def _domain_bound(value: Any, name: str, n: int) -> np.ndarray:
    """A domain bound as a float vector of length n (a scalar applies to every coordinate)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"domain {name} bound must be a number or an array of length {n}, got {value!r}") from None
    if arr.ndim > 1 or (arr.ndim == 1 and arr.size not in (1, n)):
        raise ValueError(
            f"domain {name} bound has shape {arr.shape}, expected a scalar or length {n} (the set's dimension)"
        )
    return np.broadcast_to(arr.reshape(-1) if arr.ndim else arr, (n,)).copy()


def _check_data(data: Any, n: int) -> np.ndarray:
    """Scenario data as a finite (m, n) float array."""
    data = np.asarray(data, dtype=np.float64)
    if data.ndim != 2 or data.shape[1] != n:
        raise ValueError(f"data must have shape (m, {n}), got {data.shape}")
    bad = ~np.all(np.isfinite(data), axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        more = " ..." if rows.size > 5 else ""
        raise ValueError(f"data contains NaN or infinite values in {rows.size} row(s): {rows[:5].tolist()}{more}")
    return data


class NetworkUncertaintySet:
    """U = {c : ||f(c) - c_bar|| <= R} for a network f, center c_bar and radius R (eq. (11)).

    Each parameter is a read-only attribute of the same name, as checked here: ``center`` a float array,
    ``norm`` one of 1, 2, ``"inf"``, ``domain`` a pair of float arrays (lower, upper) or None, ``data`` a float
    array or None.

    Parameters
    ----------
    network:
        The one-class network f (any :class:`~nnblocks.network.Network` with piecewise-affine layers).
    center:
        c_bar, shape (n_outputs,).
    radius:
        R >= 0.
    norm:
        1, 2 (default, as the authors) or "inf".
    domain:
        A box (lower, upper) (or any object with ``lower``/``upper``) bounding c: it gives the big-M
        bounds of the exact method and keeps pattern problems bounded (U itself can be unbounded, see
        the remark after Theorem 1). Required by ``method="exact"``.
    data:
        Scenario data the set was built from; its points inside U give the default patterns.
    """

    def __init__(
        self,
        network: Network,
        center: Any,
        radius: float,
        norm: int | str = 2,
        domain: Any = None,
        data: Any = None,
    ) -> None:
        if not isinstance(network, Network):
            raise TypeError(f"network must be an nnblocks Network, got {type(network).__name__}")
        center = np.asarray(center, dtype=np.float64).ravel()
        if center.shape != (network.n_outputs,):
            raise ValueError(f"center has {center.size} entries, the network has {network.n_outputs} outputs")
        if not np.all(np.isfinite(center)):
            raise ValueError("center contains NaN or infinite entries")
        radius = float(radius)
        if not math.isfinite(radius) or radius < 0:
            raise ValueError(f"radius must be a finite number >= 0, got {radius}")
        self._network = network
        self._center = center
        self._radius = radius
        self._norm = _validate.norm(norm)
        self._domain = self._check_domain(domain, network.n_inputs)
        if data is not None:
            data = _check_data(data, network.n_inputs)
        self._data = data
        self._pattern_method = PatternMethod(self)

    @staticmethod
    def _check_domain(domain: Any, n: int) -> tuple[np.ndarray, np.ndarray] | None:
        if domain is None:
            return None
        if hasattr(domain, "lower") and hasattr(domain, "upper") and not isinstance(domain, str):
            lower, upper = domain.lower, domain.upper
        else:
            try:
                lower, upper = domain
            except (TypeError, ValueError):
                raise ValueError(
                    f"domain must be a box (lower, upper) of scalars or arrays of length {n}, got {domain!r}"
                ) from None
        lower = _domain_bound(lower, "lower", n)
        upper = _domain_bound(upper, "upper", n)
        if np.any(np.isnan(lower)) or np.any(np.isnan(upper)):
            raise ValueError("domain bounds contain NaN")
        if np.any(lower > upper):
            raise ValueError("domain lower bound exceeds upper bound")
        lower.setflags(write=False)
        upper.setflags(write=False)
        return lower, upper

    @classmethod
    def from_quantile(
        cls,
        network: Network,
        center: Any,
        data: Any,
        q: float,
        norm: int | str = 2,
        domain: Any = "data",
    ) -> NetworkUncertaintySet:
        """The set whose radius R is the q-quantile of the radii ||f(c_i) - c_bar|| of ``data``.

        R = ``numpy.quantile(radii, q)`` (linear interpolation), over all rows including outliers, as
        the authors did. ``domain="data"`` (default) bounds c by the bounding box of the data points
        inside U; pass a box or ``None`` instead.
        """
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile q must lie in [0, 1], got {q}")
        data = np.asarray(data, dtype=np.float64)
        if data.ndim != 2 or data.shape[0] == 0:
            raise ValueError(f"data must be a non-empty (m, n) array, got shape {data.shape}")
        tmp = cls(network, center, 0.0, norm=norm, data=data)
        r = tmp.radii(data)
        radius = float(np.quantile(r, q))
        if isinstance(domain, str) and domain == "data":
            inside = data[r <= radius]
            domain = (inside.min(axis=0), inside.max(axis=0))
        return cls(network, center, radius, norm=norm, domain=domain, data=data)

    # -- properties -------------------------------------------------------------------------
    # the data, read-only (the pattern method keeps problems built from it)
    network = property(attrgetter("_network"), doc="The one-class network f.")
    center = property(attrgetter("_center"), doc="The center c_bar of the ball around f(c), shape (n_outputs,).")
    radius = property(attrgetter("_radius"), doc="The radius R of that ball.")
    norm = property(attrgetter("_norm"), doc='The norm of that ball: 1, 2 or "inf".')
    domain = property(attrgetter("_domain"), doc="The box (lower, upper) bounding c, or None.")
    data = property(attrgetter("_data"), doc="The scenario data the set was built from, or None.")

    @property
    def dim(self) -> int:
        """Dimension N of the scenarios c."""
        return self._network.n_inputs

    def __repr__(self) -> str:
        dom = "none" if self._domain is None else f"[{self._domain[0].min():g}, {self._domain[1].max():g}]"
        return (
            f"NetworkUncertaintySet(dim={self.dim}, norm={self._norm}, radius={self._radius:g}, "
            f"network={self._network!r}, domain={dom})"
        )

    # -- membership -------------------------------------------------------------------------
    def radii(self, C: Any) -> np.ndarray:
        """||f(c) - c_bar|| for one scenario (float array of shape ()) or a batch (shape (m,))."""
        C = np.asarray(C, dtype=np.float64)
        return norm_of(self._network.forward(C) - self._center, self._norm)

    def contains(self, C: Any, tol: float = DEFAULT_TOL) -> np.ndarray | bool:
        """Whether ||f(c) - c_bar|| <= R + tol * max(1, R) (a bool, or a bool array for a batch)."""
        inside = self.radii(C) <= self._radius + tol * max(1.0, self._radius)
        return bool(inside) if np.ndim(inside) == 0 else inside

    # -- patterns ---------------------------------------------------------------------------
    def patterns(self, points: Any = None) -> PatternSet:
        """Distinct activation patterns of ``points`` (default: the data points inside U)."""
        return self._pattern_method.patterns(points)

    # -- adversarial problem ----------------------------------------------------------------
    def worst_case(
        self,
        x: Any,
        method: str = "patterns",
        points: Any = None,
        executor: Executor | None = None,
        time_limit: float | None = None,
        solver: str | None = None,
        tol: float = DEFAULT_TOL,
        stop_above: float | None = None,
        **kwargs: Any,
    ) -> WorstCase:
        """max_{c in U} c'x.

        Parameters
        ----------
        x:
            The direction, shape (N,).
        method:
            "patterns" (default) or "exact" (see the module docstring).
        points:
            Patterns method: the points whose activation patterns are searched (default: data inside U).
        executor:
            Patterns method: any :class:`concurrent.futures.Executor` (process pool, ``dask.distributed``
            client's ``get_executor()``); patterns are sent in batches (``n_batches``, default 2 per
            worker where the executor tells, else 8).
        time_limit:
            Seconds (positive); patterns not started by then are reported in ``stats["n_time_limit"]``; the exact
            method returns its incumbent and bound (status "feasible").
        solver:
            Exact method: solver name for :func:`nnblocks.solve.solve` (default by problem class).
        tol:
            Membership tolerance of the verification (relative to max(1, R)).
        stop_above:
            Patterns method: stop as soon as a verified member of U with c'x > stop_above is found and
            return it (``stats["early_stop"]`` True, no ``patterns_bound``): enough for scenario generation,
            which only needs a violated scenario or the proof that none exists. When no pattern's optimum
            exceeds it, the search is complete, as without it. Ignored by the exact method.
        kwargs:
            Patterns: ``patterns`` (explicit piece-index rows instead of points, e.g. all patterns of a
            small network), ``n_batches``, ``rtol`` (skip a pattern unless its bound beats the best value by
            rtol * max(1, |best|), default 0), ``cache`` (default True: keep the pattern problems of these
            points for later calls). Exact: ``mip_gap``, ``threads``, ``tee``, ``bounds``
            ("lp" default, or "interval"), ``formulation``.
        """
        x = direction(x, self.dim)
        time_limit = _check_time_limit(time_limit)
        tol = nonnegative(tol, "tol")
        if method == "patterns":
            if solver is not None:
                raise ValueError("the patterns method solves its convex problems with Clarabel; solver= is for 'exact'")
            return self._pattern_method.worst_case(x, points, executor, time_limit, tol, stop_above=stop_above,
                                                   **kwargs)
        if method == "exact":
            return worst_case_exact(self, x, time_limit=time_limit, solver=solver, tol=tol, **kwargs)
        raise ValueError(f"unknown method {method!r}: use 'patterns' or 'exact'")
