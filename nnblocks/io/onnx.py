"""Import from and export to ONNX.

:func:`from_onnx` walks the graph from its one input along the single path of operations that the
tensor takes (in topological order, with constant sub-expressions evaluated on the way) and translates
each operation exactly; :func:`to_onnx` writes a network with standard operators only.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import TensorProto, helper, numpy_helper

from nnblocks.activations import HardSigmoid, Identity, LeakyReLU, PiecewiseLinear, ReLU, named
from nnblocks.graph import Graph
from nnblocks.io._common import UnsupportedOperationError, _LayerBuilder
from nnblocks.network import Network

__all__ = ["from_onnx", "to_onnx", "PWL_DOMAIN"]

PWL_DOMAIN = "ai.nnblocks"
"""Domain of the model-local ONNX function ``PiecewiseLinear(z, breakpoints, slopes, intercepts)`` that
:func:`to_onnx` uses for activations without a standard ONNX operator."""

_OPSET = 17
_IR_VERSION = 8
_FLOAT32_MAX = float(np.finfo(np.float32).max)


# ---------------------------------------------------------------------------------------------
# import
# ---------------------------------------------------------------------------------------------
def _load(model: str | Path | bytes | onnx.ModelProto) -> onnx.ModelProto:
    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, str | Path):
        if not Path(model).is_file():
            raise FileNotFoundError(f"no such ONNX file: {model}")
        data, what = Path(model).read_bytes(), str(model)
    elif isinstance(model, bytes):
        data, what = model, "the given bytes"
    else:
        raise TypeError(f"from_onnx expects a path, bytes or an onnx.ModelProto, got {type(model).__name__}")
    try:
        proto = onnx.load_from_string(data)
    except DecodeError as exc:
        raise ValueError(f"{what} is not an ONNX model: {exc}") from exc
    if isinstance(model, str | Path) and any(
        init.data_location == TensorProto.EXTERNAL for init in proto.graph.initializer
    ):
        proto = onnx.load(str(model))  # with the external weight files next to it
    return proto


def _label(node: onnx.NodeProto) -> str:
    """How a node is named in messages: its name, or its first output when it has none."""
    return node.name or f"<unnamed, output {node.output[0]!r}>"


def _unsupported(node: onnx.NodeProto, why: str = "") -> UnsupportedOperationError:
    op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
    msg = f"unsupported ONNX operation {op!r} (node {_label(node)!r})"
    return UnsupportedOperationError(msg + (f": {why}" if why else ""), op_type=node.op_type, node=node.name)


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _decode_float32(v: float) -> float:
    """The value a float32 number was meant to be.

    ONNX stores float attributes (and most models their constants) in float32, so ``LeakyReLU(0.1)``
    arrives as 0.100000001490116 and torch's hard sigmoid slope 1/6 as 0.1666666716. The first of a
    simple fraction (denominator at most 100) or the shortest decimal that rounds to the same float32 is
    taken, so that named activations are recognised again.
    """
    f32 = np.float32(v)
    if not np.isfinite(f32):
        return float(f32)
    frac = Fraction(float(f32)).limit_denominator(100)
    if np.float32(float(frac)) == f32:
        return float(frac)
    return float(str(f32))


def _scalar(value: np.ndarray | float, what: str, node: onnx.NodeProto) -> float:
    arr = np.asarray(value)
    if arr.size != 1:
        raise ValueError(f"{what} of node {_label(node)!r} must be a scalar, got shape {arr.shape}")
    out = float(arr.reshape(()))
    return _decode_float32(out) if arr.dtype == np.float32 else out


def _constant_value(node: onnx.NodeProto) -> np.ndarray:
    attrs = _attrs(node)
    if "value" in attrs:
        return numpy_helper.to_array(attrs["value"])
    if "value_float" in attrs:
        return np.array(attrs["value_float"], dtype=np.float32)
    if "value_floats" in attrs:
        return np.array(attrs["value_floats"], dtype=np.float32)
    if "value_int" in attrs:
        return np.array(attrs["value_int"], dtype=np.int64)
    if "value_ints" in attrs:
        return np.array(attrs["value_ints"], dtype=np.int64)
    raise _unsupported(node, f"Constant with attribute(s) {sorted(attrs)}")


def _onnx_reshape(x: np.ndarray, shape: np.ndarray, allowzero: int) -> np.ndarray:
    target = [int(s) for s in np.asarray(shape).ravel()]
    if not allowzero:
        target = [x.shape[i] if s == 0 else s for i, s in enumerate(target)]
    return x.reshape(target)


def _axes(node: onnx.NodeProto, inputs: list[np.ndarray]) -> list[int] | None:
    if len(inputs) > 1:
        return [int(a) for a in np.asarray(inputs[1]).ravel()]
    axes = _attrs(node).get("axes")
    return None if axes is None else [int(a) for a in axes]


def _unsqueeze(x: np.ndarray, axes: list[int]) -> np.ndarray:
    rank = x.ndim + len(axes)
    for a in sorted(a % rank for a in axes):
        x = np.expand_dims(x, a)
    return x


# Operations evaluated when all their inputs are constants (weights transposed or reshaped by the
# exporter, normalisation constants computed in the graph, ...).
_FOLD: dict[str, Callable[[onnx.NodeProto, list[np.ndarray]], np.ndarray]] = {
    "Identity": lambda n, v: v[0],
    "Cast": lambda n, v: v[0].astype(helper.tensor_dtype_to_np_dtype(_attrs(n)["to"])),
    "Neg": lambda n, v: -v[0],
    "Add": lambda n, v: v[0] + v[1],
    "Sub": lambda n, v: v[0] - v[1],
    "Mul": lambda n, v: v[0] * v[1],
    "Div": lambda n, v: v[0] / v[1],
    "Sqrt": lambda n, v: np.sqrt(v[0]),
    "Reciprocal": lambda n, v: 1.0 / v[0],
    "MatMul": lambda n, v: v[0] @ v[1],
    "Transpose": lambda n, v: np.transpose(v[0], _attrs(n).get("perm")),
    "Reshape": lambda n, v: _onnx_reshape(v[0], v[1], int(_attrs(n).get("allowzero", 0))),
    "Unsqueeze": lambda n, v: _unsqueeze(v[0], _axes(n, v) or []),
    "Squeeze": lambda n, v: np.squeeze(v[0], axis=None if (a := _axes(n, v)) is None else tuple(a)),
    "Concat": lambda n, v: np.concatenate(v, axis=int(_attrs(n)["axis"])),
}


class _Walker:
    """Translates the single path of a graph, keeping the current tensor's per-sample shape and layout.

    ``layout`` is ``"row"`` when the tensor is (batch, *shape) and ``"col"`` when it is the transposed
    (features, batch) matrix that ``Gemm`` with a constant first operand produces.
    """

    def __init__(self, n_features: int, shape: tuple[int, ...], batch: int | None) -> None:
        self.builder = _LayerBuilder(n_features)
        self.shape = shape
        self.layout = "row"
        self.batch = batch

    # -- helpers ---------------------------------------------------------------------------
    def _flat(self, node: onnx.NodeProto) -> None:
        if len(self.shape) != 1:
            raise ValueError(
                f"node {_label(node)!r} ({node.op_type}) needs a flat (batch, features) tensor but the tensor has "
                f"per-sample shape {self.shape}; flatten it first"
            )

    def per_sample(self, k: np.ndarray, node: onnx.NodeProto) -> np.ndarray:
        """A constant operand of an element-wise operation as a vector over the flattened features."""
        k = np.asarray(k, dtype=np.float64)
        full = (1, *self.shape) if self.layout == "row" else (self.shape[0], 1)
        try:
            ok = np.broadcast_shapes(k.shape, full) == full
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"constant of shape {k.shape} in node {_label(node)!r} ({node.op_type}) does not broadcast over a "
                f"tensor of per-sample shape {self.shape} without depending on the batch index or changing the rank"
            )
        return np.broadcast_to(k, full).ravel()

    def activation(self, act: PiecewiseLinear) -> None:
        self.builder.activation(act)

    # -- operations on the path tensor ------------------------------------------------------
    def gemm(self, node: onnx.NodeProto, pos: int, v: list[np.ndarray | None]) -> None:
        self._flat(node)
        at = _attrs(node)
        alpha, beta = float(at.get("alpha", 1.0)), float(at.get("beta", 1.0))
        trans_a, trans_b = int(at.get("transA", 0)), int(at.get("transB", 0))
        if pos == 0:  # Y = alpha X' B' + beta C with samples the rows of X'
            if (self.layout == "row") == bool(trans_a):
                raise ValueError(f"Gemm {_label(node)!r} would contract over the batch dimension")
            B = np.asarray(v[1], dtype=np.float64)
            W = alpha * (B if trans_b else B.T)
            out_layout = "row"
        else:  # Y = alpha A' X' + beta C with samples the columns of X'
            if (self.layout == "col") == bool(trans_b):
                raise ValueError(f"Gemm {_label(node)!r} would contract over the batch dimension")
            A = np.asarray(v[0], dtype=np.float64)
            W = alpha * (A.T if trans_a else A)
            out_layout = "col"
        if W.ndim != 2 or W.shape[1] != self.builder.size:
            raise ValueError(
                f"Gemm {_label(node)!r}: weight of shape {W.shape} does not fit {self.builder.size} features"
            )
        self.layout, self.shape = out_layout, (W.shape[0],)
        C = v[2] if len(v) > 2 else None
        self.builder.matrix(W, None if C is None else beta * self.per_sample(C, node))

    def matmul(self, node: onnx.NodeProto, pos: int, v: list[np.ndarray | None]) -> None:
        self._flat(node)
        K = np.asarray(v[1 - pos], dtype=np.float64)
        if K.ndim != 2:
            raise ValueError(
                f"MatMul {_label(node)!r} with a constant of rank {K.ndim}: only 2-D weights are supported"
            )
        if pos == 0 and self.layout == "row":
            W = K.T
        elif pos == 1 and self.layout == "col":
            W = K
        else:
            raise ValueError(f"MatMul {_label(node)!r} would contract over the batch dimension")
        if W.shape[1] != self.builder.size:
            raise ValueError(
                f"MatMul {_label(node)!r}: weight of shape {K.shape} does not fit {self.builder.size} features"
            )
        self.shape = (W.shape[0],)
        self.builder.matrix(W)

    def binary(self, node: onnx.NodeProto, pos: int, v: list[np.ndarray | None]) -> None:
        k = self.per_sample(v[1 - pos], node)
        op = node.op_type
        if op == "Add":
            self.builder.elementwise(shift=k)
        elif op == "Sub":
            self.builder.elementwise(*((None, -k) if pos == 0 else (-np.ones_like(k), k)))
        elif op == "Mul":
            self.builder.elementwise(scale=k)
        elif op == "Div":
            if pos == 1:
                raise _unsupported(node, "division by the input is not piecewise affine")
            if np.any(k == 0):
                raise ValueError(f"Div {_label(node)!r} divides by zero")
            self.builder.elementwise(scale=1.0 / k)

    def flatten(self, node: onnx.NodeProto) -> None:
        axis = int(_attrs(node).get("axis", 1))
        rank = 1 + len(self.shape)
        if self.layout != "row" or axis % rank != 1:
            raise ValueError(
                f"Flatten {_label(node)!r} with axis={axis} on a tensor of rank {rank} would merge the batch dimension "
                f"into the features; only axis=1 is supported"
            )
        self.shape = (int(np.prod(self.shape)),)

    def reshape(self, node: onnx.NodeProto, v: list[np.ndarray | None]) -> None:
        target = [int(s) for s in np.asarray(v[1]).ravel()]
        allowzero = int(_attrs(node).get("allowzero", 0))
        n = int(np.prod(self.shape))
        batch_ok = {-1, 1} | ({0} if not allowzero else set()) | ({self.batch} if self.batch else set())
        feat_ok = {n} | ({-1} if target and target[0] != -1 else set())
        if not allowzero and self.shape == (n,):
            feat_ok.add(0)
        if self.layout != "row" or len(target) != 2 or target[0] not in batch_ok or target[1] not in feat_ok:
            raise ValueError(
                f"Reshape {_label(node)!r} to {target} is not a reshape of a tensor of per-sample shape {self.shape} "
                f"to a flat (batch, {n}) vector; only flattening reshapes are supported"
            )
        self.shape = (n,)

    def transpose(self, node: onnx.NodeProto) -> None:
        perm = list(_attrs(node).get("perm", [1, 0]))
        if len(self.shape) != 1 or perm not in ([0, 1], [1, 0]):
            raise ValueError(
                f"Transpose {_label(node)!r} with perm {perm}: only transposing a flat matrix is supported"
            )
        if perm == [1, 0]:
            self.layout = "col" if self.layout == "row" else "row"

    def clip(self, node: onnx.NodeProto, v: list[np.ndarray | None]) -> None:
        at = _attrs(node)

        def bound(i: int, attr: str, default: float) -> float:
            if len(v) > i and v[i] is not None:  # opset >= 11: optional inputs
                return _scalar(v[i], f"Clip {attr}", node)
            if attr in at:  # opset < 11: attributes
                return _decode_float32(at[attr])
            return default

        lo, hi = bound(1, "min", -np.inf), bound(2, "max", np.inf)
        if lo > hi:
            # the ONNX operator spec gives Min(max, Max(x, min)) = max here, onnxruntime gives min (and torch's
            # exporter fuses Hardtanh + Relu into such a Clip meaning the latter): no single answer is right
            raise ValueError(
                f"Clip {_label(node)!r} has min {lo:g} > max {hi:g}: its output is max by the ONNX "
                f"specification but min in onnxruntime; refusing the ambiguous node (clip so that min <= max)"
            )
        # the opset-6 defaults are the extreme float32 values, i.e. no bound
        self.activation(_clip(-np.inf if lo <= -_FLOAT32_MAX else lo, np.inf if hi >= _FLOAT32_MAX else hi))

    def hard_sigmoid(self, node: onnx.NodeProto) -> None:
        at = _attrs(node)
        alpha = _decode_float32(at.get("alpha", 0.2))
        beta = _decode_float32(at.get("beta", 0.5))
        self.activation(_hard_sigmoid(alpha, beta))

    def piecewise(self, node: onnx.NodeProto, v: list[np.ndarray | None]) -> None:
        if len(v) != 4 or any(x is None for x in v[1:]):
            raise ValueError(
                f"{PWL_DOMAIN}.PiecewiseLinear {_label(node)!r} needs constant breakpoints, slopes, intercepts"
            )
        t, a, c = (np.asarray(x) for x in v[1:])
        self.activation(_piecewise_from_arrays(t, a, c))


def _clip(lo: float, hi: float) -> PiecewiseLinear:
    """min(hi, max(lo, z)), as ONNX and numpy define it (hi wins when lo > hi)."""
    if lo >= hi and np.isfinite(hi):
        return PiecewiseLinear([], [0.0], [hi])
    if np.isfinite(lo) and np.isfinite(hi):
        return named(PiecewiseLinear([lo, hi], [0.0, 1.0, 0.0], [lo, 0.0, hi]))
    if np.isfinite(lo):
        return named(PiecewiseLinear([lo], [0.0, 1.0], [lo, 0.0]))
    if np.isfinite(hi):
        return PiecewiseLinear([hi], [1.0, 0.0], [0.0, hi])
    return Identity()


def _hard_sigmoid(alpha: float, beta: float) -> PiecewiseLinear:
    """max(0, min(1, alpha z + beta)) (ONNX HardSigmoid)."""
    if alpha == 0:
        return PiecewiseLinear([], [0.0], [min(1.0, max(0.0, beta))])
    if alpha == 1 / 6 and beta == 0.5:
        return HardSigmoid()
    z0, z1 = -beta / alpha, (1.0 - beta) / alpha  # where alpha z + beta reaches 0 and 1
    if alpha > 0:
        return PiecewiseLinear([z0, z1], [0.0, alpha, 0.0], [0.0, beta, 1.0])
    return PiecewiseLinear([z1, z0], [0.0, alpha, 0.0], [1.0, beta, 0.0])


def _piecewise_from_arrays(t: np.ndarray, a: np.ndarray, c: np.ndarray) -> PiecewiseLinear:
    """PiecewiseLinear from stored arrays; float32 intercepts are re-derived from continuity if needed."""
    t64, a64, c64 = (np.asarray(x, dtype=np.float64).ravel() for x in (t, a, c))
    try:
        return named(PiecewiseLinear(t64, a64, c64))
    except ValueError:
        if np.asarray(c).dtype != np.float32 or a64.size != c64.size or t64.size != a64.size - 1:
            raise
    # float32 rounding broke continuity: keep c_0 and derive c_{p+1} = c_p + (a_p - a_{p+1}) t_p
    fixed = c64[0] + np.concatenate([[0.0], np.cumsum((a64[:-1] - a64[1:]) * t64)])
    if not np.allclose(fixed, c64, rtol=1e-5, atol=1e-5):
        raise ValueError(f"piecewise-linear activation is not continuous: intercepts {c64.tolist()}")
    return named(PiecewiseLinear(t64, a64, fixed))


def _input_shape(value_info: onnx.ValueInfoProto) -> tuple[int | None, tuple[int, ...]]:
    """(batch size or None if symbolic, per-sample shape) of the graph input."""
    tt = value_info.type.tensor_type
    if not tt.HasField("shape"):
        raise ValueError(f"graph input {value_info.name!r} has no shape; a static per-sample shape is needed")
    dims = list(tt.shape.dim)
    if len(dims) < 2:
        raise ValueError(
            f"graph input {value_info.name!r} has rank {len(dims)}; expected (batch, features...) with a batch "
            f"dimension"
        )
    batch = dims[0].dim_value if dims[0].HasField("dim_value") else None
    shape = []
    for d in dims[1:]:
        if not d.HasField("dim_value") or d.dim_value <= 0:
            raise ValueError(
                f"graph input {value_info.name!r} has a symbolic or unknown feature dimension "
                f"({d.dim_param or '?'}); only the batch dimension may be dynamic"
            )
        shape.append(int(d.dim_value))
    return batch, tuple(shape)


def _topological_nodes(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """The graph's nodes in a topological order (stable: file order where it is already one)."""
    producer = {out: i for i, node in enumerate(graph.node) for out in node.output if out}
    g = nx.DiGraph()
    g.add_nodes_from(range(len(graph.node)))
    g.add_edges_from(
        (producer[name], i) for i, node in enumerate(graph.node) for name in node.input if name in producer
    )
    try:
        order = list(nx.lexicographical_topological_sort(g))
    except nx.NetworkXUnfeasible as exc:
        raise ValueError("the ONNX graph has a cycle") from exc
    return [graph.node[i] for i in order]


