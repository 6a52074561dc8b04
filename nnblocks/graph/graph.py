"""A network as a graph of operations: a DAG from one input tensor to one output tensor with static shapes.

Tensor 0 is the input; node k (in topological order) reads earlier tensors and writes tensor k + 1. The
dense :class:`~nnblocks.network.Network` is the chain special case (:meth:`Graph.from_network`,
:meth:`Graph.to_network`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from nnblocks.activations import Identity
from nnblocks.graph.elementwise import Elementwise
from nnblocks.graph.linear import Linear
from nnblocks.graph.operation import Operation
from nnblocks.network import Layer, Network

__all__ = ["Graph", "Node"]


def _shape(shape: Any) -> tuple[int, ...]:
    s = (int(shape),) if np.isscalar(shape) else tuple(int(d) for d in shape)
    if not s or any(d < 1 for d in s):
        raise ValueError(f"a tensor shape needs positive dimensions, got {shape}")
    return s


@dataclass(frozen=True)
class Node:
    """One operation: ``op`` reads the tensors ``inputs`` and writes a tensor of per-sample ``shape``."""

    op: Operation
    inputs: tuple[int, ...]
    shape: tuple[int, ...]
    name: str = ""

    @property
    def size(self) -> int:
        """The flat size of the output tensor."""
        return int(np.prod(self.shape))


class Graph:
    """A feed-forward network as a DAG of :class:`~nnblocks.graph.operation.Operation` nodes.

    Parameters
    ----------
    input_shape:
        The per-sample shape of the input, e.g. ``(1, 28, 28)`` or ``(784,)``.
    nodes:
        The nodes in topological order: node k may read tensor 0 (the input) and the outputs of nodes
        0..k-1 (tensors 1..k).
    output:
        The tensor that is the network's output (default: the last node's).
    """

    def __init__(self, input_shape: Any, nodes: Sequence[Node], output: int | None = None) -> None:
        self.input_shape = _shape(input_shape)
        nodes = list(nodes)
        if not nodes:
            raise ValueError("a Graph needs at least one node")
        sizes = [int(np.prod(self.input_shape))]
        for k, node in enumerate(nodes):
            if not isinstance(node, Node):
                raise TypeError(f"node {k} must be a nnblocks.graph.Node, got {type(node).__name__}")
            if len(node.inputs) != node.op.n_inputs:
                raise ValueError(f"node {k} ({node.name or node.op.kind}) reads {len(node.inputs)} tensors, its "
                                 f"operation takes {node.op.n_inputs}")
            for t, n in zip(node.inputs, node.op.in_sizes):
                if not 0 <= t <= k:
                    raise ValueError(f"node {k} ({node.name or node.op.kind}) reads tensor {t}, which is not "
                                     "computed before it")
                if sizes[t] != n:
                    raise ValueError(f"node {k} ({node.name or node.op.kind}) expects a tensor of size {n}, "
                                     f"tensor {t} has size {sizes[t]}")
            if node.size != node.op.out_size:
                raise ValueError(f"node {k} ({node.name or node.op.kind}) has shape {node.shape} but its "
                                 f"operation writes {node.op.out_size} values")
            sizes.append(node.size)
        self.nodes: tuple[Node, ...] = tuple(nodes)
        self.output = len(nodes) if output is None else int(output)
        if not 0 <= self.output <= len(nodes):
            raise ValueError(f"output tensor {output} does not exist")
        self._sizes = tuple(sizes)

    # -- structure --------------------------------------------------------------------------
    @property
    def sizes(self) -> tuple[int, ...]:
        """The flat size of every tensor (0 = the input)."""
        return self._sizes

    def shape_of(self, t: int) -> tuple[int, ...]:
        """The per-sample shape of tensor t."""
        return self.input_shape if t == 0 else self.nodes[t - 1].shape

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.shape_of(self.output)

    @property
    def n_inputs(self) -> int:
        return self._sizes[0]

    @property
    def n_outputs(self) -> int:
        return self._sizes[self.output]

    def consumers(self) -> list[list[int]]:
        """For every tensor, the nodes that read it."""
        out: list[list[int]] = [[] for _ in self._sizes]
        for k, node in enumerate(self.nodes):
            for t in node.inputs:
                out[t].append(k)
        return out

    def __len__(self) -> int:
        return len(self.nodes)

    def __repr__(self) -> str:
        kinds = ", ".join(node.op.kind for node in self.nodes[:6]) + (", ..." if len(self.nodes) > 6 else "")
        return f"Graph({self.input_shape} -> {self.output_shape}: {kinds})"

    # -- evaluation -------------------------------------------------------------------------
    def _as_batch(self, X: Any) -> tuple[np.ndarray, bool]:
        X = np.asarray(X, dtype=np.float64)
        n = self.n_inputs
        if X.shape == self.input_shape or X.shape == (n,):
            return X.reshape(1, n), True
        if X.ndim >= 1 and X[0].size == n and X.shape[1:] in (self.input_shape, (n,)):
            return X.reshape(X.shape[0], n), False
        raise ValueError(f"input of shape {X.shape} does not fit the network's input shape {self.input_shape} "
                         f"(one sample, or a batch of them)")

    def values(self, X: Any) -> list[np.ndarray]:
        """Every tensor for a batch (each of shape (N, size), flat, float64); tensor 0 is the input."""
        X2, _ = self._as_batch(X)
        vals = [X2]
        for node in self.nodes:
            vals.append(node.op.forward([vals[t] for t in node.inputs]))
        return vals

    def forward(self, X: Any) -> np.ndarray:
        """The output for one input (flat, shape (n_outputs,)) or a batch (shape (N, n_outputs)); float64."""
        X2, single = self._as_batch(X)
        Y = self.values(X2)[self.output]
        return Y[0] if single else Y

    __call__ = forward

    def gradient(self, X: Any, c: Any) -> np.ndarray:
        """The gradient of c . f(x) (a subgradient at kinks) for a batch; c of shape (n_outputs,) or (N, n_outputs).

        Returns an array of the input's flat shape, (N, n_inputs) or (n_inputs,) for one input.
        """
        X2, single = self._as_batch(X)
        g0 = self.backward(self.values(X2), c)
        return g0[0] if single else g0

    def backward(self, vals: list[np.ndarray], c: Any) -> np.ndarray:
        """The reverse-mode pass of :meth:`gradient` at tensor values already computed by :meth:`values`:
        the gradient of c . f(x) for every row (c of shape (n_outputs,) or one row per sample), (N, n_inputs)."""
        grads: list[np.ndarray | None] = [None] * len(vals)
        grads[self.output] = np.broadcast_to(np.asarray(c, dtype=np.float64), vals[self.output].shape).copy()
        for k in range(len(self.nodes) - 1, -1, -1):
            g = grads[k + 1]
            if g is None:
                continue
            node = self.nodes[k]
            for t, gi in zip(node.inputs, node.op.vjp([vals[t] for t in node.inputs], g)):
                grads[t] = gi if grads[t] is None else grads[t] + gi
        return grads[0] if grads[0] is not None else np.zeros_like(vals[0])

    def interval_bounds(self, lower: Any, upper: Any) -> list[tuple[np.ndarray, np.ndarray]]:
        """Sound bounds of every tensor over the input box [lower, upper] (each (size,) or a batch of boxes
        (B, size)), by each operation's own interval rule: a list of (lo, hi) per tensor."""
        lo, single = self._as_batch(lower)
        hi, _ = self._as_batch(upper)
        if np.any(lo > hi):
            raise ValueError("the input box is empty: some lower bound exceeds its upper bound")
        out = [(lo, hi)]
        for node in self.nodes:
            out.append(node.op.interval([out[t][0] for t in node.inputs], [out[t][1] for t in node.inputs]))
        return [(a[0], b[0]) for a, b in out] if single else out

    # -- files ------------------------------------------------------------------------------
    def save(self, path: Any) -> None:
        """Write the graph to an ``.npz`` file, exactly (see :mod:`nnblocks.graph.serialize`)."""
        from nnblocks.graph.serialize import save_graph  # serialize builds Graphs: imported when used

        save_graph(self, path)

    @classmethod
    def load(cls, path: Any) -> Graph:
        """Read a graph written by :meth:`save` (ValueError naming the file for anything else)."""
        from nnblocks.graph.serialize import load_graph

        return load_graph(path)

    # -- the chain special case -------------------------------------------------------------
    @classmethod
    def from_network(cls, network: Network) -> Graph:
        """The dense chain as a graph: one Linear and one Elementwise node per layer (none for an identity
        activation)."""
        nodes: list[Node] = []
        for k, layer in enumerate(network.layers):
            nodes.append(Node(Linear([layer.W], layer.b), (len(nodes),), (layer.n_out,), f"dense{k}"))
            if layer.activation != Identity():
                nodes.append(Node(Elementwise(layer.activation, layer.n_out), (len(nodes),), (layer.n_out,),
                                  f"act{k}"))
        return cls((network.n_inputs,), nodes)

    def to_network(self) -> Network | None:
        """The dense :class:`Network` this graph is, when it is a chain of single-input Linear nodes each
        followed by at most one Elementwise node; None otherwise."""
        if self.output != len(self.nodes):
            return None
        layers, k, nodes = [], 0, self.nodes
        while k < len(nodes):
            node = nodes[k]
            if not isinstance(node.op, Linear) or node.op.n_inputs != 1 or node.inputs != (k,):
                return None
            act = Identity()
            if k + 1 < len(nodes) and isinstance(nodes[k + 1].op, Elementwise) and nodes[k + 1].inputs == (k + 1,):
                act = nodes[k + 1].op.activation
                step = 2
            else:
                step = 1
            W = node.op.weights[0]
            layers.append(Layer(W.toarray() if sp.issparse(W) else np.asarray(W), node.op.bias, act))
            k += step
        return Network(layers)

    # -- rewriting --------------------------------------------------------------------------
    def simplified(self) -> Graph:
        """The same function with consecutive Linear nodes composed where that does not add nonzeros
        (a permutation, selection, scaling or batch norm folded into its neighbour; two convolutions kept
        apart) and Elementwise identities removed."""
        nodes = list(self.nodes)
        output = self.output
        changed = True
        while changed:
            changed = False
            cons = Graph(self.input_shape, nodes, output).consumers()
            for k, node in enumerate(nodes):
                t = k + 1
                if isinstance(node.op, Elementwise) and node.op.activation == Identity():
                    nodes, output = _bypass(nodes, output, k, node.inputs[0])
                    changed = True
                    break
                if not isinstance(node.op, Linear) or len(cons[t]) != 1 or t == output:
                    continue
                j = cons[t][0]
                nxt = nodes[j]
                if not isinstance(nxt.op, Linear):
                    continue
                merged = _compose(node, nxt, t)
                if merged is None:
                    continue
                nodes[j] = merged
                nodes, output = _bypass(nodes, output, k, None)
                changed = True
                break
        return Graph(self.input_shape, nodes, output)


