"""alpha-CROWN: the lower slopes of the unstable kink neurons (ReLU, leaky ReLU) optimised by projected gradient.

For a convex two-piece sigma with slopes a_0 < a_1 and kink t, every line through (t, sigma(t)) with slope
a_0 + alpha (a_1 - a_0), alpha in [0, 1], lies below sigma, so the CROWN bound of every row is a valid lower
bound whatever the alphas are; it is concave in no useful sense but differentiable almost everywhere. For each
bounded tensor (the intermediate ones in topological order, then the output rows) the alphas of every kink
node upstream, one per (box, row, neuron), start at CROWN's choice and take ``iterations`` Adam steps on

    maximise  sum over rows of  [Lambda_0(alpha)]_+ l + [Lambda_0(alpha)]_- u + d(alpha)   (and the ball term),

projected onto [0, 1] after each step (torch on CPU, float64, without the rounding charges). The best alphas
seen per row are then evaluated by the sound numpy pass of :mod:`nnblocks.bounds.crown` and intersected with
CROWN's bounds, so alpha-CROWN is never looser than CROWN and sound whatever the optimiser did.
"""

from __future__ import annotations

import time as _time
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp

from nnblocks.bounds.crown import BallDomain, CrownResult, _Crown, crown, crown_result, domain_of, network_layers
from nnblocks.bounds.interval import interval_bounds
from nnblocks.bounds.linear_relax import kink_lower_line, kink_slopes
from nnblocks.bounds.results import NetworkBounds
from nnblocks.graph import Elementwise, Graph, Linear, WindowMax

__all__ = ["alpha_crown", "alpha_method"]


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is an extra
        raise ImportError("method 'alpha-crown' needs torch (pip install torch); use 'crown' without it") from exc
    return torch


