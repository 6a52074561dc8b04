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

Every returned scenario is re-evaluated with a fresh forward pass and must satisfy
||f(c) - c_bar|| <= R + tol * max(1, R) (``tol`` = 1e-6 unless given); a solver point slightly outside
is moved towards a known member of its region until it does, and a scenario outside U is never returned.
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnblocks import _validate
from nnblocks._results import AsDict
from nnblocks._validate import nonnegative, norm_of
from nnblocks._validate import time_limit as _check_time_limit
from nnblocks.network import Network
from nnblocks.regions import piece_matrix
from nnblocks.robust import _patterns
from nnblocks.robust._exact import worst_case_exact
from nnblocks.robust.base import WorstCase
from nnblocks.solve import SOLUTION_TOL

__all__ = ["NetworkUncertaintySet", "PatternSet"]

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


@dataclass(frozen=True)
class PatternSet(AsDict):
    """Distinct activation patterns of some points: ``pieces`` (P x neurons of multi-piece layers),
    ``representatives`` (one point per pattern, the one with the smallest radius) and ``counts``."""

    pieces: np.ndarray
    representatives: np.ndarray
    counts: np.ndarray

    def __len__(self) -> int:
        return int(self.pieces.shape[0])


class NetworkUncertaintySet:
    """U = {c : ||f(c) - c_bar|| <= R} for a network f, center c_bar and radius R (eq. (11)).

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
        self._token = uuid.uuid4().hex
        self._cache: dict[str, tuple[PatternSet, list[_patterns.PatternProblem]]] = {}

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
    @property
    def network(self) -> Network:
        return self._network

    @property
    def center(self) -> np.ndarray:
        return self._center

    @property
    def radius(self) -> float:
        return self._radius

    @property
    def norm(self) -> int | str:
        return self._norm

    @property
    def dim(self) -> int:
        """Dimension N of the scenarios c."""
        return self._network.n_inputs

    @property
    def domain(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The box (lower, upper) bounding c, or None."""
        return self._domain

    @property
    def data(self) -> np.ndarray | None:
        return self._data

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
    def _default_points(self) -> np.ndarray:
        if self._data is None:
            raise ValueError(
                "the patterns method needs points: pass points=... or build the set with data "
                "(NetworkUncertaintySet.from_quantile or data=...)"
            )
        inside = self._data[self.radii(self._data) <= self._radius]
        if inside.shape[0] == 0:
            raise ValueError(
                f"no data point lies inside U (R = {self._radius:g}): pass points=... for the patterns method"
            )
        return inside

    def patterns(self, points: Any = None) -> PatternSet:
        """Distinct activation patterns of ``points`` (default: the data points inside U)."""
        return self._pattern_problems(points)[0]

    def _pattern_problems(
        self, points: Any, pieces: Any = None, cache: bool = True
    ) -> tuple[PatternSet, list[_patterns.PatternProblem]]:
        if pieces is not None:
            return self._explicit_problems(pieces)
        key = "data" if points is None else None
        if points is not None:
            points = np.atleast_2d(np.asarray(points, dtype=np.float64))
            if points.shape[1] != self.dim:
                raise ValueError(f"points must have {self.dim} columns, got {points.shape[1]}")
            if not np.all(np.isfinite(points)):
                raise ValueError("points contain NaN or infinite entries")
            key = hashlib.sha1(np.ascontiguousarray(points).tobytes()).hexdigest()
        if key in self._cache:
            return self._cache[key]
        pts = self._default_points() if points is None else points
        pieces = piece_matrix(self._network, pts)
        uniq, inverse, counts = np.unique(pieces, axis=0, return_inverse=True, return_counts=True)
        inverse = inverse.ravel()
        r = self.radii(pts)
        order = np.lexsort((r, inverse))  # by pattern, then radius: first of each group = smallest radius
        first = order[np.searchsorted(inverse[order], np.arange(uniq.shape[0]))]
        pset = PatternSet(pieces=uniq, representatives=pts[first], counts=counts)
        lower, upper = self._domain if self._domain is not None else (None, None)
        problems, _, _ = _patterns.build_problems(
            self._network, uniq, self._center, self._radius, self._norm, lower, upper
        )
        for prob in problems:
            prob.uid = key if cache else ""
        if cache:
            self._cache[key] = (pset, problems)
        return pset, problems

    def _explicit_problems(self, pieces: Any) -> tuple[PatternSet, list[_patterns.PatternProblem]]:
        """Problems for explicitly given patterns (rows of piece indices of the multi-piece layers)."""
        n_cols = sum(layer.n_out for layer in self._network.layers if layer.activation.n_pieces > 1)
        pieces = np.atleast_2d(np.asarray(pieces, dtype=np.int64))
        if pieces.shape[1] != n_cols:
            raise ValueError(
                f"patterns must have {n_cols} columns (neurons of multi-piece layers), got {pieces.shape[1]}"
            )
        col = 0
        for layer in self._network.layers:
            if layer.activation.n_pieces > 1:
                block = pieces[:, col : col + layer.n_out]
                col += layer.n_out
                if block.min(initial=0) < 0 or block.max(initial=0) >= layer.activation.n_pieces:
                    raise ValueError(f"piece indices must lie in 0..{layer.activation.n_pieces - 1}")
        key = "pieces:" + hashlib.sha1(np.ascontiguousarray(pieces).tobytes()).hexdigest()
        if key in self._cache:
            return self._cache[key]
        pset = PatternSet(
            pieces=pieces, representatives=np.full((pieces.shape[0], self.dim), np.nan),
            counts=np.zeros(pieces.shape[0], dtype=np.int64),
        )
        lower, upper = self._domain if self._domain is not None else (None, None)
        problems, _, _ = _patterns.build_problems(
            self._network, pieces, self._center, self._radius, self._norm, lower, upper
        )
        for prob in problems:
            prob.uid = key
        self._cache[key] = (pset, problems)
        return pset, problems

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
        x = np.asarray(x, dtype=np.float64).ravel()
        if x.shape != (self.dim,):
            raise ValueError(f"x must have {self.dim} entries, got {x.size}")
        if not np.all(np.isfinite(x)):
            raise ValueError("x contains NaN or infinite entries")
        time_limit = _check_time_limit(time_limit)
        tol = nonnegative(tol, "tol")
        if method == "patterns":
            if solver is not None:
                raise ValueError("the patterns method solves its convex problems with Clarabel; solver= is for 'exact'")
            return self._worst_case_patterns(x, points, executor, time_limit, tol, stop_above=stop_above, **kwargs)
        if method == "exact":
            return worst_case_exact(self, x, time_limit=time_limit, solver=solver, tol=tol, **kwargs)
        raise ValueError(f"unknown method {method!r}: use 'patterns' or 'exact'")

    def _worst_case_patterns(
        self,
        x: np.ndarray,
        points: Any,
        executor: Executor | None,
        time_limit: float | None,
        tol: float,
        n_batches: int | None = None,
        rtol: float = 0.0,
        patterns: Any = None,
        cache: bool = True,
        stop_above: float | None = None,
    ) -> WorstCase:
        t0 = time.perf_counter()
        deadline = None if time_limit is None else time.time() + float(time_limit)
        if patterns is not None and points is not None:
            raise ValueError("give either points or patterns, not both")
        pset, problems = self._pattern_problems(points, patterns, cache=cache)
        P = len(pset)
        # incumbent: the best representative point already inside U (verified by a forward pass)
        reps = pset.representatives
        rep_in = np.asarray(self.contains(np.nan_to_num(reps), tol=tol)).reshape(-1) & ~np.isnan(reps).any(axis=1)
        rep_val = np.where(rep_in, reps @ x, -np.inf)
        best = float(rep_val.max()) if P else -np.inf
        bounds = np.array([prob.dual_bound(x, prob.z) for prob in problems])
        order = np.lexsort((-rep_val, -bounds))  # most promising first
        if stop_above is not None:
            stop_above = float(stop_above)
            if math.isnan(stop_above):
                raise ValueError("stop_above must be a number")
        results: list[_patterns.PatternResult] = []
        todo = order
        while True:
            batch = self._solve_patterns(problems, todo, x, best, rtol, deadline, executor, n_batches, stop_above,
                                         bounds)
            results = [r for r in results if r.status != "not_run"] + batch
            not_run = np.array([r.index for r in batch if r.status == "not_run"], dtype=np.int64)
            if not not_run.size:
                break
            try:
                wc = self._pick(x, pset, results, rep_val, t0, tol)
            except ValueError:  # no verified member yet: search on
                wc = None
            if wc is not None and wc.value > stop_above:
                break
            # the values above stop_above were lost in verification: search on
            if wc is not None:
                best = max(best, wc.value)
            todo = order[np.isin(order, not_run)]
        results.sort(key=lambda r: r.index)
        for res in results:
            if res.z is not None:
                problems[res.index].z = res.z
        return self._pick(x, pset, results, rep_val, t0, tol)

    def _solve_patterns(self, problems, order, x, best, rtol, deadline, executor, n_batches, stop_above, bounds):
        if executor is None:
            return _patterns.solve_batch(self._token, [problems[i] for i in order], x, best, rtol, deadline,
                                         stop_above, bounds[order].tolist())
        if n_batches is None:
            workers = getattr(executor, "_max_workers", None)
            n_batches = 2 * workers if workers else 8
        n_batches = max(1, min(int(n_batches), len(order)))
        futures = [
            executor.submit(
                _patterns.solve_batch, self._token, [problems[i] for i in order[j::n_batches]], x, best, rtol,
                deadline, stop_above, bounds[order[j::n_batches]].tolist(),
            )
            for j in range(n_batches)
        ]
        results: list[_patterns.PatternResult] = []
        for fut in futures:
            results.extend(fut.result())
        return results

    def _pick(self, x, pset, results, rep_val, t0, tol) -> WorstCase:
        statuses = [r.status for r in results]
        if "unbounded" in statuses:
            raise ValueError(
                "max c'x is unbounded over an activation region of U (U is unbounded in direction x): "
                "give the set a domain box"
            )
        failed = [r for r in results if r.status not in ("solved", "skipped", "infeasible", "time_limit", "not_run")]
        # candidates: solved optima (need verification) and representative points (already in U)
        cands = sorted((r for r in results if r.status == "solved"), key=lambda r: -r.value)
        scenario, value, best_idx, repaired, rejected = None, -np.inf, None, False, 0
        for r in cands:
            if r.value <= value:  # no later candidate can beat the verified one
                break
            c, ok = self._verify(r.scenario, pset.representatives[r.index], tol)
            if ok:
                v = float(x @ c)
                if v >= rep_val.max(initial=-np.inf) and v > value:
                    scenario, value, best_idx, repaired = c, v, r.index, not np.array_equal(c, r.scenario)
                continue  # a repaired point may have lost value: a later optimum may still be better
            rejected += 1
        if scenario is None and np.isfinite(rep_val.max(initial=-np.inf)):
            best_idx = int(np.argmax(rep_val))
            scenario, value = pset.representatives[best_idx].copy(), float(rep_val[best_idx])
        if scenario is None:
            raise ValueError(
                f"none of the {len(pset)} activation regions of the given points meets U "
                f"(R = {self._radius:g}); solver statuses: {sorted(set(statuses))}"
            )
        union_bound = max((r.bound for r in results), default=-np.inf)
        early_stop = "not_run" in statuses
        union_bound = None if failed or early_stop or not np.isfinite(union_bound) else max(float(union_bound), value)
        solved = [r for r in results if r.status == "solved"]
        stats = {
            "n_patterns": len(pset),
            "n_solved": len(solved),
            "n_skipped": statuses.count("skipped"),
            "n_infeasible": statuses.count("infeasible"),
            "n_time_limit": statuses.count("time_limit"),
            "n_not_run": statuses.count("not_run"),
            "early_stop": early_stop,
            "n_failed": len(failed),
            "failed_statuses": sorted({r.status for r in failed}),
            "n_rejected": rejected,
            "n_reduced_accuracy": sum(r.reduced_accuracy for r in solved),
            "repaired": repaired,
            "pattern_index": best_idx,
            "pattern": pset.pieces[best_idx].copy(),
            "patterns_bound": union_bound,
            "pattern_times": [r.time for r in solved],
            "radius": float(self.radii(scenario)),
            "tol": tol,
            "domain": self._domain,
        }
        status = "feasible"
        return WorstCase(
            scenario=scenario, value=value, bound=None, status=status, method="patterns",
            time=time.perf_counter() - t0, stats=stats,
        )

    def _verify(self, c: np.ndarray, anchor: np.ndarray, tol: float) -> tuple[np.ndarray, bool]:
        """Fresh forward pass: c (put into the domain box, which a solver meets to its tolerance only) if
        inside U, else the first point towards ``anchor`` that is."""
        if self._domain is not None:
            c = np.clip(c, *self._domain)
        if self.contains(c, tol=tol):
            return c, True
        if np.isnan(anchor).any() or not self.contains(anchor, tol=tol):
            return c, False
        t_out = 0.0
        for t in (1e-9, 1e-7, 1e-5, 1e-3, 1e-2, 1e-1, 0.5, 1.0):
            if self.contains(c + t * (anchor - c), tol=tol):
                # the smallest step found by bisection: a step of the coarse grid alone gives away up to
                # a hundred times the value it needs to (t * x'(anchor - c))
                t_in = t
                for _ in range(40):
                    mid = 0.5 * (t_out + t_in)
                    if self.contains(c + mid * (anchor - c), tol=tol):
                        t_in = mid
                    else:
                        t_out = mid
                return c + t_in * (anchor - c), True
            t_out = t
        return c, False