def from_onnx(model: str | Path | bytes | onnx.ModelProto, as_graph: bool | None = None) -> Network | Graph:
    """Translate an ONNX model of a feed-forward piecewise-affine network: into a :class:`~nnblocks.Network`
    when it is a dense chain, into a :class:`~nnblocks.graph.Graph` otherwise.

    Parameters
    ----------
    model:
        Path to an ``.onnx`` file, its bytes, or a loaded ``onnx.ModelProto``. Both of PyTorch's exporters
        (``torch.onnx.export(..., dynamo=False)`` and the default one) produce models this reads.
    as_graph:
        ``None`` (default): a Network for a dense chain (below), else a :class:`~nnblocks.graph.Graph`
        (convolutions, pooling, batch norm, residual sums, concatenations, inputs without a batch axis, ...;
        see :func:`nnblocks.io.onnx_graph.graph_from_onnx` and ``docs/graphs.md``); ``True``: always a Graph;
        ``False``: a Network or the refusal of the dense importer.

    Returns
    -------
    Network or Graph
        For a dense chain, the network computing the model's output for the flattened input, in float64. The graph must
        have one input, of shape (batch, *features) with static features, and one output, and the input
        must flow through one chain of these operations:

        * ``Gemm`` (any ``transA``, ``transB``, ``alpha``, ``beta``, optional ``C``), ``MatMul`` with a
          constant 2-D operand on either side, ``Add``, ``Sub``, ``Mul``, ``Div`` (by a constant) and
          ``Neg``; constant operands broadcast as ONNX does, so e.g. input normalisation
          ``(x - mean) / std`` folds into the first layer;
        * ``Relu``, ``LeakyRelu``, ``Clip`` (bounds as attributes, opset < 11, or as inputs),
          ``HardSigmoid`` (any ``alpha``, ``beta``) and the ``PiecewiseLinear`` function of
          :func:`to_onnx`;
        * ``Flatten`` (``axis=1``), ``Reshape`` to (batch, features), ``Transpose`` of a matrix,
          ``Identity`` and ``Dropout`` (inference: the identity).

        Constants come from initializers, ``Constant`` nodes, and ``Identity``, ``Cast``, ``Transpose``,
        ``Reshape``, ``(Un)Squeeze``, ``Concat`` and arithmetic nodes whose inputs are all constant.
        How operations group into layers is described in ``docs/networks.md``: each weight matrix starts
        a layer; element-wise affine maps fold into the neighbouring matrix.

    Raises
    ------
    UnsupportedOperationError
        For an operation neither importer translates, naming its op type and node (``Sigmoid``, ``Tanh``,
        ``Softmax``, ...; with ``as_graph=False`` also ``Conv``, ``MaxPool``, ...).
    ValueError
        If the graph has several inputs (named) or outputs, a shape depends on the batch size, a reshape
        merges the batch axis into the features, or a tensor does not fit the next operation (with
        ``as_graph=False`` also: the graph is not a single path, a reshape is not a flattening one).

    Examples
    --------
    >>> import numpy as np
    >>> from nnblocks import Layer, Network, ReLU, Identity
    >>> from nnblocks.io import from_onnx, to_onnx
    >>> net = Network([Layer(np.ones((2, 3)), np.zeros(2), ReLU()), Layer(np.ones((1, 2)), [1.0], Identity())])
    >>> from_onnx(to_onnx(net, dtype="float64")) == net
    True
    """
    proto = _load(model)
    if as_graph:
        return _graph_from_onnx(proto)
    try:
        return _network_from_onnx(proto)
    except ValueError as dense_error:  # UnsupportedOperationError is a ValueError
        if as_graph is False:
            raise
        try:
            return _graph_from_onnx(proto)
        except ValueError as graph_error:
            raise graph_error from dense_error


