"""Export of a :class:`~nnblocks.graph.Graph` as an ONNX model, and :func:`to_onnx` for networks and graphs.

Every tensor travels flat, (batch, size), as in the graph; the model's input (batch, *input_shape) is
flattened first and its output reshaped to (batch, *output_shape) last. Per operation kind:

* Linear: per input a ``MatMul`` by the dense W_i^T (a ``Gemm`` when there is one input), or, for a sparse
  W_i, the sparse-friendly form ``ReduceSum(Reshape(Gather(x, cols) * vals, (m, r)), axis 2)`` over W_i's rows
  padded to r stored entries (ELLPACK layout: r = the most nonzeros of a row; padding reads column 0 with
  weight 0), so the model has the size of the nonzeros, not of the dense matrix; then ``Sum`` and the bias;
* Elementwise: ``Relu``, ``Clip``, in float32 ``LeakyRelu`` and ``HardSigmoid`` (their attributes are
  float32), else the model-local function ``ai.nnblocks.PiecewiseLinear`` of the dense exporter (a sum of
  shifted ReLUs);
* WindowMax: ``Gather`` of every window's places (an unused place repeats a used place of its window, so
  the maximum is exact with no -inf constant) and ``ReduceMax`` over the window axis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import scipy.sparse as sp
from onnx import helper, numpy_helper

from nnblocks.activations import HardSigmoid, Identity, LeakyReLU, ReLU
from nnblocks.graph import Elementwise, Graph, Linear, WindowMax
from nnblocks.io.onnx import _IR_VERSION, _OPSET, PWL_DOMAIN, _clip_bounds, _pwl_function
from nnblocks.io.onnx import to_onnx as _network_to_onnx
from nnblocks.network import Network

__all__ = ["graph_to_onnx", "to_onnx"]


def to_onnx(
    network: Network | Graph, path: str | Path | None = None, *, dtype: str | type | np.dtype = "float32"
) -> onnx.ModelProto:
    """Write a :class:`~nnblocks.Network` (see :func:`nnblocks.io.onnx.to_onnx`) or a
    :class:`~nnblocks.graph.Graph` (see :func:`graph_to_onnx`) as an ONNX model."""
    if isinstance(network, Graph):
        return graph_to_onnx(network, path, dtype=dtype)
    return _network_to_onnx(network, path, dtype=dtype)


def _ell(W: sp.csr_array) -> tuple[np.ndarray, np.ndarray, int]:
    """W's rows padded to r stored entries: (cols (m, r), vals (m, r), r); padding is column 0, weight 0."""
    nnz = np.diff(W.indptr)
    r = int(nnz.max()) if nnz.size else 0
    m = W.shape[0]
    pos = np.arange(W.nnz) - np.repeat(W.indptr[:-1], nnz)  # place of each stored entry within its row
    rows = np.repeat(np.arange(m), nnz)
    cols = np.zeros((m, r), dtype=np.int64)
    vals = np.zeros((m, r))
    cols[rows, pos] = W.indices
    vals[rows, pos] = W.data
    return cols, vals, r


