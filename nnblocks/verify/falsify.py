"""Falsification: search for a counterexample by sampling and by a projected gradient attack.

A disjunct of a spec asks for an input x of its input set X = {lower <= x <= upper, input_A x <= input_b}
(intersected with a norm ball for ``ball_spec`` sets) whose output y = f(x) satisfies output_A y <= output_b.
Its *violation* at x is

    v(x) = max_i (output_A f(x) - output_b)_i ,

so x is a counterexample when v(x) <= 0. The search evaluates v on random points of X and on vertices of the
box, then runs projected gradient descent on v (sign steps scaled by the box widths, restarts from the best
samples and from random points; the gradient of the maximising row by back-propagation through the float64
network). Points are kept in X by clipping to the box and, for polytopes and balls, by moving them along the
segment towards an interior point of X until they are inside (exact for a convex set: no rejection needed).
Every candidate is confirmed by a float64 forward pass and ``Spec.counterexample_check``; nothing else is
ever reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnblocks._validate import norm_of
from nnblocks.graph import Graph
from nnblocks.network import Network

__all__ = [
    "Counterexample", "InputSet", "backward", "descend", "falsify", "forward_slopes", "is_relu", "network_gradient",
    "violation", "widest",
]

_CHUNK_ENTRIES = 4_000_000  # floats of one batch of samples (inputs plus the widest layer), about 32 MB


@dataclass(frozen=True)
class Counterexample:
    """A confirmed counterexample: input ``x``, float64 output ``y``, the index of the disjunct it satisfies."""

    x: np.ndarray
    y: np.ndarray
    disjunct: int


class InputSet:
    """The input set of one disjunct: box, optional polytope rows and optional norm ball.

    ``centre`` is a point of the set (box centre; ball centre; for a polytope the centre of the largest ball
    inside, from an LP) or None when none was found (the set may be empty); ``project`` moves points of the
    box into the set along the segment towards ``centre``.
    """

    def __init__(self, disjunct: Any) -> None:
        self.lower = np.asarray(disjunct.lower, dtype=np.float64)
        self.upper = np.asarray(disjunct.upper, dtype=np.float64)
        A = np.asarray(disjunct.input_A, dtype=np.float64).reshape(-1, self.lower.size)
        b = np.asarray(disjunct.input_b, dtype=np.float64).ravel()
        self.A, self.b = A, b
        self.ball = getattr(disjunct, "ball", None)
        self.width = self.upper - self.lower
        self.is_box = A.shape[0] == 0 and self.ball is None
        self.centre = self._interior_point()

    def _interior_point(self) -> np.ndarray | None:
        if self.ball is not None:
            c = np.clip(np.asarray(self.ball[0], dtype=np.float64), self.lower, self.upper)
        else:
            c = 0.5 * (self.lower + self.upper)
        if self.A.shape[0] == 0 or np.all(self.A @ c <= self.b):
            return c
        # The centre of the largest ball in the polytope (Chebyshev centre) by an LP (scipy's HiGHS):
        # max r  s.t.  A x + ||A_i|| r <= b, lower <= x <= upper, 0 <= r.
        from scipy.optimize import linprog

        n = self.lower.size
        norms = np.linalg.norm(self.A, axis=1)
        res = linprog(
            np.r_[np.zeros(n), -1.0],
            A_ub=np.c_[self.A, norms],
            b_ub=self.b,
            bounds=[*zip(self.lower, self.upper), (0, None)],
            method="highs",
        )
        if res.status != 0:
            return None
        c = np.clip(res.x[:n], self.lower, self.upper)
        return c if np.all(self.A @ c <= self.b + 1e-12 * (1 + np.abs(self.b))) else None

    def project(self, X: np.ndarray) -> np.ndarray:
        """Points of the box (rows of X) moved into the set: c + t (x - c) with the largest t in [0, 1]."""
        if self.is_box or self.centre is None:
            return X
        c = self.centre
        D = X - c
        t = np.ones(X.shape[0])
        if self.A.shape[0]:
            AD = D @ self.A.T  # (N, k)
            slack = self.b - self.A @ c  # >= 0
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(AD > 0, slack / AD, np.inf)
            t = np.minimum(t, ratio.min(axis=1))
        if self.ball is not None:
            centre, radius, p = np.asarray(self.ball[0], dtype=np.float64), float(self.ball[1]), self.ball[2]
            # ||c + t D - centre|| <= radius: for the ball's own centre (c == centre) t <= radius / ||D||
            nd = norm_of(c + D - centre, p)
            with np.errstate(divide="ignore", invalid="ignore"):
                t = np.minimum(t, np.where(nd > radius, radius / nd, 1.0))
        t = np.clip(t, 0.0, 1.0) * (1 - 1e-12)
        return np.clip(c + t[:, None] * D, self.lower, self.upper)

    def contains(self, X: np.ndarray, tol: float = 1e-9) -> np.ndarray:
        """Boolean mask of the rows of X inside the set (within ``tol``)."""
        ok = np.all((X >= self.lower - tol) & (X <= self.upper + tol), axis=1)
        if self.A.shape[0]:
            ok &= np.all(X @ self.A.T <= self.b + tol * (1 + np.abs(self.b)), axis=1)
        if self.ball is not None:
            centre, radius, p = self.ball
            ok &= norm_of(X - np.asarray(centre, dtype=np.float64), p) <= float(radius) * (1 + tol) + tol
        return ok

    def uniform(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` points: uniform in the box, then moved into the set."""
        return self.project(self.lower + rng.random((n, self.lower.size)) * self.width)

    def vertices(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Vertices of the box (all of them when there are at most ``n``, else ``n`` at random), moved into
        the set."""
        d = self.lower.size
        if d <= 20 and 2**d <= n:
            bits = (np.arange(2**d)[:, None] >> np.arange(d)) & 1
        else:
            bits = rng.integers(0, 2, size=(n, d))
        return self.project(np.where(bits == 1, self.upper, self.lower))


def violation(Y: np.ndarray, A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """v = max_i (A y - b)_i for every row y of Y, and the maximising row i."""
    R = Y @ A.T - b
    i = np.argmax(R, axis=1)
    return R[np.arange(R.shape[0]), i], i


def is_relu(act: Any) -> bool:
    """Whether the activation is max(0, z) (evaluated by ``np.maximum``, much faster than the general rule)."""
    return (act.n_pieces == 2 and float(act.breakpoints[0]) == 0.0 and float(act.slopes[0]) == 0.0
            and float(act.slopes[1]) == 1.0 and float(act.intercepts[0]) == 0.0 and float(act.intercepts[1]) == 0.0)


def forward_slopes(network: Network | Graph, X: np.ndarray, slopes: bool = True) -> tuple[np.ndarray, list]:
    """Outputs f(x) of the rows of X and what back-propagation needs (``slopes=False``: the outputs only): for a
    Network, per layer the slope of the active piece of every neuron (the left piece on a breakpoint); for a
    :class:`~nnblocks.graph.Graph`, every tensor's values (each operation's ``vjp`` reads them)."""
    if isinstance(network, Graph):
        vals = network.values(X)
        return vals[network.output], (vals if slopes else [])
    H = X
    out = []
    for layer in network.layers:
        a = H @ layer.W.T + layer.b
        act = layer.activation
        if is_relu(act):
            H = np.maximum(a, 0.0)
            if slopes:
                out.append(a > 0)
        elif act.n_pieces == 1:
            H = act.slopes[0] * a + act.intercepts[0]
            if slopes:
                out.append(np.full(a.shape, act.slopes[0]))
        else:
            p = act.piece_index(a)
            H = act.slopes[p] * a + act.intercepts[p]
            if slopes:
                out.append(act.slopes[p])
    return H, out


def backward(network: Network | Graph, slopes: list[np.ndarray], G_out: np.ndarray) -> np.ndarray:
    """Gradients d(g . f(x))/dx for the rows g of ``G_out``, through the slopes (a Graph: the tensor values) of
    :func:`forward_slopes` (a subgradient at kinks, as :meth:`Graph.gradient`)."""
    if isinstance(network, Graph):
        return network.backward(slopes, G_out)
    G = G_out
    for layer, s in zip(reversed(network.layers), reversed(slopes)):
        G = (G * s) @ layer.W
    return G


def widest(network: Network | Graph) -> int:
    """The largest tensor of a forward pass (per sample): sizes the sample batches."""
    if isinstance(network, Graph):
        return max(network.sizes)
    return max((layer.n_out for layer in network.layers), default=1)


def network_gradient(network: Network | Graph, X: np.ndarray, G_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outputs f(x) of the rows of X and the gradients d(g . f(x))/dx for the rows g of ``G_out``."""
    Y, slopes = forward_slopes(network, X)
    return Y, backward(network, slopes, G_out)


