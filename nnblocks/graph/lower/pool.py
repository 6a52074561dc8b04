"""Pooling: averages over windows as sparse Linear maps, maxima over windows as WindowMax.

Windows follow ONNX's ``AveragePool``/``MaxPool`` (and torch's pooling): output o along an axis covers input
places o s - b + k d, k < K; places in the padding are left out of a maximum (-1 in the window array) and of
an average's sum. With ``ceil_mode`` the last, partial window is kept unless it starts beyond the input and
its begin padding.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from nnblocks.graph.linear import Linear
from nnblocks.graph.lower._index import as_shape, grid, pads_pair, per_dim, window_positions
from nnblocks.graph.lower.conv import conv_output_shape
from nnblocks.graph.window_max import WindowMax

__all__ = ["avg_pool", "global_avg_pool", "max_pool"]


def _windows(
    in_shape: Any, kernel: Any, strides: Any, pads: Any, dilations: Any, ceil_mode: bool, what: str
) -> tuple[tuple[int, ...], np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray], list[np.ndarray]]:
    """(shape, out spatial O, flat (nO, nK), valid (nO, nK), (b, e), per-axis positions) of one channel."""
    shape = as_shape(in_shape)
    d = len(shape) - 1
    if d < 1:
        raise ValueError(f"{what}: in_shape must be (C, spatial...), got {shape}")
    S = np.array(shape[1:], dtype=np.int64)
    K = per_dim(kernel, d, 1, "kernel")
    if np.any(K < 1):
        raise ValueError(f"{what}: kernel must be positive, got {K.tolist()}")
    s = per_dim(strides, d, 1, "strides")
    dl = per_dim(dilations, d, 1, "dilations")
    b, e = pads_pair(pads, d)
    O = conv_output_shape(S, K, s, (b, e), dl, ceil_mode)
    parts = [window_positions(S[i], K[i], s[i], b[i], dl[i], O[i]) for i in range(d)]
    flat, valid = grid(parts, S)
    return shape, O, flat, valid, (b, e), [p[0] for p in parts]


def max_pool(
    in_shape: Any, kernel: Any, strides: Any = None, pads: Any = None, dilations: Any = None, ceil_mode: bool = False
) -> tuple[WindowMax, tuple[int, ...]]:
    """Max pooling per channel: y[c, o] = max over the window's places inside the input (padding never wins).

    Returns (WindowMax, out_shape) with out_shape (C, O_1, ...); raises ValueError when a window lies wholly in
    the padding (its maximum would be -inf).
    """
    shape, O, flat, valid, _, _ = _windows(in_shape, kernel, strides, pads, dilations, ceil_mode, "max_pool")
    C, nS = shape[0], int(np.prod(shape[1:]))
    if not np.all(valid.any(axis=1)):
        raise ValueError("max_pool: a window lies wholly in the padding")
    win = np.where(valid[None], np.arange(C)[:, None, None] * nS + flat[None], -1).reshape(-1, flat.shape[1])
    return WindowMax(win, [C * nS]), (C, *(int(o) for o in O))


def avg_pool(
    in_shape: Any,
    kernel: Any,
    strides: Any = None,
    pads: Any = None,
    count_include_pad: bool = False,
    ceil_mode: bool = False,
    dilations: Any = None,
) -> tuple[Linear, tuple[int, ...]]:
    """Average pooling per channel.

    The sum over the window's places inside the input is divided by their number, or with
    ``count_include_pad`` by the number of places inside the padded input [-b, S + e) (a partial last window
    of ``ceil_mode`` counts only those; torch's and onnxruntime's rule).

    Returns (Linear, out_shape) with out_shape (C, O_1, ...).
    """
    shape, O, flat, valid, (b, e), pos = _windows(in_shape, kernel, strides, pads, dilations, ceil_mode, "avg_pool")
    C, nS = shape[0], int(np.prod(shape[1:]))
    S = np.array(shape[1:], dtype=np.int64)
    if count_include_pad:
        inside = [(p >= -b[i]) & (p < S[i] + e[i]) for i, p in enumerate(pos)]
        _, padded = grid([(p, ok) for p, ok in zip(pos, inside)], S)
        count = padded.sum(axis=1)
    else:
        count = valid.sum(axis=1)
    if np.any(count == 0):
        raise ValueError("avg_pool: a window lies wholly in the padding")
    nO, nK = flat.shape
    rows = np.broadcast_to((np.arange(C)[:, None] * nO + np.arange(nO)[None, :])[:, :, None], (C, nO, nK))
    cols = np.arange(C)[:, None, None] * nS + flat[None]
    data = np.broadcast_to((1.0 / count)[None, :, None], (C, nO, nK))
    keep = np.broadcast_to(valid[None], (C, nO, nK))
    W = sp.csr_array((data[keep], (rows[keep], cols[keep])), shape=(C * nO, C * nS))
    return Linear([W]), (C, *(int(o) for o in O))


def global_avg_pool(in_shape: Any) -> tuple[Linear, tuple[int, ...]]:
    """The mean of every channel: (C, spatial...) -> (C, 1, ..., 1) (ONNX ``GlobalAveragePool``)."""
    shape = as_shape(in_shape)
    if len(shape) < 2:
        raise ValueError(f"global_avg_pool: in_shape must be (C, spatial...), got {shape}")
    C, nS = shape[0], int(np.prod(shape[1:]))
    cols = np.arange(C * nS)
    W = sp.csr_array((np.full(C * nS, 1.0 / nS), (cols // nS, cols)), shape=(C, C * nS))
    return Linear([W]), (C, *([1] * (len(shape) - 1)))
