"""LP tightening of interval bounds: each bound the optimum of an LP over the relaxed network, proven by its duals.

The bounds of layer k are the optimal values of min / max a^k_j over the convex relaxation of layers 1..k-1
(each neuron's graph over [L, U] replaced by its convex hull; the triangle for ReLU), the input box and the
ball, solved with HiGHS (highspy); one LP per layer, warm-started, only the objective changes from neuron
to neuron. A bound is not read off the solver's objective but recomputed from its dual solution (a
weak-duality bound that holds for any dual vector, whatever the solver's tolerances), and always
intersected with the interval bounds it started from. Optional output constraints A h^K <= b restrict
the domain to inputs whose output satisfies them.
"""

from __future__ import annotations

import time as _time
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp

from nnblocks._highs import new_highs, pass_model
from nnblocks._validate import time_limit as _check_time_limit
from nnblocks.activations import PiecewiseLinear
from nnblocks.bounds.domain import InputDomain
from nnblocks.bounds.interval import gamma, interval_bounds, layer_bounds
from nnblocks.bounds.results import LayerBounds, NetworkBounds
from nnblocks.network import Network

__all__ = ["lp_method"]

_EPS = float(np.finfo(np.float64).eps)
_IPM_NNZ = 100_000  # LPs with more nonzeros are solved by interior point (see _LayerLP._build_highs)
_MAX_SLOPE = 1e7  # relaxation lines steeper than this (near-degenerate intervals) are dropped: still sound
_KELLEY_ROUNDS = 2  # tangent cuts of the L2 ball added per objective at most (each costs a re-solve)


