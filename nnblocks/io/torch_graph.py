"""Import of PyTorch modules as a :class:`~nnblocks.graph.Graph` (convolutions, pooling, batch norm, residual
blocks), with :func:`from_torch` choosing between it and the dense importer of :mod:`nnblocks.io.torch`.

The module's ``forward`` is recorded by ``torch.fx.symbolic_trace`` (PyTorch's own tracer, so no Python of the
module is interpreted here): modules of PyTorch itself are kept whole (they are the vocabulary below), custom
modules and ``Sequential`` containers are traced through. Each recorded call lowers through
:mod:`nnblocks.graph.lower` on per-sample shapes; reshapes, flattens, (un)squeezes, dropouts and identities
change only the shape of a flat tensor and need no node. torch is imported only when a module is translated.
"""

from __future__ import annotations

import builtins
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from nnblocks.activations import HardSigmoid, HardTanh, LeakyReLU, PiecewiseLinear, ReLU, ReLU6, named
from nnblocks.graph import Elementwise, Graph, Linear, Node, WindowMax
from nnblocks.graph import lower as L
from nnblocks.io._common import UnsupportedOperationError
from nnblocks.io.onnx import _clip
from nnblocks.io.torch import _activation, _refuse_torchscript, _torch_class, _uncompiled
from nnblocks.io.torch import from_torch as _dense_from_torch
from nnblocks.network import Network

__all__ = ["SUPPORTED_FUNCTIONS", "SUPPORTED_MODULES", "from_torch", "graph_from_torch"]

SUPPORTED_MODULES: tuple[str, ...] = (
    "Linear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "BatchNorm1d", "BatchNorm2d",
    "BatchNorm3d", "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d", "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "ZeroPad1d", "ZeroPad2d", "ConstantPad1d", "ConstantPad2d", "Flatten",
    "Unflatten", "Identity", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "ReLU", "LeakyReLU",
    "Hardtanh", "ReLU6", "Hardsigmoid", "Sequential",
)
"""The PyTorch modules :func:`graph_from_torch` translates (custom modules are traced through)."""

SUPPORTED_FUNCTIONS: tuple[str, ...] = (
    "+", "-", "*", "/ (by constants)", "unary -", "torch.add", "torch.sub", "torch.mul", "torch.div", "torch.neg",
    "torch.cat", "torch.flatten", "torch.reshape", "torch.permute", "torch.transpose", "torch.squeeze",
    "torch.unsqueeze", "torch.max/min/maximum/minimum (of two tensors)", "torch.clamp", "torch.abs",
    "torch.relu", "torch.matmul (by a constant)", "F.relu", "F.relu6", "F.leaky_relu", "F.hardtanh",
    "F.hardsigmoid", "F.linear", "F.pad (constant)", "Tensor.view/reshape/flatten/permute/transpose/squeeze/"
    "unsqueeze/contiguous/size/relu/clamp/abs", "indexing by slices and integers",
)
"""The functions and tensor methods :func:`graph_from_torch` translates."""

_NOT_PWA = frozenset({
    "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "GELU", "SiLU", "ELU", "SELU", "CELU", "Softplus", "Mish",
    "Hardswish", "Tanhshrink", "LogSigmoid", "Softsign", "sigmoid", "tanh", "softmax", "log_softmax", "gelu", "silu",
    "elu", "selu", "softplus", "exp", "log", "mish", "hardswish",
})
_ABS = PiecewiseLinear([0.0], [-1.0, 1.0], [0.0, 0.0])


class _Batch:
    """The batch size in a recorded shape computation (``x.size(0)``, ``x.shape[0]``): not a number."""

    def __repr__(self) -> str:
        return "<batch>"


_BATCH = _Batch()


@dataclass(frozen=True)
class _T:
    """A computed tensor: graph tensor ``tid`` of per-sample shape ``ps`` (the torch shape is (N, *ps))."""

    tid: int
    ps: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.ps, dtype=np.int64))

    @property
    def rank(self) -> int:
        """The rank of the torch tensor (with the batch axis)."""
        return len(self.ps) + 1


def _node_shape(ps: tuple[int, ...]) -> tuple[int, ...]:
    return ps if ps else (1,)


class _Refusal(Exception):
    """A refusal raised inside a handler; the caller adds the node and the supported lists."""


class _Builder:
    def __init__(self) -> None:
        self.nodes: list[Node] = []

    def emit(self, op: Any, inputs: list[_T], ps: tuple[int, ...], name: str) -> _T:
        self.nodes.append(Node(op, tuple(t.tid for t in inputs), _node_shape(ps), name))
        return _T(len(self.nodes), tuple(int(d) for d in ps))

    def linear(self, W: Any, x: _T, bias: Any, ps: tuple[int, ...], name: str) -> _T:
        return self.emit(Linear([W], bias), [x], ps, name)

    def lowered(self, op_shape: tuple[Any, tuple[int, ...]], x: _T, name: str) -> _T:
        op, ps = op_shape
        return self.emit(op, [x], ps, name)

    def act(self, act: PiecewiseLinear, x: _T, name: str) -> _T:
        return self.emit(Elementwise(act, max(x.size, 1)), [x], x.ps, name)


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------
def _np(t: Any) -> np.ndarray:
    """A float64 numpy copy of a torch tensor (exact from float32)."""
    import torch

    return t.detach().cpu().to(dtype=torch.float64).numpy()


def _const(v: Any) -> Any:
    """A recorded constant as numpy (tensors) or as it is (numbers, tuples, None, ...)."""
    import torch

    if isinstance(v, torch.Tensor):
        return _np(v)
    return v


def _tup(v: Any, d: int) -> list[int]:
    """A torch size argument (int or tuple) as d ints."""
    if isinstance(v, int | np.integer):
        return [int(v)] * d
    v = [int(a) for a in v]
    if len(v) == 1 and d > 1:
        return v * d
    if len(v) != d:
        raise _Refusal(f"expects {d} values, got {v}")
    return v