def _graph_from_onnx(proto: onnx.ModelProto) -> Graph:
    from nnblocks.io.onnx_graph import graph_from_onnx  # onnx_graph reads this module's helpers

    return graph_from_onnx(proto)


def _network_from_onnx(model: str | Path | bytes | onnx.ModelProto) -> Network:
    """The dense importer: a :class:`~nnblocks.Network` or a refusal (see :func:`from_onnx`)."""
    proto = _load(model)
    graph = proto.graph
    consts: dict[str, np.ndarray] = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    inputs = [vi for vi in graph.input if vi.name not in consts]
    if len(inputs) != 1:
        raise ValueError(
            f"the ONNX graph must have exactly one input, it has {len(inputs)}: {[i.name for i in inputs]}"
        )
    if len(graph.output) != 1:
        raise ValueError(f"the ONNX graph must have exactly one output, it has {len(graph.output)}")
    batch, shape = _input_shape(inputs[0])
    walker = _Walker(int(np.prod(shape)), shape, batch)
    current = inputs[0].name
    consumer: dict[str, str] = {}  # path tensor -> label of the node that consumed it

    for node in _topological_nodes(graph):
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            consts[node.output[0]] = _constant_value(node)
            continue
        on_path = [i for i, name in enumerate(node.input) if name == current]
        foreign = [name for name in node.input if name and name != current and name not in consts]
        for name in foreign:
            if name in consumer:
                raise ValueError(
                    f"the graph is not a single path: tensor {name!r} feeds node {consumer[name]!r} and node "
                    f"{_label(node)!r}"
                )
            raise ValueError(
                f"node {_label(node)!r} ({node.op_type}) reads tensor {name!r}, which is neither a constant nor on the "
                f"path from the input (a second branch, input or output of the graph)"
            )
        if not on_path:
            fold = _FOLD.get(node.op_type) if node.domain in ("", "ai.onnx") else None
            if fold is None:
                raise _unsupported(node, "cannot be evaluated on constants")
            consts[node.output[0]] = np.asarray(fold(node, [consts[n] for n in node.input if n]))
            continue
        if len(on_path) > 1:
            raise _unsupported(node, "uses the input tensor twice (not affine)")
        _apply(walker, node, on_path[0], [consts.get(n) if n else None for n in node.input])
        consumer[current] = _label(node)
        current = node.output[0]

    out = graph.output[0].name
    if out != current:
        raise ValueError(
            f"the graph output {out!r} is not the end of the path from the input (which ends at {current!r})"
        )
    return walker.builder.network()


