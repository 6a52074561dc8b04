"""Helpers shared by the formulations: the previous layer's terms, the affine map row by row, stable neurons.

Expressions are built row by row from numpy arrays as ``LinearExpression`` objects (zero weights
dropped, previous-layer neurons that are constant folded into the bias); one Python step per
neuron is unavoidable because Pyomo stores one expression object per constraint, but nothing is
done per weight in Python. A sparse (CSR) weight matrix is read over its stored nonzeros only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyomo.environ as pyo
import scipy.sparse as sp
from pyomo.core.expr.numeric_expr import LinearExpression
from pyomo.core.expr.relational_expr import EqualityExpression, InequalityExpression

from nnblocks._pyomo import add_constraints, bounds_dict

if TYPE_CHECKING:
    from nnblocks.blocks.formulations.base import Previous

__all__ = [
    "Affine", "eq", "fix_piece_indicators", "ge", "indicator_domain", "le", "linear", "post_vars",
    "reachable_pieces", "stable_and_unstable", "stable_neurons", "sum_is_one",
]


@dataclass
class Affine:
    """a = W h + b with constant neurons of h folded into b and zero weights dropped, row by row."""

    coefs: list[list[float]]
    vars: list[list[object]]
    constant: np.ndarray

    @classmethod
    def of(cls, W: np.ndarray | sp.csr_array, b: np.ndarray, prev: Previous, rows: np.ndarray | None = None) -> Affine:
        if sp.issparse(W):
            return cls._of_sparse(W, b, prev, rows)
        free = np.isnan(prev.const)
        const = b + (W[:, ~free] @ prev.const[~free] if (~free).any() else 0.0)
        Wf = W[:, free]
        hv = prev.vars[free]
        if rows is None:
            rows = np.arange(W.shape[0])
        coefs, vars_ = [], []
        for j in rows:
            row = Wf[j]
            nz = np.flatnonzero(row)
            coefs.append(row[nz].tolist())
            vars_.append(hv[nz].tolist())
        return cls(coefs, vars_, np.asarray(const, dtype=np.float64)[rows])

    @classmethod
    def _of_sparse(cls, W: sp.csr_array, b: np.ndarray, prev: Previous, rows: np.ndarray | None) -> Affine:
        """The same from a sparse W, over its stored nonzeros only (a convolution row has kernel x channels
        terms): the rows are sliced in CSR, the constant neurons folded by one sparse product."""
        W = sp.csr_array(W)
        free = np.isnan(prev.const)
        const = np.asarray(b, dtype=np.float64)
        if (~free).any():
            const = const + W @ np.where(free, 0.0, prev.const)
        if rows is not None:
            rows = np.asarray(rows, dtype=np.int64)
            W, const = W[rows], const[rows]
        if W.shape[0] == 0:
            return cls([], [], const)
        keep = free[W.indices] & (W.data != 0.0)
        row_of = np.repeat(np.arange(W.shape[0]), np.diff(W.indptr))
        cuts = np.cumsum(np.bincount(row_of[keep], minlength=W.shape[0]))[:-1]
        data, cols = W.data[keep], W.indices[keep]
        coefs = [c.tolist() for c in np.split(data, cuts)]
        vars_ = [v.tolist() for v in np.split(prev.vars[cols], cuts)]
        return cls(coefs, vars_, const)

    def expression(self, i: int, scale: float = 1.0, extra_coefs=(), extra_vars=(), with_constant=True):
        """scale * (W_j h + b_j) + sum(extra_coefs * extra_vars) as one LinearExpression (row i of this set)."""
        c = self.coefs[i] if scale == 1.0 else [scale * w for w in self.coefs[i]]
        return LinearExpression(
            constant=float(scale * self.constant[i]) if with_constant else None,
            linear_coefs=c + list(extra_coefs),
            linear_vars=self.vars[i] + list(extra_vars),
        )


def post_vars(lb, n: int, lower: np.ndarray, upper: np.ndarray) -> None:
    """x[j], the post-activation h^k_j of every neuron, with the given bounds."""
    lb.x = pyo.Var(range(n), bounds=bounds_dict(range(n), lower, upper))


def stable_neurons(lb, act, W, b, prev, pieces: np.ndarray, rows: np.ndarray, name: str = "affine") -> None:
    """Neurons whose piece p is known: x = a_p (W h + b) + c_p (eq. (18) with u fixed).

    With slope a_p = 0 the neuron is the constant c_p: x is fixed, no constraint. Otherwise one
    equality ``affine[j]``.
    """
    slopes = act.slopes[pieces]
    inter = act.intercepts[pieces]
    flat = slopes == 0
    for j, c in zip(rows[flat], inter[flat]):
        lb.x[int(j)].fix(float(c))
    keep = rows[~flat]
    if keep.size == 0:
        return
    aff = Affine.of(W, b, prev, keep)
    sl, ic = slopes[~flat], inter[~flat]
    x = lb.x
    exprs = {}
    for i, j in enumerate(keep.tolist()):
        e = aff.expression(i, scale=float(sl[i]), extra_coefs=(-1.0,), extra_vars=(x[j],), with_constant=False)
        exprs[j] = EqualityExpression((e, float(-sl[i] * aff.constant[i] - ic[i])))
    add_constraints(lb, name, exprs)


def indicator_domain(jp: list[tuple[int, int]], last: np.ndarray, relax: bool):
    """Binary for every reachable piece but the last; u of the last piece is continuous in [0, 1].

    sum_p u_p = 1 makes the last indicator integral whenever the others are, so P reachable pieces
    need P - 1 binaries (one for two pieces); the LP relaxation is the same. Returned as a dict
    (j, p) -> domain (data, not a function, so that the model pickles).
    """
    if relax:
        return pyo.UnitInterval
    return {(j, p): pyo.UnitInterval if p == last[j] else pyo.Binary for j, p in jp}


def reachable_pieces(first: np.ndarray, last: np.ndarray, unstable: np.ndarray) -> list[tuple[int, int]]:
    """The pairs (j, p) of every unstable neuron j and every piece p in first[j]..last[j]."""
    return [(int(j), p) for j in unstable.tolist() for p in range(int(first[j]), int(last[j]) + 1)]


def stable_and_unstable(lb, act, W, b, prev, first, last, post_lower, post_upper):
    """Post-activation variables for the layer, the affine map of every stable neuron, and for the unstable
    ones their indices (array and list) and the (neuron, piece) pairs the bounds leave reachable."""
    stable = first == last
    unstable = np.flatnonzero(~stable)
    post_vars(lb, W.shape[0], post_lower, post_upper)
    srows = np.flatnonzero(stable)
    if srows.size:
        stable_neurons(lb, act, W, b, prev, first[srows], srows, name="affine_stable")
    return unstable, unstable.tolist(), reachable_pieces(first, last, unstable)


def linear(coefs: list[float], vars_: list) -> LinearExpression:
    """sum(coefs * vars) with the zero coefficients dropped."""
    keep = [(c, v) for c, v in zip(coefs, vars_) if c != 0.0]
    return LinearExpression(linear_coefs=[c for c, _ in keep], linear_vars=[v for _, v in keep])


def le(coefs: list[float], vars_: list, rhs: float) -> InequalityExpression:
    """sum(coefs * vars) <= rhs."""
    return InequalityExpression((linear(coefs, vars_), rhs), False)


def ge(coefs: list[float], vars_: list, rhs: float) -> InequalityExpression:
    """sum(coefs * vars) >= rhs."""
    return InequalityExpression((rhs, linear(coefs, vars_)), False)


def eq(coefs: list[float], vars_: list, rhs: float) -> EqualityExpression:
    """sum(coefs * vars) == rhs."""
    return EqualityExpression((linear(coefs, vars_), rhs))


def sum_is_one(vars_: list) -> EqualityExpression:
    return eq([1.0] * len(vars_), vars_, 1.0)




def fix_piece_indicators(u, pieces: np.ndarray) -> None:
    """Fix the piece indicators to a pattern: u[j, q] = 1 for q = pieces[j], 0 for the other reachable q."""
    for j, q in u.index_set():
        u[j, q].fix(1.0 if pieces[j] == q else 0.0)
