"""Affine operations y = sum_i W_i x_i + b on flat tensors: dense layers, convolutions, pooling by averages,
batch norm, padding, reshapes, transposes, slices, concatenation and residual sums all lower to this.

The weights are kept sparse (scipy CSR) unless they are dense enough that a numpy matmul is faster, so a
convolution row has kernel x channels terms, not the whole input, and every encoding iterates over
stored nonzeros only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from nnblocks.graph.operation import Operation, outward

__all__ = ["Linear", "as_weight"]

_DENSE_FILL = 0.25  # at or above this share of nonzeros a weight is stored as a dense ndarray


def as_weight(W: Any) -> np.ndarray | sp.csr_array:
    """A float64 weight matrix: dense ndarray when at least a quarter of it is nonzero, else CSR."""
    if sp.issparse(W):
        W = sp.csr_array(W, dtype=np.float64, copy=True)  # stored weights are read-only: never edit them in place
        W.sum_duplicates()
        W.eliminate_zeros()
        if W.shape[0] * W.shape[1] and W.nnz >= _DENSE_FILL * W.shape[0] * W.shape[1]:
            return np.asarray(W.toarray())
        return W
    W = np.array(W, dtype=np.float64)
    if W.ndim != 2:
        raise ValueError(f"a weight matrix must be 2-D, got shape {W.shape}")
    if W.size and np.count_nonzero(W) < _DENSE_FILL * W.size:
        return as_weight(sp.csr_array(W))
    return W


def _matmul(W: np.ndarray | sp.csr_array, X: np.ndarray) -> np.ndarray:
    """X @ W.T for a batch X of shape (N, n): (N, m)."""
    if sp.issparse(W):
        return np.asarray((W @ X.T).T)
    return X @ W.T


def _abs(W):
    return abs(W) if sp.issparse(W) else np.abs(W)


def _row_nnz(W) -> np.ndarray:
    if sp.issparse(W):
        return np.diff(W.indptr)
    return np.count_nonzero(W, axis=1)


class Linear(Operation):
    """y = sum_i W_i x_i + b.

    Parameters
    ----------
    weights:
        One (m, n_i) matrix per input tensor (ndarray or scipy sparse); all with the same m.
    bias:
        (m,) or None (zero).
    """

    kind: ClassVar[str] = "linear"

    def __init__(self, weights: Sequence[Any], bias: Any = None) -> None:
        Ws = [as_weight(W) for W in weights]
        if not Ws:
            raise ValueError("a Linear operation needs at least one weight matrix")
        m = Ws[0].shape[0]
        for i, W in enumerate(Ws):
            if W.shape[0] != m:
                raise ValueError(f"weight {i} has {W.shape[0]} rows, weight 0 has {m}")
            data = W.data if sp.issparse(W) else W
            if not np.all(np.isfinite(data)):
                raise ValueError(f"weight {i} contains NaN or infinite entries")
        b = np.zeros(m) if bias is None else np.array(bias, dtype=np.float64).reshape(-1)
        if b.shape != (m,):
            raise ValueError(f"bias must have shape ({m},), got {b.shape}")
        if not np.all(np.isfinite(b)):
            raise ValueError("bias contains NaN or infinite entries")
        for W in Ws:
            (W.data if sp.issparse(W) else W).setflags(write=False)
        b.setflags(write=False)
        self.weights: tuple[np.ndarray | sp.csr_array, ...] = tuple(Ws)
        self.bias: np.ndarray = b

    @property
    def in_sizes(self) -> tuple[int, ...]:
        return tuple(int(W.shape[1]) for W in self.weights)

    @property
    def out_size(self) -> int:
        return int(self.bias.shape[0])

    @property
    def nnz(self) -> int:
        """The number of stored nonzero weights."""
        return int(sum(W.nnz if sp.issparse(W) else np.count_nonzero(W) for W in self.weights))

    def matrix(self, i: int = 0) -> sp.csr_array:
        """W_i as a CSR matrix (whatever its storage)."""
        W = self.weights[i]
        return W if sp.issparse(W) else sp.csr_array(W)

    def forward(self, xs: list[np.ndarray]) -> np.ndarray:
        self.check_inputs(xs)
        y = np.broadcast_to(self.bias, (xs[0].shape[0], self.out_size)).copy()
        for W, x in zip(self.weights, xs):
            y += _matmul(W, x)
        return y

    def interval(self, los: list[np.ndarray], his: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """W+ lo + W- hi + b and W+ hi + W- lo + b, rounded outwards; an infinite input end makes
        exactly the rows that read it with a nonzero weight infinite (no 0 * inf)."""
        self.check_inputs(los)
        self.check_inputs(his)
        N = los[0].shape[0]
        lo = np.broadcast_to(self.bias, (N, self.out_size)).copy()
        hi = lo.copy()
        mag = np.broadcast_to(np.abs(self.bias), (N, self.out_size)).copy()
        n_terms = np.zeros(self.out_size)
        neg_inf = np.zeros((N, self.out_size), dtype=bool)
        pos_inf = np.zeros((N, self.out_size), dtype=bool)
        for W, l, h in zip(self.weights, los, his):
            Wp = W.maximum(0) if sp.issparse(W) else np.maximum(W, 0.0)
            Wn = W.minimum(0) if sp.issparse(W) else np.minimum(W, 0.0)
            l_inf, h_inf = ~np.isfinite(l), ~np.isfinite(h)
            lf, hf = np.where(l_inf, 0.0, l), np.where(h_inf, 0.0, h)
            lo += _matmul(Wp, lf) + _matmul(Wn, hf)
            hi += _matmul(Wp, hf) + _matmul(Wn, lf)
            mag += _matmul(_abs(W), np.maximum(np.abs(lf), np.abs(hf)))
            n_terms += _row_nnz(W)
            if l_inf.any() or h_inf.any():
                Pp = (Wp != 0).astype(np.float64)
                Pn = (Wn != 0).astype(np.float64)
                li, hi_ = l_inf.astype(np.float64), h_inf.astype(np.float64)
                neg_inf |= (_matmul(Pp, li) + _matmul(Pn, hi_)) > 0
                pos_inf |= (_matmul(Pp, hi_) + _matmul(Pn, li)) > 0
        lo, hi = outward(lo, hi, mag, n_terms)
        lo[neg_inf] = -np.inf
        hi[pos_inf] = np.inf
        return lo, hi

    def vjp(self, xs: list[np.ndarray], g: np.ndarray) -> list[np.ndarray]:
        out = []
        for W in self.weights:
            out.append(np.asarray((W.T @ g.T).T) if sp.issparse(W) else g @ W)
        return out

    def __repr__(self) -> str:
        sizes = ", ".join(str(n) for n in self.in_sizes)
        return f"Linear(({sizes}) -> {self.out_size}, nnz={self.nnz})"
