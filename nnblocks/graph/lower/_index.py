"""Index arithmetic shared by the lowerings: shapes, padding arguments and selection matrices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from nnblocks.graph.linear import Linear

__all__ = ["as_shape", "grid", "pads_pair", "per_dim", "selection", "window_positions"]


def as_shape(shape: Any, what: str = "in_shape") -> tuple[int, ...]:
    """A per-sample shape as a tuple of positive ints."""
    s = (int(shape),) if np.isscalar(shape) else tuple(int(d) for d in shape)
    if not s or any(d < 1 for d in s):
        raise ValueError(f"{what} must be a shape of positive dimensions, got {shape}")
    return s


def per_dim(value: Any, d: int, default: int, what: str) -> np.ndarray:
    """An ONNX per-spatial-axis attribute (strides, dilations, kernel, ...) as an int array of length d."""
    if value is None:
        return np.full(d, default, dtype=np.int64)
    v = np.atleast_1d(np.asarray(value, dtype=np.int64))
    if v.size == 1 and d > 1:
        v = np.full(d, int(v[0]), dtype=np.int64)
    if v.shape != (d,):
        raise ValueError(f"{what} must have {d} entries (one per spatial axis), got {list(np.ravel(value))}")
    return v


def pads_pair(pads: Any, d: int) -> tuple[np.ndarray, np.ndarray]:
    """ONNX pads (begin_1, ..., begin_d, end_1, ..., end_d) as two int arrays; None means no padding."""
    if pads is None:
        return np.zeros(d, dtype=np.int64), np.zeros(d, dtype=np.int64)
    p = np.asarray(pads, dtype=np.int64).ravel()
    if p.shape != (2 * d,):
        raise ValueError(f"pads must have {2 * d} entries (begins then ends), got {p.tolist()}")
    return p[:d].copy(), p[d:].copy()


def window_positions(
    size: int, kernel: int, stride: int, begin: int, dilation: int, n_out: int
) -> tuple[np.ndarray, np.ndarray]:
    """Input positions o * stride - begin + k * dilation of every window (n_out, kernel) along one axis,
    and which of them lie inside [0, size)."""
    pos = np.arange(n_out)[:, None] * stride - begin + np.arange(kernel)[None, :] * dilation
    return pos, (pos >= 0) & (pos < size)


def grid(parts: Sequence[np.ndarray], sizes: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Combine per-axis window positions (each (O_i, K_i), with validity) into flat indices over the
    C-order grid of ``sizes``: returns (flat (prod O, prod K), valid (prod O, prod K))."""
    d = len(sizes)
    flat = np.zeros((1,) * (2 * d), dtype=np.int64)
    valid = np.ones((1,) * (2 * d), dtype=bool)
    stride = 1
    for i in range(d - 1, -1, -1):
        pos, ok = parts[i]
        shape = [1] * (2 * d)
        shape[i], shape[d + i] = pos.shape
        flat = flat + pos.reshape(shape) * stride
        valid = valid & ok.reshape(shape)
        stride *= int(sizes[i])
    n_o = int(np.prod([p[0].shape[0] for p in parts]))
    n_k = int(np.prod([p[0].shape[1] for p in parts]))
    full = tuple(p[0].shape[0] for p in parts) + tuple(p[0].shape[1] for p in parts)
    return np.broadcast_to(flat, full).reshape(n_o, n_k), np.broadcast_to(valid, full).reshape(n_o, n_k)


def selection(src: np.ndarray, n_in: int, bias: np.ndarray | None = None) -> Linear:
    """The Linear map y_j = x_{src[j]} (y_j = bias_j where src[j] == -1)."""
    src = np.asarray(src, dtype=np.int64).ravel()
    rows = np.flatnonzero(src >= 0)
    W = sp.csr_array((np.ones(rows.size), (rows, src[rows])), shape=(src.size, n_in))
    return Linear([W], bias)

