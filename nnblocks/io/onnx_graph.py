"""Import an ONNX model as a :class:`~nnblocks.graph.Graph` of piecewise-affine operations.

The model's nodes are visited in topological order. A tensor is either a constant (initializers,
``Constant`` nodes and every node whose inputs are all constant, evaluated by onnx's own
:class:`onnx.reference.ReferenceEvaluator` under the model's opset) or computed from the one graph input.
A computed tensor is a graph tensor plus its ONNX shape and the position of its batch axis (``None`` for a
model whose input has no batch axis, i.e. takes a single sample): the graph holds only the per-sample part,
so reshapes, flattens, (un)squeezes and identities need no node, and transposes, slices and
concatenations are selections over the per-sample tensor. Every other operation lowers through
:mod:`nnblocks.graph.lower`. The shapes of computed tensors come from the lowerings themselves (they need
them to build their index arrays), so onnx's shape inference is not needed; shapes of constants are the
evaluated arrays' shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import scipy.sparse as sp
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator

from nnblocks.activations import LeakyReLU, PiecewiseLinear, ReLU
from nnblocks.graph import Elementwise, Graph, Linear, Node, WindowMax
from nnblocks.graph import lower as L
from nnblocks.io._common import UnsupportedOperationError
from nnblocks.io.onnx import (
    _FLOAT32_MAX,
    PWL_DOMAIN,
    _attrs,
    _clip,
    _constant_value,
    _decode_float32,
    _hard_sigmoid,
    _input_shape,
    _label,
    _load,
    _piecewise_from_arrays,
    _scalar,
    _topological_nodes,
    _unsupported,
)

__all__ = ["SUPPORTED_OPS", "graph_from_onnx"]

# operations evaluated when all their inputs are constants (Shape also on a computed tensor whose shape is
# static); anything else on constants is refused by name, so a model never depends on an operation nobody
# checked
_FOLDABLE = frozenset({
    "Abs", "Add", "Cast", "CastLike", "Ceil", "Concat", "Constant", "ConstantOfShape", "Div", "Equal", "Expand",
    "Flatten", "Floor", "Gather", "GatherElements", "Greater", "Identity", "Less", "MatMul", "Max", "Min", "Mul",
    "Neg", "Not", "Range", "Reciprocal", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "Relu",
    "Reshape", "Shape", "Size", "Slice", "Sqrt", "Squeeze", "Sub", "Sum", "Tile", "Transpose", "Unsqueeze", "Where",
    "Gemm",
})

_ELEMENTWISE = ("Relu", "LeakyRelu", "Clip", "HardSigmoid", "Abs", "PRelu")
SUPPORTED_OPS: tuple[str, ...] = tuple(sorted({
    "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Neg", "Conv", "ConvTranspose", "BatchNormalization",
    "AveragePool", "GlobalAveragePool", "MaxPool", "GlobalMaxPool", "Pad", "Flatten", "Reshape", "Transpose",
    "Squeeze", "Unsqueeze", "Slice", "Concat", "Identity", "Dropout", "Max", "Min", "Shape", "Gather", "Sum",
    "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin",
    f"{PWL_DOMAIN}.PiecewiseLinear", *_ELEMENTWISE,
} | (_FOLDABLE - {"Constant"})))
"""The ONNX operations :func:`graph_from_onnx` translates (those only in the constant-folding set are
accepted on constant inputs)."""

_NOT_PWA = frozenset({"Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Exp", "Log", "Softplus", "Elu", "Selu",
                      "Gelu", "HardSwish", "Erf", "Pow", "Sin", "Cos", "Mish", "Celu"})
_ABS = PiecewiseLinear([0.0], [-1.0, 1.0], [0.0, 0.0])


def _refuse(node: onnx.NodeProto, why: str = "") -> UnsupportedOperationError:
    err = _unsupported(node, why)
    msg = f"{err}; supported operations: {', '.join(SUPPORTED_OPS)}"
    return UnsupportedOperationError(msg, op_type=err.op_type, node=err.node)


@dataclass(frozen=True)
class _T:
    """A computed tensor: graph tensor ``tid``, ONNX shape ``shape`` (with the batch axis, if any, at ``batch``)."""

    tid: int
    shape: tuple[int, ...]
    batch: int | None

    @property
    def ps(self) -> tuple[int, ...]:
        """The per-sample shape (the batch axis removed)."""
        return tuple(d for i, d in enumerate(self.shape) if i != self.batch)

    def ps_axis(self, a: int) -> int:
        """Per-sample position of ONNX axis a (which is not the batch axis)."""
        return a - (1 if self.batch is not None and a > self.batch else 0)


def _node_shape(ps: tuple[int, ...]) -> tuple[int, ...]:
    return ps if ps else (1,)


class _Importer:
    def __init__(self, proto: onnx.ModelProto) -> None:
        self.opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 21)
        self.consts: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
        self.tensors: dict[str, _T] = {}
        self.nodes: list[Node] = []
        self.batch_size: int | None = None
        self.batch_static = False

    # -- building -----------------------------------------------------------------------------
    def emit(self, op: Any, inputs: list[_T], shape: tuple[int, ...], batch: int | None, name: str) -> _T:
        ps = tuple(d for i, d in enumerate(shape) if i != batch)
        self.nodes.append(Node(op, tuple(t.tid for t in inputs), _node_shape(ps), name))
        return _T(len(self.nodes), tuple(shape), batch)

    def linear(self, W: Any, x: _T, bias: Any, shape: tuple[int, ...], name: str) -> _T:
        return self.emit(Linear([W], bias), [x], shape, x.batch, name)

    def act(self, act: PiecewiseLinear, x: _T, name: str) -> _T:
        return self.emit(Elementwise(act, int(np.prod(x.ps, dtype=np.int64))), [x], x.shape, x.batch, name)

    def reshaped(self, x: _T, shape: tuple[int, ...], batch: int | None) -> _T:
        return _T(x.tid, tuple(int(d) for d in shape), batch)

    # -- constants ------------------------------------------------------------------------------
    def fold(self, node: onnx.NodeProto, values: dict[str, np.ndarray]) -> None:
        if node.op_type == "Constant":
            self.consts[node.output[0]] = _constant_value(node)
            return
        ev = ReferenceEvaluator(node, opsets={"": self.opset})
        outs = ev.run(None, {n: values[n] for n in node.input if n})
        for name, v in zip(node.output, outs):
            if name:
                self.consts[name] = np.asarray(v)

    def const_like(self, k: np.ndarray, x: _T, node: onnx.NodeProto) -> np.ndarray:
        """A constant operand of an entry-wise operation on x, as an array of x's per-sample shape."""
        k = np.asarray(k, dtype=np.float64)
        try:
            ok = np.broadcast_shapes(k.shape, x.shape) == x.shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"constant of shape {k.shape} in node {_label(node)!r} ({node.op_type}) does not broadcast over a "
                f"tensor of shape {x.shape} without depending on the batch index or enlarging it"
            )
        full = np.broadcast_to(k.reshape((1,) * (len(x.shape) - k.ndim) + k.shape), x.shape)
        if x.batch is not None:
            kb = k.reshape((1,) * (len(x.shape) - k.ndim) + k.shape)
            if kb.shape[x.batch] != 1:
                raise ValueError(
                    f"constant of shape {k.shape} in node {_label(node)!r} ({node.op_type}) differs along the batch "
                    f"index; a network computes the same function for every sample"
                )
            full = np.take(full, 0, axis=x.batch)
        return np.asarray(full).reshape(x.ps)

    # -- helpers for operations on (N, C, ...) tensors -----------------------------------------
    def nc(self, x: _T, node: onnx.NodeProto) -> tuple[tuple[int, ...], bool]:
        """(C, spatial...) of a tensor in ONNX's (N, C, spatial...) layout; and whether N is the batch axis."""
        if x.batch == 0:
            return x.shape[1:], True
        if x.batch is None and len(x.shape) >= 2 and x.shape[0] == 1:
            return x.shape[1:], False
        raise ValueError(
            f"node {_label(node)!r} ({node.op_type}) needs an (N, C, ...) tensor with the batch first, got shape "
            f"{x.shape}" + ("" if x.batch is None else f" with the batch axis at {x.batch}")
        )

    def nc_out(self, x: _T, out_ps: tuple[int, ...], batch_first: bool) -> tuple[tuple[int, ...], int | None]:
        return (x.shape[0], *out_ps), (0 if batch_first else None)

    def spatial(self, node: onnx.NodeProto, S: tuple[int, ...], K: np.ndarray, s: np.ndarray,
                dl: np.ndarray) -> list[int]:
        """Begin and end pads from ``pads`` or ``auto_pad``."""
        at = _attrs(node)
        d = len(S)
        auto = at.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else str(auto)
        if auto in ("NOTSET", ""):
            return [int(p) for p in at.get("pads", [0] * (2 * d))]
        if auto == "VALID":
            return [0] * (2 * d)
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            Sa = np.asarray(S)
            total = np.maximum((-(-Sa // s) - 1) * s + (K - 1) * dl + 1 - Sa, 0)
            small = total // 2
            big = total - small
            begin, end = (small, big) if auto == "SAME_UPPER" else (big, small)
            return [int(v) for v in begin] + [int(v) for v in end]
        raise ValueError(f"node {_label(node)!r} ({node.op_type}) has an unknown auto_pad {auto!r}")


def _input(
    proto: onnx.ModelProto, consts: dict[str, np.ndarray]
) -> tuple[str, tuple[int, ...], int | None, int | None]:
    """(name, ONNX shape, batch axis, static batch size) of the one graph input."""
    graph = proto.graph
    inputs = [vi for vi in graph.input if vi.name not in consts]
    if len(inputs) != 1:
        raise ValueError(
            f"the ONNX graph must have exactly one input, it has {len(inputs)}: {[i.name for i in inputs]}"
        )
    vi = inputs[0]
    dims = list(vi.type.tensor_type.shape.dim) if vi.type.tensor_type.HasField("shape") else None
    if dims is not None and len(dims) == 1:  # a single sample, no batch axis
        d = dims[0]
        if not d.HasField("dim_value") or d.dim_value <= 0:
            raise ValueError(f"graph input {vi.name!r} has rank 1 with a symbolic or unknown size")
        return vi.name, (int(d.dim_value),), None, None
    batch, shape = _input_shape(vi)
    return vi.name, (batch if batch else 1, *shape), 0, batch


def graph_from_onnx(model: str | Path | bytes | onnx.ModelProto) -> Graph:
    """Translate an ONNX model of a feed-forward piecewise-affine network into a :class:`~nnblocks.graph.Graph`.

    See :func:`nnblocks.io.from_onnx` (which calls this for every model that is not a dense chain, and with
    ``as_graph=True``) and ``docs/graphs.md`` for the operations and how each lowers. The result is
    :meth:`~nnblocks.graph.Graph.simplified` (batch norms, transposes and other selections folded into their
    neighbours).
    """
    proto = _load(model)
    graph = proto.graph
    im = _Importer(proto)
    if len(graph.output) != 1:
        raise ValueError(f"the ONNX graph must have exactly one output, it has {len(graph.output)}")
    name, shape, batch, static = _input(proto, im.consts)
    im.batch_size, im.batch_static = (shape[0] if batch == 0 else None), static is not None
    input_ps = tuple(d for i, d in enumerate(shape) if i != batch)
    im.tensors[name] = _T(0, shape, batch)

    for node in _topological_nodes(graph):
        ins = [n for n in node.input if n]
        computed = [n for n in ins if n in im.tensors]
        missing = [n for n in ins if n not in im.tensors and n not in im.consts]
        if missing:
            raise ValueError(f"node {_label(node)!r} ({node.op_type}) reads tensor {missing[0]!r}, which is neither "
                             f"a constant nor computed from the input")
        if node.domain in ("", "ai.onnx") and (not computed or node.op_type == "Shape"):
            if node.op_type not in _FOLDABLE:
                raise _refuse(node, "cannot be evaluated on constants")
            if node.op_type == "Shape" and computed:
                im.consts[node.output[0]] = _shape_of(im, node, im.tensors[computed[0]])
            else:
                im.fold(node, im.consts)
            continue
        _translate(im, node)

    out = graph.output[0].name
    if out not in im.tensors:
        raise ValueError(f"the graph output {out!r} does not depend on the input")
    t = im.tensors[out]
    nodes = im.nodes
    if t.tid == 0:
        n = int(np.prod(input_ps))
        nodes.append(Node(Linear([sp.eye_array(n, format="csr")]), (0,), _node_shape(t.ps), "output"))
        t = _T(len(nodes), t.shape, t.batch)
    last = nodes[t.tid - 1]
    nodes[t.tid - 1] = Node(last.op, last.inputs, _node_shape(t.ps), last.name)
    nodes, output = _fold_selections(_node_shape(input_ps), nodes, t.tid)
    return Graph(_node_shape(input_ps), nodes, output).simplified()


def _fold_selections(input_shape: tuple[int, ...], nodes: list[Node], output: int) -> tuple[list[Node], int]:
    """Compose every Linear node with at most one nonzero per row (a selection, diagonal or scaled selection:
    Gather, Transpose, Slice, Mul by a constant, ...) into its one reader, before
    :meth:`~nnblocks.graph.Graph.simplified` weighs any other composition.

    Into a Linear reader B this never adds nonzeros (a row of B A has at most the nonzeros of that row of B),
    so the chain Gather -> Mul -> ReduceSum of a sparse weight becomes that weight, with its nonzeros, whatever
    precedes it. A WindowMax reader reads an exact selection's inputs directly (its windows re-indexed).
    """
    nodes = list(nodes)
    changed = True
    while changed:
        changed = False
        g = Graph(input_shape, nodes, output)
        cons = g.consumers()
        for k in range(len(nodes) - 1, -1, -1):  # readers first: a selection before a WindowMax stays exact
            node = nodes[k]
            t = k + 1
            if not isinstance(node.op, Linear) or t == output or len(cons[t]) != 1:
                continue
            A = sp.hstack([node.op.matrix(i) for i in range(node.op.n_inputs)], format="csr")
            per_row = np.diff(A.indptr)
            if per_row.size == 0 or per_row.max() > 1:
                continue
            j = cons[t][0]
            nxt = nodes[j]
            if isinstance(nxt.op, Linear):
                merged = _compose_linear(node, nxt, t)
            elif (isinstance(nxt.op, WindowMax) and np.all(per_row == 1) and np.all(A.data == 1.0)
                  and not np.any(node.op.bias)):
                merged = _read_through(node, nxt, t, A, g.sizes)
            else:
                continue
            nodes[j] = merged
            nodes, output = _drop(nodes, output, k)
            changed = True
            break
    return nodes, output


def _compose_linear(first: Node, second: Node, t: int) -> Node:
    """second(..., first(...), ...) as one Linear node (second reads tensor t, first's output)."""
    A, B = first.op, second.op
    Bt = sum((B.matrix(i) for i, s in enumerate(second.inputs) if s == t), sp.csr_array((B.out_size, A.out_size)))
    inputs: list[int] = []
    weights: list[sp.csr_array] = []
    terms = [(s, B.matrix(i)) for i, s in enumerate(second.inputs) if s != t]
    terms += [(s, Bt @ A.matrix(i)) for i, s in enumerate(first.inputs)]
    for s, W in terms:
        if s in inputs:
            weights[inputs.index(s)] = weights[inputs.index(s)] + W
        else:
            inputs.append(s)
            weights.append(W)
    return Node(Linear(weights, B.bias + Bt @ A.bias), tuple(inputs), second.shape, second.name or first.name)


def _read_through(first: Node, second: Node, t: int, A: sp.csr_array, sizes: tuple[int, ...]) -> Node:
    """The WindowMax ``second`` reading the inputs of the exact selection ``first`` (tensor t) directly;
    A is first's weights side by side, one 1 per row."""
    op = second.op
    inputs: list[int] = []

    def slot(s: int) -> int:
        if s not in inputs:
            inputs.append(s)
        return inputs.index(s)

    for s in second.inputs:
        if s != t:
            slot(s)
    for s in first.inputs:
        slot(s)
    new_off = np.concatenate([[0], np.cumsum([sizes[s] for s in inputs])]).astype(np.int64)
    a_off = np.concatenate([[0], np.cumsum(first.op.in_sizes)]).astype(np.int64)
    cols = A.indices.astype(np.int64)  # one per row, in row order
    q = np.searchsorted(a_off, cols, side="right") - 1
    through = new_off[[slot(first.inputs[i]) for i in range(len(first.inputs))]][q] + cols - a_off[q]
    pieces = [through if s == t else new_off[slot(s)] + np.arange(n) for s, n in zip(second.inputs, op.in_sizes)]
    mapping = np.concatenate(pieces)
    w = op.windows
    windows = np.where(w >= 0, mapping[np.maximum(w, 0)], -1)
    return Node(WindowMax(windows, [sizes[s] for s in inputs]), tuple(inputs), second.shape, second.name)


def _drop(nodes: list[Node], output: int, k: int) -> tuple[list[Node], int]:
    """Remove node k (tensor k + 1, read by nobody any more); later tensors shift down by one."""
    t = k + 1

    def remap(s: int) -> int:
        return s - 1 if s > t else s

    out = [Node(n.op, tuple(remap(s) for s in n.inputs), n.shape, n.name) for i, n in enumerate(nodes) if i != k]
    return out, remap(output)


def _shape_of(im: _Importer, node: onnx.NodeProto, x: _T) -> np.ndarray:
    if x.batch is not None and not im.batch_static:
        raise _refuse(
            node,
            "a shape computed from the input at run time (batch-dependent); export with nn.Flatten or a constant "
            "reshape",
        )
    at = _attrs(node)
    shape = np.array(x.shape, dtype=np.int64)
    start, end = int(at.get("start", 0)), at.get("end")
    return shape[start:None if end is None else int(end)]


def _ints(node: onnx.NodeProto, im: _Importer, pos: int, attr: str) -> list[int] | None:
    """An integer list given as input ``pos`` (newer opsets) or attribute ``attr`` (older ones)."""
    if len(node.input) > pos and node.input[pos]:
        if node.input[pos] not in im.consts:
            raise _refuse(node, f"input {pos} ({attr}) must be a constant")
        return [int(v) for v in np.asarray(im.consts[node.input[pos]]).ravel()]
    v = _attrs(node).get(attr)
    return None if v is None else [int(a) for a in v]


def _translate(im: _Importer, node: onnx.NodeProto) -> None:
    op = node.op_type
    label = node.name or node.output[0]
    T = im.tensors
    args = [T.get(n) if n else None for n in node.input]
    vals = [im.consts.get(n) if n else None for n in node.input]
    x = args[0]

    def done(t: _T) -> None:
        T[node.output[0]] = t

    if node.domain == PWL_DOMAIN and op == "PiecewiseLinear" and x is not None:
        if len(vals) != 4 or any(v is None for v in vals[1:]):
            raise ValueError(f"{PWL_DOMAIN}.PiecewiseLinear {_label(node)!r} needs constant breakpoints, slopes, "
                             "intercepts")
        return done(im.act(_piecewise_from_arrays(*vals[1:]), x, label))
    if node.domain not in ("", "ai.onnx"):
        raise _refuse(node)
    if op in _NOT_PWA:
        raise _refuse(node, "not piecewise affine")
    one_computed = op not in ("Add", "Sub", "Max", "Min", "Mul", "Concat", "Sum", "MatMul", "Gemm")
    if one_computed and any(a is not None for a in args[1:]):
        raise _refuse(node, "only the first operand may be computed from the input")
    if op in ("Identity", "Dropout"):
        if op == "Dropout" and len(vals) > 2 and vals[2] is not None and bool(np.asarray(vals[2]).ravel()[0]):
            raise ValueError(f"Dropout {_label(node)!r} is in training mode; only inference is supported")
        return done(x)
    if op == "Relu":
        return done(im.act(ReLU(), x, label))
    if op == "LeakyRelu":
        return done(im.act(LeakyReLU(_decode_float32(_attrs(node).get("alpha", 0.01))), x, label))
    if op == "Abs":
        return done(im.act(_ABS, x, label))
    if op == "HardSigmoid":
        at = _attrs(node)
        return done(im.act(_hard_sigmoid(_decode_float32(at.get("alpha", 0.2)), _decode_float32(at.get("beta", 0.5))),
                           x, label))
    if op == "Clip":
        return done(_clip_op(im, node, x, vals, label))
    if op == "PRelu":
        return done(_prelu(im, node, x, vals[1], label))
    if op == "Neg":
        n = int(np.prod(x.ps))
        return done(im.linear(-sp.eye_array(n, format="csr"), x, None, x.shape, label))
    if op in ("Add", "Sub", "Mul", "Div"):
        return done(_arith(im, node, args, vals, label))
    if op in ("Max", "Min"):
        return done(_max_min(im, node, args, vals, label))
    if op in ("MatMul", "Gemm"):
        return done(_matmul(im, node, args, vals, label))
    if op == "Conv":
        return done(_conv(im, node, x, vals, label))
    if op == "ConvTranspose":
        return done(_conv_transpose(im, node, x, vals, label))
    if op == "BatchNormalization":
        if int(_attrs(node).get("training_mode", 0)) or (len(node.output) > 1 and any(node.output[1:])):
            raise ValueError(f"BatchNormalization {_label(node)!r} is in training mode; only inference is supported")
        chw, bf = im.nc(x, node)
        scale, bias, mean, var = (vals[i] for i in range(1, 5))
        if any(v is None for v in (scale, bias, mean, var)):
            raise _refuse(node, "scale, bias, mean and variance must be constants")
        lin = L.batch_norm(chw, scale, bias, mean, var, float(_attrs(node).get("epsilon", 1e-5)))
        return done(im.emit(lin, [x], x.shape, x.batch, label))
    if op in ("AveragePool", "MaxPool"):
        return done(_pool(im, node, x, label))
    if op in ("GlobalAveragePool", "GlobalMaxPool"):
        chw, bf = im.nc(x, node)
        if op == "GlobalAveragePool":
            opn, out_ps = L.global_avg_pool(chw)
        else:
            opn, out_ps = L.max_pool(chw, chw[1:], chw[1:])
        shape, batch = im.nc_out(x, out_ps, bf)
        return done(im.emit(opn, [x], shape, batch, label))
    if op == "Pad":
        return done(_pad(im, node, x, vals, label))
    if op in ("Flatten", "Reshape", "Squeeze", "Unsqueeze"):
        return done(_reshape(im, node, x, label))
    if op == "Transpose":
        perm = _attrs(node).get("perm")
        return done(_transpose(im, x, list(range(len(x.shape)))[::-1] if perm is None else list(perm), label))
    if op == "Slice":
        return done(_slice(im, node, x, vals, label))
    if op == "Concat":
        return done(_concat(im, node, args, vals, label))
    if op == "Sum":
        return done(_sum(im, node, args, vals, label))
    if op == "Gather":
        return done(_gather(im, node, x, vals, label))
    if op in ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin"):
        return done(_reduce(im, node, x, label))
    raise _refuse(node)


# -- activations ----------------------------------------------------------------------------------
def _clip_op(im: _Importer, node: onnx.NodeProto, x: _T, vals: list, label: str) -> _T:
    at = _attrs(node)

    def bound(i: int, attr: str, default: float) -> float:
        if len(vals) > i and vals[i] is not None:
            return _scalar(vals[i], f"Clip {attr}", node)
        if attr in at:
            return _decode_float32(at[attr])
        return default

    lo, hi = bound(1, "min", -np.inf), bound(2, "max", np.inf)
    if lo > hi:
        raise ValueError(
            f"Clip {_label(node)!r} has min {lo:g} > max {hi:g}: its output is max by the ONNX specification but min "
            f"in onnxruntime; refusing the ambiguous node (clip so that min <= max)"
        )
    act = _clip(-np.inf if lo <= -_FLOAT32_MAX else lo, np.inf if hi >= _FLOAT32_MAX else hi)
    return im.act(act, x, label)


def _prelu(im: _Importer, node: onnx.NodeProto, x: _T, slope: np.ndarray | None, label: str) -> _T:
    """PRelu(x) = max(x, 0) + a min(x, 0); one LeakyReLU when the slope is one number, otherwise
    relu(x) - a relu(-x) with the per-entry slopes a in a Linear node."""
    if slope is None:
        raise _refuse(node, "the slope must be a constant")
    a = np.asarray(slope)
    if a.size and np.all(a == a.ravel()[0]):
        return im.act(LeakyReLU(_decode_float32(float(a.ravel()[0])) if a.dtype == np.float32 else float(a.ravel()[0])),
                      x, label)
    # PRelu's slope broadcasts unidirectionally to x; numpy's rules give the same
    av = im.const_like(a, x, node).ravel()
    n = av.size
    pos = im.act(ReLU(), x, f"{label}/pos")
    neg_in = im.linear(-sp.eye_array(n, format="csr"), x, None, x.shape, f"{label}/neg")
    neg = im.act(ReLU(), neg_in, f"{label}/negrelu")
    lin = Linear([sp.eye_array(n, format="csr"), sp.diags_array(-av, format="csr")])
    return im.emit(lin, [pos, neg], x.shape, x.batch, label)


# -- arithmetic -----------------------------------------------------------------------------------
def _broadcast_index(ts: list[_T], node: onnx.NodeProto) -> tuple[list[np.ndarray], tuple[int, ...], int | None]:
    """For computed tensors broadcast together (ONNX/numpy rules): the flat index into each of them for every
    entry of the per-sample result, the result's ONNX shape and batch axis."""
    rank = max(len(t.shape) for t in ts)
    batches = {None if t.batch is None else t.batch + rank - len(t.shape) for t in ts}
    if len(batches) != 1:
        raise ValueError(f"node {_label(node)!r} ({node.op_type}) combines tensors whose batch axes do not align")
    batch = batches.pop()
    try:
        out = np.broadcast_shapes(*[t.shape for t in ts])
    except ValueError as exc:
        raise ValueError(f"node {_label(node)!r} ({node.op_type}): shapes {[t.shape for t in ts]} do not "
                         "broadcast") from exc
    idx = []
    for t in ts:
        a = np.arange(int(np.prod(t.ps))).reshape(t.shape[:t.batch] + (1,) + t.shape[t.batch + 1:]
                                                     if t.batch is not None else t.shape)
        a = np.broadcast_to(a.reshape((1,) * (rank - a.ndim) + a.shape), out if batch is None else
                            out[:batch] + (1,) + out[batch + 1:])
        idx.append((a if batch is None else np.take(a, 0, axis=batch)).ravel())
    return idx, tuple(int(d) for d in out), batch


def _sel(idx: np.ndarray, n_in: int) -> sp.csr_array:
    return sp.csr_array((np.ones(idx.size), (np.arange(idx.size), idx)), shape=(idx.size, n_in))


def _arith(im: _Importer, node: onnx.NodeProto, args: list, vals: list, label: str) -> _T:
    op = node.op_type
    a, b = args[0], args[1]
    if a is not None and b is not None:
        if op in ("Mul", "Div"):
            why = "uses the input tensor twice (not affine)" if node.input[0] == node.input[1] else \
                "a product or quotient of two computed tensors is not piecewise affine"
            raise _refuse(node, why)
        idx, shape, batch = _broadcast_index([a, b], node)
        sign = 1.0 if op == "Add" else -1.0
        Wa, Wb = _sel(idx[0], int(np.prod(a.ps))), sign * _sel(idx[1], int(np.prod(b.ps)))
        if a.tid == b.tid:
            return im.emit(Linear([Wa + Wb]), [a], shape, batch, label)
        return im.emit(Linear([Wa, Wb]), [a, b], shape, batch, label)
    pos = 0 if a is not None else 1
    x = args[pos]
    k = vals[1 - pos]
    if k is None:
        raise _refuse(node, "an operand is missing")
    kk = np.asarray(k, dtype=np.float64)
    try:
        shape = tuple(int(d) for d in np.broadcast_shapes(kk.shape, x.shape))
    except ValueError as exc:
        raise ValueError(f"node {_label(node)!r} ({op}): shapes {kk.shape} and {x.shape} do not broadcast") from exc
    if shape != x.shape:  # the constant enlarges the tensor: repeat it first, then apply the constant
        x = _expand(im, x, shape, f"{label}/expand", node)
    c = im.const_like(kk, x, node)
    if op == "Add":
        lin = L.elementwise_affine(_node_shape(x.ps), None, c.reshape(_node_shape(x.ps)))
    elif op == "Sub":
        s = 1.0 if pos == 0 else -1.0
        lin = L.elementwise_affine(_node_shape(x.ps), np.full(_node_shape(x.ps), s),
                                   (-c if pos == 0 else c).reshape(_node_shape(x.ps)))
    elif op == "Mul":
        lin = L.elementwise_affine(_node_shape(x.ps), c.reshape(_node_shape(x.ps)), None)
    else:
        if pos == 1:
            raise _refuse(node, "division by the input is not piecewise affine")
        if np.any(c == 0):
            raise ValueError(f"Div {_label(node)!r} divides by zero")
        lin = L.elementwise_affine(_node_shape(x.ps), (1.0 / c).reshape(_node_shape(x.ps)), None)
    return im.emit(lin, [x], x.shape, x.batch, label)


def _expand(im: _Importer, x: _T, shape: tuple[int, ...], label: str, node: onnx.NodeProto) -> _T:
    """x repeated to a larger broadcast shape (a selection)."""
    rank = len(shape)
    t = _T(x.tid, (1,) * (rank - len(x.shape)) + x.shape, None if x.batch is None else x.batch + rank - len(x.shape))
    if t.batch is not None and shape[t.batch] != t.shape[t.batch]:
        raise ValueError(f"node {_label(node)!r} ({node.op_type}) would broadcast along the batch axis")
    idx, out, batch = _broadcast_index([t, _T(x.tid, shape, t.batch)], node)
    return im.emit(Linear([_sel(idx[0], int(np.prod(x.ps)))]), [x], out, batch, label)


def _max_min(im: _Importer, node: onnx.NodeProto, args: list, vals: list, label: str) -> _T:
    """Max/Min of computed tensors: a WindowMax over their concatenation (Min = -max(-x)); with constants,
    max(x, c) = relu(x - c) + c and min(x, c) = c - relu(c - x)."""
    comp = [a for a in args if a is not None]
    consts = [v for a, v in zip(args, vals) if a is None and v is not None]
    sign = 1.0 if node.op_type == "Max" else -1.0
    if len(comp) == 1 and len(consts) == 0:
        return comp[0]
    if consts:
        c = consts[0]
        for v in consts[1:]:
            c = np.maximum(c, v) if sign > 0 else np.minimum(c, v)
        x = comp[0] if len(comp) == 1 else _max_min_computed(im, node, comp, sign, f"{label}/computed")
        shape = tuple(int(d) for d in np.broadcast_shapes(np.shape(c), x.shape))
        if shape != x.shape:
            x = _expand(im, x, shape, f"{label}/expand", node)
        cv = im.const_like(c, x, node).ravel()
        n = cv.size
        d = im.linear(sign * sp.eye_array(n, format="csr"), x, -sign * cv, x.shape, f"{label}/shift")
        r = im.act(ReLU(), d, f"{label}/relu")
        return im.linear(sign * sp.eye_array(n, format="csr"), r, cv, x.shape, label)
    return _max_min_computed(im, node, comp, sign, label)


def _max_min_computed(im: _Importer, node: onnx.NodeProto, comp: list[_T], sign: float, label: str) -> _T:
    idx, shape, batch = _broadcast_index(comp, node)
    uniq: list[_T] = []
    for t in comp:
        if all(u.tid != t.tid for u in uniq):
            uniq.append(t)
    if sign < 0:
        uniq_neg = [im.linear(-sp.eye_array(int(np.prod(t.ps)), format="csr"), t, None, t.shape, f"{label}/neg{i}")
                    for i, t in enumerate(uniq)]
    else:
        uniq_neg = uniq
    sizes = [int(np.prod(t.ps)) for t in uniq]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    where = {t.tid: i for i, t in enumerate(uniq)}
    win = np.stack([idx[j] + offsets[where[t.tid]] for j, t in enumerate(comp)], axis=1)
    out = im.emit(WindowMax(win, sizes), uniq_neg, shape, batch, label if sign > 0 else f"{label}/max")
    if sign < 0:
        out = im.linear(-sp.eye_array(win.shape[0], format="csr"), out, None, shape, label)
    return out


# -- matrix products -------------------------------------------------------------------------------
def _contract(im: _Importer, x: _T, A: np.ndarray, axis: int, label: str, drop: bool, bias: Any = None) -> _T:
    """Apply the constant matrix A (p x m) along ONNX axis ``axis`` of x (of size m); ``drop`` removes the
    axis when p = 1 stands for a contracted vector."""
    if x.batch == axis:
        raise ValueError(f"node {label!r} would contract over the batch dimension")
    psa = x.ps_axis(axis)
    ps = x.ps
    before, after = int(np.prod(ps[:psa])), int(np.prod(ps[psa + 1:]))
    W = sp.csr_array(A)
    if after > 1:
        W = sp.kron(W, sp.eye_array(after), format="csr")
    if before > 1:
        W = sp.kron(sp.eye_array(before), W, format="csr")
    shape = list(x.shape)
    shape[axis] = A.shape[0]
    batch = x.batch
    if drop:
        del shape[axis]
        if batch is not None and batch > axis:
            batch -= 1
    return im.emit(Linear([W], bias), [x], tuple(shape), batch, label)


def _matmul(im: _Importer, node: onnx.NodeProto, args: list, vals: list, label: str) -> _T:
    if node.op_type == "MatMul":
        if args[0] is not None and args[1] is not None:
            raise _refuse(node, "a product of two computed tensors is not piecewise affine")
        pos = 0 if args[0] is not None else 1
        x, K = args[pos], np.asarray(vals[1 - pos], dtype=np.float64)
        if K.ndim > 2:
            raise ValueError(f"MatMul {_label(node)!r} with a constant of rank {K.ndim}: only 1-D and 2-D weights "
                             "are supported")
        if pos == 0:  # x @ K: contracts x's last axis with K's first
            A = K.T if K.ndim == 2 else K.reshape(1, -1)
            return _contract(im, x, A, len(x.shape) - 1, label, drop=K.ndim == 1)
        # K @ x: contracts x's second-to-last axis (its only axis when 1-D)
        A = K if K.ndim == 2 else K.reshape(1, -1)
        axis = len(x.shape) - 2 if len(x.shape) >= 2 else 0
        t = _contract(im, x, A, axis, label, drop=K.ndim == 1)
        if K.ndim == 2 and len(x.shape) == 1:
            return t
        return t
    # Gemm: Y = alpha A' B' + beta C
    at = _attrs(node)
    alpha, beta = float(at.get("alpha", 1.0)), float(at.get("beta", 1.0))
    ta, tb = int(at.get("transA", 0)), int(at.get("transB", 0))
    if args[0] is not None and args[1] is not None:
        raise _refuse(node, "a product of two computed tensors is not piecewise affine")
    if args[0] is not None:
        x = args[0]
        if len(x.shape) != 2:
            raise ValueError(f"Gemm {_label(node)!r} needs 2-D operands, got {x.shape}")
        if ta:
            x = _transpose(im, x, [1, 0], f"{label}/transA")
        B = np.asarray(vals[1], dtype=np.float64)
        Bp = B.T if tb else B
        y = _contract(im, x, alpha * Bp.T, 1, f"{label}/matmul" if len(node.input) > 2 else label, drop=False)
    else:
        x = args[1]
        if len(x.shape) != 2:
            raise ValueError(f"Gemm {_label(node)!r} needs 2-D operands, got {x.shape}")
        if tb:
            x = _transpose(im, x, [1, 0], f"{label}/transB")
        A = np.asarray(vals[0], dtype=np.float64)
        Ap = A.T if ta else A
        y = _contract(im, x, alpha * Ap, 0, f"{label}/matmul" if len(node.input) > 2 else label, drop=False)
    if len(node.input) > 2 and node.input[2]:
        C = vals[2]
        if C is None:
            raise _refuse(node, "C must be a constant")
        c = im.const_like(beta * np.asarray(C, dtype=np.float64), y, node)
        lin = L.elementwise_affine(_node_shape(y.ps), None, c.reshape(_node_shape(y.ps)))
        y = im.emit(lin, [y], y.shape, y.batch, label)
    return y


# -- convolution and pooling -----------------------------------------------------------------------
def _conv_args(im: _Importer, node: onnx.NodeProto, x: _T, vals: list):
    """What Conv and ConvTranspose read alike: the constant weight, the input's (C, spatial...) shape and batch
    flag, the attributes, strides and dilations (default 1 per spatial axis)."""
    w = vals[1]
    if w is None:
        raise _refuse(node, "the weight must be a constant")
    w = np.asarray(w, dtype=np.float64)
    chw, bf = im.nc(x, node)
    d = w.ndim - 2
    at = _attrs(node)
    s = np.array(at.get("strides", [1] * d), dtype=np.int64)
    dl = np.array(at.get("dilations", [1] * d), dtype=np.int64)
    return w, chw, bf, at, s, dl


def _conv(im: _Importer, node: onnx.NodeProto, x: _T, vals: list, label: str) -> _T:
    w, chw, bf, at, s, dl = _conv_args(im, node, x, vals)
    K = np.array(w.shape[2:], dtype=np.int64)
    pads = im.spatial(node, chw[1:], K, s, dl)
    bias = vals[2] if len(vals) > 2 else None
    lin, out = L.conv(chw, w, bias, s, pads, dl, int(at.get("group", 1)))
    shape, batch = im.nc_out(x, out, bf)
    return im.emit(lin, [x], shape, batch, label)


def _conv_transpose(im: _Importer, node: onnx.NodeProto, x: _T, vals: list, label: str) -> _T:
    w, chw, bf, at, s, dl = _conv_args(im, node, x, vals)
    d = w.ndim - 2
    op_ = np.array(at.get("output_padding", [0] * d), dtype=np.int64)
    K = np.array(w.shape[2:], dtype=np.int64)
    S = np.array(chw[1:], dtype=np.int64)
    auto = at.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    if "output_shape" in at or auto in ("SAME_UPPER", "SAME_LOWER"):
        target = np.array(at["output_shape"][-d:], dtype=np.int64) if "output_shape" in at else S * s
        total = s * (S - 1) + op_ + (K - 1) * dl + 1 - target
        small, big = total // 2, total - total // 2
        begin, end = (small, big) if auto != "SAME_LOWER" else (big, small)
        pads = [int(v) for v in begin] + [int(v) for v in end]
    elif auto == "VALID":
        pads = [0] * (2 * d)
    else:
        pads = [int(p) for p in at.get("pads", [0] * (2 * d))]
    bias = vals[2] if len(vals) > 2 else None
    lin, out = L.conv_transpose(chw, w, bias, s, pads, dl, int(at.get("group", 1)), op_)
    shape, batch = im.nc_out(x, out, bf)
    return im.emit(lin, [x], shape, batch, label)


def _pool(im: _Importer, node: onnx.NodeProto, x: _T, label: str) -> _T:
    if node.op_type == "MaxPool" and len(node.output) > 1 and node.output[1]:
        raise _refuse(node, "the Indices output is not supported")
    chw, bf = im.nc(x, node)
    at = _attrs(node)
    K = np.array(at["kernel_shape"], dtype=np.int64)
    d = K.size
    s = np.array(at.get("strides", [1] * d), dtype=np.int64)
    dl = np.array(at.get("dilations", [1] * d), dtype=np.int64)
    pads = im.spatial(node, chw[1:], K, s, dl)
    ceil = bool(at.get("ceil_mode", 0))
    if node.op_type == "MaxPool":
        opn, out = L.max_pool(chw, K, s, pads, dl, ceil)
    else:
        opn, out = L.avg_pool(chw, K, s, pads, bool(at.get("count_include_pad", 0)), ceil, dl)
    shape, batch = im.nc_out(x, out, bf)
    return im.emit(opn, [x], shape, batch, label)


def _pad(im: _Importer, node: onnx.NodeProto, x: _T, vals: list, label: str) -> _T:
    at = _attrs(node)
    mode = at.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    if mode != "constant":
        raise _refuse(node, f"mode {mode!r} (only constant padding)")
    pads = _ints(node, im, 1, "pads")
    value = float(np.asarray(vals[2]).ravel()[0]) if len(vals) > 2 and vals[2] is not None and np.size(vals[2]) \
        else float(at.get("value", 0.0))
    r = len(x.shape)
    axes = _ints(node, im, 3, "axes") if len(node.input) > 3 else None
    if axes is not None:
        full = [0] * (2 * r)
        for i, a in enumerate(axes):
            full[a % r], full[r + a % r] = pads[i], pads[len(axes) + i]
        pads = full
    if pads is None or len(pads) != 2 * r:
        raise ValueError(f"Pad {_label(node)!r}: pads {pads} do not fit a tensor of rank {r}")
    if x.batch is not None:
        if pads[x.batch] or pads[r + x.batch]:
            raise ValueError(f"Pad {_label(node)!r} pads the batch axis")
        pads = [p for i, p in enumerate(pads) if i % r != x.batch]
    if not any(pads):
        return x
    lin, out = L.pad(_node_shape(x.ps), pads if x.ps else [0, 0], value)
    shape = list(out)
    if x.batch is not None:
        shape.insert(x.batch, x.shape[x.batch])
    return im.emit(lin, [x], tuple(shape), x.batch, label)


# -- shapes ------------------------------------------------------------------------------------------
def _locate_batch(x: _T, out: list[int], label: str, node: onnx.NodeProto) -> int:
    """The axis of the new shape ``out`` that is the batch axis of x: the one with the same number of entries
    before and after it."""
    pre = int(np.prod(x.shape[:x.batch]))
    post = int(np.prod(x.shape[x.batch + 1:]))
    for j in range(len(out)):
        if out[j] == x.shape[x.batch] and int(np.prod(out[:j])) == pre and int(np.prod(out[j + 1:])) == post:
            return j
    raise ValueError(f"{node.op_type} {_label(node)!r} to {out} would merge the batch axis of a tensor of shape "
                     f"{x.shape} with other axes; only reshapes that keep the batch axis are supported")


def _reshape(im: _Importer, node: onnx.NodeProto, x: _T, label: str) -> _T:
    op = node.op_type
    at = _attrs(node)
    shape = list(x.shape)
    if op == "Flatten":
        r = len(shape)
        axis = int(at.get("axis", 1))
        axis = axis % r if r and axis < 0 else axis
        out = (int(np.prod(shape[:axis])), int(np.prod(shape[axis:])))
        b = x.batch
        if b is None:
            return im.reshaped(x, out, None)
        # the batch axis survives when every other axis on its side of ``axis`` has size 1
        side = [d for i, d in enumerate(shape) if i != b and (i < axis) == (b < axis)]
        if (axis == 0 and im.batch_static and shape[b] == 1) or (axis > 0 and all(d == 1 for d in side)):
            return im.reshaped(x, out, 0 if b < axis or axis == 0 else 1)
        raise ValueError(f"Flatten {_label(node)!r} with axis={at.get('axis', 1)} on a tensor of shape {x.shape} "
                         "would merge the batch dimension into the features; only axis=1 is supported")
    if op == "Reshape":
        if node.input[1] not in im.consts:
            raise _refuse(node, "the target shape must be a constant (static shapes)")
        target = [int(v) for v in np.asarray(im.consts[node.input[1]]).ravel()]
        allowzero = int(at.get("allowzero", 0))

        def resolve(n_batch: int) -> list[int] | None:
            s = list(shape)
            if x.batch is not None:
                s[x.batch] = n_batch
            t = [s[i] if v == 0 and not allowzero and i < len(s) else v for i, v in enumerate(target)]
            total = int(np.prod(s))
            if t.count(-1) > 1:
                return None
            if -1 in t:
                rest = int(np.prod([v for v in t if v != -1]))
                if rest == 0 or total % rest:
                    return None
                t[t.index(-1)] = total // rest
            return t if int(np.prod(t)) == total else None

        if x.batch is None:
            out = resolve(1)
            if out is None:
                raise ValueError(f"Reshape {_label(node)!r} to {target} does not fit a tensor of shape {x.shape}")
            return im.reshaped(x, tuple(out), None)
        if im.batch_static:
            out = resolve(x.shape[x.batch])
            if out is None:
                raise ValueError(f"Reshape {_label(node)!r} to {target} does not fit a tensor of shape {x.shape}")
            return im.reshaped(x, tuple(out), _locate_batch(x, out, label, node))
        # symbolic batch: the batch axis is the one that scales with the batch size
        o2, o3 = resolve(2), resolve(3)
        if o2 is not None and o3 is not None and len(o2) == len(o3):
            diff = [j for j in range(len(o2)) if o2[j] != o3[j]]
            if len(diff) == 1 and o2[diff[0]] == 2 and o3[diff[0]] == 3:
                out = list(o2)
                out[diff[0]] = x.shape[x.batch]
                return im.reshaped(x, tuple(out), diff[0])
        o1 = resolve(1)  # a reshape that holds only for one sample at a time (e.g. to [1, n])
        if o1 is not None:
            x1 = _T(x.tid, tuple(1 if i == x.batch else d for i, d in enumerate(shape)), x.batch)
            return im.reshaped(x, tuple(o1), _locate_batch(x1, o1, label, node))
        raise ValueError(f"Reshape {_label(node)!r} to {target} does not fit a tensor of shape {x.shape} for "
                         "every batch size")
    axes = _ints(node, im, 1, "axes")
    if op == "Squeeze":
        r = len(shape)
        ax = sorted({a % r for a in axes}) if axes is not None else [i for i, d in enumerate(shape)
                                                                       if d == 1 and i != x.batch]
        if any(shape[a] != 1 for a in ax if a != x.batch):
            raise ValueError(f"Squeeze {_label(node)!r} of axes {axes} that are not of size 1 in {x.shape}")
        batch = x.batch
        if batch is not None and batch in ax:
            batch = None  # a static batch of one squeezed away: the tensor is one sample
        if batch is not None:
            batch -= sum(1 for a in ax if a < batch)
        return im.reshaped(x, tuple(d for i, d in enumerate(shape) if i not in ax), batch)
    r = len(shape) + len(axes or [])
    ax = sorted(a % r for a in axes or [])
    out, it = [], iter(range(len(shape)))
    batch = None
    for j in range(r):
        if j in ax:
            out.append(1)
        else:
            i = next(it)
            if i == x.batch:
                batch = j
            out.append(shape[i])
    return im.reshaped(x, tuple(out), batch)


def _transpose(im: _Importer, x: _T, perm: list[int], label: str) -> _T:
    shape = tuple(x.shape[p] for p in perm)
    if x.batch is None:
        ps_perm = perm
        batch = None
    else:
        ps_perm = [x.ps_axis(p) for p in perm if p != x.batch]
        batch = perm.index(x.batch)
    if ps_perm == sorted(ps_perm) or int(np.prod(x.ps)) == 1:
        return im.reshaped(x, shape, batch)
    lin, _ = L.transpose(x.ps, ps_perm)
    return im.emit(lin, [x], shape, batch, label)


def _slice(im: _Importer, node: onnx.NodeProto, x: _T, vals: list, label: str) -> _T:
    if im.opset < 10:
        at = _attrs(node)
        starts, ends, axes, steps = at["starts"], at["ends"], at.get("axes"), None
    else:
        starts, ends = _ints(node, im, 1, "starts"), _ints(node, im, 2, "ends")
        axes, steps = _ints(node, im, 3, "axes"), _ints(node, im, 4, "steps")
    r = len(x.shape)
    axes = list(range(len(starts))) if axes is None else [a % r for a in axes]
    steps = [1] * len(starts) if steps is None else steps
    ps_st, ps_en, ps_ax, ps_sp = [], [], [], []
    shape = list(x.shape)
    for s, e, a, k in zip(starts, ends, axes, steps):
        n = x.shape[a]
        rng = range(n)[slice(s, e, k)]
        if a == x.batch:
            if list(rng) != list(range(n)):
                raise ValueError(f"Slice {_label(node)!r} selects part of the batch axis")
            continue
        shape[a] = len(rng)
        ps_st.append(s)
        ps_en.append(e)
        ps_ax.append(x.ps_axis(a))
        ps_sp.append(k)
    if shape == list(x.shape) and all(k == 1 for k in ps_sp):
        return im.reshaped(x, tuple(shape), x.batch)
    lin, _ = L.slice_(x.ps, ps_st, ps_en, ps_ax, ps_sp)
    return im.emit(lin, [x], tuple(shape), x.batch, label)


def _concat(im: _Importer, node: onnx.NodeProto, args: list, vals: list, label: str) -> _T:
    comp = [a for a in args if a is not None]
    ref = comp[0]
    r = len(ref.shape)
    axis = int(_attrs(node)["axis"]) % r
    if axis == ref.batch:
        raise ValueError(f"Concat {_label(node)!r} along the batch axis")
    parts: list[tuple[int, ...]] = []
    for a, v in zip(args, vals):
        if a is not None:
            if a.batch != ref.batch or len(a.shape) != r:
                raise ValueError(f"Concat {_label(node)!r} of tensors with different batch axes")
            parts.append(_node_shape(a.ps))
        else:
            k = np.asarray(v)
            if ref.batch is not None:
                if k.shape[ref.batch] != 1 and not im.batch_static:
                    raise ValueError(f"Concat {_label(node)!r} of a constant along a batch of any size")
                k = np.take(k, 0, axis=ref.batch)
            parts.append(_node_shape(k.shape))
    ps_axis = ref.ps_axis(axis)
    lin, out = L.concat(parts, ps_axis)
    weights, inputs, bias = [], [], np.zeros(lin.out_size)
    for i, (a, v) in enumerate(zip(args, vals)):
        if a is not None:
            j = next((m for m, t in enumerate(inputs) if t.tid == a.tid), None)
            if j is None:
                inputs.append(a)
                weights.append(lin.matrix(i))
            else:
                weights[j] = weights[j] + lin.matrix(i)
        else:
            k = np.asarray(v, dtype=np.float64)
            if ref.batch is not None:
                k = np.take(k, 0, axis=ref.batch)
            bias += lin.matrix(i) @ k.ravel()
    shape = list(out)
    if ref.batch is not None:
        shape.insert(ref.batch, ref.shape[ref.batch])
    return im.emit(Linear(weights, bias), inputs, tuple(shape), ref.batch, label)


def _sum(im: _Importer, node: onnx.NodeProto, args: list, vals: list, label: str) -> _T:
    """Sum of computed tensors and constants (broadcast as ONNX does): a Linear with one selection per
    distinct computed tensor, the constants in its bias."""
    comp = [a for a in args if a is not None]
    consts = [np.asarray(v, dtype=np.float64) for a, v in zip(args, vals) if a is None and v is not None]
    if len(comp) == 1 and not consts:
        return comp[0]
    idx, shape, batch = _broadcast_index(comp, node)
    try:
        full = tuple(int(d) for d in np.broadcast_shapes(shape, *(c.shape for c in consts)))
    except ValueError as exc:
        raise ValueError(f"Sum {_label(node)!r}: shapes {[t.shape for t in comp] + [c.shape for c in consts]} do "
                         "not broadcast") from exc
    if full != shape:
        raise ValueError(f"Sum {_label(node)!r}: a constant enlarges the computed operands' shape {shape} to {full}")
    y = _T(0, shape, batch)
    inputs: list[_T] = []
    weights: list[sp.csr_array] = []
    for t, ix in zip(comp, idx):
        W = _sel(ix, int(np.prod(t.ps)))
        j = next((m for m, u in enumerate(inputs) if u.tid == t.tid), None)
        if j is None:
            inputs.append(t)
            weights.append(W)
        else:
            weights[j] = weights[j] + W
    bias = sum((im.const_like(c, y, node).ravel() for c in consts), np.zeros(int(np.prod(y.ps))))
    return im.emit(Linear(weights, bias), inputs, shape, batch, label)


# -- gathers and reductions ------------------------------------------------------------------------
def _gather(im: _Importer, node: onnx.NodeProto, x: _T, vals: list, label: str) -> _T:
    """Gather with constant indices along an axis other than the batch axis: a selection."""
    if len(vals) < 2 or vals[1] is None:
        raise _refuse(node, "the indices must be a constant")
    ind = np.asarray(vals[1])
    r = len(x.shape)
    a = int(_attrs(node).get("axis", 0))
    if not -r <= a < r:
        raise ValueError(f"Gather {_label(node)!r}: axis {a} is out of range for a tensor of shape {x.shape}")
    a %= r
    if a == x.batch:
        raise ValueError(f"Gather {_label(node)!r} selects along the batch axis")
    if not np.issubdtype(ind.dtype, np.integer):
        raise ValueError(f"Gather {_label(node)!r}: the indices must be integers, got {ind.dtype}")
    n = x.shape[a]
    bad = ind[(ind < -n) | (ind >= n)]
    if bad.size:
        raise ValueError(f"Gather {_label(node)!r}: index {int(bad.ravel()[0])} is out of range for axis {a} of "
                         f"size {n} in a tensor of shape {x.shape}")
    if ind.size == 0:
        raise ValueError(f"Gather {_label(node)!r}: the indices of shape {ind.shape} select nothing")
    lin, _ = L.gather(x.ps, ind, x.ps_axis(a))
    shape = x.shape[:a] + tuple(int(d) for d in ind.shape) + x.shape[a + 1:]
    batch = x.batch if x.batch is None or x.batch < a else x.batch + ind.ndim - 1
    return im.emit(lin, [x], shape, batch, label)


def _reduce(im: _Importer, node: onnx.NodeProto, x: _T, label: str) -> _T:
    """ReduceSum/ReduceMean (Linear), ReduceMax (WindowMax) and ReduceMin (-max(-x)) over axes that are not
    the batch axis (a static batch of one may be reduced: it is one sample)."""
    op = node.op_type
    at = _attrs(node)
    keep = bool(int(at.get("keepdims", 1)))
    axes = _ints(node, im, 1, "axes")
    r = len(x.shape)
    if not axes:
        if int(at.get("noop_with_empty_axes", 0)):
            return x
        axes = list(range(r))
    bad = [a for a in axes if not -r <= a < r]
    if bad:
        raise ValueError(f"{op} {_label(node)!r}: axis {bad[0]} is out of range for a tensor of shape {x.shape}")
    ax = sorted({a % r for a in axes})
    batch = x.batch
    if batch is not None and batch in ax:
        if not (im.batch_static and x.shape[batch] == 1):
            raise ValueError(f"{op} {_label(node)!r} reduces over the batch axis of a tensor of shape {x.shape}")
    if keep:
        shape = tuple(1 if i in ax else d for i, d in enumerate(x.shape))
    else:
        shape = tuple(d for i, d in enumerate(x.shape) if i not in ax)
        if batch is not None:
            batch = None if batch in ax else batch - sum(1 for a in ax if a < batch)
    ps_axes = [x.ps_axis(a) for a in ax if a != x.batch]
    if not ps_axes:  # only a static batch of one reduced
        return im.reshaped(x, shape, batch)
    ps = _node_shape(x.ps)
    if op == "ReduceSum":
        opn, _ = L.reduce_sum(ps, ps_axes, keep)
    elif op == "ReduceMean":
        opn, _ = L.reduce_mean(ps, ps_axes, keep)
    elif op == "ReduceMax":
        opn, _ = L.reduce_max(ps, ps_axes, keep)
    else:
        n = int(np.prod(x.ps))
        neg = im.linear(-sp.eye_array(n, format="csr"), x, None, x.shape, f"{label}/neg")
        opn, _ = L.reduce_max(ps, ps_axes, keep)
        m = im.emit(opn, [neg], shape, batch, f"{label}/max")
        return im.linear(-sp.eye_array(opn.out_size, format="csr"), m, None, shape, label)
    return im.emit(opn, [x], shape, batch, label)
