"""Convolution and transposed convolution (ONNX ``Conv`` / ``ConvTranspose``, torch ``Conv1d/2d``) as sparse
Linear maps.

Row (m, o) of a convolution reads input (c, o * s - b + k * d) with weight w[m, c', k] for every kernel place
k and in-group channel c' (c = g(m) C/G + c'); places in the padding are left out. The index arrays are built
in bulk by broadcasting (im2col style) and handed to scipy as one COO batch, so a row has at most
kernel x channels/groups terms.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from nnblocks.graph.linear import Linear
from nnblocks.graph.lower._index import as_shape, grid, pads_pair, per_dim, window_positions

__all__ = ["conv", "conv_output_shape", "conv_transpose"]


def _check(in_shape: Any, weight: Any, groups: int, what: str) -> tuple[tuple[int, ...], np.ndarray, int]:
    shape = as_shape(in_shape)
    w = np.asarray(weight, dtype=np.float64)
    d = len(shape) - 1
    if d < 1 or w.ndim != d + 2:
        raise ValueError(
            f"{what}: in_shape {shape} needs (C, spatial...) and weight of rank {len(shape) + 1}, got weight shape "
            f"{w.shape}"
        )
    if int(groups) < 1:
        raise ValueError(f"{what}: groups must be positive, got {groups}")
    return shape, w, d


def conv_output_shape(
    in_spatial: Any, kernel: Any, strides: Any, pads: Any, dilations: Any, ceil_mode: bool = False
) -> np.ndarray:
    """floor (or ceil) ((S + b + e - d (K - 1) - 1) / s) + 1 per spatial axis; with ``ceil_mode`` a last window
    starting beyond the input and its begin padding is dropped (torch's and ONNX's rule)."""
    S = np.asarray(in_spatial, dtype=np.int64)
    K, s, dl = (np.asarray(v, dtype=np.int64) for v in (kernel, strides, dilations))
    b, e = pads
    span = S + b + e - dl * (K - 1) - 1
    if np.any(span < 0):
        raise ValueError(f"the kernel (extent {(dl * (K - 1) + 1).tolist()}) is larger than the padded input "
                         f"{(S + b + e).tolist()}")
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode:
        out = np.where((out - 1) * s >= S + b, out - 1, out)
    return out


def conv(
    in_shape: Any,
    weight: Any,
    bias: Any = None,
    strides: Any = None,
    pads: Any = None,
    dilations: Any = None,
    groups: int = 1,
) -> tuple[Linear, tuple[int, ...]]:
    """The convolution y[m, o] = b[m] + sum_{c', k} w[m, c', k] x[g(m) C/G + c', o s - p_begin + k d].

    Parameters
    ----------
    in_shape:
        (C, L) or (C, H, W) (any number of spatial axes).
    weight:
        (M, C / groups, k_1, ...).
    bias:
        (M,) or None.
    strides, dilations:
        One per spatial axis (default 1).
    pads:
        ONNX order (begin_1, ..., end_1, ...), default 0; asymmetric pads allowed.
    groups:
        Channel groups; C and M must be divisible by it.

    Returns
    -------
    (Linear, out_shape) with out_shape (M, O_1, ...).
    """
    shape, w, d = _check(in_shape, weight, groups, "conv")
    C, S = shape[0], np.array(shape[1:], dtype=np.int64)
    M, Cg, K = w.shape[0], w.shape[1], np.array(w.shape[2:], dtype=np.int64)
    G = int(groups)
    if C % G or M % G or Cg * G != C:
        raise ValueError(f"conv: {C} input channels, weight {w.shape} and groups={G} do not fit (need C = "
                         f"groups * weight.shape[1] and M divisible by groups)")
    s = per_dim(strides, d, 1, "strides")
    dl = per_dim(dilations, d, 1, "dilations")
    b, e = pads_pair(pads, d)
    O = conv_output_shape(S, K, s, (b, e), dl)
    if np.any(O < 1):
        raise ValueError(f"conv: output spatial shape {O.tolist()} is empty")
    flat, valid = grid([window_positions(S[i], K[i], s[i], b[i], dl[i], O[i]) for i in range(d)], S)
    nO, nK, nS = flat.shape[0], flat.shape[1], int(np.prod(S))
    chan = (np.arange(M) // (M // G))[:, None] * Cg + np.arange(Cg)[None, :]  # (M, Cg) input channel
    rows = np.broadcast_to((np.arange(M)[:, None] * nO + np.arange(nO)[None, :])[:, :, None, None], (M, nO, Cg, nK))
    cols = chan[:, None, :, None] * nS + flat[None, :, None, :]
    data = np.broadcast_to(w.reshape(M, 1, Cg, nK), (M, nO, Cg, nK))
    keep = np.broadcast_to(valid[None, :, None, :], (M, nO, Cg, nK)) & (data != 0)
    W = sp.csr_array((data[keep], (rows[keep], cols[keep])), shape=(M * nO, C * nS))
    bvec = None if bias is None else np.repeat(np.asarray(bias, dtype=np.float64).reshape(M), nO)
    return Linear([W], bvec), (M, *(int(o) for o in O))


def conv_transpose(
    in_shape: Any,
    weight: Any,
    bias: Any = None,
    strides: Any = None,
    pads: Any = None,
    dilations: Any = None,
    groups: int = 1,
    output_padding: Any = None,
) -> tuple[Linear, tuple[int, ...]]:
    """The transposed convolution: input (c, p) adds x[c, p] w[c, m', k] to output (g(c) M/G + m', p s - b + k d).

    Parameters
    ----------
    in_shape:
        (C, L) or (C, H, W).
    weight:
        (C, M / groups, k_1, ...) (ONNX and torch layout).
    bias, strides, pads, dilations, groups:
        As for :func:`conv`.
    output_padding:
        Extra places at the end of each spatial axis (default 0).

    Returns
    -------
    (Linear, out_shape) with out_shape (M, O_1, ...), O_i = s (S - 1) + op + d (K - 1) + 1 - b - e.
    """
    shape, w, d = _check(in_shape, weight, groups, "conv_transpose")
    C, S = shape[0], np.array(shape[1:], dtype=np.int64)
    Mg, K = w.shape[1], np.array(w.shape[2:], dtype=np.int64)
    G = int(groups)
    if w.shape[0] != C or C % G:
        raise ValueError(f"conv_transpose: {C} input channels, weight {w.shape} and groups={G} do not fit")
    M = Mg * G
    s = per_dim(strides, d, 1, "strides")
    dl = per_dim(dilations, d, 1, "dilations")
    op = per_dim(output_padding, d, 0, "output_padding")
    b, e = pads_pair(pads, d)
    O = s * (S - 1) + op + dl * (K - 1) + 1 - b - e
    if np.any(O < 1):
        raise ValueError(f"conv_transpose: output spatial shape {O.tolist()} is empty")
    # the transposed convolution is the adjoint of the convolution (M, O) -> (C, S') with the same weight
    # (out channels C, in-group channels M/G); with output padding S' may exceed S, and only the places of
    # the S-grid are inputs here
    forward, out_shape = conv((M, *(int(o) for o in O)), w, None, strides=s, pads=(*b, *e), dilations=dl, groups=G)
    S_full = np.array(out_shape[1:], dtype=np.int64)
    places = np.ravel_multi_index(np.meshgrid(*(np.arange(n) for n in S), indexing="ij"), S_full).ravel()
    keep = (np.arange(C)[:, None] * int(np.prod(S_full)) + places[None, :]).ravel()
    W = forward.matrix().T.tocsr()[:, keep]
    bvec = None if bias is None else np.repeat(np.asarray(bias, dtype=np.float64).reshape(M), int(np.prod(O)))
    return Linear([W], bvec), (M, *(int(o) for o in O))