def _axis(a: Any, rank: int) -> int:
    if not isinstance(a, int | np.integer) or not -rank <= int(a) < rank:
        raise _Refusal(f"axis {a!r} is out of range for a tensor of rank {rank}")
    return int(a) % rank


def _per_sample_axis(x: _T, a: Any) -> int:
    """The per-sample position of torch axis ``a`` of x; the batch axis (0) is refused."""
    ax = _axis(a, x.rank)
    if ax == 0:
        raise _Refusal("it acts on the batch axis (axis 0); a network computes each sample on its own")
    return ax - 1


def _identity(n: int) -> sp.csr_array:
    return sp.eye_array(n, format="csr")


def _select(idx: np.ndarray, n_in: int) -> sp.csr_array:
    """y_j = x_{idx[j]}."""
    idx = np.asarray(idx, dtype=np.int64).ravel()
    return sp.csr_array((np.ones(idx.size), (np.arange(idx.size), idx)), shape=(idx.size, n_in))


def _reshaped(x: _T, ps: tuple[int, ...]) -> _T:
    ps = tuple(int(d) for d in ps)
    if int(np.prod(ps, dtype=np.int64)) != x.size:
        raise _Refusal(f"cannot reshape a sample of shape {x.ps} to {ps}")
    return _T(x.tid, ps)


def _const_operand(c: Any, x: _T) -> np.ndarray:
    """A constant operand of an entry-wise operation on x, as an array of x's per-sample shape."""
    c = np.asarray(c, dtype=np.float64)
    if c.ndim == x.rank:
        if c.shape[0] != 1:
            raise _Refusal(f"the constant of shape {c.shape} differs along the batch axis")
        c = c[0]
    try:
        ok = c.ndim <= len(x.ps) and np.broadcast_shapes(c.shape, x.ps) == x.ps
    except ValueError:
        ok = False
    if not ok:
        raise _Refusal(f"a constant of shape {c.shape} does not broadcast over samples of shape {x.ps}")
    return np.broadcast_to(c, x.ps)


def _expand(b: _Builder, x: _T, ps: tuple[int, ...], name: str) -> _T:
    """x broadcast to per-sample shape ps (a selection), or x itself."""
    if x.ps == ps:
        return x
    idx = np.broadcast_to(np.arange(x.size).reshape(x.ps), ps)
    return b.linear(_select(idx, x.size), x, None, ps, f"{name}/expand")


def _broadcast(b: _Builder, xs: list[_T], name: str) -> tuple[list[_T], tuple[int, ...]]:
    ranks = {x.rank for x in xs}
    if len(ranks) != 1:
        raise _Refusal(f"tensors of shapes {[(None, *x.ps) for x in xs]} broadcast across the batch axis")
    try:
        ps = tuple(int(d) for d in np.broadcast_shapes(*(x.ps for x in xs)))
    except ValueError as exc:
        raise _Refusal(f"shapes {[x.ps for x in xs]} do not broadcast") from exc
    return [_expand(b, x, ps, f"{name}/{i}") for i, x in enumerate(xs)], ps


# ---------------------------------------------------------------------------------------------
# operations shared by modules, functions and methods
# ---------------------------------------------------------------------------------------------
def _dense(b: _Builder, x: _T, W: np.ndarray, bias: np.ndarray | None, name: str) -> _T:
    """``x @ W.T + bias`` on the last axis (torch's ``Linear``): the matrix acts on every row of the sample."""
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or not x.ps or x.ps[-1] != W.shape[1]:
        raise _Refusal(f"a weight of shape {W.shape} does not fit samples of shape {x.ps} (last axis)")
    rows = int(np.prod(x.ps[:-1], dtype=np.int64))
    Wf = W if rows == 1 else sp.kron(_identity(rows), sp.csr_array(W), format="csr")
    bf = None if bias is None else np.tile(np.asarray(bias, dtype=np.float64).reshape(-1), rows)
    return b.linear(Wf, x, bf, (*x.ps[:-1], W.shape[0]), name)