def _compose(first: Node, second: Node, t: int) -> Node | None:
    """second(..., first(...), ...) as one Linear node when that adds no nonzeros; None otherwise."""
    A, B = first.op, second.op
    pos = [i for i, s in enumerate(second.inputs) if s == t]
    Bt = sum((B.matrix(i) for i in pos), sp.csr_array((B.out_size, A.out_size)))
    parts = [Bt @ A.matrix(i) for i in range(A.n_inputs)]
    if sum(p.nnz for p in parts) > A.nnz + B.nnz:
        return None
    inputs: list[int] = []
    weights: list[sp.csr_array] = []
    for s, W in [(s, B.matrix(i)) for i, s in enumerate(second.inputs) if s != t] + list(zip(first.inputs, parts)):
        if s in inputs:
            weights[inputs.index(s)] = weights[inputs.index(s)] + W
        else:
            inputs.append(s)
            weights.append(W)
    bias = B.bias + Bt @ A.bias
    return Node(Linear(weights, bias), tuple(inputs), second.shape, second.name or first.name)


def _bypass(nodes: list[Node], output: int, k: int, replacement: int | None) -> tuple[list[Node], int]:
    """Remove node k (tensor k + 1): readers of it read ``replacement`` instead; later tensors shift down."""
    t = k + 1

    def remap(s: int) -> int:
        if s == t:
            assert replacement is not None
            return replacement
        return s - 1 if s > t else s

    out = [Node(n.op, tuple(remap(s) for s in n.inputs), n.shape, n.name) for i, n in enumerate(nodes) if i != k]
    return out, remap(output) if output != t or replacement is not None else output - 1
