"""Forward-mode linear bound propagation on a chain of single-input Linear and Elementwise nodes, over B boxes.

Every tensor z_t gets a lower and an upper linear function of the input, valid over box b:

    F^L_t x + f^L_t  <=  z_t(x)  <=  F^U_t x + f^U_t        for every x in [l_b, u_b],

carried forward node by node (symbolic intervals, as in Neurify / the forward pass of DeepPoly):

- a Linear node y = W z + b:  F^L_y = W+ F^L_z + W- F^U_z,  f^L_y = W+ f^L_z + W- f^U_z + b  (upper: swap L, U);
- an Elementwise node y = sigma(z) with lines s_L z + q_L <= y <= s_U z + q_U on z's bounds:
  F^L_y = [s_L]_+ F^L_z + [s_L]_- F^U_z,  f^L_y = ... + q_L  (upper: the same with s_U, q_U, L and U swapped).

The bounds of a tensor are its functions' minimum and maximum over the box ([F]_+ l + [F]_- u + f), intersected
with the operation's interval bounds and with any known bounds (e.g. a parent box's). One node costs
O(B n_out n_in (n_0 + 1)), against O(B n_t n_out n_in) per node of a backward pass for each tensor t: for
few inputs n_0 the whole sweep is cheaper than one CROWN pass of intermediate bounds, and looser.

Floating-point soundness: every function is kept together with the bound r = |F| |x| + |f| of its terms over the
box (|x| <= max(|l|, |u|)); the rounding error of a node's sums, gamma_k (W+ r^L + |W-| r^U + |b|) (Higham,
k terms), is subtracted from the lower constant and added to the upper one, each rounded outward; the
concretisation is charged gamma_{n_0 + 1} r. The activation lines are sound as floats
(:func:`~nnblocks.bounds.linear_relax.elementwise_lines`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from nnblocks.bounds.linear_relax import elementwise_lines
from nnblocks.graph import Elementwise, Graph, Linear

__all__ = ["forward_bounds", "is_chain"]

_EPS = float(np.finfo(np.float64).eps)
_TINY = float(np.finfo(np.float64).tiny)


def _gamma(n: float) -> float:
    """gamma_{n+2} with the machine epsilon: covers an n-term float64 dot product (as in :mod:`crown`)."""
    n = float(n) + 2.0
    return n * _EPS / (1.0 - n * _EPS)


def is_chain(graph: Graph) -> bool:
    """Whether the graph is a chain of single-input Linear and Elementwise nodes (a Network's graph)."""
    return all(node.inputs == (k,) and (isinstance(node.op, Elementwise)
                                        or (isinstance(node.op, Linear) and node.op.n_inputs == 1))
               for k, node in enumerate(graph.nodes))


def _down(x: np.ndarray) -> np.ndarray:
    return np.nextafter(x - _TINY, -np.inf)


def _up(x: np.ndarray) -> np.ndarray:
    return np.nextafter(x + _TINY, np.inf)


def forward_bounds(graph: Graph, lower: np.ndarray, upper: np.ndarray,
                   start: list[tuple[np.ndarray, np.ndarray] | None] | None = None
                   ) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Bounds (lo, hi), each (B, size_t), of every tensor of the chain ``graph`` over the boxes [lower_b, upper_b]
    (each (B, n_0)), by forward-mode linear bounds intersected with interval bounds and with ``start[t]`` where
    given. Floating-point sound. None when a bound is not finite (then use another method)."""
    lo0 = np.asarray(lower, dtype=np.float64)
    hi0 = np.asarray(upper, dtype=np.float64)
    B, n0 = lo0.shape
    K = n0 + 1
    mag = np.concatenate([np.maximum(np.abs(lo0), np.abs(hi0)), np.ones((B, 1))], axis=1)  # (B, K): |x~|
    # functions as (B, K, n): row k < n0 the coefficient of x_k, row n0 the constant
    eye = np.zeros((B, K, n0))
    eye[:, np.arange(n0), np.arange(n0)] = 1.0
    FL, FU = eye, eye
    rL = rU = np.einsum("bkn,bk->bn", np.abs(eye), mag)
    tensors = [(lo0, hi0)]
    for node in graph.nodes:
        op = node.op
        zlo, zhi = tensors[-1]
        if isinstance(op, Linear):
            W = op.weights[0]
            W = W.toarray() if sp.issparse(W) else W
            Wp, Wn = np.maximum(W, 0.0), np.minimum(W, 0.0)
            b = op.bias
            WpT, WnT = Wp.T, Wn.T
            m = W.shape[0]
            FL2, FU2 = FL.reshape(B * K, -1), FU.reshape(B * K, -1)  # one 2-D product per sign for all boxes
            nFL = (FL2 @ WpT + FU2 @ WnT).reshape(B, K, m)
            nFU = (FU2 @ WpT + FL2 @ WnT).reshape(B, K, m)
            nFL[:, n0, :] += b
            nFU[:, n0, :] += b
            g = _gamma(2 * W.shape[1] + 2)
            ab = np.abs(b)
            eL = g * (rL @ WpT - rU @ WnT + ab)
            eU = g * (rU @ WpT - rL @ WnT + ab)
            nFL[:, n0, :] = _down(nFL[:, n0, :] - eL)
            nFU[:, n0, :] = _up(nFU[:, n0, :] + eU)
            FL, FU = nFL, nFU
            ilo, ihi = op.interval([zlo], [zhi])
        else:
            sL, qL, sU, qU = elementwise_lines(op.activation, zlo, zhi)
            if not (np.isfinite(qL).all() and np.isfinite(qU).all()):
                return None
            if sL.min() >= 0 and sU.min() >= 0:  # monotone lines (ReLU): no cross terms
                nFL, nFU = FL * sL[:, None, :], FU * sU[:, None, :]
            else:
                sLp, sLm = np.maximum(sL, 0.0)[:, None, :], np.minimum(sL, 0.0)[:, None, :]
                sUp, sUm = np.maximum(sU, 0.0)[:, None, :], np.minimum(sU, 0.0)[:, None, :]
                nFL = FL * sLp + FU * sLm  # one of the two products is an exact zero
                nFU = FU * sUp + FL * sUm
            nFL[:, n0, :] += qL
            nFU[:, n0, :] += qU
            g = _gamma(3)
            eL = g * (np.abs(sL) * np.where(sL >= 0, rL, rU) + np.abs(qL))
            eU = g * (np.abs(sU) * np.where(sU >= 0, rU, rL) + np.abs(qU))
            nFL[:, n0, :] = _down(nFL[:, n0, :] - eL)
            nFU[:, n0, :] = _up(nFU[:, n0, :] + eU)
            FL, FU = nFL, nFU
            ilo, ihi = op.interval([zlo], [zhi])
        rL = np.einsum("bkn,bk->bn", np.abs(FL), mag)
        rU = np.einsum("bkn,bk->bn", np.abs(FU), mag)
        gc = _gamma(2 * K)
        slo = np.einsum("bkn,bk->bn", np.maximum(FL[:, :n0], 0.0), lo0) \
            + np.einsum("bkn,bk->bn", np.minimum(FL[:, :n0], 0.0), hi0) + FL[:, n0]
        shi = np.einsum("bkn,bk->bn", np.maximum(FU[:, :n0], 0.0), hi0) \
            + np.einsum("bkn,bk->bn", np.minimum(FU[:, :n0], 0.0), lo0) + FU[:, n0]
        slo, shi = _down(slo - gc * rL), _up(shi + gc * rU)
        lo, hi = np.maximum(ilo, slo), np.minimum(ihi, shi)
        t = len(tensors)
        if start is not None and start[t] is not None:
            lo, hi = np.maximum(lo, start[t][0]), np.minimum(hi, start[t][1])
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
            return None
        hi = np.maximum(lo, hi)  # a crossed pair only from a start that excludes the box: keep it non-empty
        tensors.append((lo, hi))
    return tensors