def graph_to_onnx(
    graph: Graph,
    path: str | Path | None = None,
    *,
    dtype: str | type | np.dtype = "float32",
    sparse: bool | None = None,
) -> onnx.ModelProto:
    """Write a graph as an ONNX model (opset 17) with a dynamic batch dimension.

    Parameters
    ----------
    graph:
        The graph to export.
    path:
        If given, the model is also saved there.
    dtype:
        ``"float32"`` (default) or ``"float64"`` (the model computes :meth:`Graph.forward` up to the order of
        the float64 sums).
    sparse:
        ``None`` (default): a weight stored sparse (CSR) in the graph is exported in the sparse form of the
        module docstring, a dense one as a ``MatMul``/``Gemm``; ``True``/``False``: every weight sparse/dense.

    Returns
    -------
    onnx.ModelProto
        Input ``"input"`` of shape (batch, *input_shape), output ``"output"`` of shape (batch, *output_shape).
    """
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a nnblocks.graph.Graph, got {type(graph).__name__}")
    np_dtype = np.dtype(dtype)
    if np_dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {np_dtype}")
    elem = helper.np_dtype_to_tensor_dtype(np_dtype)
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    uses_pwl = False

    def const(name: str, value: Any, np_type: Any = np_dtype) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=np_type), name))
        return name

    def node(op: str, inputs: list[str], output: str, name: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=name, **attrs))
        return output

    node("Flatten", ["input"], "t0", "flatten_input", axis=1)
    for k, nd in enumerate(graph.nodes):
        out = f"t{k + 1}"
        ins = [f"t{t}" for t in nd.inputs]
        op = nd.op
        if isinstance(op, Linear):
            terms: list[str] = []
            for i, (W, x) in enumerate(zip(op.weights, ins)):
                as_sparse = sp.issparse(W) if sparse is None else sparse
                S = op.matrix(i)
                if as_sparse and S.nnz:
                    cols, vals, r = _ell(S)
                    g = node("Gather", [x, const(f"cols{k}_{i}", cols.ravel(), np.int64)], f"{out}_g{i}",
                             f"n{k}_gather{i}", axis=1)
                    p = node("Mul", [g, const(f"vals{k}_{i}", vals.ravel())], f"{out}_p{i}", f"n{k}_mul{i}")
                    q = node("Reshape", [p, const(f"ell_shape{k}_{i}", [-1, S.shape[0], r], np.int64)],
                             f"{out}_q{i}", f"n{k}_reshape{i}")
                    terms.append(node("ReduceSum", [q, const(f"axis2_{k}_{i}", [2], np.int64)], f"{out}_s{i}",
                                      f"n{k}_sum{i}", keepdims=0))
                elif len(op.weights) == 1:
                    Wd = S.toarray()
                    node("Gemm", [x, const(f"W{k}", Wd), const(f"b{k}", op.bias)], out, f"n{k}_gemm", transB=1)
                    break
                else:
                    terms.append(node("MatMul", [x, const(f"WT{k}_{i}", S.toarray().T)], f"{out}_m{i}",
                                      f"n{k}_matmul{i}"))
            else:
                total = terms[0] if len(terms) == 1 else node("Sum", terms, f"{out}_sum", f"n{k}_sum")
                node("Add", [total, const(f"b{k}", op.bias)], out, f"n{k}_bias")
        elif isinstance(op, Elementwise):
            act, x = op.activation, ins[0]
            clip = _clip_bounds(act)
            if act == Identity():
                node("Identity", [x], out, f"n{k}_identity")
            elif act == ReLU():
                node("Relu", [x], out, f"n{k}_relu")
            elif clip is not None:
                lo = "" if clip[0] is None else const(f"clip_min{k}", clip[0])
                hi = "" if clip[1] is None else const(f"clip_max{k}", clip[1])
                node("Clip", [x, lo, hi], out, f"n{k}_clip")
            elif np_dtype == np.float32 and isinstance(act, LeakyReLU):
                node("LeakyRelu", [x], out, f"n{k}_leaky_relu", alpha=act.alpha)
            elif np_dtype == np.float32 and act == HardSigmoid():
                node("HardSigmoid", [x], out, f"n{k}_hard_sigmoid", alpha=1 / 6, beta=0.5)
            else:
                uses_pwl = True
                args = [const(f"{nm}{k}", arr) for nm, arr in
                        (("breakpoints", act.breakpoints), ("slopes", act.slopes), ("intercepts", act.intercepts))]
                nodes.append(helper.make_node("PiecewiseLinear", [x, *args], [out], name=f"n{k}_pwl",
                                              domain=PWL_DOMAIN))
        elif isinstance(op, WindowMax):
            x = ins[0] if len(ins) == 1 else node("Concat", ins, f"{out}_cat", f"n{k}_concat", axis=1)
            w = np.asarray(op.windows)
            first = w[np.arange(w.shape[0]), np.argmax(w >= 0, axis=1)]
            idx = np.where(w >= 0, w, first[:, None])  # an unused place repeats a used one: max unchanged
            m, kk = w.shape
            if kk == 1:
                node("Gather", [x, const(f"win{k}", idx.ravel(), np.int64)], out, f"n{k}_gather", axis=1)
            else:
                g = node("Gather", [x, const(f"win{k}", idx.ravel(), np.int64)], f"{out}_g", f"n{k}_gather", axis=1)
                q = node("Reshape", [g, const(f"win_shape{k}", [-1, m, kk], np.int64)], f"{out}_q", f"n{k}_reshape")
                node("ReduceMax", [q], out, f"n{k}_max", axes=[2], keepdims=0)
        else:
            raise TypeError(f"node {k} ({nd.name or op.kind}) has an operation of unknown kind {op.kind!r}")
    node("Reshape", [f"t{graph.output}", const("output_shape", [-1, *graph.output_shape], np.int64)], "output",
         "reshape_output")
    g = helper.make_graph(
        nodes,
        "nnblocks_graph",
        [helper.make_tensor_value_info("input", elem, ["batch", *graph.input_shape])],
        [helper.make_tensor_value_info("output", elem, ["batch", *graph.output_shape])],
        inits,
    )
    opsets = [helper.make_opsetid("", _OPSET)] + ([helper.make_opsetid(PWL_DOMAIN, 1)] if uses_pwl else [])
    model = helper.make_model(g, opset_imports=opsets, ir_version=_IR_VERSION, producer_name="nnblocks",
                              functions=[_pwl_function()] if uses_pwl else None)
    onnx.checker.check_model(model)
    if path is not None:
        onnx.save(model, str(path))
    return model

