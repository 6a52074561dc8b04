"""A :class:`~nnblocks.graph.Graph` as a ``.npz`` archive (exact float64, no pickled objects).

Entries: ``format`` (``"nnblocks-graph-1"``), ``input_shape``, ``output`` (the output tensor), ``n_nodes``;
for node k: ``kind{k}`` (``linear``, ``elementwise`` or ``window_max``), ``inputs{k}``, ``shape{k}``,
``name{k}`` and

* linear: ``n_weights{k}``, ``bias{k}``, and per weight i either ``W{k}_{i}`` (dense) or the CSR arrays
  ``W{k}_{i}_data``, ``W{k}_{i}_indices``, ``W{k}_{i}_indptr``, ``W{k}_{i}_shape``;
* elementwise: the activation's ``breakpoints{k}``, ``slopes{k}``, ``intercepts{k}`` (rebuilt as the named
  activation where the arrays match one);
* window_max: ``windows{k}`` and ``in_sizes{k}``.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import scipy.sparse as sp

from nnblocks.activations import PiecewiseLinear, named
from nnblocks.graph.elementwise import Elementwise
from nnblocks.graph.graph import Graph, Node
from nnblocks.graph.linear import Linear
from nnblocks.graph.window_max import WindowMax

__all__ = ["FORMAT", "is_graph_file", "load_graph", "save_graph"]

FORMAT = "nnblocks-graph-1"
"""The format tag written by :func:`save_graph`; :func:`load_graph` reads only this version."""

_PREFIX = "nnblocks-graph-"


def save_graph(graph: Graph, path: str | Path | BinaryIO) -> None:
    """Write ``graph`` to ``path`` (an ``.npz`` archive, see the module docstring)."""
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a nnblocks.graph.Graph, got {type(graph).__name__}")
    a: dict[str, np.ndarray] = {
        "format": np.array(FORMAT),
        "input_shape": np.array(graph.input_shape, dtype=np.int64),
        "output": np.array(graph.output, dtype=np.int64),
        "n_nodes": np.array(len(graph.nodes), dtype=np.int64),
    }
    for k, node in enumerate(graph.nodes):
        op = node.op
        a[f"kind{k}"] = np.array(op.kind)
        a[f"inputs{k}"] = np.array(node.inputs, dtype=np.int64)
        a[f"shape{k}"] = np.array(node.shape, dtype=np.int64)
        a[f"name{k}"] = np.array(node.name)
        if isinstance(op, Linear):
            a[f"n_weights{k}"] = np.array(len(op.weights), dtype=np.int64)
            a[f"bias{k}"] = np.asarray(op.bias)
            for i, W in enumerate(op.weights):
                if sp.issparse(W):
                    a[f"W{k}_{i}_data"] = np.asarray(W.data)
                    a[f"W{k}_{i}_indices"] = np.asarray(W.indices, dtype=np.int64)
                    a[f"W{k}_{i}_indptr"] = np.asarray(W.indptr, dtype=np.int64)
                    a[f"W{k}_{i}_shape"] = np.array(W.shape, dtype=np.int64)
                else:
                    a[f"W{k}_{i}"] = np.asarray(W)
        elif isinstance(op, Elementwise):
            act = op.activation
            a[f"breakpoints{k}"] = np.asarray(act.breakpoints)
            a[f"slopes{k}"] = np.asarray(act.slopes)
            a[f"intercepts{k}"] = np.asarray(act.intercepts)
        elif isinstance(op, WindowMax):
            a[f"windows{k}"] = np.asarray(op.windows)
            a[f"in_sizes{k}"] = np.array(op.in_sizes, dtype=np.int64)
        else:
            raise TypeError(f"node {k} ({node.name or op.kind}) has an operation of unknown kind {op.kind!r}")
    if hasattr(path, "write"):
        np.savez(path, **a)
        return
    with open(path, "wb") as fh:
        np.savez(fh, **a)


def _read(path: str | Path | BinaryIO) -> dict[str, np.ndarray]:
    if hasattr(path, "read"):
        ok = zipfile.is_zipfile(path)
        path.seek(0)
    else:
        with open(path, "rb") as fh:
            ok = zipfile.is_zipfile(fh)
    if not ok:
        raise ValueError(f"{path} is not an nnblocks graph file: not an .npz (zip) archive, or a corrupt one")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, ValueError) as exc:
        raise ValueError(f"{path} is not a readable nnblocks graph file: {exc}") from exc


def is_graph_file(path: str | Path) -> bool:
    """Whether ``path`` is an ``.npz`` archive whose ``format`` entry is a graph format (of any version)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if "format" not in data.files:
                return False
            return str(data["format"]).startswith(_PREFIX)
    except Exception:  # not an archive at all: the caller's reader gives the error
        return False


def load_graph(path: str | Path | BinaryIO) -> Graph:
    """Read a graph written by :func:`save_graph`.

    Raises ``ValueError`` naming the file for anything else: not an ``.npz`` archive, no or another ``format``
    (an unknown version is named), an unknown operation kind, or missing entries.
    """
    a = _read(path)
    fmt = str(a["format"]) if "format" in a else None
    if fmt is None or not fmt.startswith(_PREFIX):
        raise ValueError(f"{path} is not an nnblocks graph file (format {fmt!r}, expected {FORMAT!r})")
    if fmt != FORMAT:
        raise ValueError(f"{path} has graph format version {fmt!r}; this nnblocks reads {FORMAT!r}")

    def get(key: str) -> np.ndarray:
        if key not in a:
            raise ValueError(f"{path} is truncated or not an nnblocks graph file: entry {key!r} is missing")
        return a[key]

    nodes: list[Node] = []
    for k in range(int(get("n_nodes"))):
        kind = str(get(f"kind{k}"))
        op: Any
        if kind == Linear.kind:
            weights = []
            for i in range(int(get(f"n_weights{k}"))):
                if f"W{k}_{i}" in a:
                    weights.append(a[f"W{k}_{i}"])
                else:
                    parts = (get(f"W{k}_{i}_data"), get(f"W{k}_{i}_indices"), get(f"W{k}_{i}_indptr"))
                    weights.append(sp.csr_array(parts, shape=tuple(int(d) for d in get(f"W{k}_{i}_shape"))))
            op = Linear(weights, get(f"bias{k}"))
        elif kind == Elementwise.kind:
            act = named(PiecewiseLinear(get(f"breakpoints{k}"), get(f"slopes{k}"), get(f"intercepts{k}")))
            op = Elementwise(act, int(np.prod(get(f"shape{k}"))))
        elif kind == WindowMax.kind:
            op = WindowMax(get(f"windows{k}"), [int(n) for n in get(f"in_sizes{k}")])
        else:
            raise ValueError(f"{path}: node {k} has an unknown operation kind {kind!r}")
        nodes.append(Node(op, tuple(int(t) for t in get(f"inputs{k}")), tuple(int(d) for d in get(f"shape{k}")),
                          str(get(f"name{k}"))))
    return Graph(tuple(int(d) for d in get("input_shape")), nodes, int(get("output")))
