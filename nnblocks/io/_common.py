"""Shared machinery of the importers: the error type, activation composition and the layer builder.

Both importers read a chain of operations on a flat feature vector and hand each one to a
:class:`_LayerBuilder`, which keeps the operations since the last activation as one pending affine map
``v -> A v + c`` of the previous post-activation ``h^{k-1}`` and closes a :class:`~nnblocks.Layer`
``(W^k, b^k, sigma^k) = (A, c, sigma)`` when an activation arrives.
"""

from __future__ import annotations

import numpy as np

from nnblocks.activations import Identity, PiecewiseLinear, named
from nnblocks.network import Layer, Network

__all__ = ["UnsupportedOperationError"]


class UnsupportedOperationError(ValueError):
    """An operation of the imported model has no exact translation into a :class:`~nnblocks.Network`.

    Parameters
    ----------
    message:
        The full explanation.
    op_type:
        The ONNX operator type or PyTorch module class that was refused.
    node:
        The ONNX node name or the PyTorch module's qualified name.
    """

    def __init__(self, message: str, op_type: str | None = None, node: str | None = None) -> None:
        super().__init__(message)
        self.op_type = op_type
        self.node = node


def compose(outer: PiecewiseLinear, inner: PiecewiseLinear) -> PiecewiseLinear:
    """The activation ``z -> outer(inner(z))``, again continuous and piecewise affine.

    Its breakpoints are the breakpoints of ``inner`` and, on every non-constant piece of ``inner``, the
    preimages of the breakpoints of ``outer``. On each resulting interval both functions are affine, so the
    composition is ``A_q (a_p z + c_p) + C_q`` with p, q the active pieces; neighbouring intervals with the
    same affine piece are merged.
    """
    lo, hi = inner.piece_bounds()
    a, c = inner.slopes, inner.intercepts
    nz = a != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        pre = (outer.breakpoints[None, :] - c[nz, None]) / a[nz, None]  # (pieces, outer breakpoints)
    inside = (pre > lo[nz, None]) & (pre < hi[nz, None])
    cand = np.unique(np.concatenate([inner.breakpoints, pre[inside]]))
    if cand.size:
        mids = np.concatenate([[cand[0] - 1.0], (cand[:-1] + cand[1:]) / 2, [cand[-1] + 1.0]])
    else:
        mids = np.zeros(1)
    p = inner.piece_index(mids)
    q = outer.piece_index(a[p] * mids + c[p])
    slopes = outer.slopes[q] * a[p]
    intercepts = outer.slopes[q] * c[p] + outer.intercepts[q]
    keep = np.concatenate([[True], (np.diff(slopes) != 0) | (np.diff(intercepts) != 0)])
    return named(PiecewiseLinear(cand[keep[1:]], slopes[keep], intercepts[keep]))


def scaled(act: PiecewiseLinear, s: float, t: float) -> PiecewiseLinear:
    """The activation ``z -> s * act(z) + t``."""
    return named(PiecewiseLinear(act.breakpoints, s * act.slopes, s * act.intercepts + t))


class _LayerBuilder:
    """Accumulates affine operations and activations into the layers of a :class:`~nnblocks.Network`.

    Conventions (they decide how a chain of operations maps onto layers, and are documented in
    ``docs/networks.md``):

    * every weight matrix (a ``Linear`` module, an ONNX ``Gemm`` or ``MatMul``) starts a new layer; two
      matrices with no activation between them give two layers, the first with the ``Identity``
      activation (the weights are kept as they are, not multiplied together);
    * element-wise affine operations (bias, normalisation ``(x - mean) / std``, scaling) fold into the
      pending affine map, so input normalisation ends up in ``W^1, b^1``;
    * an activation directly after another activation is composed with it;
    * an activation before any weight matrix gets a layer with ``W`` the (diagonal) pending map;
    * a scalar affine map after the last activation (``s * h + t``, equal for all neurons) folds into that
      activation; any other trailing affine map becomes a last layer with the ``Identity`` activation.
    """

    def __init__(self, n_inputs: int) -> None:
        self.layers: list[Layer] = []
        self._reset(n_inputs)

    def _reset(self, n: int) -> None:
        self.A = np.eye(n)
        self.c = np.zeros(n)
        self.has_matrix = False
        self.trivial = True  # pending map is the identity

    @property
    def size(self) -> int:
        """Number of features of the current tensor."""
        return int(self.A.shape[0])

    def matrix(self, W: np.ndarray, b: np.ndarray | None = None) -> None:
        """Apply ``v -> W v + b`` (starts a new layer)."""
        W = np.asarray(W, dtype=np.float64)
        if W.ndim != 2 or W.shape[1] != self.size:
            raise ValueError(f"weight matrix of shape {W.shape} does not fit a tensor of {self.size} features")
        if self.has_matrix:
            self._close(Identity())
        self.A = W @ self.A
        self.c = W @ self.c
        if b is not None:
            self.c = self.c + np.broadcast_to(np.asarray(b, dtype=np.float64), (W.shape[0],))
        self.has_matrix = True
        self.trivial = False

    def elementwise(self, scale: np.ndarray | None = None, shift: np.ndarray | None = None) -> None:
        """Apply ``v -> scale * v + shift`` entry-wise (vectors of the current size, or scalars)."""
        if scale is not None:
            s = np.broadcast_to(np.asarray(scale, dtype=np.float64), (self.size,))
            self.A = s[:, None] * self.A
            self.c = s * self.c
        if shift is not None:
            self.c = self.c + np.broadcast_to(np.asarray(shift, dtype=np.float64), (self.size,))
        self.trivial = not self.has_matrix and bool(np.array_equal(self.A, np.eye(*self.A.shape)) and not self.c.any())

    def activation(self, act: PiecewiseLinear) -> None:
        """Apply ``act`` entry-wise: closes the pending layer (or composes with the previous activation)."""
        if self.trivial and self.layers:
            last = self.layers[-1]
            self.layers[-1] = Layer(last.W, last.b, compose(act, last.activation))
            return
        self._close(act)

    def _close(self, act: PiecewiseLinear) -> None:
        self.layers.append(Layer(self.A, self.c, act))
        self._reset(self.A.shape[0])

    def network(self) -> Network:
        """The finished network (applies the trailing-map conventions above)."""
        if self.layers and not self.trivial and not self.has_matrix:
            s, t = np.diag(self.A), self.c
            diagonal = np.count_nonzero(self.A - np.diag(s)) == 0
            if diagonal and np.all(s == s[0]) and np.all(t == t[0]) and s[0] != 0:
                last = self.layers[-1]
                self.layers[-1] = Layer(last.W, last.b, scaled(last.activation, float(s[0]), float(t[0])))
                self._reset(self.size)
        if not self.trivial or not self.layers:
            self._close(Identity())
        return Network(self.layers)
