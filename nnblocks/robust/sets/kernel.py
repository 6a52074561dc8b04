"""The Kernel baseline of Goerigk & Kurtz's experiments: the support vector clustering set (8) of Shang, Huang
& You (2017), with the kernel K(u, v) = sum_k l_k - ||Q(u - v)||_1, trained by the dual problem (7) (a convex QP,
solved by HiGHS).

Its ``worst_case(x)`` is exact (one LP), and :meth:`KernelUncertaintySet.robust_counterpart` adds the dual of the
inner problem max_{c in U} c'x to a user's Pyomo model; the block's ``value`` is an expression that equals
max_{c in U} c'x at an optimum of the outer problem (min value, or value <= b), so one LP/MILP solves the robust
problem.

HiGHS is called through ``highspy`` directly: the QP (7) has a dense Hessian that Pyomo would expand
into ~m^2/2 terms, and the adversarial LP is re-solved with only its costs changed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyomo.environ as pyo
import scipy.sparse as sp

from nnblocks._highs import new_highs, pass_model
from nnblocks._pyomo import add_constraints
from nnblocks._results import AsDict
from nnblocks.robust.base import WorstCase, WorstCaseStatus
from nnblocks.robust.sets._common import decision_terms, direction, free_name, scenario_rows

__all__ = ["KernelUncertaintySet", "KernelFit"]

_INF = float("inf")
# HiGHS model statuses of the Kernel LP other than "Optimal" (any other one is an error)
_HIGHS_STATUS = {
    "Infeasible": WorstCaseStatus.INFEASIBLE,
    "Unbounded": WorstCaseStatus.UNBOUNDED,
    "Primal infeasible or unbounded": WorstCaseStatus.INFEASIBLE_OR_UNBOUNDED,
    "Time limit reached": WorstCaseStatus.TIME_LIMIT_NO_SOLUTION,
    "Iteration limit reached": WorstCaseStatus.ITERATION_LIMIT,
}
_UB_RTOL = 1e-6  # alpha_i >= (1 - _UB_RTOL) / (m nu) counts as at the upper bound of (7)


def _read_floats(source: Any) -> np.ndarray:
    """Numbers from an array or from a text file with ', ' / ',' / newline separators (ro-dnn kernel files)."""
    if isinstance(source, str | Path):
        text = Path(source).read_text()
        rows = [r for r in text.strip().splitlines() if r.strip()]
        values = [[float(v) for v in r.replace(";", ",").split(",") if v.strip()] for r in rows]
        if len(values) == 1:
            return np.asarray(values[0], dtype=float)
        return np.asarray(values, dtype=float)
    return np.asarray(source, dtype=float)


@dataclass
class KernelFit(AsDict):
    """Statistics of solving the dual problem (7).

    ``n_boundary`` counts the boundary support vectors BSV (0 < alpha_i < 1/(m nu)). ``theta_rule`` says how
    theta was set: ``"boundary"`` (min over BSV, as in (8)) or ``"kkt_midpoint"`` (no BSV: the midpoint of
    ``theta_interval`` = [max_{alpha_i = 0} g_i, min_{alpha_i = 1/(m nu)} g_i], the values the KKT
    conditions of (7) allow; g_i is the left side of (8) at c^i).
    """

    status: str
    solver: str
    time: float
    n_support: int
    n_boundary: int
    theta_rule: str = "boundary"
    theta_interval: tuple[float, float] = (-_INF, _INF)


class KernelUncertaintySet:
    """The SVC uncertainty set (8) of Shang, Huang & You (2017):

        U = {c : sum_{i in SV} alpha_i ||Q(c - c^i)||_1 <= theta}
          = {c : exists v_i, -v_i <= Q(c - c^i) <= v_i (i in SV), sum_i alpha_i 1'v_i <= theta},

    with theta = min_{i' in BSV} sum_{i in SV} alpha_i ||Q(c^{i'} - c^i)||_1 (without boundary support
    vectors, the midpoint of the interval the KKT conditions of (7) allow, see :meth:`fit`), optionally
    intersected with a box ``lower <= c <= upper`` (e.g. non-negative travel times).

    Parameters
    ----------
    data:
        The training scenarios c^1..c^m (rows).
    alphas:
        The optimal solution of (7), one weight per training row.
    Q:
        The weighting matrix of the kernel (n x n).
    theta:
        The right-hand side of (8).
    support_threshold:
        alpha_i above it makes i a support vector (1e-5 as in the authors' files).
    lower, upper:
        Optional bounds on c (scalars or arrays), intersected with (8).
    """

    def __init__(self, data: Any, alphas: Any, Q: Any, theta: float, support_threshold: float = 1e-5,
                 lower: Any = None, upper: Any = None, fit_info: KernelFit | None = None) -> None:
        self.data = scenario_rows(data, "data")
        m, n = self.data.shape
        self.alphas = np.asarray(alphas, dtype=float).ravel()
        if self.alphas.shape != (m,):
            raise ValueError(f"alphas has {self.alphas.size} entries, data has {m} rows")
        self.Q = np.atleast_2d(np.asarray(Q, dtype=float))
        if self.Q.shape != (n, n):
            raise ValueError(f"Q has shape {self.Q.shape}, expected ({n}, {n})")
        if not (np.all(np.isfinite(self.Q)) and np.all(np.isfinite(self.alphas)) and np.isfinite(theta)):
            raise ValueError("alphas, Q and theta must be finite")
        self.theta = float(theta)
        self.support = np.flatnonzero(self.alphas > support_threshold)
        if self.support.size == 0:
            raise ValueError("no support vector: every alpha_i is below the support threshold")
        self.lower = np.broadcast_to(-_INF if lower is None else np.asarray(lower, float), (n,)).astype(float)
        self.upper = np.broadcast_to(_INF if upper is None else np.asarray(upper, float), (n,)).astype(float)
        self.fit_info = fit_info
        self._lp: Any = None

    # ---- construction ---------------------------------------------------------------------------------
    @classmethod
    def fit(cls, data: Any, q: float | None = None, nu: float | None = None, Q: Any = "inverse_covariance",
            support_threshold: float = 1e-5, lower: Any = None, upper: Any = None, solver: str = "highs",
            qp_time_limit: float = 10.0) -> KernelUncertaintySet:
        """Train the set on ``data`` by the dual problem (7).

        ``solver="highs"`` solves (7) with HiGHS's QP solver (through highspy). For large nu (many
        alphas strictly between their bounds) HiGHS's active-set method can be slow: after
        ``qp_time_limit`` seconds it hands over to Clarabel's interior point method, as it does when HiGHS
        ends with any status other than optimal (``fit_info.solver`` tells which one solved);
        ``solver="clarabel"`` uses Clarabel directly.

        theta is min_{i' in BSV} sum_{i in SV} alpha_i ||Q(c^{i'} - c^i)||_1 as in (8). When no alpha_i lies
        strictly between its bounds (BSV is empty, e.g. when m nu is an integer) theta is not pinned down
        by (8); the KKT conditions of (7) still bound it, and theta is the midpoint of that interval (see
        :class:`KernelFit`). Either way at least q m of the m training points lie in the set and at most
        q m strictly inside it (up to the QP's tolerance).

        ``q`` is the target share of data inside the set (nu = 1 - q); give ``q`` or ``nu``. ``Q`` is the
        kernel's weighting matrix: ``"inverse_covariance"`` (the matrix in the authors' files),
        ``"inverse_sqrt_covariance"`` (Shang, Huang & You's whitening) or an n x n array.

        (7): min_alpha sum_ij alpha_i alpha_j K(c^i, c^j) - sum_i alpha_i K(c^i, c^i)
             s.t. 0 <= alpha_i <= 1/(m nu), sum_i alpha_i = 1,
        with K(u, v) = sum_k l_k - ||Q(u - v)||_1 and l_k = max_i (Qc^i)_k - min_i (Qc^i)_k + 0.01, which makes
        K positive definite; K(c^i, c^i) = sum_k l_k is constant, so the linear term is constant on the simplex.
        """
        X = scenario_rows(data, "data")
        m, n = X.shape
        if (q is None) == (nu is None):
            raise ValueError("give exactly one of q (share of data inside the set) or nu = 1 - q")
        nu = 1.0 - float(q) if nu is None else float(nu)
        if not 0.0 < nu <= 1.0:
            raise ValueError(f"nu = 1 - q must lie in (0, 1], got {nu}")
        if isinstance(Q, str):
            if Q not in ("inverse_covariance", "inverse_sqrt_covariance"):
                raise ValueError(f"unknown weighting {Q!r}: use 'inverse_covariance', 'inverse_sqrt_covariance' "
                                 "or an array")
            if m < n + 1:
                raise ValueError(
                    f"data has {m} scenario(s) of dimension {n}: the weighting Q={Q!r} needs the covariance of at "
                    f"least n + 1 = {n + 1} scenarios; pass more data or Q explicitly"
                )
            S = np.atleast_2d(np.cov(X.T))
            w, V = np.linalg.eigh(S)
            if w.min() <= 1e-12 * max(1.0, w.max()):
                raise ValueError("the covariance matrix of the data is singular: pass Q explicitly "
                                 "(e.g. computed from slightly perturbed data)")
            if Q == "inverse_covariance":
                Qm = (V / w) @ V.T
            else:
                Qm = (V / np.sqrt(w)) @ V.T
        else:
            Qm = np.atleast_2d(np.asarray(Q, dtype=float))
            if Qm.shape != (n, n) or not np.all(np.isfinite(Qm)):
                raise ValueError(f"Q must be a finite ({n}, {n}) array, got shape {Qm.shape}")
        t0 = time.perf_counter()
        V = X @ Qm.T
        D = _l1_distances(V, V)
        l_sum = float((V.max(axis=0) - V.min(axis=0) + 0.01).sum())
        K = l_sum - D
        ub = 1.0 / (m * nu)
        if ub * m < 1.0 - 1e-12:
            raise ValueError("infeasible dual (7): 1/(m nu) * m < 1")
        alphas, used = None, solver
        if solver == "highs":
            alphas, status = _svc_dual_highs(K, ub, qp_time_limit)
            if alphas is None:
                used = ("clarabel (after HiGHS's time limit)" if status == "Time limit reached"
                        else f"clarabel (after HiGHS's status {status!r})")
        elif solver != "clarabel":
            raise ValueError(f"unknown QP solver {solver!r}: use 'highs' or 'clarabel'")
        if alphas is None:
            alphas = _svc_dual_clarabel(K, ub)
        sv = alphas > support_threshold
        at_ub = alphas >= ub * (1.0 - _UB_RTOL)
        bsv = sv & ~at_ub
        g = _l1_distances(V, V[sv]) @ alphas[sv]  # the left side of (8) at every c^i
        theta, lo, hi = _svc_theta(g, ~sv, at_ub, bsv)
        info = KernelFit(status="optimal", solver=used, time=time.perf_counter() - t0, n_support=int(sv.sum()),
                         n_boundary=int(bsv.sum()), theta_rule="boundary" if bsv.any() else "kkt_midpoint",
                         theta_interval=(lo, hi))
        return cls(X, alphas, Qm, theta, support_threshold, lower, upper, info)

    @classmethod
    def from_files(cls, alphas: Any, sv: Any, q: Any, theta: Any, data: Any, lower: Any = None,
                   upper: Any = None) -> KernelUncertaintySet:
        """Load a set from the authors' kernel files (``alphas-*.txt``, ``sv-*.txt``, ``q-*.txt``,
        ``theta-*.txt``) and the matching training data (a path to ``train-*`` or an array).

        Each argument may be a path or an array. ``sv`` holds 0-based support-vector row indices; rows not
        listed get alpha = 0.
        """
        if isinstance(data, str | Path):
            X = _read_floats(data)
        else:
            X = np.asarray(data, dtype=float)
        X = scenario_rows(X, "data")
        a = _read_floats(alphas).ravel()
        idx = _read_floats(sv).ravel().astype(int)
        Qm = _read_floats(q)
        th = float(np.asarray(_read_floats(theta)).ravel()[0])
        if a.shape[0] != X.shape[0]:
            raise ValueError(f"alphas has {a.shape[0]} entries, data has {X.shape[0]} rows")
        mask = np.zeros_like(a)
        mask[idx] = 1.0
        return cls(X, a * mask, Qm, th, support_threshold=0.0, lower=lower, upper=upper)

    # ---- membership -----------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self.data.shape[1]

    @property
    def support_vectors(self) -> np.ndarray:
        """The rows c^i, i in SV."""
        return self.data[self.support]

    def scores(self, C: Any) -> np.ndarray:
        """sum_{i in SV} alpha_i ||Q(c - c^i)||_1 for each row c of C (the left side of (8))."""
        C = scenario_rows(C, "C")
        VS = self.support_vectors @ self.Q.T
        a = self.alphas[self.support]
        VC = C @ self.Q.T
        out = np.empty(C.shape[0])
        step = max(1, int(2e7 // max(1, VS.size)))
        for s in range(0, C.shape[0], step):
            out[s:s + step] = _l1_distances(VC[s:s + step], VS) @ a
        return out

    def contains(self, C: Any, tol: float = 1e-7) -> np.ndarray:
        """Whether each row of C lies in U (relative tolerance ``tol`` on theta and on the box)."""
        C = scenario_rows(C, "C")
        inside = self.scores(C) <= self.theta * (1.0 + tol) + tol
        box_tol = tol * np.maximum(1.0, np.abs(C))
        inside &= np.all(C >= self.lower - box_tol, axis=1) & np.all(C <= self.upper + box_tol, axis=1)
        return inside

    # ---- adversarial problem --------------------------------------------------------------------------
    def _build_lp(self) -> Any:
        """max x'c over (8) with y = Qc: variables (c, y, v_i), rows Qc - y = 0, y - v_i <= Qc^i,
        y + v_i >= Qc^i, sum_i alpha_i 1'v_i <= theta."""
        n = self.dim
        k = self.support.size
        QX = self.support_vectors @ self.Q.T  # k x n, rows Q c^i
        I = sp.identity(n, format="csr")
        ones_k = np.ones((k, 1))
        Vblk = sp.identity(k * n, format="csr")
        Y = sp.csr_matrix(sp.kron(ones_k, I))
        zero_c = sp.csr_matrix((k * n, n))
        A = sp.vstack([
            sp.hstack([sp.csr_matrix(self.Q), -I, sp.csr_matrix((n, k * n))]),
            sp.hstack([zero_c, Y, -Vblk]),
            sp.hstack([zero_c, Y, Vblk]),
            sp.hstack([sp.csr_matrix((1, 2 * n)), sp.csr_matrix(np.repeat(self.alphas[self.support], n)[None, :])]),
        ]).tocsc()
        qx = QX.ravel()
        row_lo = np.concatenate([np.zeros(n), np.full(k * n, -_INF), qx, [-_INF]])
        row_hi = np.concatenate([np.zeros(n), qx, np.full(k * n, _INF), [self.theta]])
        col_lo = np.concatenate([self.lower, np.full(n, -_INF), np.zeros(k * n)])
        col_hi = np.concatenate([self.upper, np.full(n, _INF), np.full(k * n, _INF)])
        h = new_highs()
        pass_model(h, np.zeros(A.shape[1]), A, row_lo, row_hi, col_lo, col_hi, maximize=True)
        h.setOptionValue("simplex_strategy", 4)  # primal simplex: measured 4-10x faster than dual on (8)
        return h

    def worst_case(self, x: Any, **kwargs: Any) -> WorstCase:
        """max_{c in U} c'x, one LP (HiGHS, re-solved with only the costs changed between calls)."""
        t0 = time.perf_counter()
        x = direction(x, self.dim)
        if self._lp is None:
            self._lp = self._build_lp()
        h = self._lp
        n = self.dim
        h.changeColsCost(n, np.arange(n, dtype=np.int32), x)
        h.run()
        status = h.modelStatusToString(h.getModelStatus())
        elapsed = time.perf_counter() - t0
        if status != "Optimal":
            return WorstCase(scenario=np.full(n, np.nan), value=float("nan"), bound=None,
                             status=_HIGHS_STATUS.get(status, WorstCaseStatus.ERROR), method="lp", time=elapsed,
                             stats={"highs_status": status})
        c = np.asarray(h.getSolution().col_value[:n], dtype=float)
        v = float(c @ x)
        bound = float(h.getInfo().objective_function_value)
        return WorstCase(scenario=c, value=v, bound=max(v, bound), status="optimal", method="lp", time=elapsed,
                         stats={"n_support": int(self.support.size)})

    # ---- robust counterpart ---------------------------------------------------------------------------
    def robust_counterpart(self, model: pyo.Block, x: Any, name: str | None = None) -> pyo.Block:
        """Add the dual of max_{c in U} c'x to ``model`` as a block whose ``value`` bounds it from above.

        With w_i = lambda_i - mu_i (the duals of the two sides of -v_i <= Q(c - c^i) <= v_i), eta the dual
        of the budget row of (8), s = sum_i w_i and rho_lo, rho_up the duals of the box:

            value = sum_{i in SV} (Qc^i)'w_i + theta eta - lower'rho_lo + upper'rho_up
            Q s + rho_up - rho_lo = x,   s = sum_i w_i,   -alpha_i eta <= w_i <= alpha_i eta,   eta, rho >= 0.

        By LP duality, min over these of ``value`` equals max_{c in U} c'x, so minimising ``value`` (uncertain
        objective) or requiring ``value <= b`` (uncertain constraint) gives the robust counterpart exactly.
        """
        xs = decision_terms(x, self.dim)
        n = self.dim
        sv = self.support
        k = sv.size
        QX = self.support_vectors @ self.Q.T
        alpha = self.alphas[sv]
        b = pyo.Block(concrete=True)
        b.N = pyo.RangeSet(0, n - 1)
        b.SV = pyo.RangeSet(0, k - 1)
        b.eta = pyo.Var(domain=pyo.NonNegativeReals)
        b.w = pyo.Var(b.SV, b.N, domain=pyo.Reals)
        b.s = pyo.Var(b.N, domain=pyo.Reals)
        has_lo = np.isfinite(self.lower)
        has_up = np.isfinite(self.upper)
        b.LO = pyo.Set(initialize=[int(j) for j in np.flatnonzero(has_lo)])
        b.UP = pyo.Set(initialize=[int(j) for j in np.flatnonzero(has_up)])
        b.rho_lo = pyo.Var(b.LO, domain=pyo.NonNegativeReals)
        b.rho_up = pyo.Var(b.UP, domain=pyo.NonNegativeReals)
        Q = self.Q

        dual_c = {}
        for j in range(n):
            e = sum(float(Q[j, l]) * b.s[l] for l in np.flatnonzero(Q[j]))
            if has_up[j]:
                e = e + b.rho_up[j]
            if has_lo[j]:
                e = e - b.rho_lo[j]
            dual_c[j] = e == xs[j]
        add_constraints(b, "dual_c", dual_c, b.N)
        add_constraints(b, "sum_w", {j: b.s[j] == sum(b.w[i, j] for i in range(k)) for j in range(n)}, b.N)
        add_constraints(b, "w_up", {(i, j): b.w[i, j] <= float(alpha[i]) * b.eta for i in b.SV for j in range(n)},
                        b.SV * b.N)
        add_constraints(b, "w_lo", {(i, j): -float(alpha[i]) * b.eta <= b.w[i, j] for i in b.SV for j in range(n)},
                        b.SV * b.N)
        value = sum(float(QX[i, j]) * b.w[i, j] for i in range(k) for j in range(n)) + self.theta * b.eta
        value = value - sum(float(self.lower[j]) * b.rho_lo[j] for j in b.LO)
        value = value + sum(float(self.upper[j]) * b.rho_up[j] for j in b.UP)
        b.value = pyo.Expression(expr=value)
        model.add_component(name or free_name(model, "kernel_rc"), b)
        return b


