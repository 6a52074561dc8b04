"""Reductions over axes: ONNX ``ReduceSum`` and ``ReduceMean`` as sparse Linear maps (one row per output
entry, one term per reduced entry), ``ReduceMax`` as a WindowMax whose windows are the reduced entries
(``ReduceMin`` is -max(-x), two negations around it, built by the importer).

Each is computed on the array of flat indices ``arange(n).reshape(shape)``: moving the reduced axes last
and flattening them gives, row by row, the input entries every output entry reduces.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from nnblocks.graph.linear import Linear
from nnblocks.graph.lower._index import as_shape
from nnblocks.graph.window_max import WindowMax

__all__ = ["reduce_max", "reduce_mean", "reduce_sum"]


def _groups(in_shape: Any, axes: Any, keepdims: bool, what: str) -> tuple[np.ndarray, tuple[int, ...], int]:
    """(flat input indices (n_out, n_reduced), out_shape, n_in); ``axes`` None or empty: every axis."""
    shape = as_shape(in_shape)
    r = len(shape)
    ax = list(range(r)) if axes is None or len(np.ravel(axes)) == 0 else [int(a) for a in np.ravel(axes)]
    for a in ax:
        if not -r <= a < r:
            raise ValueError(f"{what}: axis {a} is out of range for a tensor of shape {shape}")
    red = sorted({a % r for a in ax})
    if len(red) != len(ax):
        raise ValueError(f"{what}: axes {ax} name an axis twice")
    kept = [a for a in range(r) if a not in red]
    idx = np.arange(int(np.prod(shape))).reshape(shape).transpose(kept + red)
    n_red = int(np.prod([shape[a] for a in red]))
    out = tuple(1 if a in red else d for a, d in enumerate(shape)) if keepdims else tuple(shape[a] for a in kept)
    return idx.reshape(-1, n_red), out, int(np.prod(shape))


def reduce_sum(in_shape: Any, axes: Any = None, keepdims: bool = True) -> tuple[Linear, tuple[int, ...]]:
    """The sum over ``axes`` (negative counted from the end; None or empty: all axes).

    Returns (Linear, out_shape): out_shape keeps the reduced axes as 1 with ``keepdims``, else drops them
    (``()`` when every axis is reduced).
    """
    groups, out, n = _groups(in_shape, axes, keepdims, "reduce_sum")
    m, k = groups.shape
    W = sp.csr_array((np.ones(m * k), (np.repeat(np.arange(m), k), groups.ravel())), shape=(m, n))
    return Linear([W]), out


def reduce_mean(in_shape: Any, axes: Any = None, keepdims: bool = True) -> tuple[Linear, tuple[int, ...]]:
    """The mean over ``axes``: :func:`reduce_sum` with weights 1/(number of reduced entries)."""
    groups, out, n = _groups(in_shape, axes, keepdims, "reduce_mean")
    m, k = groups.shape
    W = sp.csr_array((np.full(m * k, 1.0 / k), (np.repeat(np.arange(m), k), groups.ravel())), shape=(m, n))
    return Linear([W]), out


def reduce_max(in_shape: Any, axes: Any = None, keepdims: bool = True) -> tuple[WindowMax, tuple[int, ...]]:
    """The maximum over ``axes``: a WindowMax with one window of the reduced entries per output entry."""
    groups, out, n = _groups(in_shape, axes, keepdims, "reduce_max")
    return WindowMax(groups, [n]), out