_UNARY = frozenset(
    {"Relu", "LeakyRelu", "HardSigmoid", "Clip", "Flatten", "Reshape", "Transpose", "Identity", "Dropout", "Neg"}
)


def _apply(w: _Walker, node: onnx.NodeProto, pos: int, v: list[np.ndarray | None]) -> None:
    """Translate one operation on the path tensor (operand ``pos``; constant operands in ``v``)."""
    op = node.op_type
    if node.domain == PWL_DOMAIN and op == "PiecewiseLinear" and pos == 0:
        w.piecewise(node, v)
        return
    if node.domain not in ("", "ai.onnx"):
        raise _unsupported(node)
    if op == "Shape":
        raise _unsupported(
            node,
            "a shape computed from the input at run time (batch-dependent); export with nn.Flatten or a constant "
            "reshape",
        )
    if op in _UNARY and pos != 0:
        raise _unsupported(node, "the input must be the first operand")
    if op == "Identity":
        return
    if op == "Dropout":
        if len(v) > 2 and v[2] is not None and bool(np.asarray(v[2]).reshape(-1)[0]):
            raise ValueError(f"Dropout {_label(node)!r} is in training mode; only inference is supported")
        return
    if op == "Relu":
        w.activation(ReLU())
    elif op == "LeakyRelu":
        w.activation(LeakyReLU(_decode_float32(_attrs(node).get("alpha", 0.01))))
    elif op == "Clip":
        w.clip(node, v)
    elif op == "HardSigmoid":
        w.hard_sigmoid(node)
    elif op == "Gemm":
        w.gemm(node, pos, v)
    elif op == "MatMul":
        w.matmul(node, pos, v)
    elif op in ("Add", "Sub", "Mul", "Div"):
        w.binary(node, pos, v)
    elif op == "Neg":
        w.builder.elementwise(scale=-1.0)
    elif op == "Flatten":
        w.flatten(node)
    elif op == "Reshape":
        w.reshape(node, v)
    elif op == "Transpose":
        w.transpose(node)
    else:
        raise _unsupported(node)


