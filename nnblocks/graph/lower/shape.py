"""Operations that move, select, pad or scale entries: transposes, slices, gathers, constant padding,
concatenation and entry-wise affine maps by broadcast constants, each a sparse Linear map (a selection, or a
diagonal).

Each is computed on the array of flat indices ``arange(n).reshape(shape)``: applying the operation to it
with numpy says which input entry every output entry reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from nnblocks.graph.linear import Linear
from nnblocks.graph.lower._index import as_shape, selection

__all__ = ["concat", "elementwise_affine", "gather", "pad", "slice_", "transpose"]


def _axis(a: int, rank: int, what: str) -> int:
    if not -rank <= int(a) < rank:
        raise ValueError(f"{what}: axis {a} is out of range for rank {rank}")
    return int(a) % rank


def transpose(in_shape: Any, perm: Any = None) -> tuple[Linear, tuple[int, ...]]:
    """The permutation of axes ``perm`` (default: reversed) as a permutation matrix over the flat tensor."""
    shape = as_shape(in_shape)
    p = list(range(len(shape)))[::-1] if perm is None else [int(a) for a in perm]
    if sorted(p) != list(range(len(shape))):
        raise ValueError(f"transpose: perm {p} is not a permutation of the {len(shape)} axes of {shape}")
    idx = np.arange(int(np.prod(shape))).reshape(shape).transpose(p)
    return selection(idx, idx.size), tuple(int(d) for d in idx.shape)


def slice_(
    in_shape: Any, starts: Any, ends: Any, axes: Any = None, steps: Any = None
) -> tuple[Linear, tuple[int, ...]]:
    """ONNX ``Slice``: along each axis, ``start:end:step`` with negative indices counted from the end and
    out-of-range ends clamped (Python's and numpy's slicing rules, which are ONNX's)."""
    shape = as_shape(in_shape)
    st = [int(v) for v in np.ravel(starts)]
    en = [int(v) for v in np.ravel(ends)]
    ax = list(range(len(st))) if axes is None else [int(v) for v in np.ravel(axes)]
    sp_ = [1] * len(st) if steps is None else [int(v) for v in np.ravel(steps)]
    if not len(st) == len(en) == len(ax) == len(sp_):
        raise ValueError("slice_: starts, ends, axes and steps must have the same length")
    index: list[slice] = [slice(None)] * len(shape)
    for s, e, a, k in zip(st, en, ax, sp_):
        if k == 0:
            raise ValueError("slice_: a step may not be 0")
        index[_axis(a, len(shape), "slice_")] = slice(s, e, k)
    idx = np.arange(int(np.prod(shape))).reshape(shape)[tuple(index)]
    if idx.size == 0:
        raise ValueError(f"slice_: the slice of {shape} is empty")
    return selection(idx, int(np.prod(shape))), tuple(int(d) for d in idx.shape)


def pad(in_shape: Any, pads: Any, value: float = 0.0) -> tuple[Linear, tuple[int, ...]]:
    """ONNX ``Pad`` in constant mode: pads (begin_1, ..., begin_r, end_1, ..., end_r) over every axis;
    negative pads crop. New entries equal ``value`` (the bias of the selection)."""
    shape = as_shape(in_shape)
    r = len(shape)
    p = np.asarray(pads, dtype=np.int64).ravel()
    if p.shape != (2 * r,):
        raise ValueError(f"pad: pads must have {2 * r} entries for a tensor of shape {shape}, got {p.tolist()}")
    b, e = p[:r], p[r:]
    out = np.array(shape) + b + e
    if np.any(out < 1):
        raise ValueError(f"pad: pads {p.tolist()} leave nothing of a tensor of shape {shape}")
    src = np.full(tuple(int(o) for o in out), -1, dtype=np.int64)
    inner = np.arange(int(np.prod(shape))).reshape(shape)
    dst = tuple(slice(max(int(bi), 0), max(int(bi), 0) + n + min(int(bi), 0) + min(int(ei), 0))
                for bi, ei, n in zip(b, e, shape))
    keep = tuple(slice(max(-int(bi), 0), n - max(-int(ei), 0)) for bi, ei, n in zip(b, e, shape))
    src[dst] = inner[keep]
    bias = np.where(src.ravel() >= 0, 0.0, float(value))
    return selection(src, inner.size, bias), tuple(int(o) for o in out)


def gather(in_shape: Any, indices: Any, axis: int = 0) -> tuple[Linear, tuple[int, ...]]:
    """ONNX ``Gather``: the entries at ``indices`` (an integer array of any shape, negative counted from the
    end) along ``axis``; the output shape is ``in_shape[:axis] + indices.shape + in_shape[axis + 1:]`` (``()``
    for a scalar index into a vector). A selection: one 1 per row."""
    shape = as_shape(in_shape)
    a = _axis(axis, len(shape), "gather")
    ind = np.asarray(indices)
    if ind.size and not np.issubdtype(ind.dtype, np.integer):
        raise ValueError(f"gather: indices must be integers, got {ind.dtype}")
    ind = ind.astype(np.int64)
    n = shape[a]
    bad = ind[(ind < -n) | (ind >= n)]
    if bad.size:
        raise ValueError(f"gather: index {int(bad.ravel()[0])} is out of range for axis {axis} of size {n} "
                         f"(shape {shape})")
    if ind.size == 0:
        raise ValueError(f"gather: the indices {ind.shape} select nothing")
    idx = np.take(np.arange(int(np.prod(shape))).reshape(shape), np.where(ind < 0, ind + n, ind), axis=a)
    return selection(idx, int(np.prod(shape))), tuple(int(d) for d in idx.shape)


def concat(in_shapes: Sequence[Any], axis: int) -> tuple[Linear, tuple[int, ...]]:
    """ONNX ``Concat`` of tensors along ``axis``: a Linear map with one selection matrix per input."""
    shapes = [as_shape(s, "in_shapes") for s in in_shapes]
    if not shapes:
        raise ValueError("concat: needs at least one input")
    a = _axis(axis, len(shapes[0]), "concat")
    sizes = [int(np.prod(s)) for s in shapes]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    try:
        labels = np.concatenate([np.arange(n).reshape(s) + o for n, s, o in zip(sizes, shapes, offsets)], axis=a)
    except ValueError as exc:
        raise ValueError(f"concat: shapes {shapes} do not fit along axis {axis}") from exc
    flat = labels.ravel()
    Ws = []
    for i, n in enumerate(sizes):
        rows = np.flatnonzero((flat >= offsets[i]) & (flat < offsets[i + 1]))
        Ws.append(sp.csr_array((np.ones(rows.size), (rows, flat[rows] - offsets[i])), shape=(flat.size, n)))
    return Linear(Ws), tuple(int(d) for d in labels.shape)


def elementwise_affine(in_shape: Any, scale: Any = None, shift: Any = None) -> Linear:
    """y = scale * x + shift entry by entry, with constants broadcasting (numpy rules) to ``in_shape``
    without enlarging it (ONNX ``Mul``/``Add``/``Sub``/``Div`` by a constant)."""
    shape = as_shape(in_shape)

    def full(v: Any, default: float, what: str) -> np.ndarray:
        if v is None:
            return np.full(shape, default)
        v = np.asarray(v, dtype=np.float64)
        try:
            ok = np.broadcast_shapes(v.shape, shape) == shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"elementwise_affine: {what} of shape {v.shape} does not broadcast to {shape}")
        return np.broadcast_to(v, shape)

    a = full(scale, 1.0, "scale").ravel()
    c = full(shift, 0.0, "shift").ravel()
    return Linear([sp.diags_array(a, format="csr")], c)