def _conv_pads(padding: Any, kernel: list[int], dilation: list[int], stride: list[int], d: int) -> list[int]:
    """ONNX pads (begins, ends) of a torch convolution's ``padding`` (ints, 'valid' or 'same')."""
    if isinstance(padding, str):
        if padding == "valid":
            return [0] * (2 * d)
        if padding == "same":  # torch's rule: total d (k - 1), the smaller half first
            total = [dl * (k - 1) for dl, k in zip(dilation, kernel)]
            return [t // 2 for t in total] + [t - t // 2 for t in total]
        raise _Refusal(f"unknown padding {padding!r}")
    p = _tup(padding, d)
    return p + p


def _conv(b: _Builder, x: _T, w: np.ndarray, bias: Any, stride: Any, padding: Any, dilation: Any, groups: int,
          name: str) -> _T:
    d = w.ndim - 2
    if len(x.ps) != d + 1:
        raise _Refusal(f"a {d}-D convolution needs samples of shape (C, {d} spatial axes), got {x.ps}")
    s, dl = _tup(stride, d), _tup(dilation, d)
    pads = _conv_pads(padding, list(w.shape[2:]), dl, s, d)
    return b.lowered(L.conv(x.ps, w, bias, s, pads, dl, int(groups)), x, name)


def _spatial(x: _T, d: int, what: str) -> None:
    if len(x.ps) != d + 1:
        raise _Refusal(f"{what} needs samples of shape (C, {d} spatial axes), got {x.ps}")


def _max_pool(b: _Builder, x: _T, d: int, kernel: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool,
              name: str) -> _T:
    _spatial(x, d, "max pooling")
    k = _tup(kernel, d)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _tup(stride, d)
    p = _tup(padding, d)
    return b.lowered(L.max_pool(x.ps, k, s, p + p, _tup(dilation, d), bool(ceil_mode)), x, name)


def _avg_pool(b: _Builder, x: _T, d: int, kernel: Any, stride: Any, padding: Any, ceil_mode: bool,
              count_include_pad: bool, name: str) -> _T:
    _spatial(x, d, "average pooling")
    k = _tup(kernel, d)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _tup(stride, d)
    p = _tup(padding, d)
    return b.lowered(L.avg_pool(x.ps, k, s, p + p, bool(count_include_pad), bool(ceil_mode)), x, name)


def _adaptive_avg(b: _Builder, x: _T, d: int, output_size: Any, name: str) -> _T:
    """Adaptive average pooling: output o of an axis of size S averages places [floor(o S / O), ceil((o + 1) S / O)).

    A mean over a box is the product of the per-axis means, so the map is kron(I_C, A_1, ..., A_d) with one
    averaging matrix A_i per axis; this covers every output size (a divisible one is an ordinary average
    pooling, 1 x ... x 1 the global mean), which is why it is built here rather than from ``avg_pool``.
    """
    _spatial(x, d, "adaptive average pooling")
    sizes = [output_size] * d if isinstance(output_size, int) else list(output_size)
    if len(sizes) != d:
        raise _Refusal(f"output_size {output_size} needs {d} entries")
    A = _identity(x.ps[0])
    out = [x.ps[0]]
    for S, O in zip(x.ps[1:], sizes):
        O = S if O is None else int(O)
        o = np.arange(O)
        start, end = (o * S) // O, -((-(o + 1) * S) // O)
        cols = [np.arange(a, e) for a, e in zip(start, end)]
        rows = np.repeat(o, [c.size for c in cols])
        vals = np.repeat(1.0 / (end - start), end - start)
        A = sp.kron(A, sp.csr_array((vals, (rows, np.concatenate(cols))), shape=(O, S)), format="csr")
        out.append(O)
    return b.linear(A, x, None, tuple(out), name)


def _pad(b: _Builder, x: _T, pad: Any, value: float, name: str) -> _T:
    """torch's ``pad`` (last axis first: (left, right, top, bottom, ...)) in constant mode."""
    pad = [int(p) for p in pad]
    if len(pad) % 2 or len(pad) // 2 > len(x.ps):
        raise _Refusal(f"padding {pad} does not fit samples of shape {x.ps}")
    r = len(x.ps)
    begin, end = [0] * r, [0] * r
    for i in range(len(pad) // 2):
        begin[r - 1 - i], end[r - 1 - i] = pad[2 * i], pad[2 * i + 1]
    return b.lowered(L.pad(x.ps, begin + end, float(value)), x, name)


def _flatten(x: _T, start: Any = 0, end: Any = -1) -> _T:
    s, e = _axis(start, x.rank), _axis(end, x.rank)
    if s == 0:
        raise _Refusal(f"flatten(start_dim={start}) merges the batch axis into the features; use start_dim=1")
    if e < s:
        raise _Refusal(f"flatten(start_dim={start}, end_dim={end}) is empty")
    ps = x.ps[: s - 1] + (int(np.prod(x.ps[s - 1 : e], dtype=np.int64)),) + x.ps[e:]
    return _T(x.tid, ps)


def _view(x: _T, shape: Any) -> _T:
    """``x.view(shape)`` / ``reshape``: the first axis must stay the batch (``x.size(0)`` or ``-1``)."""
    shape = list(shape[0]) if len(shape) == 1 and isinstance(shape[0], list | tuple) else list(shape)
    if not shape:
        raise _Refusal("a reshape to a scalar drops the batch axis")
    head, rest = shape[0], shape[1:]
    if any(r is _BATCH for r in rest) or any(not isinstance(r, int | np.integer) for r in rest):
        raise _Refusal(f"reshape to {shape}: only the first axis may be the batch size")
    rest = [int(r) for r in rest]
    if head is _BATCH:
        if rest.count(-1) > 1:
            raise _Refusal(f"reshape to {shape} has more than one -1")
        if -1 in rest:
            known = int(np.prod([r for r in rest if r != -1], dtype=np.int64))
            if known == 0 or x.size % known:
                raise _Refusal(f"cannot reshape a sample of shape {x.ps} to {shape}")
            rest[rest.index(-1)] = x.size // known
        return _reshaped(x, tuple(rest))
    if head == -1 and -1 not in rest and int(np.prod(rest, dtype=np.int64)) == x.size:
        return _reshaped(x, tuple(rest))
    raise _Refusal(f"reshape to {shape} does not keep the batch axis first (use x.size(0) or -1 there)")


def _permute(b: _Builder, x: _T, dims: Any, name: str) -> _T:
    dims = list(dims[0]) if len(dims) == 1 and isinstance(dims[0], list | tuple) else list(dims)
    p = [_axis(a, x.rank) for a in dims]
    if sorted(p) != list(range(x.rank)) or p[0] != 0:
        raise _Refusal(f"permute{tuple(dims)} must keep the batch axis first")
    perm = [a - 1 for a in p[1:]]
    if perm == sorted(perm):
        return x
    return b.lowered(L.transpose(x.ps, perm), x, name)


def _transpose(b: _Builder, x: _T, d0: Any, d1: Any, name: str) -> _T:
    a0, a1 = _per_sample_axis(x, d0), _per_sample_axis(x, d1)
    perm = list(range(len(x.ps)))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    return _permute(b, x, [0, *(p + 1 for p in perm)], name)


def _squeeze(x: _T, dim: Any = None) -> _T:
    if dim is None:
        return _T(x.tid, tuple(d for d in x.ps if d != 1))
    dims = [dim] if isinstance(dim, int) else list(dim)
    drop = {_per_sample_axis(x, a) for a in dims}
    return _T(x.tid, tuple(d for i, d in enumerate(x.ps) if not (i in drop and d == 1)))


def _unsqueeze(x: _T, dim: Any) -> _T:
    a = _axis(dim, x.rank + 1)
    if a == 0:
        raise _Refusal("unsqueeze(0) puts a new axis before the batch axis")
    return _T(x.tid, x.ps[: a - 1] + (1,) + x.ps[a - 1 :])


def _getitem(b: _Builder, x: _T, index: Any, name: str) -> _T:
    """Basic indexing by slices and integers, the batch axis taken whole."""
    idx = list(index) if isinstance(index, tuple) else [index]
    if Ellipsis in idx:
        i = idx.index(Ellipsis)
        idx = idx[:i] + [slice(None)] * (x.rank - len(idx) + 1) + idx[i + 1 :]
    if not idx or idx[0] != slice(None):
        raise _Refusal(f"indexing {index!r} must take the batch axis whole (x[:, ...])")
    rest = idx[1:]
    if len(rest) > len(x.ps) or not all(isinstance(i, slice | int | np.integer) for i in rest):
        raise _Refusal(f"indexing {index!r}: only slices and integers over the sample's axes")
    sel = np.arange(x.size).reshape(x.ps)[tuple(rest)]
    if sel.size == 0:
        raise _Refusal(f"indexing {index!r} selects nothing")
    if sel.shape == x.ps and np.array_equal(sel.ravel(), np.arange(x.size)):
        return x
    return b.linear(_select(sel, x.size), x, None, tuple(sel.shape), name)


def _cat(b: _Builder, xs: Any, dim: Any, name: str) -> _T:
    xs = list(xs)
    if not xs or not all(isinstance(t, _T) for t in xs):
        raise _Refusal("concatenates a constant with computed tensors")
    if len({t.rank for t in xs}) != 1:
        raise _Refusal(f"concatenates tensors of different ranks {[t.rank for t in xs]}")
    a = _per_sample_axis(xs[0], dim)
    if len(xs) == 1:
        return xs[0]
    op, ps = L.concat([t.ps for t in xs], a)
    return b.emit(op, xs, ps, name)


def _affine(b: _Builder, x: _T, scale: Any, shift: Any, name: str) -> _T:
    s = None if scale is None else _const_operand(scale, x)
    c = None if shift is None else _const_operand(shift, x)
    return b.emit(L.elementwise_affine(x.ps, s, c), [x], x.ps, name)


def _add(b: _Builder, u: Any, v: Any, sign: float, name: str) -> Any:
    """u + sign * v."""
    if isinstance(u, _T) and isinstance(v, _T):
        (u2, v2), ps = _broadcast(b, [u, v], name)
        if u2.tid == v2.tid:
            return b.linear((1.0 + sign) * _identity(u2.size), u2, None, ps, name)
        return b.emit(Linear([_identity(u2.size), sign * _identity(v2.size)]), [u2, v2], ps, name)
    if isinstance(u, _T):
        return _affine(b, u, None, sign * np.asarray(v, dtype=np.float64), name)
    if isinstance(v, _T):
        return _affine(b, v, sign, u, name)
    return _const_arith(operator.add, u, operator.mul(sign, v) if sign != 1 else v)


def _mul(b: _Builder, u: Any, v: Any, divide: bool, name: str) -> Any:
    if isinstance(u, _T) and isinstance(v, _T):
        raise _Refusal("the product of two computed tensors is not piecewise-affine")
    if isinstance(v, _T):
        if divide:
            raise _Refusal("division by a computed tensor is not piecewise-affine")
        u, v = v, u
    if isinstance(u, _T):
        k = np.asarray(v, dtype=np.float64)
        return _affine(b, u, 1.0 / k if divide else k, None, name)
    return _const_arith(operator.truediv if divide else operator.mul, u, v)


def _const_arith(f: Callable, *args: Any) -> Any:
    if any(a is _BATCH for a in args):
        raise _Refusal("arithmetic on the batch size")
    return f(*args)


def _max_min(b: _Builder, u: Any, v: Any, sign: float, name: str) -> _T:
    """max(u, v) (sign +1) or min(u, v) (sign -1): a WindowMax over both tensors (min = -max(-u, -v)); with a
    constant c, max(x, c) = relu(x - c) + c and min(x, c) = c - relu(c - x)."""
    if not isinstance(u, _T):
        u, v = v, u
    if not isinstance(u, _T):
        raise _Refusal("no computed tensor among the operands")
    if not isinstance(v, _T):
        c = _const_operand(v, u).ravel()
        d = b.linear(sign * _identity(u.size), u, -sign * c, u.ps, f"{name}/shift")
        r = b.act(ReLU(), d, f"{name}/relu")
        return b.linear(sign * _identity(u.size), r, c, u.ps, name)
    (u2, v2), ps = _broadcast(b, [u, v], name)
    if u2.tid == v2.tid:
        return u2
    n = u2.size
    if sign < 0:
        u2 = b.linear(-_identity(n), u2, None, ps, f"{name}/neg0")
        v2 = b.linear(-_identity(n), v2, None, ps, f"{name}/neg1")
    win = np.stack([np.arange(n), n + np.arange(n)], axis=1)
    out = b.emit(WindowMax(win, [n, n]), [u2, v2], ps, name if sign > 0 else f"{name}/max")
    return out if sign > 0 else b.linear(-_identity(n), out, None, ps, name)


def _clamp(lo: Any, hi: Any) -> PiecewiseLinear:
    for v in (lo, hi):
        if v is not None and not isinstance(v, int | float | np.integer | np.floating):
            raise _Refusal("clamp bounds must be numbers")
    return _clip(-np.inf if lo is None else float(lo), np.inf if hi is None else float(hi))


# ---------------------------------------------------------------------------------------------
# modules
# ---------------------------------------------------------------------------------------------
def _module(b: _Builder, mod: Any, x: Any, extra: tuple, name: str) -> _T:
    import torch.nn as nn

    kind = type(mod).__name__
    base = _torch_class(type(mod))
    bname = base.__name__ if base is not None else kind
    if bname in _NOT_PWA:
        raise _Refusal(f"{bname} is not piecewise-affine")
    if bname not in SUPPORTED_MODULES or bname == "Sequential":
        raise _Refusal("")
    if not isinstance(x, _T):
        raise _Refusal("its input is a constant, not computed from the network's input")
    if extra:
        raise _Refusal("it is called with more than one argument")
    if (act := _activation(mod)) is not None:
        return b.act(act, x, name)
    if isinstance(mod, nn.Identity | nn.Dropout | nn.Dropout1d | nn.Dropout2d | nn.Dropout3d | nn.AlphaDropout):
        return x
    if isinstance(mod, nn.Flatten):
        return _flatten(x, mod.start_dim, mod.end_dim)
    if isinstance(mod, nn.Unflatten):
        a = _per_sample_axis(x, mod.dim)
        sizes = tuple(int(s) for s in mod.unflattened_size)
        return _reshaped(x, x.ps[:a] + sizes + x.ps[a + 1 :])
    if isinstance(mod, nn.Linear):
        return _dense(b, x, _np(mod.weight), None if mod.bias is None else _np(mod.bias), name)
    if isinstance(mod, nn.Conv1d | nn.Conv2d | nn.Conv3d | nn.ConvTranspose1d | nn.ConvTranspose2d):
        if mod.padding_mode != "zeros":
            raise _Refusal(f"padding_mode={mod.padding_mode!r} (only 'zeros' is an affine padding here)")
        w, bias = _np(mod.weight), None if mod.bias is None else _np(mod.bias)
        if isinstance(mod, nn.ConvTranspose1d | nn.ConvTranspose2d):
            d = w.ndim - 2
            _spatial(x, d, "a transposed convolution")
            p = _tup(mod.padding, d)
            return b.lowered(L.conv_transpose(x.ps, w, bias, list(mod.stride), p + p, list(mod.dilation),
                                              int(mod.groups), list(mod.output_padding)), x, name)
        return _conv(b, x, w, bias, mod.stride, mod.padding, mod.dilation, mod.groups, name)
    if isinstance(mod, nn.modules.batchnorm._BatchNorm):
        if mod.training or mod.running_mean is None:
            why = "is in training mode" if mod.training else "has track_running_stats=False"
            raise _Refusal(f"{why}: it normalises by the statistics of each batch; call module.eval() on a model "
                           f"with running statistics")
        C = int(mod.num_features)
        if not x.ps or x.ps[0] != C:
            raise _Refusal(f"expects {C} channels first, got samples of shape {x.ps}")
        g = np.ones(C) if mod.weight is None else _np(mod.weight)
        beta = np.zeros(C) if mod.bias is None else _np(mod.bias)
        op = L.batch_norm(x.ps, g, beta, _np(mod.running_mean), _np(mod.running_var), float(mod.eps))
        return b.emit(op, [x], x.ps, name)
    if isinstance(mod, nn.MaxPool1d | nn.MaxPool2d | nn.MaxPool3d):
        if mod.return_indices:
            raise _Refusal("return_indices=True")
        d = {nn.MaxPool1d: 1, nn.MaxPool2d: 2, nn.MaxPool3d: 3}[base]
        return _max_pool(b, x, d, mod.kernel_size, mod.stride, mod.padding, mod.dilation, mod.ceil_mode, name)
    if isinstance(mod, nn.AvgPool1d | nn.AvgPool2d | nn.AvgPool3d):
        if getattr(mod, "divisor_override", None) is not None:
            raise _Refusal("divisor_override is set")
        d = {nn.AvgPool1d: 1, nn.AvgPool2d: 2, nn.AvgPool3d: 3}[base]
        return _avg_pool(b, x, d, mod.kernel_size, mod.stride, mod.padding, mod.ceil_mode, mod.count_include_pad,
                         name)
    if isinstance(mod, nn.AdaptiveAvgPool1d | nn.AdaptiveAvgPool2d | nn.AdaptiveAvgPool3d):
        d = {nn.AdaptiveAvgPool1d: 1, nn.AdaptiveAvgPool2d: 2, nn.AdaptiveAvgPool3d: 3}[base]
        return _adaptive_avg(b, x, d, mod.output_size, name)
    if isinstance(mod, nn.ZeroPad1d | nn.ZeroPad2d | nn.ConstantPad1d | nn.ConstantPad2d):
        return _pad(b, x, mod.padding, float(mod.value), name)
    raise _Refusal("")  # pragma: no cover - every name of SUPPORTED_MODULES is handled above


# ---------------------------------------------------------------------------------------------
# functions and methods
# ---------------------------------------------------------------------------------------------
def _arg(args: tuple, kwargs: dict, i: int, key: str, default: Any = None) -> Any:
    if len(args) > i:
        return args[i]
    return kwargs.get(key, default)


def _tensor_arg(v: Any) -> _T:
    if not isinstance(v, _T):
        raise _Refusal("its input is a constant, not computed from the network's input")
    return v


def _function_table() -> dict[Any, Callable[[_Builder, tuple, dict, str], Any]]:
    import torch
    import torch.nn.functional as F

    def act(make: Callable[[tuple, dict], PiecewiseLinear]) -> Callable:
        return lambda b, a, k, n: b.act(make(a, k), _tensor_arg(a[0]), n)

    def add(b, a, k, n):
        alpha = k.get("alpha", 1)
        v = a[1] if alpha == 1 else _mul(b, a[1], alpha, False, f"{n}/alpha")
        return _add(b, a[0], v, 1.0, n)

    def sub(b, a, k, n):
        alpha = k.get("alpha", 1)
        v = a[1] if alpha == 1 else _mul(b, a[1], alpha, False, f"{n}/alpha")
        return _add(b, a[0], v, -1.0, n)

    def neg(b, a, k, n):
        return _mul(b, a[0], -1.0, False, n)

    def mul(b, a, k, n):
        return _mul(b, a[0], a[1], False, n)

    def div(b, a, k, n):
        if k.get("rounding_mode") is not None:
            raise _Refusal("division with rounding is not affine")
        return _mul(b, a[0], a[1], True, n)

    def maxmin(sign: float) -> Callable:
        def f(b, a, k, n):
            other = _arg(a, k, 1, "other", _arg(a, k, 1, "dim"))
            if other is None or isinstance(other, int) and not isinstance(other, bool) and isinstance(a[0], _T):
                raise _Refusal("a reduction over an axis or the whole tensor; only the elementwise form of two "
                               "tensors is supported")
            return _max_min(b, a[0], other, sign, n)

        return f

    def cat(b, a, k, n):
        return _cat(b, _arg(a, k, 0, "tensors"), _arg(a, k, 1, "dim", 0), n)

    def flatten(b, a, k, n):
        return _flatten(_tensor_arg(a[0]), _arg(a, k, 1, "start_dim", 0), _arg(a, k, 2, "end_dim", -1))

    def reshape(b, a, k, n):
        return _view(_tensor_arg(a[0]), a[1:] or (k.get("shape"),))

    def permute(b, a, k, n):
        return _permute(b, _tensor_arg(a[0]), a[1:] or (k.get("dims"),), n)

    def transpose(b, a, k, n):
        return _transpose(b, _tensor_arg(a[0]), _arg(a, k, 1, "dim0"), _arg(a, k, 2, "dim1"), n)

    def squeeze(b, a, k, n):
        return _squeeze(_tensor_arg(a[0]), _arg(a, k, 1, "dim"))

    def unsqueeze(b, a, k, n):
        return _unsqueeze(_tensor_arg(a[0]), _arg(a, k, 1, "dim"))

    def clamp(b, a, k, n):
        return b.act(_clamp(_arg(a, k, 1, "min"), _arg(a, k, 2, "max")), _tensor_arg(a[0]), n)

    def linear(b, a, k, n):
        return _dense(b, _tensor_arg(a[0]), _arg(a, k, 1, "weight"), _arg(a, k, 2, "bias"), n)

    def matmul(b, a, k, n):
        x, W = a[0], a[1]
        if not isinstance(x, _T) or isinstance(W, _T) or np.ndim(W) != 2:
            raise _Refusal("only a computed tensor times a constant matrix is affine here")
        return _dense(b, x, np.asarray(W, dtype=np.float64).T, None, n)

    def pad(b, a, k, n):
        mode = _arg(a, k, 2, "mode", "constant")
        if mode != "constant":
            raise _Refusal(f"mode={mode!r} (only 'constant' padding is affine here)")
        value = _arg(a, k, 3, "value", None)
        return _pad(b, _tensor_arg(a[0]), _arg(a, k, 1, "pad"), 0.0 if value is None else float(value), n)

    def conv(b, a, k, n):
        w = np.asarray(_arg(a, k, 1, "weight"), dtype=np.float64)
        return _conv(b, _tensor_arg(a[0]), w, _arg(a, k, 2, "bias"), _arg(a, k, 3, "stride", 1),
                     _arg(a, k, 4, "padding", 0), _arg(a, k, 5, "dilation", 1), int(_arg(a, k, 6, "groups", 1)), n)

    def identity(b, a, k, n):
        return a[0]

    def getattr_(b, a, k, n):
        x, attr = a[0], a[1]
        if isinstance(x, _T):
            if attr == "shape":
                return (_BATCH, *x.ps)
            if attr == "ndim":
                return x.rank
            if attr == "T" or attr == "mT":
                raise _Refusal(f"Tensor.{attr}")
            raise _Refusal(f"the attribute {attr!r} of a computed tensor")
        return getattr(x, attr)

    def getitem(b, a, k, n):
        x, idx = a[0], a[1]
        if isinstance(x, _T):
            return _getitem(b, x, idx, n)
        return x[idx]

    table: dict[Any, Callable] = {
        operator.add: add, operator.iadd: add, torch.add: add, operator.sub: sub, operator.isub: sub,
        torch.sub: sub, torch.subtract: sub, operator.neg: neg, torch.neg: neg, operator.mul: mul, operator.imul: mul,
        torch.mul: mul, torch.multiply: mul, operator.truediv: div, torch.div: div, torch.true_divide: div,
        torch.cat: cat, torch.concat: cat, torch.concatenate: cat, torch.flatten: flatten, torch.reshape: reshape,
        torch.permute: permute, torch.transpose: transpose, torch.squeeze: squeeze, torch.unsqueeze: unsqueeze,
        torch.max: maxmin(1.0), torch.maximum: maxmin(1.0), torch.min: maxmin(-1.0), torch.minimum: maxmin(-1.0),
        torch.clamp: clamp, torch.clip: clamp, torch.relu: act(lambda a, k: ReLU()), F.relu: act(lambda a, k: ReLU()),
        F.relu6: act(lambda a, k: ReLU6()), torch.abs: act(lambda a, k: named(_ABS)),
        F.leaky_relu: act(lambda a, k: LeakyReLU(float(_arg(a, k, 1, "negative_slope", 0.01)))),
        F.hardtanh: act(lambda a, k: HardTanh(float(_arg(a, k, 1, "min_val", -1.0)),
                                              float(_arg(a, k, 2, "max_val", 1.0)))),
        F.hardsigmoid: act(lambda a, k: HardSigmoid()), F.linear: linear, torch.matmul: matmul,
        operator.matmul: matmul, F.pad: pad, F.conv1d: conv, F.conv2d: conv, F.dropout: identity,
        builtins.getattr: getattr_, operator.getitem: getitem,
    }
    methods: dict[str, Callable] = {
        "add": add, "add_": add, "sub": sub, "sub_": sub, "neg": neg, "mul": mul, "div": div, "flatten": flatten,
        "view": reshape, "reshape": reshape, "permute": permute, "transpose": transpose, "squeeze": squeeze,
        "unsqueeze": unsqueeze, "clamp": clamp, "clip": clamp, "relu": act(lambda a, k: ReLU()),
        "relu_": act(lambda a, k: ReLU()), "abs": act(lambda a, k: named(_ABS)), "contiguous": identity,
        "clone": identity, "max": maxmin(1.0), "min": maxmin(-1.0), "maximum": maxmin(1.0), "minimum": maxmin(-1.0),
    }
    table.update({f"method:{m}": f for m, f in methods.items()})
    return table


def _size(b: _Builder, a: tuple, k: dict, n: str) -> Any:
    x = _tensor_arg(a[0])
    shape = (_BATCH, *x.ps)
    dim = _arg(a, k, 1, "dim")
    return shape if dim is None else shape[_axis(dim, x.rank)]


def _target_name(node: Any) -> str:
    t = node.target
    if node.op == "call_method":
        return f"Tensor.{t}"
    mod = getattr(t, "__module__", None) or ""
    mod = {"_operator": "operator", "torch._C._nn": "torch.nn.functional", "torch._C._VariableFunctions": "torch"}.get(
        mod, mod)
    return f"{mod}.{getattr(t, '__name__', repr(t))}" if mod else getattr(t, "__name__", repr(t))


# ---------------------------------------------------------------------------------------------
# tracing and the walk over the recorded graph
# ---------------------------------------------------------------------------------------------
def _is_torch_leaf(m: Any) -> bool:
    """A module of PyTorch itself, used with PyTorch's own forward (kept whole by the tracer)."""
    import torch.nn as nn

    if isinstance(m, nn.Sequential) and type(m).forward is nn.Sequential.forward:
        return False
    base = _torch_class(type(m))
    return base is not None and base is not nn.Module and type(m).forward is base.forward


def _trace(module: Any) -> Any:
    import torch.fx as fx

    class _Tracer(fx.Tracer):
        failed_at: tuple[str, str] | None = None  # (qualified name, class) of the innermost failing module

        def is_leaf_module(self, m: Any, module_qualified_name: str) -> bool:
            return _is_torch_leaf(m)

        def call_module(self, m: Any, forward: Any, args: Any, kwargs: Any) -> Any:
            try:
                return super().call_module(m, forward, args, kwargs)
            except Exception:
                if self.failed_at is None:
                    self.failed_at = (self.path_of_module(m), type(m).__name__)
                raise

    tracer = _Tracer()
    try:
        graph = tracer.trace(module)
    except Exception as exc:  # torch.fx raises TraceError, TypeError, NotImplementedError, ... by construct
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where, kind = tracer.failed_at or ("", type(module).__name__)
        raise UnsupportedOperationError(
            f"the forward of {kind} ({where or '<root>'!r}) cannot be traced by torch.fx.symbolic_trace "
            f"({type(exc).__name__}: {first}); write it without data-dependent control flow, or export it to ONNX "
            f"and read it with from_onnx",
            op_type=kind,
            node=where,
        ) from exc
    return fx.GraphModule(module, graph)


def _refusal(node: Any, what: str, op_type: str, why: str, module_name: str | None = None
             ) -> UnsupportedOperationError:
    where = module_name if module_name is not None else node.name
    reason = f": {why}" if why else ""
    return UnsupportedOperationError(
        f"unsupported PyTorch {what} ({where!r}, traced node {node.name!r}){reason}; supported modules: "
        f"{', '.join(SUPPORTED_MODULES)} (and custom modules whose forward torch.fx traces into these); supported "
        f"functions and methods: {', '.join(SUPPORTED_FUNCTIONS)}",
        op_type=op_type,
        node=where,
    )


def graph_from_torch(module: Any, input_shape: Any) -> Graph:
    """Translate a PyTorch module into a :class:`~nnblocks.graph.Graph` on samples of shape ``input_shape``.

    See :func:`from_torch` (which calls this for every module that is not a dense chain) and
    ``docs/graphs.md``. The result is :meth:`~nnblocks.graph.Graph.simplified` (batch norms and selections
    folded into their neighbours where that adds no nonzeros).
    """
    import torch.nn as nn

    if not isinstance(module, nn.Module):
        raise TypeError(f"from_torch expects a torch.nn.Module, got {type(module).__name__}")
    ps = _input_shape(input_shape)
    module = _uncompiled(module)
    for name, sub in module.named_modules():
        _refuse_torchscript(name, sub)
    root = nn.Sequential(module) if _is_torch_leaf(module) else module
    gm = _trace(root)
    table = _function_table()
    b = _Builder()
    env: dict[Any, Any] = {}
    result: Any = None
    seen_input = False
    from torch.fx.node import map_arg

    for node in gm.graph.nodes:
        args = map_arg(node.args, lambda n: env[n])
        kwargs = map_arg(node.kwargs, lambda n: env[n])
        if node.op == "placeholder":
            if seen_input:
                if args:  # an argument with a default value: a constant
                    env[node] = _const(args[0])
                    continue
                raise UnsupportedOperationError(
                    f"the forward of {type(module).__name__} takes more than one input ({node.name!r}); a network "
                    f"here has one input tensor",
                    op_type=type(module).__name__,
                    node=node.name,
                )
            seen_input = True
            env[node] = _T(0, ps)
        elif node.op == "get_attr":
            obj: Any = gm
            for part in str(node.target).split("."):
                obj = getattr(obj, part)
            env[node] = _const(obj)
        elif node.op == "call_module":
            mod = gm.get_submodule(node.target)
            qual = str(node.target)
            if root is not module:
                qual = qual.split(".", 1)[1] if "." in qual else ""
            try:
                env[node] = _module(b, mod, args[0] if args else None, tuple(args[1:]) + tuple(kwargs.values()), qual)
            except ValueError as exc:
                raise ValueError(f"module {qual or '<root>'!r} ({type(mod).__name__}): {exc}") from exc
            except _Refusal as exc:
                base = _torch_class(type(mod))
                kind = type(mod).__name__
                what = kind if base is None or base is type(mod) else f"{kind} (a {base.__name__})"
                raise _refusal(node, f"module {what}", kind, str(exc), qual) from exc
        elif node.op in ("call_function", "call_method"):
            key = node.target if node.op == "call_function" else f"method:{node.target}"
            if node.op == "call_method" and node.target == "size":
                f: Callable | None = _size
            elif node.op == "call_method" and node.target == "dim":
                f = lambda b_, a, k, n: _tensor_arg(a[0]).rank  # noqa: E731
            else:
                try:
                    f = table.get(key)
                except TypeError:  # an unhashable target
                    f = None
            name = _target_name(node)
            if f is None:
                short = name.rsplit(".", 1)[-1]
                why = f"{short} is not piecewise-affine" if short in _NOT_PWA else ""
                raise _refusal(node, f"{'method' if node.op == 'call_method' else 'function'} {name}", name, why)
            try:
                env[node] = f(b, args, kwargs, node.name)
            except ValueError as exc:
                raise ValueError(f"traced node {node.name!r} ({name}): {exc}") from exc
            except (_Refusal, TypeError, IndexError) as exc:
                raise _refusal(node, f"{'method' if node.op == 'call_method' else 'function'} {name}", name,
                               str(exc)) from exc
        elif node.op == "output":
            result = args[0]
    if isinstance(result, tuple | list) and len(result) == 1:
        result = result[0]
    if not isinstance(result, _T):
        raise ValueError(f"the output of {type(module).__name__} is not one tensor computed from the input")
    nodes = b.nodes
    if result.tid == 0:
        nodes.append(Node(Linear([_identity(result.size)]), (0,), _node_shape(result.ps), "output"))
        result = _T(len(nodes), result.ps)
    last = nodes[result.tid - 1]
    nodes[result.tid - 1] = Node(last.op, last.inputs, _node_shape(result.ps), last.name)
    return Graph(_node_shape(ps), nodes, result.tid).simplified()


def _input_shape(input_shape: Any) -> tuple[int, ...]:
    try:
        ps = (int(input_shape),) if np.isscalar(input_shape) else tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        ps = ()
    if not ps or any(d < 1 for d in ps):
        raise ValueError(f"input_shape must be the shape of one sample (positive ints, no batch axis), got "
                         f"{input_shape!r}")
    return ps


def from_torch(module: Any, input_shape: Any = None, as_graph: bool | None = None) -> Network | Graph:
    """Translate a PyTorch module into a :class:`~nnblocks.Network` when it is a dense chain, and into a
    :class:`~nnblocks.graph.Graph` otherwise.

    Parameters
    ----------
    module:
        An ``nn.Module``. A dense chain (see :func:`nnblocks.io.torch.from_torch`: an ``nn.Sequential`` of
        ``Linear`` and the piecewise-affine activations) gives a :class:`~nnblocks.Network`, exactly as without
        ``input_shape``. Anything else needs ``input_shape`` and is read by ``torch.fx.symbolic_trace``: the
        modules of :data:`SUPPORTED_MODULES` (convolutions with zero padding incl. ``'same'``/``'valid'``,
        strides, dilations, groups; batch norm in eval mode; max, average and adaptive average pooling; the
        activations; flatten, dropout, identity), and the functions of :data:`SUPPORTED_FUNCTIONS` (residual
        ``+``/``-``, ``torch.cat``, reshapes, permutes, max/min of two tensors, ...) in a custom module's
        ``forward``.
    input_shape:
        The shape of one sample, without the batch axis, e.g. ``(1, 28, 28)``.
    as_graph:
        ``None`` (default) as above; ``True``: always a Graph (``input_shape`` needed); ``False``: a Network or
        the dense importer's refusal.

    Returns
    -------
    Network or Graph
        The module's evaluation-mode function (dropout is the identity), weights converted exactly to float64.

    Raises
    ------
    UnsupportedOperationError
        Naming the module (class and qualified name) or traced function and the node, with the supported
        lists: a module or function outside them (Sigmoid, Tanh, Softmax: not piecewise-affine), a batch norm
        in training mode, ``padding_mode`` other than ``'zeros'``, a reshape or concatenation over the batch
        axis, a product of two computed tensors, a forward that torch.fx cannot trace (data-dependent control
        flow), a TorchScript module.
    ValueError
        For a bad ``input_shape`` or shapes that do not fit.
    """
    import torch.nn as nn

    if not isinstance(module, nn.Module):
        raise TypeError(f"from_torch expects a torch.nn.Module, got {type(module).__name__}")
    if as_graph:
        if input_shape is None:
            raise ValueError("as_graph=True needs input_shape, the shape of one sample (no batch axis)")
        return graph_from_torch(module, input_shape)
    try:
        net = _dense_from_torch(module)
    except UnsupportedOperationError as dense_error:
        if as_graph is False:
            raise
        if input_shape is None:
            if dense_error.op_type in _NOT_PWA:
                raise
            raise UnsupportedOperationError(
                f"{dense_error}; with input_shape (the shape of one sample) from_torch reads convolutions, pooling, "
                f"batch norm and traced custom forwards as a nnblocks.graph.Graph",
                op_type=dense_error.op_type,
                node=dense_error.node,
            ) from dense_error
        try:
            return graph_from_torch(module, input_shape)
        except UnsupportedOperationError as graph_error:
            raise graph_error from dense_error
    if input_shape is not None and int(np.prod(_input_shape(input_shape))) != net.n_inputs:
        raise ValueError(f"input_shape {tuple(input_shape)} has {int(np.prod(input_shape))} entries, the module's "
                         f"first Linear takes {net.n_inputs}")
    return net