# ---------------------------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------------------------
def _pwl_function() -> onnx.FunctionProto:
    """``PiecewiseLinear(z, t, a, c) = a_0 z + c_0 + sum_p (a_{p+1} - a_p) relu(z - t_p)`` (standard ops only).

    This identity holds for every continuous piecewise-affine function: at each breakpoint t_p the slope
    changes by a_{p+1} - a_p, which one shifted ReLU contributes.
    """
    const = [
        helper.make_node("Constant", [], [name], value=helper.make_tensor(name, TensorProto.INT64, [1], [val]))
        for name, val in (("zero", 0), ("one", 1), ("last", -1), ("end", np.iinfo(np.int64).max))
    ]
    body = [
        *const,
        helper.make_node("Slice", ["a", "zero", "one"], ["a0"]),
        helper.make_node("Slice", ["c", "zero", "one"], ["c0"]),
        helper.make_node("Slice", ["a", "zero", "last"], ["a_lo"]),
        helper.make_node("Slice", ["a", "one", "end"], ["a_hi"]),
        helper.make_node("Sub", ["a_hi", "a_lo"], ["d"]),
        helper.make_node("Unsqueeze", ["z", "last"], ["z_col"]),
        helper.make_node("Sub", ["z_col", "t"], ["shifted"]),
        helper.make_node("Relu", ["shifted"], ["hinge"]),
        helper.make_node("MatMul", ["hinge", "d"], ["kinks"]),
        helper.make_node("Mul", ["z", "a0"], ["az"]),
        helper.make_node("Add", ["az", "c0"], ["affine"]),
        helper.make_node("Add", ["affine", "kinks"], ["y"]),
    ]
    return helper.make_function(
        PWL_DOMAIN,
        "PiecewiseLinear",
        ["z", "t", "a", "c"],
        ["y"],
        body,
        [helper.make_opsetid("", _OPSET)],
    )


