"""The encoding of a :class:`~nnblocks.graph.Graph` in a :class:`~nnblocks.blocks.NetworkBlock`.

Tensors with variables: the input (the caller's variables or the block's ``input[i]``), the output of every
Elementwise and WindowMax node, and the output of a Linear node unless its only reader is one Elementwise
node (and it is not the graph's output). Node k's components live on the block ``m.nn.nodes[k]``:

- an Elementwise node is one layer of the formulation (a :class:`~nnblocks.blocks.formulations.LayerSpec`):
  W the weights of the Linear node it reads, stacked over that node's input tensors (sparse, so a
  convolution row has kernel x channels terms), h the concatenation of those tensors' variables, sigma its
  activation; after a tensor that has variables, W = I;
- a Linear node with variables is a layer with the identity activation (x = W h + b, one equality per
  element; no indicators);
- a WindowMax node is the formulation's window-max encoding
  (:mod:`nnblocks.blocks.formulations.window_max`).

Element j of tensor t is ``m.nn.tensor(t)[j]`` (a variable, or the pre-activation expression of a Linear
output read by one Elementwise node). A graph's activation pattern is a dict {node k: array}: the piece of
every element for an Elementwise node, the argmax place (column of ``windows``) of every window for a
WindowMax node (:func:`activation_pattern`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyomo.environ as pyo
import scipy.sparse as sp

from nnblocks.activations import Identity
from nnblocks.blocks.formulations import Formulation, LayerSpec, Previous, WindowMaxSpec, window_max_encoding
from nnblocks.graph import Elementwise, Graph, Linear, WindowMax

__all__ = ["GraphEncoding", "GraphPlan", "TensorView", "activation_pattern", "plan"]

_IDENTITY = Identity()


def activation_pattern(graph: Graph, x: Any) -> dict[int, np.ndarray]:
    """The pattern of one input x: {k: pieces} for every Elementwise node, {k: argmax places} for every
    WindowMax node (the first place of a tie)."""
    vals = [v[0] for v in graph.values(x)]
    out: dict[int, np.ndarray] = {}
    for k, node in enumerate(graph.nodes):
        if isinstance(node.op, Elementwise):
            out[k] = np.asarray(node.op.activation.piece_index(vals[node.inputs[0]]), dtype=int)
        elif isinstance(node.op, WindowMax):
            cat = np.append(np.concatenate([vals[t] for t in node.inputs]), -np.inf)
            w = node.op.windows
            out[k] = np.argmax(cat[np.where(w >= 0, w, -1)], axis=1).astype(int)
    return out


def _roles(graph: Graph) -> list[str]:
    """Per node: "layer" (Elementwise, or Linear with variables), "max" (WindowMax), "fused" (a Linear read by
    one Elementwise node only) or "dead" (a Linear nobody reads)."""
    cons = graph.consumers()
    roles = []
    for k, node in enumerate(graph.nodes):
        t = k + 1
        if isinstance(node.op, WindowMax):
            roles.append("max")
        elif isinstance(node.op, Linear) and t != graph.output:
            readers = cons[t]
            if not readers:
                roles.append("dead")
            elif len(readers) == 1 and isinstance(graph.nodes[readers[0]].op, Elementwise):
                roles.append("fused")
            else:
                roles.append("layer")
        else:
            roles.append("layer")
    return roles


@dataclass
class GraphPlan:
    """A checked build of a graph (the graph counterpart of the block's plan of a Network)."""

    network: Graph
    formulation: Formulation
    inputs: list | None
    lower: np.ndarray
    upper: np.ndarray
    bounds: Any  # GraphBounds, or None for the pattern formulation
    pattern: dict[int, np.ndarray] | None
    outputs: list | None


def plan(graph: Graph, form: Formulation, inputs, lower, upper, bounds, pattern, outputs) -> GraphPlan:
    """Check a graph build: a window-max encoding for the formulation, the pattern, finite bounds where the
    encoding needs big-M constants."""
    if any(isinstance(node.op, WindowMax) for node in graph.nodes):
        window_max_encoding(form.name)
    pat = check_pattern(graph, pattern) if pattern is not None else None
    if bounds is not None:
        if len(bounds.lower) != len(graph) + 1 or any(
            np.shape(bounds.lower[t]) != (n,) for t, n in enumerate(graph.sizes)
        ):
            raise ValueError("the given GraphBounds do not match the graph's tensor sizes")
        for k, node in enumerate(graph.nodes):
            if isinstance(node.op, Elementwise):
                B = bounds.nodes[k]
                bad = np.flatnonzero((B.first_piece != B.last_piece) & ~(np.isfinite(B.lower) & np.isfinite(B.upper)))
            elif isinstance(node.op, WindowMax):
                spec = _window_spec(graph, k, bounds, None, None)
                places = spec.mask[spec.open]
                idx = spec.windows[spec.open][places]
                finite = np.isfinite(spec.lower[idx]) & np.isfinite(spec.upper[idx])
                bad = np.unique(np.repeat(spec.open, places.sum(axis=1))[~finite])
            else:
                continue
            if bad.size:
                raise ValueError(
                    f"the formulation needs finite bounds, but node {k} ({node.name or node.op.kind}) element "
                    f"{int(bad[0])} has unbounded inputs ({bad.size} such elements); give the inputs bounds "
                    "(variable bounds or input_bounds) or a norm ball"
                )
    return GraphPlan(graph, form, inputs, lower, upper, bounds, pat, outputs)


def check_pattern(graph: Graph, pattern: Any) -> dict[int, np.ndarray]:
    """A graph's pattern as {k: int array}, one entry for every Elementwise and WindowMax node."""
    if not isinstance(pattern, Mapping):
        raise ValueError("a graph's pattern is a dict {node k: pieces or argmax places} (see activation_pattern)")
    out = {}
    for k, node in enumerate(graph.nodes):
        if not isinstance(node.op, Elementwise | WindowMax):
            continue
        if k not in pattern:
            raise ValueError(f"the pattern has no entry for node {k} ({node.name or node.op.kind})")
        arr = np.asarray(pattern[k])
        if arr.shape != (node.size,):
            raise ValueError(f"pattern node {k} has shape {arr.shape}, the node has {node.size} elements")
        if not np.issubdtype(arr.dtype, np.integer) and not np.all(arr == np.round(arr)):
            raise ValueError(f"pattern node {k} holds non-integer entries")
        arr = arr.astype(int)
        if isinstance(node.op, Elementwise):
            P = node.op.activation.n_pieces
            if np.any((arr < 0) | (arr >= P)):
                raise ValueError(f"pattern node {k} has piece indices outside 0..{P - 1}")
        else:
            w = node.op.windows
            ok = (arr >= 0) & (arr < w.shape[1])
            ok[ok] = w[np.flatnonzero(ok), arr[ok]] >= 0
            if not ok.all():
                raise ValueError(f"pattern node {k}: window {int(np.argmin(ok))} has no element at place "
                                 f"{int(arr[np.argmin(ok)])}")
        out[k] = arr
    extra = set(pattern) - set(out)
    if extra:
        raise ValueError(f"the pattern names nodes {sorted(extra)}, which are not Elementwise or WindowMax nodes")
    return out


def _window_spec(graph: Graph, k: int, bounds, prev: Previous | None, pattern) -> WindowMaxSpec:
    node = graph.nodes[k]
    lo = hi = None
    if bounds is not None:
        lo = np.concatenate([bounds.lower[t] for t in node.inputs])
        hi = np.concatenate([bounds.upper[t] for t in node.inputs])
    if prev is None:
        n = sum(graph.sizes[t] for t in node.inputs)
        prev = Previous(np.full(n, None, dtype=object), np.full(n, np.nan))
    return WindowMaxSpec(k, node.op.windows, prev, lo, hi, pattern)


def _stack(mats: list) -> Any:
    """The weights of one Linear node side by side: dense when all are dense, else CSR."""
    if all(not sp.issparse(W) for W in mats):
        return mats[0] if len(mats) == 1 else np.hstack(mats)
    return sp.csr_array(sp.hstack([sp.csr_array(W) for W in mats], format="csr"))


def _terms(tensors: list[Previous]) -> Previous:
    if len(tensors) == 1:
        return tensors[0]
    return Previous(np.concatenate([p.vars for p in tensors]), np.concatenate([p.const for p in tensors]))


class TensorView(Mapping):
    """Tensor t of an encoded graph as a read-only mapping element j -> Pyomo term (a variable, or the
    pre-activation expression of a Linear output that has no variables); j a flat index or a multi-index of
    the tensor's per-sample ``shape``."""

    def __init__(self, encoding: GraphEncoding, t: int) -> None:
        self._enc = encoding
        self.t = t
        self.shape = encoding.graph.shape_of(t)

    def __len__(self) -> int:
        return self._enc.graph.sizes[self.t]

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self)))

    def __getitem__(self, j):
        if isinstance(j, tuple):
            j = int(np.ravel_multi_index(j, self.shape))
        j = int(j)
        if not 0 <= j < len(self):
            raise KeyError(f"tensor {self.t} has elements 0..{len(self) - 1}, got {j}")
        return self._enc.element(self.t, j)

    def __repr__(self) -> str:
        return f"<tensor {self.t} of shape {self.shape}>"


