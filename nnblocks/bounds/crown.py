"""Linear bound propagation (CROWN / DeepPoly) over a graph of operations, batched over B input domains.

To bound rows Lambda z_t of a tensor t from below, the bound Lambda z_t >= Lambda_s z_s + d is carried
backwards through the graph, node by node in reverse topological order (backward substitution):

- a Linear node y = sum_i W_i x_i + b:  Lambda_{x_i} += Lambda_y W_i,  d += Lambda_y b;
- an Elementwise node y = sigma(z) with lines s_L z + q_L <= y <= s_U z + q_U:
  Lambda_z += [Lambda_y]_+ s_L + [Lambda_y]_- s_U,  d += [Lambda_y]_+ q_L + [Lambda_y]_- q_U;
- a WindowMax node: the same with its lines (:func:`~nnblocks.bounds.linear_relax.window_max_lines`),

until only the input x remains: Lambda z_t >= Lambda_0 x + d for every x in the domain. Concretisation
over the box [l, u] ∩ {||x - x_0||_p <= eps} takes the larger of the two valid lower bounds

    min over the box  = [Lambda_0]_+ l + [Lambda_0]_- u + d,
    min over the ball = Lambda_0 x_0 - eps ||Lambda_0||_q + d   (1/p + 1/q = 1, the dual norm).

An upper bound of z_t is minus the lower bound of -z_t; both are propagated together as the rows
[I; -I]. The relaxation of a node needs bounds on its inputs: CROWN computes them first, tensor by
tensor in topological order, each by its own backward pass (intermediate bounds), intersected with the
interval bounds of the operation over the bounds already known.

Floating-point soundness: every rounded product Lambda W, every elementwise product and every sum of the
backward pass is charged its error bound gamma_n |Lambda| |W| |z| (Higham), with |z| <= max(|l_z|, |u_z|)
taken from the bounds of the tensor it multiplies, and the concretised bound is moved outward by the
sum of these charges; the relaxation lines are sound as floats themselves (:mod:`linear_relax`).
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from nnblocks._validate import dual_norm, norm_of
from nnblocks.bounds.interval import interval_bounds, layer_bounds
from nnblocks.bounds.linear_relax import elementwise_lines, kink_lower_line, kink_slopes, window_max_lines
from nnblocks.bounds.results import NetworkBounds
from nnblocks.graph import Elementwise, Graph, Linear, WindowMax

__all__ = ["BallDomain", "CrownResult", "crown", "crown_method", "crown_result", "crown_rows", "domain_of",
           "network_layers"]

_EPS = float(np.finfo(np.float64).eps)
_TINY = float(np.finfo(np.float64).tiny)
_CHUNK = int(__import__("os").environ.get("NNB_CHUNK", 2**18))  # entries per (rows, width) block of a packed pass


def _gamma(n: float) -> float:
    """gamma_{n+2} with the machine epsilon (twice the unit roundoff): covers an n-term float64 dot product."""
    n = float(n) + 2.0
    return n * _EPS / (1.0 - n * _EPS)


@dataclass(frozen=True)
class BallDomain:
    """B input domains: boxes [lower_b, upper_b] (each (B, n)), optionally ∩ balls ||x - center_b||_norm <= radius."""

    lower: np.ndarray
    upper: np.ndarray
    center: np.ndarray | None = None
    norm: int | str | None = None
    radius: float | None = None

    @property
    def B(self) -> int:
        return int(self.lower.shape[0])

    def box(self) -> tuple[np.ndarray, np.ndarray]:
        """The box, intersected with [c - r, c + r] (valid for every p-norm)."""
        if self.center is None:
            return self.lower, self.upper
        lo = np.maximum(self.lower, self.center - self.radius)
        hi = np.minimum(self.upper, self.center + self.radius)
        return lo, np.maximum(lo, hi)


@dataclass
class CrownResult:
    """The bounds of every tensor (``tensors[t]`` = (lo, hi), each (B, size)), of the specification rows
    (``lower``, ``upper``, each (B, m)) and which boxes contradict their fixed ReLU phases."""

    tensors: list[tuple[np.ndarray, np.ndarray]]
    lower: np.ndarray
    upper: np.ndarray
    infeasible: np.ndarray
    relaxations: dict


def _mag(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(lo), np.abs(hi))


def _right(L: np.ndarray, W: Any) -> np.ndarray:
    """L @ W for L of shape (B, R, n_out) and W (n_out, n_in) dense or sparse: (B, R, n_in)."""
    B, R, n = L.shape
    L2 = L.reshape(B * R, n)
    out = np.asarray((W.T @ L2.T).T) if sp.issparse(W) else L2 @ W
    return out.reshape(B, R, -1)


def _absW(W: Any) -> Any:
    return abs(W) if sp.issparse(W) else np.abs(W)


def _mv(W: Any, v: np.ndarray) -> np.ndarray:
    """W @ v for v of shape (B, n_in): (B, n_out)."""
    return np.asarray((W @ v.T).T) if sp.issparse(W) else v @ W.T


class _Rows:
    """What both backward passes share: the concretisation of the input's linear bound over the domain.

    A subclass sets ``row_axis`` (the axis of L0 over the input) and ``_dot`` (each row times its box's vector).
    """

    row_axis: int

    def _dot(self, X: np.ndarray, a: np.ndarray) -> np.ndarray:  # pragma: no cover - set by the subclasses
        raise NotImplementedError

    def _concretise(self, L0: np.ndarray) -> np.ndarray:
        """min over the domain of L0 x + d, soundly: over the box (L0+ lo + L0- hi) and, with a ball, also
        L0 c - eps ||L0||_dual, the larger of the two, each with its rounding error charged."""
        e = self.e
        dom = e.dom
        n0 = L0.shape[self.row_axis]
        lo, hi = e.tensors[0]
        Lp, Lm = np.maximum(L0, 0.0), np.minimum(L0, 0.0)
        box = self._dot(Lp, lo) + self._dot(Lm, hi)
        aL = np.abs(L0)
        box = box - _gamma(n0) * self._dot(aL, e.mags[0])
        best = box
        if dom.center is not None:
            c = np.broadcast_to(dom.center, lo.shape)
            mid = self._dot(L0, c)
            mid_pad = _gamma(n0) * self._dot(aL, np.abs(c))
            spread = dom.radius * norm_of(L0, dual_norm(dom.norm), axis=self.row_axis) * (1.0 + _gamma(n0 + 4))
            best = np.maximum(box, mid - mid_pad - spread)
        total = best + self.d
        pad = self.err + _gamma(self.n_add + 2) * (np.abs(best) + self.dmag) + _TINY
        out = np.nextafter(total - pad, -np.inf)
        out[self.neg_inf] = -np.inf
        return out


class _Backward(_Rows):
    """One backward pass: rows Lambda (B, R, size_t) of tensor t, bounded below."""

    row_axis = 2

    def __init__(self, engine: _Crown, t: int, Lam: np.ndarray, slopes: dict | None) -> None:
        self.e = engine
        self.t = t
        self.slopes = slopes or {}
        B, R = Lam.shape[:2]
        self.lams: dict[int, np.ndarray] = {t: Lam}
        self.count: dict[int, int] = {t: 1}
        self.absacc: dict[int, np.ndarray] = {}
        self.d = np.zeros((B, R))
        self.dmag = np.zeros((B, R))  # sum of |terms| added into d (for the rounding of its sums)
        self.n_add = 0
        self.err = np.zeros((B, R))  # accumulated rounding-error bound of the backward products
        self.neg_inf = np.zeros((B, R), dtype=bool)

    def _add(self, s: int, contrib: np.ndarray) -> None:
        if s in self.lams:
            self.lams[s] = self.lams[s] + contrib
            self.count[s] += 1
            self.absacc[s] = self.absacc.get(s, 0.0) + np.abs(contrib)
        else:
            self.lams[s] = contrib
            self.count[s] = 1
            self.absacc[s] = np.abs(contrib)

    def _take(self, s: int) -> np.ndarray:
        L = self.lams.pop(s)
        k = self.count.pop(s)
        acc = self.absacc.pop(s, None)
        if k > 1 and acc is not None:  # rounding of the k - 1 additions into Lambda_s
            self.err += _gamma(k) * np.einsum("brn,bn->br", acc, self.e.mags[s])
        return L

    def _const(self, terms_pos: np.ndarray, q: np.ndarray, n: int) -> None:
        """d += sum_j terms_pos[b, r, j] q[b or 1, j] (q may be infinite: such rows with a nonzero term get -inf)."""
        shape = (terms_pos.shape[0], q.shape[-1])
        inf = np.broadcast_to(~np.isfinite(q), shape)
        qf = np.where(inf, 0.0, q)
        val = np.einsum("brn,bn->br", terms_pos, qf)
        mag = np.einsum("brn,bn->br", np.abs(terms_pos), np.abs(qf))
        if inf.any():
            self.neg_inf |= np.einsum("brn,bn->br", (terms_pos != 0).astype(np.float64), inf.astype(np.float64)) > 0
        self.d += val
        self.dmag += mag
        self.err += _gamma(n) * mag
        self.n_add += 1

    def run(self) -> np.ndarray:
        """The lower bound of every row over the domain, (B, R), floating-point sound."""
        e = self.e
        for k in range(self.t - 1, -1, -1):
            y = k + 1
            if y not in self.lams:
                continue
            L = self._take(y)
            node = e.graph.nodes[k]
            op = node.op
            if isinstance(op, Linear):
                n_out = op.out_size
                aL = np.abs(L)
                for W, s in zip(op.weights, node.inputs):
                    self._add(s, _right(L, W))
                    self.err += _gamma(n_out) * np.einsum("brn,bn->br", aL, _mv(_absW(W), e.mags[s]))
                if np.any(op.bias):
                    self._const(L, op.bias[None, :], n_out)
            elif isinstance(op, Elementwise):
                z = node.inputs[0]
                sL, qL, sU, qU = e.relax[k]
                if k in self.slopes:
                    sL, qL = self.slopes[k]
                pos = L >= 0
                sL3 = sL if sL.ndim == 3 else sL[:, None, :]
                qL3 = qL if qL.ndim == 3 else qL[:, None, :]
                C = L * np.where(pos, sL3, sU[:, None, :])
                self.err += _EPS * np.einsum("brn,bn->br", np.abs(C), e.mags[z])
                self._add(z, C)
                Q = np.where(pos, qL3, qU[:, None, :])
                fin = np.isfinite(Q)
                if not fin.all():
                    self.neg_inf |= (~fin & (L != 0)).any(axis=2)
                    Q = np.where(fin, Q, 0.0)
                T = L * Q
                m = np.abs(T).sum(axis=2)
                self.d += T.sum(axis=2)
                self.dmag += m
                self.err += _gamma(op.size) * m
                self.n_add += 1
            elif isinstance(op, WindowMax):
                index, decided, cap = e.relax[k]
                Lp, Lm = np.maximum(L, 0.0), np.minimum(L, 0.0)
                coef = Lp + Lm * decided[:, None, :]
                total = int(sum(op.in_sizes))
                B, R, m = L.shape
                G = np.zeros((B, R, total))
                for b in range(B):
                    S = sp.csr_array((np.ones(m), (np.arange(m), index[b])), shape=(m, total))
                    G[b] = np.asarray((S.T @ coef[b].T).T)
                cat_mag = np.concatenate([e.mags[s] for s in node.inputs], axis=1)
                overlap = int(np.bincount(op.windows[op.windows >= 0]).max(initial=1))
                if overlap > 1:
                    self.err += _gamma(overlap) * np.einsum("brn,bn->br", np.abs(G), cat_mag)
                offs = np.cumsum([0, *op.in_sizes])
                for i, s in enumerate(node.inputs):
                    self._add(s, G[:, :, offs[i]:offs[i + 1]])
                self._const(Lm * (~decided)[:, None, :], cap, m)
            else:  # pragma: no cover - the three kinds are all there is
                raise TypeError(f"no linear relaxation for operation {op.kind!r}")
        L0 = self._take(0) if 0 in self.lams else np.zeros((*self.d.shape, e.graph.n_inputs))
        return self._concretise(L0)

    def _dot(self, X: np.ndarray, a: np.ndarray) -> np.ndarray:
        """Row r of box b of X (B, R, n) times a[b] (a of shape (B, n)): (B, R)."""
        return np.einsum("brn,bn->br", X, a)


class _Packed(_Rows):
    """One backward pass over a chain of single-input Linear and Elementwise nodes, the rows packed over the boxes.

    Row r belongs to box ``bidx[r]``; Lambda is a plain (N, size_t) array, so each Linear node is one dense
    (or sparse) product Lambda W shared by all boxes and the per-box relaxation lines are gathered by ``bidx``.
    Only the rows that need a bound are carried (e.g. the neurons unstable in their own box), with the same
    arithmetic and the same rounding charges as :class:`_Backward`, row for row.
    """

    row_axis = 1

    def __init__(self, engine: _Crown, t: int, Lam: np.ndarray | None, bidx: np.ndarray, slopes: dict | None,
                 first: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.e = engine
        self.t = t
        self.L = Lam  # None: the rows sign_r e_{j_r} given by first = (j, sign), tensor t a Linear node's output
        self.first = first
        self.bidx = bidx
        self.one = engine.dom.B == 1
        self.slopes = slopes or {}
        N = bidx.size
        self.d = np.zeros(N)
        self.dmag = np.zeros(N)
        self.err = np.zeros(N)
        self.n_add = 0
        self.neg_inf = np.zeros(N, dtype=bool)

    def run(self) -> np.ndarray:
        """The lower bound of every row over its box's domain, (N,), floating-point sound."""
        e, b = self.e, self.bidx
        L = self.L
        if not b.size:
            return np.zeros(0)
        aL = None  # |L| when the step before computed it
        top = self.t - 1
        if L is None:  # the rows sign_r e_{j_r} of a Linear node's output: Lambda W is sign_r W[j_r], exactly
            j, sign = self.first
            op = e.graph.nodes[top].op
            W = op.weights[0]
            M = _mv(_absW(W), e.mags[e.graph.nodes[top].inputs[0]])
            self.err += _gamma(op.out_size) * M[b, j]
            if np.any(op.bias):
                mag = np.abs(op.bias[j])
                self.d += sign * op.bias[j]
                self.dmag += mag
                self.err += _gamma(op.out_size) * mag
                self.n_add += 1
            L = sign[:, None] * (W.tocsr()[j].toarray() if sp.issparse(W) else W[j])
            top -= 1
        for k in range(top, -1, -1):
            node = e.graph.nodes[k]
            op = node.op
            s = node.inputs[0]
            if isinstance(op, Linear):
                W = op.weights[0]
                n_out = op.out_size
                aL = np.abs(L) if aL is None else aL
                M = _mv(_absW(W), e.mags[s])  # |W| |z_s| per box, (B, n_out)
                self.err += _gamma(n_out) * self._dot(aL, M)
                if np.any(op.bias):
                    mag = aL @ np.abs(op.bias)
                    self.d += L @ op.bias
                    self.dmag += mag
                    self.err += _gamma(n_out) * mag
                    self.n_add += 1
                L = np.asarray((W.T @ L.T).T) if sp.issparse(W) else L @ W
                aL = None
            else:  # Elementwise
                sL, qL, sU, qU = e.relax[k]
                if k in self.slopes:
                    sL, qL = self.slopes[k]
                # the sign selections of _Backward as sums (one of the two terms is an exact zero): no np.where
                # over (N, n), which costs ten elementwise products here
                Lp = np.maximum(L, 0.0)
                Lm = L - Lp
                C = Lp * self._g(sL) + Lm * self._g(sU)
                aL = np.abs(C)
                self.err += _EPS * self._dot(aL, e.mags[s])
                fin_L, fin_U = np.isfinite(qL), np.isfinite(qU)
                if not (fin_L.all() and fin_U.all()):
                    self.neg_inf |= (self._dot((Lp != 0).astype(np.float64), (~fin_L).astype(np.float64))
                                     + self._dot((Lm != 0).astype(np.float64), (~fin_U).astype(np.float64))) > 0
                    qL, qU = np.where(fin_L, qL, 0.0), np.where(fin_U, qU, 0.0)
                self.d += self._dot(Lp, qL) + self._dot(Lm, qU)
                m = self._dot(Lp, np.abs(qL)) - self._dot(Lm, np.abs(qU))
                self.dmag += m
                self.err += _gamma(op.size) * m
                self.n_add += 1
                L = C
        self.L0 = L  # the rows' coefficients over the input (before concretisation)
        return self._concretise(L)

    def _g(self, a: np.ndarray) -> np.ndarray:
        """The per-box array a (B, n) at the rows' boxes: (N, n), or a itself (1, n) for one box."""
        return a if self.one else a[self.bidx]

    def _dot(self, X: np.ndarray, a: np.ndarray) -> np.ndarray:
        """Row r of X (N, n) times a[bidx[r]] (a of shape (B, n)): (N,)."""
        return X @ a[0] if self.one else np.einsum("rn,rn->r", X, a[self.bidx])


class _Crown:
    """The forward sweep: bounds of every tensor, CROWN for the inputs of the activation nodes."""

    packed = True  # chains use packed backward passes (:class:`_Packed`); False: always :class:`_Backward`
    tighten = True  # False: no backward passes for intermediate bounds (interval ∩ ``start`` only)

    def __init__(self, graph: Graph, dom: BallDomain, relu_split: np.ndarray | None,
                 alphas: dict | None = None, only_unstable: bool = False,
                 start: list[tuple[np.ndarray, np.ndarray]] | None = None) -> None:
        self.graph = graph
        self.start = start  # known bounds of every tensor, intersected with each new one
        self.dom = dom
        self.alphas = alphas or {}  # node k -> alpha (B, n) for the lower lines of a kink activation
        self.tensors: list[tuple[np.ndarray, np.ndarray]] = [dom.box()]
        self.mags: list[np.ndarray] = [_mag(*self.tensors[0])]
        self.relax: dict[int, Any] = {}
        self.infeasible = np.zeros(dom.B, dtype=bool)
        need: set[int] = set()
        for node in graph.nodes:
            if isinstance(node.op, Elementwise | WindowMax):
                need.update(node.inputs)
        self.need = need
        # tensors read only by Elementwise nodes: only rows of neurons unstable in some box need a backward pass
        self.element_only = {t for t in need if all(isinstance(graph.nodes[k].op, Elementwise)
                                                    for k in graph.consumers()[t])}
        self.only_unstable = only_unstable
        # a chain of single-input Linear and Elementwise nodes (a Network's graph): packed backward passes
        self.chain = all(
            node.inputs == (k,) and (isinstance(node.op, Elementwise) or (isinstance(node.op, Linear)
                                                                          and node.op.n_inputs == 1))
            for k, node in enumerate(graph.nodes))
        self.split = relu_split
        self.split_offset: dict[int, int] = {}
        off = 0
        for k, node in enumerate(graph.nodes):
            if isinstance(node.op, Elementwise):
                self.split_offset[k] = off
                off += node.op.size
        self.n_split = off

    def identity_rows(self, n: int) -> np.ndarray:
        eye = np.eye(n)
        return np.broadcast_to(np.concatenate([eye, -eye])[None], (self.dom.B, 2 * n, n))

    def bound_rows(self, t: int, Lam: np.ndarray, slopes: dict | None = None) -> np.ndarray:
        """Sound lower bounds of the rows Lam (B, R, size_t) of tensor t."""
        return _Backward(self, t, Lam, slopes).run()

    def bound_packed(self, t: int, Lam: np.ndarray, bidx: np.ndarray) -> np.ndarray:
        """Sound lower bounds of the rows Lam (N, size_t) of tensor t, row r over the domain of box bidx[r]."""
        # in chunks of rows whose (rows, width) arrays stay in the cache: the pass is memory-bound otherwise
        width = max([Lam.shape[1], self.graph.n_inputs, *(node.op.out_size if isinstance(node.op, Linear)
                                                          else node.op.size for node in self.graph.nodes[:t])])
        step = max(64, _CHUNK // width)
        return np.concatenate([_Packed(self, t, Lam[i:i + step], bidx[i:i + step], None).run()
                               for i in range(0, Lam.shape[0], step)] or [np.zeros(0)])

    def bound_units(self, t: int, j: np.ndarray, sign: np.ndarray, bidx: np.ndarray) -> np.ndarray:
        """:meth:`bound_packed` of the rows sign_r e_{j_r} of tensor t, the output of a Linear node."""
        width = max([self.graph.n_inputs, *(node.op.out_size if isinstance(node.op, Linear)
                                            else node.op.size for node in self.graph.nodes[:t])])
        step = max(64, _CHUNK // width)
        return np.concatenate([_Packed(self, t, None, bidx[i:i + step], None, (j[i:i + step], sign[i:i + step])).run()
                               for i in range(0, bidx.size, step)] or [np.zeros(0)])

    def _direct(self, node: Any, t: int) -> tuple[np.ndarray, np.ndarray] | None:
        """For a Linear node reading only the input: the bound over box ∩ ball without a backward pass."""
        op = node.op
        if not isinstance(op, Linear) or any(s != 0 for s in node.inputs) or self.dom.center is None:
            return None
        if op.n_inputs == 1:
            W = op.weights[0]
        else:
            W = sum((op.matrix(i) for i in range(op.n_inputs)), sp.csr_array(op.matrix(0).shape))
            W = W.toarray() if W.nnz > 0.25 * W.shape[0] * W.shape[1] else W
        c = np.broadcast_to(self.dom.center, self.tensors[0][0].shape)
        mid = _mv(W, c) + op.bias
        dense = W.toarray() if sp.issparse(W) else W
        spread = self.dom.radius * norm_of(dense, dual_norm(self.dom.norm), axis=1) * (1.0 + _gamma(W.shape[1] + 4))
        pad = _gamma(W.shape[1] + 1) * (_mv(_absW(W), np.abs(c)) + np.abs(op.bias)) + _TINY
        return mid - spread - pad, mid + spread + pad

    def run(self) -> None:
        g = self.graph
        for k, node in enumerate(g.nodes):
            t = k + 1
            op = node.op
            if isinstance(op, Elementwise):
                zlo, zhi = self._apply_split(k, node)
                self.relax[k] = self._element_lines(k, op, zlo, zhi)
            los = [self.tensors[s][0] for s in node.inputs]
            his = [self.tensors[s][1] for s in node.inputs]
            if isinstance(op, WindowMax):
                self.relax[k] = window_max_lines(op, np.concatenate(los, axis=1), np.concatenate(his, axis=1))
            lo, hi = op.interval(los, his)
            if self.start is not None:
                lo, hi = np.maximum(lo, self.start[t][0]), np.minimum(hi, self.start[t][1])
            if t in self.need and self.tighten:
                direct = self._direct(node, t)
                if direct is not None:
                    lo, hi = np.maximum(lo, direct[0]), np.minimum(hi, direct[1])
                elif not (isinstance(op, Linear) and all(s == 0 for s in node.inputs)):
                    lo, hi = self._tighten(t, lo, hi)
            bad = lo > hi
            if bad.any():  # only after fixed phases: no input of those boxes reaches here
                self.infeasible |= bad.any(axis=1)
                hi = np.where(bad, lo, hi)
            self.tensors.append((lo, hi))
            self.mags.append(_mag(lo, hi))

    def _tighten(self, t: int, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tensor t's bounds [lo, hi] intersected with its CROWN bounds (of the rows that need them)."""
        n = lo.shape[1]
        rows_idx = np.arange(n)
        use = np.ones((self.dom.B, n), dtype=bool)
        if self.only_unstable and t in self.element_only:
            use[:] = False
            for k in self.graph.consumers()[t]:
                bp = self.graph.nodes[k].op.activation.breakpoints
                use |= ((lo[:, :, None] < bp) & (hi[:, :, None] > bp)).any(axis=2)
        if self.packed and self.chain:
            return self._tighten_packed(t, lo, hi, use)
        if self.only_unstable and t in self.element_only:
            rows_idx = np.flatnonzero(use.any(axis=0))
            if not rows_idx.size:
                return lo, hi
            use = use[:, rows_idx]  # a box keeps the interval bounds of the neurons stable in it
        else:
            use = use[:, rows_idx]
        self.tensors.append((lo, hi))
        self.mags.append(_mag(lo, hi))
        r = rows_idx.size
        Lam = np.zeros((self.dom.B, 2 * r, n))
        Lam[:, np.arange(r), rows_idx] = 1.0
        Lam[:, r + np.arange(r), rows_idx] = -1.0
        rows = self.bound_rows(t, Lam)
        self.tensors.pop()
        self.mags.pop()
        lo, hi = lo.copy(), hi.copy()
        lo[:, rows_idx] = np.where(use, np.maximum(lo[:, rows_idx], rows[:, :r]), lo[:, rows_idx])
        hi[:, rows_idx] = np.where(use, np.minimum(hi[:, rows_idx], -rows[:, r:]), hi[:, rows_idx])
        return lo, hi

    def _tighten_packed(self, t: int, lo: np.ndarray, hi: np.ndarray, use: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_tighten` with one packed row pair (lower, upper) per box and neuron of ``use`` (B, n)."""
        bi, j = np.nonzero(use)
        N = bi.size
        if not N:
            return lo, hi
        self.tensors.append((lo, hi))
        self.mags.append(_mag(lo, hi))
        jj, bb = np.concatenate([j, j]), np.concatenate([bi, bi])
        sign = np.concatenate([np.ones(N), -np.ones(N)])
        if isinstance(self.graph.nodes[t - 1].op, Linear):
            rows = self.bound_units(t, jj, sign, bb)
        else:
            Lam = np.zeros((2 * N, lo.shape[1]))
            Lam[np.arange(2 * N), jj] = sign
            rows = self.bound_packed(t, Lam, bb)
        self.tensors.pop()
        self.mags.pop()
        lo, hi = lo.copy(), hi.copy()
        lo[bi, j] = np.maximum(lo[bi, j], rows[:N])
        hi[bi, j] = np.minimum(hi[bi, j], -rows[N:])
        return lo, hi

    def _apply_split(self, k: int, node: Any) -> tuple[np.ndarray, np.ndarray]:
        z = node.inputs[0]
        zlo, zhi = self.tensors[z]
        if self.split is None:
            return zlo, zhi
        off = self.split_offset[k]
        ph = self.split[:, off:off + node.op.size]
        if not np.any(ph):
            return zlo, zhi
        act = node.op.activation
        if act.n_pieces != 2:
            raise ValueError(f"relu_split fixes neurons of two-piece activations only; node {k} has {act!r}")
        t0 = float(act.breakpoints[0])
        zlo = np.where(ph > 0, np.maximum(zlo, t0), zlo)
        zhi = np.where(ph < 0, np.minimum(zhi, t0), zhi)
        bad = zlo > zhi
        if bad.any():
            self.infeasible |= bad.any(axis=1)
            zhi = np.where(bad, zlo, zhi)
        self.tensors[z] = (zlo, zhi)
        self.mags[z] = _mag(zlo, zhi)
        return zlo, zhi

    def _element_lines(self, k: int, op: Elementwise, zlo: np.ndarray, zhi: np.ndarray) -> tuple:
        sL, qL, sU, qU = elementwise_lines(op.activation, zlo, zhi)
        if k in self.alphas and kink_slopes(op.activation) is not None:
            t0 = float(op.activation.breakpoints[0])
            unstable = (zlo < t0) & (zhi > t0)
            aL, aQ = kink_lower_line(op.activation, zlo, zhi, self.alphas[k])
            sL = np.where(unstable, aL, sL)
            qL = np.where(unstable, aQ, qL)
        return sL, qL, sU, qU


def crown(
    graph: Graph,
    dom: BallDomain,
    C: np.ndarray | None = None,
    relu_split: np.ndarray | None = None,
    alphas: dict | None = None,
    only_unstable: bool = False,
    packed: bool = True,
) -> CrownResult:
    """CROWN bounds of every tensor of ``graph`` and of C z_out (or z_out itself) over the domains ``dom``.

    ``alphas`` (node index -> (B, n) array in [0, 1]) fixes the lower slopes of the unstable neurons of kink
    activations (ReLU, leaky ReLU) instead of CROWN's adaptive choice; any values give sound bounds.
    ``only_unstable``: the tensors read only by activations get a backward pass only for the neurons their
    interval bounds leave unstable in some box (the others keep interval bounds, which already make their
    relaxation exact).
    ``packed``: on a chain of single-input Linear and Elementwise nodes (a Network's graph), carry only the
    rows that need a bound, packed over the boxes (one shared product per Linear node); False: the general
    (B, R, n) pass over the union of the rows of all boxes. Both give the same bounds up to rounding.
    """
    eng = _Crown(graph, dom, relu_split, alphas, only_unstable)
    eng.packed = bool(packed)
    return crown_result(eng, graph, dom, C)


def crown_result(eng: _Crown, graph: Graph, dom: BallDomain, C: np.ndarray | None) -> CrownResult:
    """Run the sweep of ``eng`` and bound the output rows (C z_out, or z_out)."""
    eng.run()
    out = graph.output
    lo, hi = eng.tensors[out]
    n = graph.n_outputs
    packed = eng.packed and eng.chain
    if C is None:
        if out > 0 and out not in eng.need:
            rows = _output_rows(eng, out, np.concatenate([np.eye(n), -np.eye(n)]), packed)
            lo, hi = np.maximum(lo, rows[:, :n]), np.minimum(hi, -rows[:, n:])
            if eng.start is not None:
                lo, hi = np.maximum(lo, eng.start[out][0]), np.minimum(hi, eng.start[out][1])
            eng.tensors[out] = (lo, hi)
        out_lo, out_hi = lo, hi
    else:
        ilo, ihi = Linear([C]).interval([lo], [hi])
        m = C.shape[0]
        rows = _output_rows(eng, out, np.concatenate([C, -C]), packed) if out > 0 else np.full((dom.B, 2 * m), -np.inf)
        out_lo, out_hi = np.maximum(ilo, rows[:, :m]), np.minimum(ihi, -rows[:, m:])
    inf = eng.infeasible
    if inf.any():
        out_lo = np.where(inf[:, None], np.inf, out_lo)
        out_hi = np.where(inf[:, None], -np.inf, out_hi)
    return CrownResult(eng.tensors, out_lo, out_hi, inf, eng.relax)


def crown_rows(graph: Graph, lower: np.ndarray, upper: np.ndarray, C: np.ndarray,
               start: list[tuple[np.ndarray, np.ndarray]] | None = None, tighten: bool = True
               ) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """Lower bounds (B, m) of the rows C z_out over the boxes [lower_b, upper_b] of a chain graph, by one packed
    backward pass, with the rows' coefficients Lambda_0 (B, m, n_0) over the input before concretisation
    (C z_out >= Lambda_0 x + d on the box), and the bounds of every tensor.

    The intermediate bounds are the interval bounds intersected with ``start[t]`` (bounds of every tensor sound for
    the boxes, e.g. :func:`~nnblocks.bounds.forward.forward_bounds`) and, with ``tighten``, with CROWN bounds of
    the neurons that these leave unstable (as ``crown(..., only_unstable=True)``)."""
    dom = BallDomain(np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64))
    eng = _Crown(graph, dom, None, only_unstable=True, start=start)
    if not eng.chain or graph.output != len(graph.nodes):
        raise ValueError("crown_rows needs a chain of single-input Linear and Elementwise nodes")
    eng.tighten = bool(tighten)
    eng.run()
    B, m = dom.B, C.shape[0]
    ilo, _ = Linear([C]).interval([eng.tensors[-1][0]], [eng.tensors[-1][1]])
    width = max([graph.n_inputs, *(node.op.out_size if isinstance(node.op, Linear) else node.op.size
                                   for node in graph.nodes)])
    step = max(m, (_CHUNK // width) // m * m)
    lows, coefs = [], []
    Lam = np.tile(C, (B, 1))
    bidx = np.repeat(np.arange(B), m)
    for i in range(0, B * m, step):
        p = _Packed(eng, graph.output, Lam[i:i + step], bidx[i:i + step], None)
        lows.append(p.run())
        coefs.append(p.L0)
    low = np.concatenate(lows).reshape(B, m)
    low = np.where(eng.infeasible[:, None], np.inf, np.maximum(ilo, low))
    return low, np.concatenate(coefs).reshape(B, m, graph.n_inputs), eng.tensors


def _output_rows(eng: _Crown, t: int, rows: np.ndarray, packed: bool) -> np.ndarray:
    """Lower bounds (B, R) of the rows (R, size_t) of tensor t in every box."""
    B, R = eng.dom.B, rows.shape[0]
    if not packed:
        return eng.bound_rows(t, np.broadcast_to(rows[None], (B, R, rows.shape[1])))
    return eng.bound_packed(t, np.tile(rows, (B, 1)), np.repeat(np.arange(B), R)).reshape(B, R)


def domain_of(dom: Any, n: int) -> BallDomain:
    """A :class:`BallDomain` (B = 1) from an :class:`~nnblocks.bounds.InputDomain`."""
    lo, hi = dom.lower.reshape(1, n), dom.upper.reshape(1, n)
    if dom.center is None:
        return BallDomain(lo, hi)
    return BallDomain(lo, hi, dom.center.reshape(1, n), dom.norm, float(dom.radius))


def network_layers(network: Any, graph: Graph, tensors: list[tuple[np.ndarray, np.ndarray]], start: list) -> list:
    """The :class:`LayerBounds` of a chain network from the bounds of its graph's tensors (box 0), each
    intersected with the layer bounds ``start`` (never wider)."""
    out = []
    k = 0
    for j, node in enumerate(graph.nodes):
        if isinstance(node.op, Linear):
            lo, hi = tensors[j + 1]
            layer, prev = network.layers[k], start[k]
            lo = np.maximum(lo[0], prev.lower)
            hi = np.minimum(hi[0], prev.upper)
            out.append(layer_bounds(lo, np.maximum(lo, hi), layer.activation))
            k += 1
    return out


def crown_method(network: Any, domain: Any, *, output_constraints: Any = None, **_: Any) -> Any:
    """``compute_bounds(method="crown")``: CROWN bounds of every layer, intersected with the interval bounds."""
    start = _time.perf_counter()
    if output_constraints is not None:
        raise ValueError("output_constraints need method='lp'")
    graph = Graph.from_network(network)
    res = crown(graph, domain_of(domain, network.n_inputs))
    layers = network_layers(network, graph, res.tensors, interval_bounds(network, domain))
    return NetworkBounds(tuple(layers), "crown", _time.perf_counter() - start)