def _confirm(network: Network | Graph, spec: Any, X: np.ndarray, v: np.ndarray,
             todo: list[int]) -> Counterexample | None:
    """The first row of X (by increasing violation v <= 0) that a float64 forward pass and the spec confirm."""
    for r in np.argsort(v)[:32]:
        if v[r] > 0:
            break
        x = np.array(X[r], dtype=np.float64)
        y = network.forward(x)
        k = spec.counterexample_check(x, y)
        if k is not None:
            return Counterexample(x, y, int(k))
    return None


def falsify(
    network: Network | Graph,
    spec: Any,
    disjuncts: list[int] | None = None,
    time_limit: float = 1.0,
    rng: np.random.Generator | int | None = 0,
    samples: int = 100_000,
    restarts: int = 64,
    steps: int = 60,
) -> tuple[Counterexample | None, dict[str, int]]:
    """Search the given disjuncts of ``spec`` (all by default) for a counterexample within ``time_limit`` seconds.

    Up to ``samples`` random points and box vertices per disjunct (in batches; half of the time at most), then
    rounds of ``restarts`` gradient-descent runs of ``steps`` steps each until the time is used up. Returns the
    first confirmed counterexample (or None) and the counts ``samples``, ``pgd_runs``, ``pgd_steps``.
    """
    rng = np.random.default_rng(rng)
    todo = list(range(len(spec.disjuncts))) if disjuncts is None else list(disjuncts)
    counts = {"samples": 0, "pgd_runs": 0, "pgd_steps": 0}
    if not todo:
        return None, counts
    start = time.perf_counter()
    deadline = start + time_limit
    sets = {k: InputSet(spec.disjuncts[k]) for k in todo}
    todo = [k for k in todo if sets[k].centre is not None]
    # a graph keeps every tensor of the batch: its budget is the sum of the tensor sizes
    per_sample = sum(network.sizes) if isinstance(network, Graph) else network.n_inputs + widest(network)
    chunk = int(max(256, min(20_000, _CHUNK_ENTRIES // per_sample)))
    best: dict[int, np.ndarray] = {}
    # 1. sampling: vertices first, then uniform points, disjunct after disjunct, within half of the time
    sample_deadline = start + 0.5 * time_limit
    per = max(1, samples // max(1, len(todo)))
    for k in todo:
        S, d = sets[k], spec.disjuncts[k]
        A, b = np.asarray(d.output_A, dtype=np.float64), np.asarray(d.output_b, dtype=np.float64)
        drawn = 0
        keep_X, keep_v = [], []
        while drawn < per and time.perf_counter() < sample_deadline:
            n = min(chunk, per - drawn)
            X = S.vertices(min(n, 1024), rng) if drawn == 0 else S.uniform(n, rng)
            drawn += X.shape[0]
            v, _ = violation(forward_slopes(network, X, slopes=False)[0], A, b)
            if np.any(v <= 0) and (cx := _confirm(network, spec, X, v, todo)) is not None:
                counts["samples"] += drawn
                return cx, counts
            top = np.argsort(v)[: restarts // 2]
            keep_X.append(X[top])
            keep_v.append(v[top])
        counts["samples"] += drawn
        if keep_X:
            Xk, vk = np.concatenate(keep_X), np.concatenate(keep_v)
            best[k] = Xk[np.argsort(vk)[: restarts // 2]]
    # 2. projected gradient descent on v, rounds over the disjuncts until the time is used up
    rounds = 0
    while time.perf_counter() < deadline and todo:
        for k in todo:
            if time.perf_counter() >= deadline:
                break
            S, d = sets[k], spec.disjuncts[k]
            starts = S.uniform(restarts, rng)
            if rounds == 0 and k in best:
                starts[: best[k].shape[0]] = best[k]
            cx = descend(network, spec, S, d, starts, steps, deadline, counts, todo)
            if cx is not None:
                return cx, counts
        rounds += 1
    return None, counts


def descend(network, spec, S: InputSet, d: Any, X: np.ndarray, steps: int, deadline: float,
             counts: dict[str, int], todo: list[int]) -> Counterexample | None:
    """Sign-gradient descent on the violation from the rows of X (step sizes from 1/4 to 1/1000 of the box
    widths, geometric), each iterate moved back into the input set and checked."""
    A, b = np.asarray(d.output_A, dtype=np.float64), np.asarray(d.output_b, dtype=np.float64)
    counts["pgd_runs"] += X.shape[0]
    rates = np.geomspace(0.25, 1e-3, steps)
    for rate in rates:
        Y, slopes = forward_slopes(network, X)
        v, rows = violation(Y, A, b)
        if np.any(v <= 0) and (cx := _confirm(network, spec, X, v, todo)) is not None:
            return cx
        G = backward(network, slopes, A[rows])
        X = S.project(np.clip(X - rate * S.width * np.sign(G), S.lower, S.upper))
        counts["pgd_steps"] += 1
        if time.perf_counter() >= deadline:
            break
    v, _ = violation(forward_slopes(network, X, slopes=False)[0], A, b)
    if np.any(v <= 0):
        return _confirm(network, spec, X, v, todo)
    return None
