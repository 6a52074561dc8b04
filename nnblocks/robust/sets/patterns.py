"""The pattern method: max_{c in U} c'x over U = {c : ||f(c) - c_bar|| <= R} by the decomposition of Goerigk &
Kurtz's Theorem 1, one convex problem per distinct activation pattern of given points (by default the data points
inside U, as in the authors' experiments); the best region's optimum is returned. This is exact over the union of
those regions, a heuristic for U (:attr:`WorstCase.proven` is False).

For an activation pattern u (one piece per neuron, eq. (12)) the network is affine on the closed region
where every pre-activation lies in its piece's interval: a^k = A^k_u c + g^k_u (the W-tilde and
gamma-tilde of Theorem 1) and f(c) = M_u c + m_u. The closure of P(W, u, c_bar, R) is therefore

    { c : beta_low <= A^k_u c + g^k_u <= beta_up (k = 1..L),  ||M_u c + m_u - c_bar|| <= R,  lo <= c <= hi }

(taking the closure is exact: f is continuous, so f = M_u c + m_u still holds on the region's boundary).
max x'c over it is one convex problem: an SOCP for the Euclidean norm, an LP for the 1- and inf-norm.

Each problem is handed to Clarabel in its standard form  min q'v  s.t.  A v + s = b, s in K  (scipy
sparse data; a generic modelling layer costs more than the solve for problems this small). Clarabel's
solver objects keep their factorisation set-up, so a problem built once is re-solved for a new direction
x by updating q only. Solver objects live in a per-thread cache of the process that solves (worker
processes of a pool or Dask workers keep theirs between calls).

Cheap upper bound used to skip patterns: for any z in the dual cone K* and any feasible v,
z'(b - A v) >= 0, hence with r = -q - A'z

    x'c = -q'v <= z'b + r'v <= z'b + sum_j max(r_j lo_j, r_j hi_j)        (weak duality over the box)

which is valid for every direction x. Reusing the (projected) dual z of the pattern's last solve makes
it tight when x changes little, as between rounds of scenario generation.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from nnblocks._results import AsDict
from nnblocks.network import Network
from nnblocks.regions import piece_matrix, region_inequalities, region_maps
from nnblocks.robust.base import NetworkSet, WorstCase

__all__ = ["PatternMethod", "PatternSet", "build_problems", "solve_batch", "verify"]

_ROW_TOL = 1e-12
# Budget of the per-thread solver cache in units of nnz(A) + n_vars^2 (a factorised solver takes about
# 50 bytes per unit: ~300 MB in all). 20-D instances fit entirely; 189-D path problems keep ~100 solvers.
_CACHE_BUDGET = 6_000_000
_local = threading.local()


@dataclass(frozen=True)
class PatternSet(AsDict):
    """Distinct activation patterns of some points: ``pieces`` (P x neurons of multi-piece layers),
    ``representatives`` (one point per pattern, the one with the smallest radius) and ``counts``."""

    pieces: np.ndarray
    representatives: np.ndarray
    counts: np.ndarray

    def __len__(self) -> int:
        return int(self.pieces.shape[0])


# ----------------------------------------------------------------------------------------------
# One pattern problem in Clarabel's standard form
# ----------------------------------------------------------------------------------------------
@dataclass
class _PatternProblem:
    """max x'c over the closure of one region of Theorem 1 (variables v = (c, t); t only for the 1-norm).

    ``cones`` is a picklable spec [("zero"|"nonneg"|"soc", dim), ...]; ``var_lo``/``var_hi`` bound v
    (used by the dual bound; infinite without a domain). ``infeasible`` marks a region shown empty while
    building (a constant part of the constraints violated).
    """

    index: int
    n: int
    A: sp.csc_matrix
    b: np.ndarray
    cones: list[tuple[str, int]]
    var_lo: np.ndarray
    var_hi: np.ndarray
    infeasible: bool = False
    z: np.ndarray | None = field(default=None, repr=False)
    uid: str = ""
    _AT: np.ndarray | sp.csr_matrix | None = field(default=None, repr=False)

    @property
    def AT(self) -> np.ndarray | sp.csr_matrix:
        """A' for the dual bound: dense when small (a dense product costs microseconds, scipy's sparse
        product tens of them in call overhead), else sparse."""
        if self._AT is None:
            self._AT = self.A.T.toarray() if self.A.shape[0] * self.A.shape[1] <= 250_000 else self.A.T.tocsr()
        return self._AT

    @property
    def n_vars(self) -> int:
        return int(self.var_lo.size)

    def q(self, x: np.ndarray) -> np.ndarray:
        q = np.zeros(self.n_vars)
        q[: self.n] = -x
        return q

    def project_dual(self, z: np.ndarray) -> np.ndarray:
        """Euclidean projection of z onto the dual cone K* (K is self-dual; the zero cone's dual is free)."""
        out = np.array(z, dtype=np.float64)
        pos = 0
        for kind, dim in self.cones:
            seg = out[pos : pos + dim]
            if kind == "nonneg":
                np.maximum(seg, 0.0, out=seg)
            elif kind == "soc":
                t, v = seg[0], seg[1:]
                nv = float(np.linalg.norm(v))
                if nv <= t:
                    pass
                elif nv <= -t:
                    seg[:] = 0.0
                else:
                    a = 0.5 * (t + nv)
                    seg[0] = a
                    seg[1:] = a * v / nv
            pos += dim
        return out

    def dual_bound(self, x: np.ndarray, z: np.ndarray | None) -> float:
        """Upper bound z'b + max_{v in box} (x_ext - A'z)'v on this problem's optimum (z projected onto K*)."""
        if self.infeasible:
            return -np.inf
        xe = -self.q(x)
        if z is None:
            r, base = xe, 0.0
        else:
            r = xe - self.AT @ z
            base = float(z @ self.b)
        with np.errstate(invalid="ignore"):
            terms = np.maximum(r * self.var_lo, r * self.var_hi)
        terms = np.where(r == 0.0, 0.0, terms)
        return float(base + terms.sum()) if np.all(np.isfinite(terms)) else np.inf


def build_problems(
    network: Network,
    pieces: np.ndarray,
    center: np.ndarray,
    radius: float,
    norm: int | str,
    lower: np.ndarray | None,
    upper: np.ndarray | None,
) -> tuple[list[_PatternProblem], np.ndarray, np.ndarray]:
    """One :class:`_PatternProblem` per row of ``pieces``; also returns the output maps (M, m)."""
    maps = region_maps(network, pieces)
    M, m = maps.M, maps.m
    n = network.n_inputs
    lo = np.full(n, -np.inf) if lower is None else np.asarray(lower, dtype=np.float64)
    hi = np.full(n, np.inf) if upper is None else np.asarray(upper, dtype=np.float64)
    # pattern rows (eq. (16)-(17) with the closure): per multi-piece layer, beta_low <= A c + g <= beta_up
    regions = region_inequalities(network, maps)
    eye = np.eye(n)
    # coordinates the box fixes (lo == hi, e.g. constant arcs of the path data) become equations: two
    # opposite inequalities leave no interior, which stalls an interior-point method
    fixed = np.isfinite(lo) & (lo == hi)
    box_G = np.vstack([eye[np.isfinite(hi) & ~fixed], -eye[np.isfinite(lo) & ~fixed]])
    box_h = np.concatenate([hi[np.isfinite(hi) & ~fixed], -lo[np.isfinite(lo) & ~fixed]])
    eq = (eye[fixed], lo[fixed])
    problems = []
    for p, (G, h) in enumerate(regions):
        # a pattern row that holds on the whole box is redundant (the box rows stay): drop it
        with np.errstate(invalid="ignore"):
            row_max = np.where(G == 0.0, 0.0, np.maximum(G * lo, G * hi)).sum(axis=1)
        keep = ~(row_max <= h)
        G, h = np.vstack([box_G, G[keep]]), np.concatenate([box_h, h[keep]])
        problems.append(_assemble(p, n, G, h, M[p], m[p] - center, radius, norm, lo, hi, eq))
    return problems, M, m


def _assemble(p, n, G, h, Mp, dp, radius, norm, lo, hi, eq) -> _PatternProblem:
    """Standard form of max x'c s.t. E c = e, G c <= h, ||Mp c + dp|| <= radius (dp = m_u - c_bar)."""
    infeasible = False
    # rows with no c-dependence are constants: check and drop them (an interior-point method needs them gone)
    zero = np.abs(G).max(axis=1, initial=0.0) <= _ROW_TOL
    if np.any(h[zero] < -1e-9):
        infeasible = True
    G, h = G[~zero], h[~zero]
    nz = np.abs(Mp).max(axis=1, initial=0.0) > _ROW_TOL
    const = dp[~nz]
    Mp, dp = Mp[nz], dp[nz]
    d = Mp.shape[0]
    E, e = eq
    blocks_A, blocks_b, cones = [sp.csr_matrix(E)], [e], [("zero", E.shape[0])]
    var_lo, var_hi = lo, hi
    if norm == 2:
        r2 = radius**2 - float(const @ const)
        infeasible |= r2 < -1e-12 * max(1.0, radius**2)
        r_eff = float(np.sqrt(max(r2, 0.0)))
        blocks_A.append(sp.csr_matrix(G))
        blocks_b.append(h)
        cones.append(("nonneg", G.shape[0]))
        if d:
            if r_eff <= 1e-12:
                blocks_A.append(sp.csr_matrix(Mp))
                blocks_b.append(-dp)
                cones.append(("zero", d))
            else:
                blocks_A.append(sp.vstack([sp.csr_matrix((1, n)), sp.csr_matrix(-Mp)]))
                blocks_b.append(np.concatenate([[r_eff], dp]))
                cones.append(("soc", d + 1))
        n_vars = n
    elif norm == "inf":
        infeasible |= bool(np.any(np.abs(const) > radius + 1e-12))
        G2 = np.vstack([G, Mp, -Mp])
        h2 = np.concatenate([h, radius - dp, radius + dp])
        blocks_A.append(sp.csr_matrix(G2))
        blocks_b.append(h2)
        cones.append(("nonneg", G2.shape[0]))
        n_vars = n
    else:  # 1-norm: t >= |Mp c + dp|, sum t <= R - sum |const|
        r_eff = radius - float(np.abs(const).sum())
        infeasible |= r_eff < -1e-12
        r_eff = max(r_eff, 0.0)
        I_d = sp.identity(d, format="csr")
        A1 = sp.vstack(
            [
                sp.hstack([sp.csr_matrix(G), sp.csr_matrix((G.shape[0], d))]),
                sp.hstack([sp.csr_matrix(Mp), -I_d]),
                sp.hstack([sp.csr_matrix(-Mp), -I_d]),
                sp.hstack([sp.csr_matrix((1, n)), sp.csr_matrix(np.ones((1, d)))]),
            ]
        )
        blocks_A.append(A1)
        blocks_b.append(np.concatenate([h, -dp, dp, [r_eff]]))
        cones.append(("nonneg", A1.shape[0]))
        n_vars = n + d
        var_lo = np.concatenate([lo, np.zeros(d)])
        var_hi = np.concatenate([hi, np.full(d, r_eff)])
    blocks_A = [
        blk if blk.shape[1] == n_vars else sp.hstack([blk, sp.csr_matrix((blk.shape[0], n_vars - blk.shape[1]))])
        for blk in blocks_A
    ]
    A = sp.vstack(blocks_A, format="csc")
    b = np.concatenate(blocks_b)
    return _PatternProblem(p, n, A.tocsc(), b, [c for c in cones if c[1] > 0], var_lo, var_hi, infeasible)


# ----------------------------------------------------------------------------------------------
# Solving batches (runs in the caller's process or in an executor's worker)
# ----------------------------------------------------------------------------------------------
def _solver_cache() -> OrderedDict:
    cache = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = OrderedDict()
        _local.weight = 0
    return cache


def _new_solver(prob: _PatternProblem, q: np.ndarray, careful: bool = False):
    """Clarabel on one pattern problem; ``careful``: more iterations and equilibration, for a problem whose
    default solve ended "AlmostSolved" (Clarabel's reduced accuracy: a gap of up to 5e-5 relative)."""
    import clarabel

    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.max_threads = 1
    if careful:
        settings.max_iter = 1000
        settings.equilibrate_max_iter = 100
        settings.iterative_refinement_max_iter = 50
    cone_types = {"zero": clarabel.ZeroConeT, "nonneg": clarabel.NonnegativeConeT, "soc": clarabel.SecondOrderConeT}
    cones = [cone_types[kind](dim) for kind, dim in prob.cones]
    P = sp.csc_matrix((prob.n_vars, prob.n_vars))
    return clarabel.DefaultSolver(P, q, prob.A, prob.b, cones, settings)


def _clarabel_solver(key, prob: _PatternProblem, q: np.ndarray):
    cache = _solver_cache()
    entry = cache.get(key)
    if entry is not None:
        cache.move_to_end(key)
        try:
            entry[0].update(q=q)
            return entry[0]
        except Exception:  # data update refused: rebuild below
            del cache[key]
            _local.weight -= entry[1]
    solver = _new_solver(prob, q)
    weight = int(prob.A.nnz) + prob.n_vars**2
    cache[key] = (solver, weight)
    _local.weight += weight
    while _local.weight > _CACHE_BUDGET and len(cache) > 1:
        _, (_, w) = cache.popitem(last=False)
        _local.weight -= w
    return solver


@dataclass
class _PatternResult:
    index: int
    status: str  # "solved", "skipped", "infeasible", "unbounded", or Clarabel's status name
    value: float
    bound: float
    scenario: np.ndarray | None
    z: np.ndarray | None
    time: float
    reduced_accuracy: bool = False  # Clarabel's "AlmostSolved" even with careful settings


def solve_batch(
    token: str,
    problems: list[_PatternProblem],
    x: np.ndarray,
    best: float,
    rtol: float,
    deadline: float | None,
    stop_above: float | None = None,
    bounds: list[float] | None = None,
) -> list[_PatternResult]:
    """Solve the batch's problems in order, skipping those whose dual bound cannot beat ``best``.

    ``deadline`` is a ``time.time()`` stamp after which the remaining problems are reported as skipped
    with status "time_limit". With ``stop_above``, the batch stops after the first solved problem whose
    value exceeds it; the problems not started are reported with status "not_run". ``bounds`` are the
    problems' dual bounds at x if already computed (with their current ``z``).
    """
    out = []
    stopped = False
    for k, prob in enumerate(problems):
        t0 = time.perf_counter()
        if stopped:
            out.append(_PatternResult(prob.index, "not_run", -np.inf, np.inf, None, None, 0.0))
            continue
        if prob.infeasible:
            out.append(_PatternResult(prob.index, "infeasible", -np.inf, -np.inf, None, None, 0.0))
            continue
        thresh = best + rtol * max(1.0, abs(best))
        bound = prob.dual_bound(x, prob.z) if bounds is None else bounds[k]
        if bound <= thresh:
            out.append(_PatternResult(prob.index, "skipped", -np.inf, bound, None, None, time.perf_counter() - t0))
            continue
        if deadline is not None and time.time() > deadline:
            out.append(_PatternResult(prob.index, "time_limit", -np.inf, bound, None, None, 0.0))
            continue
        if prob.uid:
            solver = _clarabel_solver((token, prob.uid, prob.index), prob, prob.q(x))
        else:  # one-off problem: not cached
            solver = _new_solver(prob, prob.q(x))
        sol = solver.solve()
        status = str(sol.status)
        if status not in ("Solved", "PrimalInfeasible", "DualInfeasible"):
            # reduced accuracy or a failure: once more with careful settings
            retry = _new_solver(prob, prob.q(x), careful=True).solve()
            if str(retry.status) == "Solved" or status != "AlmostSolved":
                sol, status = retry, str(retry.status)
        if status in ("Solved", "AlmostSolved"):
            c = np.array(sol.x[: prob.n])
            z = prob.project_dual(np.array(sol.z))
            value = float(x @ c)
            pb = max(prob.dual_bound(x, z), value)
            best = max(best, value)
            out.append(_PatternResult(prob.index, "solved", value, pb, c, z, time.perf_counter() - t0,
                                     status == "AlmostSolved"))
            stopped = stop_above is not None and value > stop_above
        elif status in ("PrimalInfeasible", "AlmostPrimalInfeasible"):
            out.append(_PatternResult(prob.index, "infeasible", -np.inf, -np.inf, None, None, time.perf_counter() - t0))
        elif status in ("DualInfeasible", "AlmostDualInfeasible"):
            out.append(_PatternResult(prob.index, "unbounded", np.inf, np.inf, None, None, time.perf_counter() - t0))
        else:
            out.append(_PatternResult(prob.index, status, -np.inf, bound, None, None, time.perf_counter() - t0))
    return out


# ----------------------------------------------------------------------------------------------
# The method on one set: its patterns, their problems (kept between calls) and the best region
# ----------------------------------------------------------------------------------------------
class PatternMethod:
    """The pattern method on one set ``U`` (read through the :class:`~nnblocks.robust.base.NetworkSet`
    protocol): the pattern problems of the points it was asked about are built once and kept, so a later
    direction x only changes their costs."""

    def __init__(self, U: NetworkSet) -> None:
        self._U = U
        self._token = uuid.uuid4().hex
        self._cache: dict[str, tuple[PatternSet, list[_PatternProblem]]] = {}

    def _default_points(self) -> np.ndarray:
        U = self._U
        if U.data is None:
            raise ValueError(
                "the patterns method needs points: pass points=... or build the set with data "
                "(NetworkUncertaintySet.from_quantile or data=...)"
            )
        inside = U.data[U.radii(U.data) <= U.radius]
        if inside.shape[0] == 0:
            raise ValueError(
                f"no data point lies inside U (R = {U.radius:g}): pass points=... for the patterns method"
            )
        return inside

    def patterns(self, points: Any = None) -> PatternSet:
        """Distinct activation patterns of ``points`` (default: the data points inside U)."""
        return self.problems(points)[0]

    def problems(self, points: Any, pieces: Any = None, cache: bool = True) -> tuple[PatternSet, list[_PatternProblem]]:
        """The patterns of ``points`` (or the explicit ``pieces``) and one problem per pattern."""
        if pieces is not None:
            return self._explicit_problems(pieces)
        U = self._U
        key = "data" if points is None else None
        if points is not None:
            points = np.atleast_2d(np.asarray(points, dtype=np.float64))
            if points.shape[1] != U.dim:
                raise ValueError(f"points must have {U.dim} columns, got {points.shape[1]}")
            if not np.all(np.isfinite(points)):
                raise ValueError("points contain NaN or infinite entries")
            key = hashlib.sha1(np.ascontiguousarray(points).tobytes()).hexdigest()
        if key in self._cache:
            return self._cache[key]
        pts = self._default_points() if points is None else points
        pieces = piece_matrix(U.network, pts)
        uniq, inverse, counts = np.unique(pieces, axis=0, return_inverse=True, return_counts=True)
        inverse = inverse.ravel()
        r = U.radii(pts)
        order = np.lexsort((r, inverse))  # by pattern, then radius: first of each group = smallest radius
        first = order[np.searchsorted(inverse[order], np.arange(uniq.shape[0]))]
        pset = PatternSet(pieces=uniq, representatives=pts[first], counts=counts)
        problems = self._build(uniq)
        for prob in problems:
            prob.uid = key if cache else ""
        if cache:
            self._cache[key] = (pset, problems)
        return pset, problems

    def _build(self, pieces: np.ndarray) -> list[_PatternProblem]:
        U = self._U
        lower, upper = U.domain if U.domain is not None else (None, None)
        return build_problems(U.network, pieces, U.center, U.radius, U.norm, lower, upper)[0]

    def _explicit_problems(self, pieces: Any) -> tuple[PatternSet, list[_PatternProblem]]:
        """Problems for explicitly given patterns (rows of piece indices of the multi-piece layers)."""
        U = self._U
        n_cols = sum(layer.n_out for layer in U.network.layers if layer.activation.n_pieces > 1)
        pieces = np.atleast_2d(np.asarray(pieces, dtype=np.int64))
        if pieces.shape[1] != n_cols:
            raise ValueError(
                f"patterns must have {n_cols} columns (neurons of multi-piece layers), got {pieces.shape[1]}"
            )
        col = 0
        for layer in U.network.layers:
            if layer.activation.n_pieces > 1:
                block = pieces[:, col : col + layer.n_out]
                col += layer.n_out
                if block.min(initial=0) < 0 or block.max(initial=0) >= layer.activation.n_pieces:
                    raise ValueError(f"piece indices must lie in 0..{layer.activation.n_pieces - 1}")
        key = "pieces:" + hashlib.sha1(np.ascontiguousarray(pieces).tobytes()).hexdigest()
        if key in self._cache:
            return self._cache[key]
        pset = PatternSet(
            pieces=pieces, representatives=np.full((pieces.shape[0], U.dim), np.nan),
            counts=np.zeros(pieces.shape[0], dtype=np.int64),
        )
        problems = self._build(pieces)
        for prob in problems:
            prob.uid = key
        self._cache[key] = (pset, problems)
        return pset, problems

    def worst_case(
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
        """max c'x over the regions of ``points`` (or ``patterns``) for a checked direction x (the arguments of
        :meth:`NetworkUncertaintySet.worst_case <nnblocks.robust.sets.network.NetworkUncertaintySet.worst_case>`)."""
        t0 = time.perf_counter()
        deadline = None if time_limit is None else time.time() + float(time_limit)
        if patterns is not None and points is not None:
            raise ValueError("give either points or patterns, not both")
        pset, problems = self.problems(points, patterns, cache=cache)
        P = len(pset)
        # incumbent: the best representative point already inside U (verified by a forward pass)
        reps = pset.representatives
        rep_in = np.asarray(self._U.contains(np.nan_to_num(reps), tol=tol)).reshape(-1) & ~np.isnan(reps).any(axis=1)
        rep_val = np.where(rep_in, reps @ x, -np.inf)
        best = float(rep_val.max()) if P else -np.inf
        bounds = np.array([prob.dual_bound(x, prob.z) for prob in problems])
        order = np.lexsort((-rep_val, -bounds))  # most promising first
        if stop_above is not None:
            stop_above = float(stop_above)
            if math.isnan(stop_above):
                raise ValueError("stop_above must be a number")
        results: list[_PatternResult] = []
        todo = order
        while True:
            batch = self._solve(problems, todo, x, best, rtol, deadline, executor, n_batches, stop_above, bounds)
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

    def _solve(self, problems, order, x, best, rtol, deadline, executor, n_batches, stop_above, bounds):
        if executor is None:
            return solve_batch(self._token, [problems[i] for i in order], x, best, rtol, deadline, stop_above,
                               bounds[order].tolist())
        if n_batches is None:
            workers = getattr(executor, "_max_workers", None)
            n_batches = 2 * workers if workers else 8
        n_batches = max(1, min(int(n_batches), len(order)))
        futures = [
            executor.submit(
                solve_batch, self._token, [problems[i] for i in order[j::n_batches]], x, best, rtol,
                deadline, stop_above, bounds[order[j::n_batches]].tolist(),
            )
            for j in range(n_batches)
        ]
        results: list[_PatternResult] = []
        for fut in futures:
            results.extend(fut.result())
        return results

    def _pick(self, x, pset, results, rep_val, t0, tol) -> WorstCase:
        U = self._U
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
            c, ok = verify(U, r.scenario, pset.representatives[r.index], tol)
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
                f"(R = {U.radius:g}); solver statuses: {sorted(set(statuses))}"
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
            "radius": float(U.radii(scenario)),
            "tol": tol,
            "domain": U.domain,
        }
        return WorstCase(
            scenario=scenario, value=value, bound=None, status="feasible", method="patterns",
            time=time.perf_counter() - t0, stats=stats,
        )


def verify(U: NetworkSet, c: np.ndarray, anchor: np.ndarray, tol: float) -> tuple[np.ndarray, bool]:
    """Fresh forward pass: c (put into the domain box, which a solver meets to its tolerance only) if inside
    U, else the first point towards ``anchor`` that is."""
    if U.domain is not None:
        c = np.clip(c, *U.domain)
    if U.contains(c, tol=tol):
        return c, True
    if np.isnan(anchor).any() or not U.contains(anchor, tol=tol):
        return c, False
    t_out = 0.0
    for t in (1e-9, 1e-7, 1e-5, 1e-3, 1e-2, 1e-1, 0.5, 1.0):
        if U.contains(c + t * (anchor - c), tol=tol):
            # the smallest step found by bisection: a step of the coarse grid alone gives away up to
            # a hundred times the value it needs to (t * x'(anchor - c))
            t_in = t
            for _ in range(40):
                mid = 0.5 * (t_out + t_in)
                if U.contains(c + mid * (anchor - c), tol=tol):
                    t_in = mid
                else:
                    t_out = mid
            return c + t_in * (anchor - c), True
        t_out = t
    return c, False