def _clip_bounds(act: PiecewiseLinear) -> tuple[float | None, float | None] | None:
    """(lo, hi) if ``act`` is min(hi, max(lo, z)) with one or both bounds, else None."""
    a, c, t = act.slopes.tolist(), act.intercepts.tolist(), act.breakpoints.tolist()
    if a == [0.0, 1.0, 0.0] and c == [t[0], 0.0, t[1]]:
        return t[0], t[1]
    if a == [0.0, 1.0] and c == [t[0], 0.0]:
        return t[0], None
    if a == [1.0, 0.0] and c == [0.0, t[0]]:
        return None, t[0]
    return None


def to_onnx(
    network: Network, path: str | Path | None = None, *, dtype: str | type | np.dtype = "float32"
) -> onnx.ModelProto:
    """Write a network as an ONNX model (opset 17) with a dynamic batch dimension.

    Parameters
    ----------
    network:
        The network to export.
    path:
        If given, the model is also saved there.
    dtype:
        ``"float32"`` (default; what most tools expect) or ``"float64"`` (exact: reading the model back
        with :func:`from_onnx` gives an equal network).

    Returns
    -------
    onnx.ModelProto
        Input ``"input"`` of shape (batch, n_0), output ``"output"`` of shape (batch, n_K). Layer k is a
        ``Gemm`` with initializers ``W{k}`` (out x in, ``transB=1``) and ``b{k}``, followed by: nothing for
        ``Identity``; ``Relu``; ``Clip`` for ``HardTanh``/``ReLU6`` and one-sided clips; in float32
        ``LeakyRelu`` and ``HardSigmoid``; otherwise a call of the model-local function
        ``ai.nnblocks.PiecewiseLinear(z, breakpoints, slopes, intercepts)``, whose body is the exact identity
        ``sigma(z) = a_0 z + c_0 + sum_p (a_{p+1} - a_p) max(0, z - t_p)`` in standard operators (so
        onnxruntime and other tools run it, and :func:`from_onnx` reads the activation back as it was).
    """
    np_dtype = np.dtype(dtype)
    if np_dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {np_dtype}")
    elem = helper.np_dtype_to_tensor_dtype(np_dtype)
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    uses_pwl = False

    def const(name: str, value: Any) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=np_dtype), name))
        return name

    h = "input"
    last = len(network.layers) - 1
    for k, layer in enumerate(network.layers):
        act = layer.activation
        a_name = "output" if k == last and act == Identity() else f"a{k}"
        nodes.append(
            helper.make_node(
                "Gemm", [h, const(f"W{k}", layer.W), const(f"b{k}", layer.b)], [a_name], name=f"layer{k}", transB=1
            )
        )
        if act == Identity():
            h = a_name
            continue
        h = "output" if k == last else f"h{k}"
        clip = _clip_bounds(act)
        if act == ReLU():
            nodes.append(helper.make_node("Relu", [a_name], [h], name=f"relu{k}"))
        elif clip is not None:
            lo = "" if clip[0] is None else const(f"clip_min{k}", clip[0])
            hi = "" if clip[1] is None else const(f"clip_max{k}", clip[1])
            nodes.append(helper.make_node("Clip", [a_name, lo, hi], [h], name=f"clip{k}"))
        elif np_dtype == np.float32 and isinstance(act, LeakyReLU):
            nodes.append(helper.make_node("LeakyRelu", [a_name], [h], name=f"leaky_relu{k}", alpha=act.alpha))
        elif np_dtype == np.float32 and act == HardSigmoid():
            nodes.append(helper.make_node("HardSigmoid", [a_name], [h], name=f"hard_sigmoid{k}", alpha=1 / 6, beta=0.5))
        else:
            uses_pwl = True
            args = [
                const(f"{name}{k}", arr)
                for name, arr in (
                    ("breakpoints", act.breakpoints),
                    ("slopes", act.slopes),
                    ("intercepts", act.intercepts),
                )
            ]
            nodes.append(helper.make_node("PiecewiseLinear", [a_name, *args], [h], name=f"pwl{k}", domain=PWL_DOMAIN))
    graph = helper.make_graph(
        nodes,
        "nnblocks_network",
        [helper.make_tensor_value_info("input", elem, ["batch", network.n_inputs])],
        [helper.make_tensor_value_info("output", elem, ["batch", network.n_outputs])],
        inits,
    )
    opsets = [helper.make_opsetid("", _OPSET)] + ([helper.make_opsetid(PWL_DOMAIN, 1)] if uses_pwl else [])
    model = helper.make_model(
        graph,
        opset_imports=opsets,
        ir_version=_IR_VERSION,
        producer_name="nnblocks",
        functions=[_pwl_function()] if uses_pwl else None,
    )
    onnx.checker.check_model(model)
    if path is not None:
        onnx.save(model, str(path))
    return model
