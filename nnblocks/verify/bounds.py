"""The bounds stage: refute disjuncts with sound bounds on the specification's output rows over the input box.

A disjunct has no point when, for some row i of its unsafe set output_A y <= output_b, the sound lower bound of
(output_A f(x))_i over the input box exceeds output_b_i (the input box contains the disjunct's input set, so a
bound over the box is valid for the set). For a conjunction of rows the same holds for any non-negative
combination: when min over the box of lambda^T (output_A f(x) - output_b) > 0, every point violates some row.
The stage bounds every row and sums of the rows of each disjunct with two or more (:func:`refuter_rows`), in
one ``output_bounds`` call per input set. Disjuncts that no row refutes may then be given to the LP tightening of
``compute_bounds`` with the disjunct's rows as output constraints: a checked Farkas certificate of that LP
proves the conjunction infeasible.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from nnblocks.bounds import InputDomain, compute_bounds
from nnblocks.graph import Graph
from nnblocks.network import Network

__all__ = [
    "CROWN_BYTES_BUDGET", "InputGroup", "affordable", "crown_bytes", "input_groups", "lp_refute", "refute",
    "refuter_rows",
]


class InputGroup:
    """The disjuncts of a spec that share one input set (same box, polytope rows and ball), with their output rows
    stacked into one specification matrix ``C``, ``d`` (C y <= d), and ``owner[r]``: the position in ``members``
    of the disjunct that row r belongs to (sum rows included, see :func:`refuter_rows`)."""

    def __init__(self, spec: Any, members: list[int]) -> None:
        self.members = list(members)
        first = spec.disjuncts[members[0]]
        self.disjunct = first
        self.disjunct_list = [spec.disjuncts[k] for k in members]
        self.lower = np.asarray(first.lower, dtype=np.float64)
        self.upper = np.asarray(first.upper, dtype=np.float64)
        self.C, self.d, self.owner = refuter_rows([spec.disjuncts[k] for k in members])

    def refuted(self, lower: np.ndarray) -> np.ndarray:
        """(B, len(members)) mask: disjunct j has no point in box b, given lower bounds (B, rows) of C y."""
        hit = lower > self.d  # (B, rows)
        out = np.zeros((lower.shape[0], len(self.members)), dtype=bool)
        for j in range(len(self.members)):
            out[:, j] = hit[:, self.owner == j].any(axis=1)
        return out


SUBSET_ROWS_MAX = 5
"""Disjuncts of at most this many output rows get the sum of every subset of two or more rows as refuting rows;
larger ones the sum of all rows."""


def refuter_rows(disjuncts: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows whose lower bounds can refute each disjunct: its own rows, and sums of its rows (every subset of
    two or more for at most :data:`SUBSET_ROWS_MAX` rows, else all of them). Returns C (rows, n_out), d (rows,) and
    the owner (position in ``disjuncts``) of every row."""
    Cs, ds, owner = [], [], []
    for j, dj in enumerate(disjuncts):
        A = np.asarray(dj.output_A, dtype=np.float64)
        b = np.asarray(dj.output_b, dtype=np.float64)
        m = A.shape[0]
        if 1 < m <= SUBSET_ROWS_MAX:
            masks = np.array([[(s >> i) & 1 for i in range(m)] for s in range(1, 2**m)], dtype=np.float64)
            masks = masks[np.argsort(masks.sum(axis=1), kind="stable")]  # the rows themselves first
        else:
            masks = np.vstack([np.eye(m), np.ones((1, m))]) if m > 1 else np.eye(m)
        Cs.append(masks @ A)
        ds.append(masks @ b)
        owner += [j] * masks.shape[0]
    return np.concatenate(Cs), np.concatenate(ds), np.asarray(owner, dtype=np.int64)


CROWN_BYTES_BUDGET = 1.5e9
"""Bytes that one box's CROWN pass on a Graph may take (estimated by :func:`crown_bytes`); above it the stages use
interval bounds on that graph, so that a wide max-pooling input cannot exhaust the memory."""