def _svc_theta(g: np.ndarray, at_zero: np.ndarray, at_ub: np.ndarray, bsv: np.ndarray
               ) -> tuple[float, float, float]:
    """theta of (8) and the interval [theta_lo, theta_hi] the KKT conditions of (7) allow for it.

    With g_i = sum_{j in SV} alpha_j ||Q(c^i - c^j)||_1 (half the squared feature-space distance of c^i to
    the centre, up to a constant), the KKT conditions of (7) read g_i <= theta if alpha_i = 0,
    g_i = theta if 0 < alpha_i < 1/(m nu) (i in BSV) and g_i >= theta if alpha_i = 1/(m nu); so
    theta_lo = max_{alpha_i = 0} g_i <= theta <= theta_hi = min_{alpha_i = 1/(m nu)} g_i (an empty max is
    -inf, an empty min +inf). With boundary support vectors theta = min_{i' in BSV} g_{i'} as in (8), kept
    inside the interval against solver round-off; without any (every alpha at a bound, as when m nu is an
    integer) theta is the interval's midpoint, or its finite end when one side is empty (nu = 1: every
    alpha_i = 1/m).
    """
    lo = float(g[at_zero].max()) if at_zero.any() else -_INF
    hi = float(g[at_ub].min()) if at_ub.any() else _INF
    if bsv.any():
        theta = float(g[bsv].min())
        if lo <= hi:
            theta = min(max(theta, lo), hi)
    elif np.isfinite(lo) and np.isfinite(hi):
        theta = 0.5 * (lo + hi)
    else:
        theta = hi if np.isfinite(hi) else lo
    return theta, lo, hi


