"""Specifications built in Python: an input box or norm ball with linear output constraints, or the
robustness property "the argmax is k" (whose negation, "the argmax is not k", is what a counterexample shows).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nnblocks import _validate
from nnblocks.spec.model import Disjunct, Spec, SpecError

__all__ = ["ball_spec", "box_spec", "not_argmax_rows", "not_argmax_spec"]


def _box(lower: Any, upper: Any) -> tuple[np.ndarray, np.ndarray]:
    lo = np.asarray(lower, dtype=np.float64).ravel()
    up = np.asarray(upper, dtype=np.float64).ravel()
    if lo.shape != up.shape or lo.size == 0:
        raise SpecError(f"lower and upper must have the same number (>= 1) of entries, got {lo.size} and {up.size}")
    if not (np.isfinite(lo).all() and np.isfinite(up).all()):
        raise SpecError("lower and upper must be finite (verification needs a bounded input set)")
    if (lo > up).any():
        i = int(np.flatnonzero(lo > up)[0])
        raise SpecError(f"lower[{i}] = {lo[i]} exceeds upper[{i}] = {up[i]}")
    return lo, up


def _cases(output_A: Any, output_b: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """One (A, b) pair per disjunct: a matrix and a vector give one; sequences of them give one each."""
    A = np.asarray(output_A, dtype=np.float64) if not _is_sequence_of_matrices(output_A) else None
    if A is not None:
        if A.ndim == 1:
            A = A.reshape(1, -1)
        b = np.asarray(output_b, dtype=np.float64).ravel()
        if A.ndim != 2 or b.shape[0] != A.shape[0]:
            raise SpecError(f"output_A (rows, n_outputs) and output_b (rows,) do not match: {A.shape}, {b.shape}")
        return [(A, b)]
    if len(output_A) != len(output_b):
        raise SpecError(f"output_A and output_b must list as many cases, got {len(output_A)} and {len(output_b)}")
    return [c for A_i, b_i in zip(output_A, output_b) for c in _cases(A_i, b_i)]


def _is_sequence_of_matrices(value: Any) -> bool:
    return isinstance(value, Sequence) and len(value) > 0 and all(np.ndim(v) == 2 for v in value)


def box_spec(lower: Any, upper: Any, output_A: Any, output_b: Any, *, input_A: Any = None, input_b: Any = None,
             name: str = "") -> Spec:
    """The negated property "some ``x`` with ``lower <= x <= upper`` has ``output_A f(x) <= output_b``".

    ``output_A`` (rows, n_outputs) and ``output_b`` (rows,) give one disjunct; lists of such matrices and
    vectors give one disjunct each (a disjunction of output cases over the same box). ``input_A x <=
    input_b`` adds polytope rows to the input set.
    """
    lo, up = _box(lower, upper)
    n = lo.size
    iA = np.zeros((0, n)) if input_A is None else np.asarray(input_A, dtype=np.float64).reshape(-1, n)
    ib = np.zeros(0) if input_b is None else np.asarray(input_b, dtype=np.float64).ravel()
    cases = _cases(output_A, output_b)
    n_out = {A.shape[1] for A, _ in cases}
    if len(n_out) != 1:
        raise SpecError(f"every output case must have the same number of columns (n_outputs), got {sorted(n_out)}")
    return Spec(n, n_out.pop(), tuple(Disjunct(lo, up, iA, ib, A, b) for A, b in cases), name)


def not_argmax_rows(k: int, n_outputs: int, margin: float = 0.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """The output cases of "the argmax is not ``k``": for every ``j != k`` the row ``(e_k - e_j) y <= margin``,
    i.e. ``y_j - y_k >= -margin``, as one ``(A, b)`` pair of one row each."""
    n_outputs = _validate.integer(n_outputs, "n_outputs")
    k = _validate.integer(k, "k")
    if n_outputs < 2 or not 0 <= k < n_outputs:
        raise SpecError(f"k must be an output index 0..{n_outputs - 1} of n_outputs >= 2, got k={k}")
    margin = _validate.real_number(margin, "margin")
    cases = []
    for j in range(n_outputs):
        if j != k:
            row = np.zeros((1, n_outputs))
            row[0, k], row[0, j] = 1.0, -1.0
            cases.append((row, np.array([margin])))
    return cases


def not_argmax_spec(lower: Any, upper: Any, k: int, n_outputs: int, margin: float = 0.0, *,
                    name: str = "") -> Spec:
    """VNN-COMP's robustness property over a box: a counterexample is an ``x`` in the box whose output ``y_k``
    is not the largest by more than ``margin``: one disjunct per ``j != k`` with ``y_j - y_k >= -margin``
    (output row ``(e_k - e_j) y <= margin``). ``margin = 0`` counts ties as counterexamples, as the
    competition's files (``(>= Y_j Y_k)``) do."""
    rows = not_argmax_rows(k, n_outputs, margin)
    return box_spec(lower, upper, [A for A, _ in rows], [b for _, b in rows], name=name)


def ball_spec(x0: Any, eps: float, norm: Any = "inf", lower: Any = None, upper: Any = None, *,
              output_A: Any = None, output_b: Any = None, k: int | None = None, n_outputs: int | None = None,
              margin: float = 0.0, name: str = "") -> Spec:
    """The ball ``||x - x0|| <= eps`` (intersected with the box ``lower <= x <= upper`` where given, e.g. the
    pixel range [0, 1]) with either output constraints (``output_A``, ``output_b`` as in :func:`box_spec`) or
    "the argmax is not ``k``" over ``n_outputs`` outputs (as in :func:`not_argmax_spec`).

    For ``norm="inf"`` the ball is a box and the specification is a VNN-LIB one; for norm 1 or 2 every disjunct
    keeps ``ball = (x0, eps, norm)`` with its bounding box as ``lower``/``upper``, and :func:`write_vnnlib`
    refuses it.
    """
    center = np.asarray(x0, dtype=np.float64).ravel()
    if center.size == 0 or not np.isfinite(center).all():
        raise SpecError("x0 must be a finite vector with at least one entry")
    eps = _validate.nonnegative(eps, "eps")
    p = _validate.norm(norm)
    lo, up = center - eps, center + eps
    if lower is not None:
        lo = np.maximum(lo, np.broadcast_to(np.asarray(lower, dtype=np.float64).ravel(), lo.shape))
    if upper is not None:
        up = np.minimum(up, np.broadcast_to(np.asarray(upper, dtype=np.float64).ravel(), up.shape))
    if (lo > up).any():
        raise SpecError("the ball does not meet the box lower <= x <= upper")
    if (output_A is None) == (k is None):
        raise SpecError("give either output_A and output_b, or k and n_outputs")
    if k is not None:
        if n_outputs is None:
            raise SpecError("k needs n_outputs")
        rows = not_argmax_rows(k, n_outputs, margin)
        spec = box_spec(lo, up, [A for A, _ in rows], [b for _, b in rows], name=name)
    else:
        if output_b is None:
            raise SpecError("output_A needs output_b")
        spec = box_spec(lo, up, output_A, output_b, name=name)
    if p == "inf":
        return spec
    ball = (center, eps, p)
    disjuncts = tuple(Disjunct(d.lower, d.upper, d.input_A, d.input_b, d.output_A, d.output_b, ball)
                      for d in spec.disjuncts)
    return Spec(spec.n_inputs, spec.n_outputs, disjuncts, name)