class PreActivations(Mapping):
    """Element j -> the pre-activation expression of a layer node of a graph (the formulation's compact form
    where the element has indicators, otherwise W_j h + b_j); built on first access."""

    def __init__(self, encoding: GraphEncoding, k: int) -> None:
        self._enc = encoding
        self._k = k
        self._cache: dict[int, Any] = {}

    def __len__(self) -> int:
        return self._enc.specs[self._k].n

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self)))

    def __getitem__(self, j):
        j = int(j)
        if not 0 <= j < len(self):
            raise KeyError(f"node {self._k} has elements 0..{len(self) - 1}, got {j}")
        if j not in self._cache:
            self._cache[j] = self._enc.pre_expression(self._k, j)
        return self._cache[j]

    def __repr__(self) -> str:
        return f"<pre-activations of node {self._k} ({len(self)} elements)>"


class GraphEncoding:
    """What a block built from a graph keeps: the graph, every node's role and spec, the tensors' terms."""

    def __init__(self, block: Any, plan: GraphPlan, in_vars: list) -> None:
        graph, form = plan.network, plan.formulation
        self.graph = graph
        self.form = form
        self.block = block
        self.roles = _roles(graph)
        self.bounds = plan.bounds
        self.wmax = window_max_encoding(form.name) if "max" in self.roles else None
        self.specs: dict[int, LayerSpec | WindowMaxSpec] = {}
        self.unstable: dict[int, np.ndarray] = {}
        self.unstable_sets: dict[int, frozenset] = {}
        self.pre: dict[int, PreActivations] = {}
        self.pattern = plan.pattern if form.builds_pattern else None
        n0 = graph.n_inputs
        terms: dict[int, Previous] = {0: Previous(np.array(in_vars + [None], dtype=object)[:-1], np.full(n0, np.nan))}
        keys = [k for k, r in enumerate(self.roles) if r in ("layer", "max")]
        block.nodes = pyo.Block(keys)
        for k in keys:
            node, lb = graph.nodes[k], block.nodes[k]
            if self.roles[k] == "max":
                pattern = self.pattern[k] if self.pattern is not None else None
                spec = _window_spec(graph, k, plan.bounds, _terms([terms[t] for t in node.inputs]), pattern)
                unstable = self.wmax.build(lb, spec)
            else:
                spec = self._layer_spec(k, terms)
                unstable = form.build_layer(lb, spec)
                self.pre[k] = PreActivations(self, k)
                lb.pre = self.pre[k]
            self.specs[k] = spec
            self.unstable[k] = np.asarray(unstable, dtype=int)
            self.unstable_sets[k] = frozenset(self.unstable[k].tolist())
            xs = [lb.x[j] for j in range(node.size)]
            const = np.array([v.value if v.fixed else np.nan for v in xs], dtype=float)
            terms[k + 1] = Previous(np.array(xs + [None], dtype=object)[:-1], const)
        self.terms = terms

    def _layer_spec(self, k: int, terms: dict[int, Previous]) -> LayerSpec:
        graph, node = self.graph, self.graph.nodes[k]
        if isinstance(node.op, Elementwise):
            act = node.op.activation
            s = node.inputs[0]
            if s > 0 and self.roles[s - 1] == "fused":
                src = graph.nodes[s - 1]
                W, b, reads = self._merged(src)
            else:
                W, b, reads = sp.identity(node.size, format="csr"), np.zeros(node.size), [s]
            B = None if self.bounds is None else self.bounds.nodes[k]
        else:  # a Linear node with variables: the identity activation
            act = _IDENTITY
            W, b, reads = self._merged(node)
            B = None
            if self.bounds is not None:
                from nnblocks.bounds import layer_bounds

                B = layer_bounds(self.bounds.lower[k + 1], self.bounds.upper[k + 1], act)
        pattern = None
        if self.pattern is not None:
            pattern = self.pattern[k] if isinstance(node.op, Elementwise) else np.zeros(node.size, dtype=int)
        return LayerSpec(k=k, W=W, b=b, activation=act, prev=_terms([terms[t] for t in reads]), bounds=B,
                         pattern=pattern)

    @staticmethod
    def _merged(node) -> tuple[Any, np.ndarray, list[int]]:
        """A Linear node's weights stacked over its distinct input tensors (a tensor read twice: summed)."""
        reads: list[int] = []
        mats: list = []
        for i, t in enumerate(node.inputs):
            W = node.op.weights[i]
            if t in reads:
                j = reads.index(t)
                mats[j] = sp.csr_array(mats[j]) + sp.csr_array(W) if sp.issparse(W) or sp.issparse(mats[j]) \
                    else mats[j] + W
            else:
                reads.append(t)
                mats.append(W)
        return _stack(mats), np.asarray(node.op.bias), reads

    # -- reading back -------------------------------------------------------------------------
    def element(self, t: int, j: int):
        if t in self.terms:
            return self.terms[t].vars[j]
        role = self.roles[t - 1]
        if role == "fused":
            reader = self.graph.consumers()[t][0]
            return self.pre[reader][j]
        raise KeyError(f"tensor {t} is the output of a Linear node nobody reads: it is not encoded")

    def pre_expression(self, k: int, j: int):
        spec = self.specs[k]
        if j in self.unstable_sets[k]:
            return self.form.pre_activation(self.block.nodes[k], spec, j)
        return spec.affine(j)

    def node_block(self, k: int):
        if not 0 <= k < len(self.graph):
            raise KeyError(f"the graph has nodes 0..{len(self.graph) - 1}, got {k}")
        role = self.roles[k]
        if role == "fused":
            reader = self.graph.consumers()[k + 1][0]
            raise KeyError(f"node {k} (linear) is encoded inside node {reader}, the Elementwise node reading it: "
                           f"its output is tensor({k + 1}), its pre-activations pre({reader})")
        if role == "dead":
            raise KeyError(f"node {k} (linear) is read by no node and is not the output: it is not encoded")
        return self.block.nodes[k]

    def outputs(self) -> list:
        view = TensorView(self, self.graph.output)
        return [view[j] for j in range(len(view))]

    # -- patterns -----------------------------------------------------------------------------
    def fix_pattern(self, pattern: Any) -> None:
        pat = check_pattern(self.graph, pattern)
        problems = []
        for k, p in pat.items():
            spec = self.specs[k]
            if isinstance(spec, WindowMaxSpec):
                bad = np.flatnonzero(~spec.mask[np.arange(spec.n), p])
                what = "argmax place {p} is ruled out by the bounds"
            else:
                bad = np.flatnonzero((p < spec.first) | (p > spec.last))
                what = "piece {p} but the bounds allow only pieces {f}..{l}"
            for j in bad[:5].tolist():
                f, l_ = (None, None) if isinstance(spec, WindowMaxSpec) else (spec.first[j], spec.last[j])
                problems.append(f"node {k} element {j}: " + what.format(p=p[j], f=f, l=l_))
            if bad.size > 5:
                problems.append(f"node {k}: {bad.size - 5} more elements")
        if problems:
            raise ValueError("the activation pattern is incompatible with the bounds: " + "; ".join(problems))
        for k, p in pat.items():
            if isinstance(self.specs[k], WindowMaxSpec):
                self.wmax.fix(self.block.nodes[k], self.specs[k], p)
            else:
                self.form.fix_layer(self.block.nodes[k], self.specs[k], p)
        self.pattern = pat

    def unfix_pattern(self) -> None:
        for k, spec in self.specs.items():
            if isinstance(spec, WindowMaxSpec):
                self.wmax.unfix(self.block.nodes[k], spec)
            else:
                self.form.unfix_layer(self.block.nodes[k], spec)
        self.pattern = None