class _AlphaCrown(_Crown):
    """The CROWN sweep whose every backward pass is followed by a slope optimisation."""

    packed = False  # the slopes are per (box, row, neuron): the (B, R, n) passes of _Backward

    def __init__(self, *args: Any, iterations: int, lr: float, deadline: float | None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.iterations = int(iterations)
        self.lr = float(lr)
        self.deadline = deadline
        self.torch = _torch()
        self._weights: dict[tuple[int, int], Any] = {}
        self.n_optimised = 0

    # -- torch pieces ---------------------------------------------------------------------
    def _tw(self, k: int, i: int) -> Any:
        """W_i of node k as a torch tensor: W dense, or W^T sparse CSR (L @ W = (W^T L^T)^T)."""
        key = (k, i)
        if key not in self._weights:
            torch = self.torch
            W = self.graph.nodes[k].op.weights[i]
            if sp.issparse(W):
                WT = sp.csr_array(W.T)
                with warnings.catch_warnings():  # torch's notes that sparse CSR is in beta
                    warnings.simplefilter("ignore", UserWarning)
                    self._weights[key] = torch.sparse_csr_tensor(
                        torch.from_numpy(WT.indptr.astype(np.int64)), torch.from_numpy(WT.indices.astype(np.int64)),
                        torch.from_numpy(WT.data.astype(np.float64)), size=WT.shape, dtype=torch.float64)
            else:
                self._weights[key] = torch.from_numpy(np.array(W, dtype=np.float64))
        return self._weights[key]

    def _kink_nodes(self, t: int) -> list[int]:
        """Kink nodes before tensor t with unstable neurons in some box."""
        out = []
        for k in range(t):
            op = self.graph.nodes[k].op
            if k in self.relax and isinstance(op, Elementwise) and kink_slopes(op.activation) is not None:
                t0 = float(op.activation.breakpoints[0])
                zlo, zhi = self.tensors[self.graph.nodes[k].inputs[0]]
                if np.any((zlo < t0) & (zhi > t0)):
                    out.append(k)
        return out

    def _torch_bound(self, t: int, Lam: np.ndarray, alphas: dict) -> Any:
        """The (unpadded) CROWN lower bound of the rows Lam of tensor t with the slopes alphas, differentiable."""
        torch = self.torch
        g = self.graph
        lams: dict[int, Any] = {t: torch.from_numpy(np.array(Lam, dtype=np.float64))}
        B, R = Lam.shape[:2]
        d = torch.zeros((B, R), dtype=torch.float64)
        for k in range(t - 1, -1, -1):
            y = k + 1
            if y not in lams:
                continue
            L = lams.pop(y)
            node = g.nodes[k]
            op = node.op
            contribs: list[tuple[int, Any]] = []
            if isinstance(op, Linear):
                L2 = L.reshape(B * R, -1)
                for i, s in enumerate(node.inputs):
                    WT = self._tw(k, i)
                    P = (WT @ L2.T).T if WT.layout != torch.strided else L2 @ WT
                    contribs.append((s, P.reshape(B, R, -1)))
                d = d + L @ torch.from_numpy(op.bias.copy())
            elif isinstance(op, Elementwise):
                sL, qL, sU, qU = (torch.from_numpy(np.array(a, dtype=np.float64)) for a in self.relax[k])
                sL, qL = sL[:, None, :], qL[:, None, :]
                if k in alphas:
                    a0, a1, t0 = kink_slopes(op.activation)
                    ft = float(op.activation(np.array([t0]))[0])
                    zlo, zhi = self.tensors[node.inputs[0]]
                    unst = torch.from_numpy((zlo < t0) & (zhi > t0))[:, None, :]
                    s_a = a0 + alphas[k] * (a1 - a0)
                    sL = torch.where(unst, s_a, sL)
                    qL = torch.where(unst, ft - s_a * t0, qL)
                pos = L >= 0
                C = L * torch.where(pos, sL, sU[:, None, :])
                Q = torch.where(pos, qL, qU[:, None, :])
                Q = torch.where(torch.isfinite(Q), Q, torch.zeros_like(Q))
                d = d + (L * Q).sum(dim=2)
                contribs.append((node.inputs[0], C))
            elif isinstance(op, WindowMax):
                index, decided, cap = self.relax[k]
                dec = torch.from_numpy(decided)[:, None, :]
                coef = torch.where(L >= 0, L, L * dec)
                total = int(sum(op.in_sizes))
                G = torch.zeros((B, R, total), dtype=torch.float64)
                idx = torch.from_numpy(index)[:, None, :].expand(B, R, -1)
                G = G.scatter_add(2, idx, coef)
                d = d + (torch.where(L < 0, L, torch.zeros_like(L)) * (~dec) * torch.from_numpy(cap)[:, None, :]).sum(2)
                offs = np.cumsum([0, *op.in_sizes])
                for i, s in enumerate(node.inputs):
                    contribs.append((s, G[:, :, offs[i]:offs[i + 1]]))
            for s, P in contribs:
                lams[s] = lams[s] + P if s in lams else P
        if 0 not in lams:
            return d
        L0 = lams[0]
        lo, hi = (torch.from_numpy(np.array(a)) for a in self.tensors[0])
        box = (L0.clamp(min=0) * lo[:, None, :]).sum(2) + (L0.clamp(max=0) * hi[:, None, :]).sum(2)
        if self.dom.center is not None:
            c = torch.from_numpy(np.broadcast_to(self.dom.center, self.tensors[0][0].shape).copy())
            p = {1: float("inf"), 2: 2.0, "inf": 1.0}[self.dom.norm]
            ball = (L0 * c[:, None, :]).sum(2) - self.dom.radius * torch.linalg.vector_norm(L0, ord=p, dim=2)
            box = torch.maximum(box, ball)
        return box + d

    def bound_rows(self, t: int, Lam: np.ndarray, slopes: dict | None = None) -> np.ndarray:
        base = super().bound_rows(t, Lam)
        nodes = self._kink_nodes(t)
        if not nodes or self.iterations < 1 or (self.deadline is not None and _time.perf_counter() > self.deadline):
            return base
        torch = self.torch
        B, R = Lam.shape[:2]
        alphas = {}
        for k in nodes:
            a0, a1, _ = kink_slopes(self.graph.nodes[k].op.activation)
            init = (self.relax[k][0] - a0) / (a1 - a0)
            alphas[k] = torch.tensor(np.broadcast_to(np.clip(init, 0, 1)[:, None, :], (B, R, init.shape[1])).copy(),
                                     requires_grad=True)
        best = {k: v.detach().clone() for k, v in alphas.items()}
        best_val = torch.full((B, R), -float("inf"), dtype=torch.float64)
        opt = torch.optim.Adam(list(alphas.values()), lr=self.lr)
        for _ in range(self.iterations):
            if self.deadline is not None and _time.perf_counter() > self.deadline:
                break
            val = self._torch_bound(t, Lam, alphas)
            with torch.no_grad():
                better = val > best_val
                best_val = torch.where(better, val, best_val)
                for k in nodes:
                    best[k] = torch.where(better[:, :, None], alphas[k].detach(), best[k])
            opt.zero_grad()
            (-val.sum()).backward()
            opt.step()
            with torch.no_grad():
                for v in alphas.values():
                    v.clamp_(0.0, 1.0)
        self.n_optimised += 1
        over = {}
        for k in nodes:
            node = self.graph.nodes[k]
            zlo, zhi = self.tensors[node.inputs[0]]
            over[k] = kink_lower_line(node.op.activation, zlo[:, None, :], zhi[:, None, :], best[k].numpy())
        return np.maximum(base, super().bound_rows(t, Lam, over))


def alpha_crown(
    graph: Graph,
    dom: BallDomain,
    C: np.ndarray | None = None,
    relu_split: np.ndarray | None = None,
    iterations: int = 20,
    lr: float = 0.5,
    time_limit: float | None = None,
    only_unstable: bool = False,
) -> CrownResult:
    """alpha-CROWN bounds of every tensor and of C z_out (the arguments as :func:`~nnblocks.bounds.crown.crown`).

    ``iterations`` Adam steps of size ``lr`` per bounded tensor; ``time_limit`` (s) stops the optimisation (the
    tensors after it get CROWN bounds). Raises ImportError naming torch when it is not installed.
    """
    if int(iterations) < 0:
        raise ValueError(f"alpha_iterations must be >= 0, got {iterations}")
    deadline = None if time_limit is None else _time.perf_counter() + float(time_limit)
    base = crown(graph, dom, C, relu_split, only_unstable=only_unstable)
    eng = _AlphaCrown(graph, dom, relu_split, None, only_unstable, base.tensors, iterations=iterations, lr=lr,
                      deadline=deadline)
    torch = eng.torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small dense products: one thread is faster on a shared machine
    try:
        res = crown_result(eng, graph, dom, C)
    finally:
        torch.set_num_threads(threads)
    # CROWN with tighter intermediate bounds can choose looser adaptive slopes: never looser than plain CROWN
    res.lower = np.maximum(res.lower, base.lower)
    res.upper = np.minimum(res.upper, base.upper)
    res.infeasible = res.infeasible | base.infeasible
    return res


def alpha_method(network: Any, domain: Any, *, output_constraints: Any = None, time_limit: float | None = None,
                 alpha_iterations: int = 20, **_: Any) -> NetworkBounds:
    """``compute_bounds(method="alpha-crown")``: alpha-CROWN bounds of every layer, inside CROWN's and the
    interval bounds."""
    start = _time.perf_counter()
    if output_constraints is not None:
        raise ValueError("output_constraints need method='lp'")
    graph = Graph.from_network(network)
    res = alpha_crown(graph, domain_of(domain, network.n_inputs), iterations=alpha_iterations, time_limit=time_limit)
    layers = network_layers(network, graph, res.tensors, interval_bounds(network, domain))
    return NetworkBounds(tuple(layers), "alpha-crown", _time.perf_counter() - start)