def _svc_dual_highs(K: np.ndarray, ub: float, time_limit: float) -> tuple[np.ndarray | None, str]:
    """(7) with HiGHS: min alpha'K alpha s.t. sum alpha = 1, 0 <= alpha <= ub, and HiGHS's model status;
    alpha is None unless the status is optimal (a time or iteration limit, or a solve error HiGHS's QP
    solver occasionally reports on well-posed instances)."""
    m = K.shape[0]
    h = new_highs()
    h.setOptionValue("time_limit", float(time_limit))
    # the active-set method needs about m iterations (at most 1.6 m measured on random data); on nearly
    # singular K (e.g. one-dimensional data) it can cycle until the time limit, so it stops far earlier
    h.setOptionValue("qp_iteration_limit", 20 * m + 1000)
    pass_model(h, np.zeros(m), sp.csc_matrix(np.ones((1, m))), np.ones(1), np.ones(1), np.zeros(m),
             np.full(m, ub), hessian=2.0 * K)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    if status != "Optimal":
        return None, status
    return np.clip(np.asarray(h.getSolution().col_value, dtype=float), 0.0, ub), status


def _svc_dual_clarabel(K: np.ndarray, ub: float) -> np.ndarray:
    """(7) with Clarabel (interior point; P = 2K upper triangle, rows: sum = 1, -alpha <= 0, alpha <= ub)."""
    import clarabel

    m = K.shape[0]
    P = sp.csc_matrix(np.triu(2.0 * K))
    A = sp.vstack([sp.csc_matrix(np.ones((1, m))), -sp.identity(m), sp.identity(m)]).tocsc()
    b = np.r_[1.0, np.zeros(m), np.full(m, ub)]
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = 1e-12
    settings.max_iter = 500
    cones = [clarabel.ZeroConeT(1), clarabel.NonnegativeConeT(2 * m)]
    sol = clarabel.DefaultSolver(P, np.zeros(m), A, b, cones, settings).solve()
    if str(sol.status) not in ("Solved", "AlmostSolved"):
        raise RuntimeError(f"Clarabel did not solve the SVC dual problem (7): status {sol.status}")
    return np.clip(np.asarray(sol.x, dtype=float), 0.0, ub)


def _l1_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """||a_i - b_j||_1 for all rows (scipy's cdist: C speed without an (i, j, k) temporary)."""
    from scipy.spatial.distance import cdist

    return cdist(np.atleast_2d(A), np.atleast_2d(B), metric="cityblock")