def _majorants(
    act_t: np.ndarray, act_a: np.ndarray, act_c: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Affine majorants s z + q >= f(z) on [lower_j, upper_j] of the PWL f = (act_t, act_a, act_c).

    Returns (S, Q, ok) of shape (n, C): candidate lines per neuron and which of them are kept. Together
    the kept lines are the faces of the concave envelope (upper side of the convex hull of the graph):
    the lines through two vertices of the graph (interval ends and breakpoints inside) that dominate
    every vertex, and, at an infinite end, the lines through a vertex with the slope of the outer piece.
    Each kept line is shifted up by its largest violation at the vertices (plus a rounding margin), so it
    dominates f on the whole interval whatever the rounding.
    """
    n, P = lower.size, act_a.size
    Z = np.concatenate([lower[:, None], np.broadcast_to(act_t, (n, P - 1)), upper[:, None]], axis=1)
    valid = np.ones(Z.shape, dtype=bool)
    valid[:, 0] = np.isfinite(lower)
    valid[:, -1] = np.isfinite(upper)
    valid[:, 1:-1] = (act_t > lower[:, None]) & (act_t < upper[:, None])
    Zf = np.where(valid, Z, 0.0)
    piece = np.searchsorted(act_t, Zf, side="left")
    F = act_a[piece] * Zf + act_c[piece]
    ii, jj = np.triu_indices(P + 1, k=1)
    dz = Zf[:, jj] - Zf[:, ii]
    ok_pair = valid[:, ii] & valid[:, jj] & (dz > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        S_pair = np.where(ok_pair, (F[:, jj] - F[:, ii]) / np.where(ok_pair, dz, 1.0), 0.0)
    Q_pair = F[:, ii] - S_pair * Zf[:, ii]
    left_inf, right_inf = ~np.isfinite(lower), ~np.isfinite(upper)
    S = [S_pair, np.full(Z.shape, act_a[0]), np.full(Z.shape, act_a[-1])]
    Q = [Q_pair, F - act_a[0] * Zf, F - act_a[-1] * Zf]
    ok = [ok_pair, valid & left_inf[:, None], valid & right_inf[:, None]]
    S, Q, ok = (np.concatenate(v, axis=1) for v in (S, Q, ok))
    ok &= ~left_inf[:, None] | (S <= act_a[0])
    ok &= ~right_inf[:, None] | (S >= act_a[-1])
    ok &= np.abs(S) <= _MAX_SLOPE * (1.0 + np.abs(act_a).max())
    line = S[:, :, None] * Zf[:, None, :] + Q[:, :, None]
    viol = np.where(valid[:, None, :], F[:, None, :] - line, -np.inf).max(axis=2)
    scale = 1.0 + np.where(valid[:, None, :], np.abs(F)[:, None, :] + np.abs(line), 0.0).max(axis=2)
    ok &= viol <= 1e-7 * scale
    Q = Q + np.maximum(viol, 0.0) + 8 * _EPS * scale
    return S, Q, ok


def _relaxation_rows(act: PiecewiseLinear, lb: LayerBounds) -> tuple[np.ndarray, ...]:
    """Rows of the convex relaxation of h_j = sigma(a_j), a_j in [lower_j, upper_j], per neuron j.

    Returns (neuron, coef_a, row_lo, row_hi) for rows ``row_lo <= h_j + coef_a a_j <= row_hi``:
    stable neurons (one piece p) get the equality h_j = a_p a_j + c_p; unstable neurons the faces of the
    convex hull of the graph {(z, sigma(z)) : lower_j <= z <= upper_j}, i.e. h <= s z + q for the faces
    of the concave envelope and h >= s z + q for those of the convex envelope (for ReLU the triangle
    h >= 0, h >= a, h <= U (a - L) / (U - L)).
    """
    t, a, c = act.breakpoints, act.slopes, act.intercepts
    stable = lb.stable
    js = np.flatnonzero(stable)
    p = lb.first_piece[js]
    parts = [(js, -a[p], c[p], c[p])]
    ju = np.flatnonzero(~stable)
    if ju.size:
        l, u = lb.lower[ju], lb.upper[ju]
        S, Q, ok = _majorants(t, a, c, l, u)  # h <= S z + Q
        r, k = np.nonzero(ok)
        parts.append((ju[r], -S[r, k], np.full(r.size, -np.inf), Q[r, k]))
        S, Q, ok = _majorants(t, -a, -c, l, u)  # -h <= S z + Q  <=>  h + S z >= -Q
        r, k = np.nonzero(ok)
        parts.append((ju[r], S[r, k], -Q[r, k], np.full(r.size, np.inf)))
    return tuple(np.concatenate(v) for v in zip(*parts))


def _output_rows(output_constraints: Any, n_out: int) -> tuple[np.ndarray, np.ndarray] | None:
    if output_constraints is None:
        return None
    pairs = [output_constraints] if isinstance(output_constraints, tuple) else list(output_constraints)
    As, bs = [], []
    for pair in pairs:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise ValueError("output_constraints must be a pair (A, b) or a list of such pairs")
        A = np.atleast_2d(np.asarray(pair[0], dtype=np.float64))
        b = np.atleast_1d(np.asarray(pair[1], dtype=np.float64)).ravel()
        if A.shape[1] != n_out or b.shape != (A.shape[0],):
            raise ValueError(
                f"output constraint A h <= b needs A of shape (m, {n_out}) and b of shape (m,); "
                f"got A {A.shape} and b {b.shape}"
            )
        if not (np.all(np.isfinite(A)) and np.all(np.isfinite(b))):
            raise ValueError("output constraint A h <= b contains NaN or infinite entries")
        As.append(A)
        bs.append(b)
    return np.concatenate(As), np.concatenate(bs)


class _LayerLP:
    """One LP over the input domain and the relaxation of layers 1..m, with the pre-activation a^k of a
    target layer k as columns; re-used (warm-started) for min / max of every a^k_j.

    Input columns: x itself (box, or box ∩ Linf ball, as column bounds), or for an L1 / L2 ball the
    split x = c + dp - dm with dp, dm >= 0 bounded so that x stays in the box and one budget row
    sum(dp + dm) <= r (L1; exact). The L2 ball is outer-approximated: |x_i - c_i| <= r (column bounds),
    sum(dp + dm) <= sqrt(n) r, and tangent cuts g^T (x - c) <= r (g = (x* - c) / ||x* - c||) added
    at LP solutions outside the ball (Kelley). Each bound is recomputed from the dual solution (see
    :meth:`_safe_min`), so it is valid whatever the solver's tolerances.
    """

    def __init__(
        self,
        network: Network,
        dom: InputDomain,
        layers: list[LayerBounds],
        n_relaxed: int,
        target: int,
        out_rows: tuple[np.ndarray, np.ndarray] | None,
    ) -> None:
        import highspy

        self._highspy = highspy
        n0 = network.n_inputs
        lo, hi = dom.effective_box()
        col_lo, col_hi = [], []
        rows, cols, vals, row_lo, row_hi = [], [], [], [], []
        n_rows = 0

        def add_rows(r: np.ndarray, cidx: np.ndarray, v: np.ndarray, rl: np.ndarray, rh: np.ndarray) -> None:
            nonlocal n_rows
            rows.append(r + n_rows)
            cols.append(cidx)
            vals.append(v)
            row_lo.append(rl)
            row_hi.append(rh)
            n_rows += rl.size

        self.split = dom.norm in (1, 2)
        if self.split:
            c = dom.center
            col_lo += [np.maximum(0.0, lo - c), np.maximum(0.0, c - hi)]
            col_hi += [np.maximum(0.0, hi - c), np.maximum(0.0, c - lo)]
            budget = dom.radius if dom.norm == 1 else np.sqrt(n0) * dom.radius
            add_rows(
                np.zeros(2 * n0, dtype=np.int64),
                np.arange(2 * n0),
                np.ones(2 * n0),
                np.array([-np.inf]),
                np.array([budget]),
            )
            n_in_cols = 2 * n0
        else:
            col_lo.append(lo)
            col_hi.append(hi)
            n_in_cols = n0
        self.n0 = n0
        self.center = dom.center
        self.radius = dom.radius
        self.kelley = dom.norm == 2
        prev = np.arange(n0)  # columns of h^{k-1} (for k = 1: of x, or of dp)
        pos = n_in_cols
        self.a_cols: list[np.ndarray] = []
        self.h_cols: list[np.ndarray] = []
        for k in range(min(max(n_relaxed, target + 1), len(network.layers))):
            layer, lb = network.layers[k], layers[k]
            n = layer.n_out
            a_col = pos + np.arange(n)
            col_lo.append(lb.lower)
            col_hi.append(lb.upper)
            pos += n
            # a^k - W^k h^{k-1} = b^k (eq. for the first layer with x = c + dp - dm: a - W dp + W dm = W c + b)
            W = layer.W
            r_w, c_w = np.nonzero(W)
            v_w = W[r_w, c_w]
            rhs = layer.b.copy()
            r_all = [np.arange(n), r_w]
            c_all = [a_col, prev[c_w]]
            v_all = [np.ones(n), -v_w]
            if k == 0 and self.split:
                rhs = rhs + W @ dom.center
                r_all.append(r_w)
                c_all.append(n0 + c_w)
                v_all.append(v_w)
            add_rows(np.concatenate(r_all), np.concatenate(c_all), np.concatenate(v_all), rhs, rhs)
            self.a_cols.append(a_col)
            if k >= n_relaxed:
                break
            h_col = pos + np.arange(n)
            col_lo.append(lb.post_lower)
            col_hi.append(lb.post_upper)
            pos += n
            self.h_cols.append(h_col)
            j, coef, rl, rh = _relaxation_rows(layer.activation, lb)
            m = j.size
            add_rows(
                np.repeat(np.arange(m), 2),
                np.column_stack([h_col[j], a_col[j]]).ravel(),
                np.column_stack([np.ones(m), coef]).ravel(),
                rl,
                rh,
            )
            prev = h_col
        if out_rows is not None and n_relaxed == len(network.layers):
            A, b = out_rows
            r_o, c_o = np.nonzero(A)
            add_rows(r_o, self.h_cols[-1][c_o], A[r_o, c_o], np.full(b.size, -np.inf), b)
        self.col_lo = np.concatenate(col_lo)
        self.col_hi = np.concatenate(col_hi)
        A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_rows, pos))
        A.eliminate_zeros()  # e.g. the coefficient 0 of a_j in the ReLU row h_j >= 0
        # a row of one unit entry implied by its column's bounds (h_j >= 0 of ReLU) is dropped: the same LP with
        # fewer rows (a fifth of them on ACAS Xu 1_1)
        head = A.indptr[:-1]
        single = np.diff(A.indptr) == 1
        col = np.where(single, A.indices[np.where(single, head, 0)] if A.nnz else 0, 0)
        val = np.where(single, A.data[np.where(single, head, 0)] if A.nnz else 0.0, 0.0)
        row_lo, row_hi = np.concatenate(row_lo), np.concatenate(row_hi)
        keep = ~(single & (val == 1.0) & (row_lo <= self.col_lo[col]) & (row_hi >= self.col_hi[col]))
        self.A = A[keep]
        self.row_lo = row_lo[keep]
        self.row_hi = row_hi[keep]
        self.AT = self.A.T.tocsr()
        self.absAT = abs(self.AT)
        self.cuts: list[np.ndarray] = []  # Kelley cuts g over (dp, dm), rhs radius
        self.n_cols = pos
        self._build_highs()

    def _build_highs(self) -> None:
        h = new_highs()  # silent, banner included
        h.setOptionValue("presolve", "off")  # keeps the basis for warm starts; presolve also slowed IPM 25x here
        if self.A.nnz <= _IPM_NNZ:
            # simplex warm-started from the previous basis after each change of objective; only the objective
            # changes, so the previous basis stays primal feasible: primal simplex (ACAS Xu 1_1, property 3:
            # 0.76 s CPU for the 340 LPs against 1.31 s with dual simplex, the same bounds)
            h.setOptionValue("solver", "simplex")
            from nnblocks.solve import tuning

            for key, value in tuning("highs", "primal_simplex").items():
                h.setOptionValue(key, value)
        else:
            # large LPs: interior point without crossover was faster than warm-started simplex
            # (784-256-256-10, layer 2: 0.31 s vs 0.53 s per LP); its approximate duals still give
            # valid bounds through _lagrangian_bound
            h.setOptionValue("solver", "ipm")
            h.setOptionValue("run_crossover", "off")
        pass_model(h, np.zeros(self.n_cols), self.A, self.row_lo, self.row_hi, self.col_lo, self.col_hi)
        self.h = h

    # -- bounds from duals ----------------------------------------------------------------------
    def _lagrangian_bound(self, cost: np.ndarray, y: np.ndarray) -> float:
        """min cost^T v over the LP's rows and column bounds, bounded below through the multipliers y.

        For any y: cost^T v = y^T (A v) + (cost - A^T y)^T v, and each term is bounded below by the row
        or column bounds on the side its sign selects (weak duality). Wrong-signed multipliers of
        infinite row sides are set to zero first (any y gives a valid bound).
        """
        n_main = self.A.shape[0]
        row_lo = np.concatenate([self.row_lo, np.full(len(self.cuts), -np.inf)])
        row_hi = np.concatenate([self.row_hi, np.full(len(self.cuts), self.radius if self.cuts else 0.0)])
        y = np.where(((y > 0) & np.isinf(row_lo)) | ((y < 0) & np.isinf(row_hi)), 0.0, y)
        r = cost - self.AT @ y[:n_main]
        r_err = self.absAT @ np.abs(y[:n_main])  # |A^T| |y|: scale of the rounding error of r
        if self.cuts:
            G = np.asarray(self.cuts)
            r[: 2 * self.n0] -= G.T @ y[n_main:]
            r_err[: 2 * self.n0] += np.abs(G.T) @ np.abs(y[n_main:])
        row_terms = np.where(y > 0, y * np.where(y > 0, row_lo, 0.0), y * np.where(y < 0, row_hi, 0.0))
        col_terms = r * np.where(r > 0, self.col_lo, np.where(r < 0, self.col_hi, 0.0))
        terms = np.concatenate([row_terms, col_terms])
        total = float(terms.sum())
        if not np.isfinite(total):
            return -np.inf
        # rounding: of the sum, and of r (|r_exact - r| <= gamma |A^T| |y|) times the column magnitudes
        col_mag = np.maximum(np.abs(self.col_lo), np.abs(self.col_hi))
        r_pad = np.zeros_like(r_err)  # 0 where r is exact, also for unbounded columns (no 0 * inf)
        np.multiply(r_err, col_mag, out=r_pad, where=r_err > 0)
        pad = gamma(terms.size) * (float(np.abs(terms).sum()) + float(r_pad.sum()))
        return total - pad if np.isfinite(pad) else -np.inf

    def _add_cut(self, d: np.ndarray) -> None:
        """Tangent cut g^T (x - c) <= r of the L2 ball at the point c + r g, g = d / ||d||."""
        g = d / np.linalg.norm(d)
        coef = np.concatenate([g, -g])
        self.cuts.append(coef)
        self.h.addRow(-np.inf, float(self.radius), coef.size, np.arange(coef.size, dtype=np.int32), coef)

    def minimize(self, col: int, sense: float, time_left: float | None) -> tuple[float, str]:
        """A sound lower bound of min sense * v[col]; status "ok", "infeasible" (proven) or "none"."""
        hs = self._highspy
        h = self.h
        h.changeColCost(int(col), float(sense))
        cost = np.zeros(self.n_cols)
        cost[col] = sense
        best = -np.inf
        status = "none"
        for _ in range(_KELLEY_ROUNDS if self.kelley else 1):
            if time_left is not None:
                h.setOptionValue("time_limit", max(float(time_left), 1e-3))
            h.run()
            ms = h.getModelStatus()
            if ms == hs.HighsModelStatus.kInfeasible:
                if self._farkas() or self._farkas_by_dual_simplex():
                    status = "infeasible"
                break
            sol = h.getSolution()
            if not sol.dual_valid:
                break
            y = np.asarray(sol.row_dual)
            best = max(best, self._lagrangian_bound(cost, y))
            status = "ok"
            if ms != hs.HighsModelStatus.kOptimal or not self.kelley:
                break
            v = np.asarray(sol.col_value)
            d = v[: self.n0] - v[self.n0 : 2 * self.n0]
            if np.linalg.norm(d) <= self.radius * (1 + 1e-6):
                break
            self._add_cut(d)
        h.changeColCost(int(col), 0.0)
        return best, status

    def _farkas_by_dual_simplex(self) -> bool:
        """:meth:`_farkas` after a re-solve by dual simplex (primal simplex gives no dual ray)."""
        from nnblocks.solve import tuning

        primal = tuning("highs", "primal_simplex")
        if not primal:
            return False
        self.h.setOptionValue("simplex_strategy", 1)  # dual simplex, which leaves a dual ray of an infeasible LP
        self.h.run()
        proven = self.h.getModelStatus() == self._highspy.HighsModelStatus.kInfeasible and self._farkas()
        for key, value in primal.items():
            self.h.setOptionValue(key, value)
        return proven

    def _farkas(self) -> bool:
        """True when HiGHS's dual ray proves infeasibility (checked: its Lagrangian bound of 0 is > 0)."""
        try:
            _, has, ray = self.h.getDualRay()
        except Exception:  # noqa: BLE001 - any failure means: not proven
            return False
        if not has:
            return False
        ray = np.asarray(ray, dtype=np.float64)
        zero = np.zeros(self.n_cols)
        return any(self._lagrangian_bound(zero, s * ray) > 0 for s in (1.0, -1.0))


def _tightened(lb: LayerBounds, lower: np.ndarray, upper: np.ndarray, act: PiecewiseLinear) -> LayerBounds:
    """LP bounds intersected with the bounds they started from (never wider)."""
    lower = np.maximum(lb.lower, lower)
    upper = np.minimum(lb.upper, upper)
    lower = np.minimum(lower, upper)  # only crossed when no input satisfies the output constraints
    return layer_bounds(lower, upper, act)


def _lp_tighten(
    network: Network,
    dom: InputDomain,
    layers: list[LayerBounds],
    only_unstable: bool,
    time_limit: float | None,
    output_constraints: Any,
    passes: int,
    start: float,
) -> tuple[list[LayerBounds], bool, bool, int]:
    """LP tightening of interval bounds, layer by layer (see :func:`~nnblocks.bounds.compute_bounds`)."""
    K = len(network.layers)
    out_rows = _output_rows(output_constraints, network.n_outputs)
    if int(passes) < 1:
        raise ValueError(f"passes must be >= 1, got {passes}")
    time_limit = _check_time_limit(time_limit)
    # Without output constraints the first layer's interval is already the exact range over the domain
    # (up to the bisection of the L2 case), and a second pass reproduces the first.
    first = 0 if out_rows is not None else 1
    n_passes = int(passes) if out_rows is not None else 1
    n_lps = 0
    n_failed = 0  # LPs without a usable dual solution: their neurons keep the interval bounds
    for _ in range(n_passes):
        for k in range(first, K):
            layer, lb = network.layers[k], layers[k]
            select = np.ones(lb.n, dtype=bool)
            if only_unstable and lb.n_pieces > 1:
                select = ~lb.stable
            idx = np.flatnonzero(select)
            if not idx.size:
                continue
            n_relaxed = K if out_rows is not None else k
            lp = _LayerLP(network, dom, layers, n_relaxed, k, out_rows)
            lower, upper = lb.lower.copy(), lb.upper.copy()
            act = layer.activation
            # once a^k_j <= t_0 on a flat first piece, h_j is constant and the lower bound is moot
            flat_first = act.n_pieces > 1 and act.slopes[0] == 0.0
            # the upper bounds of the layer first, then its lower bounds: consecutive objectives of one side
            # leave a basis nearer the next optimum (ACAS Xu 1_1, property 1, layer 6: 15 % fewer simplex
            # iterations than min and max of each neuron in turn)
            for sense in (-1.0, 1.0):
                for j in idx:
                    if sense > 0 and flat_first and upper[j] <= act.breakpoints[0]:
                        continue
                    left = None if time_limit is None else time_limit - (_time.perf_counter() - start)
                    if left is not None and left <= 0:
                        layers[k] = _tightened(lb, lower, upper, act)
                        return layers, False, False, n_lps
                    value, status = lp.minimize(int(lp.a_cols[k][j]), sense, left)
                    n_lps += 1
                    if status == "infeasible":
                        return layers, True, True, n_lps
                    if status == "none":
                        n_failed += 1
                    if status == "ok":
                        if sense > 0:
                            lower[j] = max(lower[j], value)
                        else:
                            upper[j] = min(upper[j], -value)
            layers[k] = _tightened(lb, lower, upper, act)
        if out_rows is None:
            break
    if n_failed:
        warnings.warn(
            f"LP bound tightening: {n_failed} of {n_lps} LPs gave no usable dual solution; those neurons keep "
            "their interval bounds (sound but looser)",
            RuntimeWarning,
            stacklevel=4,  # the caller of compute_bounds
        )
    return layers, True, False, n_lps


def lp_method(
    network: Network,
    domain: InputDomain,
    *,
    only_unstable: bool = True,
    time_limit: float | None = None,
    output_constraints: Any = None,
    passes: int = 1,
) -> NetworkBounds:
    """``compute_bounds(method="lp")``: interval bounds, then LP tightening (the options as there)."""
    start = _time.perf_counter()
    layers = interval_bounds(network, domain)
    layers, complete, infeasible, n_lps = _lp_tighten(
        network, domain, layers, only_unstable, time_limit, output_constraints, passes, start
    )
    return NetworkBounds(tuple(layers), "lp", _time.perf_counter() - start, complete, infeasible, n_lps,
                         output_constrained=output_constraints is not None)