def crown_bytes(network: Network | Graph) -> float:
    """An upper estimate of the bytes of one box's CROWN pass on a Graph: the rows of the widest tensor that an
    activation or max window reads (two per element) times the widest tensor, in float64 (0 for a Network,
    whose chain passes are packed)."""
    if not isinstance(network, Graph):
        return 0.0
    from nnblocks.graph import Elementwise, WindowMax

    read = [t for node in network.nodes if isinstance(node.op, Elementwise | WindowMax) for t in node.inputs]
    if not read:
        return 0.0
    return 8.0 * 2 * max(network.sizes[t] for t in read) * max(network.sizes)


def affordable(network: Network | Graph, method: str) -> str:
    """``method``, or ``"interval"`` when CROWN on this graph would exceed :data:`CROWN_BYTES_BUDGET` per box."""
    return "interval" if method != "interval" and crown_bytes(network) > CROWN_BYTES_BUDGET else method


def _key(d: Any) -> bytes:
    parts = [np.asarray(a, dtype=np.float64).tobytes() for a in (d.lower, d.upper, d.input_A, d.input_b)]
    ball = getattr(d, "ball", None)
    if ball is not None:
        parts += [np.asarray(ball[0], dtype=np.float64).tobytes(), repr((float(ball[1]), ball[2])).encode()]
    return b"|".join(parts)


def input_groups(spec: Any, todo: list[int]) -> list[InputGroup]:
    """The disjuncts ``todo`` grouped by input set, in order of first appearance."""
    groups: dict[bytes, list[int]] = {}
    for k in todo:
        groups.setdefault(_key(spec.disjuncts[k]), []).append(k)
    return [InputGroup(spec, members) for members in groups.values()]


def refute(network: Network | Graph, spec: Any, todo: list[int], method: str) -> tuple[set[int], dict[str, Any]]:
    """The disjuncts of ``todo`` that ``output_bounds`` (``method``) refutes over their input boxes, and counts."""
    from nnblocks.bounds import output_bounds

    refuted: set[int] = set()
    calls = 0
    counts: dict[str, Any] = {}
    if affordable(network, method) != method:
        counts["fallback"] = f"interval (CROWN would take about {crown_bytes(network) / 1e9:.1f} GB per box)"
        method = "interval"
    for group in input_groups(spec, todo):
        try:
            ob = output_bounds(network, group.lower, group.upper, C=group.C, method=method)
        except (ValueError, NotImplementedError, MemoryError) as exc:
            if method == "interval":
                raise
            # a graph the method cannot relax (an operation it does not know, too large): interval bounds, which
            # every operation has
            counts["fallback"] = f"interval ({type(exc).__name__}: {exc})"[:200]
            ob = output_bounds(network, group.lower, group.upper, C=group.C, method="interval")
        calls += 1
        mask = group.refuted(np.asarray(ob.lower).reshape(1, -1))[0]
        refuted |= {k for k, hit in zip(group.members, mask) if hit}
    return refuted, {"bound_calls": calls, "refuted": len(refuted), **counts}


def lp_refute(network: Network, spec: Any, todo: list[int], time_limit: float) -> tuple[set[int], dict[str, Any]]:
    """The disjuncts of ``todo`` (with two or more output rows) whose LP relaxation with their output rows is
    infeasible by a checked Farkas certificate (``compute_bounds(..., method="lp", output_constraints=...)``)."""
    refuted: set[int] = set()
    deadline = time.perf_counter() + time_limit
    n_lps = 0
    for k in todo:
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        d = spec.disjuncts[k]
        A = np.asarray(d.output_A, dtype=np.float64)
        if A.shape[0] < 2:
            continue
        nb = compute_bounds(network, InputDomain.box(d.lower, d.upper), method="lp", time_limit=left,
                            output_constraints=(A, np.asarray(d.output_b, dtype=np.float64)))
        n_lps += nb.n_lps
        if nb.infeasible:
            refuted.add(k)
    return refuted, {"lps": n_lps, "lp_refuted": len(refuted)}
