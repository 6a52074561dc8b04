"""The specification objects: a property's negation as a disjunction of polyhedral cases.

A :class:`Spec` over a network ``f: R^n -> R^m`` is violated (the verification answer is ``sat``) iff one of
its :class:`Disjunct` cases has a point: an ``x`` in the case's input set with ``y = f(x)`` satisfying the
case's output constraints. The input set of a case is the box ``lower <= x <= upper`` intersected with the
polytope ``input_A x <= input_b`` (and, for builders of L1/L2 balls, the ball kept in ``ball``); the output
constraints are ``output_A y <= output_b``.

Tolerances. A row ``a . v <= b`` holds within ``tol`` when ``a . v - b <= tol * max(1, |b|, |a| . |v|)``:
an absolute tolerance for quantities of magnitude up to 1, a relative one (to the size of the terms
compared) beyond. Box bounds are the rows ``x_i <= u_i`` and ``-x_i <= -l_i`` of this rule; a ball
``||x - c|| <= r`` holds when ``||x - c|| - r <= tol * max(1, r, ||x - c||)``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from nnblocks import _validate
from nnblocks._results import AsDict

__all__ = ["Disjunct", "Spec", "SpecError"]


class SpecError(ValueError):
    """A specification that cannot be read or built; the message is one line (for files
    ``"<file>:<line>: <what> at token '<tok>'"``)."""


def _vector(value: Any, name: str, size: int | None = None) -> np.ndarray:
    a = np.array(value, dtype=np.float64, copy=True)
    if a.ndim != 1 or (size is not None and a.shape[0] != size):
        want = f"({size},)" if size is not None else "1-d"
        raise SpecError(f"{name} must be a vector of shape {want}, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise SpecError(f"{name} must be finite (a bounded input set), got {a[~np.isfinite(a)][:3].tolist()}")
    a.setflags(write=False)
    return a


def _matrix(value: Any, name: str, columns: int) -> np.ndarray:
    a = np.array(value, dtype=np.float64, copy=True)
    if a.size == 0:
        a = a.reshape(0, columns)
    if a.ndim != 2 or a.shape[1] != columns:
        raise SpecError(f"{name} must be a matrix with {columns} columns, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise SpecError(f"{name} must be finite")
    a.setflags(write=False)
    return a


def _rows_hold(A: np.ndarray, b: np.ndarray, v: np.ndarray, tol: float) -> np.ndarray:
    """Whether each row of ``A v <= b`` holds within ``tol`` (the rule of the module docstring); ``v`` may be a
    batch ``(N, n)``, giving ``(N, rows)``."""
    lhs = v @ A.T
    scale = np.maximum(np.maximum(1.0, np.abs(b)), np.abs(v) @ np.abs(A).T)
    return lhs - b <= tol * scale


def _as_points(v: Any, size: int, name: str) -> tuple[np.ndarray, bool]:
    """``v`` as a batch ``(N, size)`` (one point of any shape with ``size`` entries, e.g. an ONNX input
    ``(1, 1, 28, 28)``, or ``(N, size)``), and whether it was a single point."""
    a = np.asarray(v, dtype=np.float64)
    if a.size == size:
        return a.reshape(1, size), True
    if a.ndim == 2 and a.shape[1] == size:
        return a, False
    raise ValueError(f"{name} must have {size} entries (or be a batch of shape (N, {size})), got shape {a.shape}")


@dataclasses.dataclass(frozen=True, eq=False)
class Disjunct(AsDict):
    """One case of a property's negation: ``lower <= x <= upper``, ``input_A x <= input_b`` (and ``x`` in
    ``ball`` when set) with ``output_A f(x) <= output_b``.

    ``ball`` is ``(center, radius, norm)`` for input sets of the L1/L2 ball builders (norm 1 or 2; the box
    then holds the ball's bounding box); ``None`` for VNN-LIB specifications, which have no balls. Arrays are
    float64 and read-only; two disjuncts are equal when all their arrays are equal.
    """

    lower: np.ndarray
    upper: np.ndarray
    input_A: np.ndarray
    input_b: np.ndarray
    output_A: np.ndarray
    output_b: np.ndarray
    ball: tuple[np.ndarray, float, int | str] | None = None

    def __post_init__(self) -> None:
        lower = _vector(self.lower, "lower")
        n = lower.shape[0]
        upper = _vector(self.upper, "upper", n)
        input_A = _matrix(self.input_A, "input_A", n)
        input_b = _vector(np.ravel(self.input_b), "input_b", input_A.shape[0])
        output_A = np.array(self.output_A, dtype=np.float64)
        if output_A.ndim != 2:
            raise SpecError(f"output_A must be a matrix (rows, n_outputs), got shape {output_A.shape}")
        output_A = _matrix(output_A, "output_A", output_A.shape[1])
        output_b = _vector(np.ravel(self.output_b), "output_b", output_A.shape[0])
        for name, value in (("lower", lower), ("upper", upper), ("input_A", input_A), ("input_b", input_b),
                            ("output_A", output_A), ("output_b", output_b)):
            object.__setattr__(self, name, value)
        if self.ball is not None:
            try:
                center, radius, norm = self.ball
            except (TypeError, ValueError):
                raise SpecError(f"ball must be (center, radius, norm), got {self.ball!r}") from None
            center = _vector(center, "ball center", n)
            radius = _validate.nonnegative(radius, "ball radius")
            norm = _validate.norm(norm, "ball norm")
            object.__setattr__(self, "ball", (center, radius, norm))

    @property
    def n_inputs(self) -> int:
        return self.lower.shape[0]

    @property
    def n_outputs(self) -> int:
        return self.output_A.shape[1]

    def same_input_set(self, other: Disjunct) -> bool:
        """Whether ``other`` has the same input set (box, polytope rows and ball, entry by entry)."""
        return (np.array_equal(self.lower, other.lower) and np.array_equal(self.upper, other.upper)
                and np.array_equal(self.input_A, other.input_A) and np.array_equal(self.input_b, other.input_b)
                and _ball_equal(self.ball, other.ball))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Disjunct):
            return NotImplemented
        return (self.same_input_set(other) and np.array_equal(self.output_A, other.output_A)
                and np.array_equal(self.output_b, other.output_b))

    __hash__ = None  # type: ignore[assignment]  # holds arrays: compared by value, not hashable

    def _contains(self, X: np.ndarray, tol: float) -> np.ndarray:
        scale_l = np.maximum(np.maximum(1.0, np.abs(self.lower)), np.abs(X))
        scale_u = np.maximum(np.maximum(1.0, np.abs(self.upper)), np.abs(X))
        ok = ((self.lower - X <= tol * scale_l) & (X - self.upper <= tol * scale_u)).all(axis=1)
        if self.input_A.shape[0]:
            ok &= _rows_hold(self.input_A, self.input_b, X, tol).all(axis=1)
        if self.ball is not None:
            center, radius, norm = self.ball
            dist = _validate.norm_of(X - center, norm, axis=1)
            ok &= dist - radius <= tol * np.maximum(np.maximum(1.0, radius), dist)
        return ok

    def _satisfied(self, X: np.ndarray, Y: np.ndarray, tol: float) -> np.ndarray:
        ok = self._contains(X, tol)
        if self.output_A.shape[0]:
            ok &= _rows_hold(self.output_A, self.output_b, Y, tol).all(axis=1)
        return ok

    def contains_input(self, x: Any, tol: float = 1e-6) -> bool:
        """Whether ``x`` (any shape with ``n_inputs`` entries) lies in the input set within ``tol``."""
        tol = _validate.nonnegative(tol, "tol")
        X, single = _as_points(x, self.n_inputs, "x")
        if not single:
            raise ValueError(f"x must be one point with {self.n_inputs} entries, got shape {np.shape(x)}")
        return bool(self._contains(X, tol)[0])

    def satisfied_by(self, x: Any, y: Any, tol: float = 1e-6) -> bool:
        """Whether ``x`` is in the input set and ``y`` satisfies the output constraints, both within ``tol``."""
        tol = _validate.nonnegative(tol, "tol")
        X, single_x = _as_points(x, self.n_inputs, "x")
        Y, single_y = _as_points(y, self.n_outputs, "y")
        if not (single_x and single_y):
            raise ValueError("x and y must be one point each (see Spec.check_batch for batches)")
        return bool(self._satisfied(X, Y, tol)[0])


def _ball_equal(a: tuple | None, b: tuple | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return np.array_equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2]


@dataclasses.dataclass(frozen=True, eq=False)
class Spec(AsDict):
    """A property's negation over a network with ``n_inputs`` inputs and ``n_outputs`` outputs: violated
    (answer ``sat``) iff some disjunct has a point.

    No disjunct at all means the property holds trivially. Two specifications are equal when their
    dimensions and disjuncts (in order) are equal; ``name`` is a label (e.g. the file name) and is not
    compared.
    """

    n_inputs: int
    n_outputs: int
    disjuncts: tuple[Disjunct, ...]
    name: str = ""

    def __post_init__(self) -> None:
        n_in = _validate.integer(self.n_inputs, "n_inputs")
        n_out = _validate.integer(self.n_outputs, "n_outputs")
        if n_in < 1 or n_out < 0:
            raise SpecError(f"a specification needs n_inputs >= 1 and n_outputs >= 0, got {n_in}, {n_out}")
        disjuncts = tuple(self.disjuncts)
        for i, d in enumerate(disjuncts):
            if not isinstance(d, Disjunct):
                raise SpecError(f"disjuncts[{i}] must be a Disjunct, got {type(d).__name__}")
            if d.n_inputs != n_in or d.n_outputs != n_out:
                raise SpecError(f"disjuncts[{i}] is over {d.n_inputs} inputs and {d.n_outputs} outputs, the "
                                f"specification over {n_in} and {n_out}")
        object.__setattr__(self, "n_inputs", n_in)
        object.__setattr__(self, "n_outputs", n_out)
        object.__setattr__(self, "disjuncts", disjuncts)
        object.__setattr__(self, "name", str(self.name))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Spec):
            return NotImplemented
        return (self.n_inputs == other.n_inputs and self.n_outputs == other.n_outputs
                and len(self.disjuncts) == len(other.disjuncts)
                and all(a == b for a, b in zip(self.disjuncts, other.disjuncts)))

    __hash__ = None  # type: ignore[assignment]

    def __len__(self) -> int:
        return len(self.disjuncts)

    def shares_input_set(self) -> bool:
        """Whether all disjuncts have one input set (the usual case: one box, several output cases)."""
        return all(self.disjuncts[0].same_input_set(d) for d in self.disjuncts[1:])

    def bounding_box(self) -> tuple[np.ndarray, np.ndarray]:
        """The smallest box holding the input boxes of all disjuncts (``lower``, ``upper``)."""
        if not self.disjuncts:
            raise SpecError("a specification without disjuncts has no input set")
        lower = np.min([d.lower for d in self.disjuncts], axis=0)
        upper = np.max([d.upper for d in self.disjuncts], axis=0)
        return lower, upper

    def check_batch(self, x: Any, y: Any, tol: float = 1e-6) -> np.ndarray:
        """For a batch ``x`` ``(N, n_inputs)``, ``y`` ``(N, n_outputs)``: per point the index of the first
        disjunct it satisfies within ``tol`` (see the module docstring), -1 where none."""
        tol = _validate.nonnegative(tol, "tol")
        X = np.asarray(x, dtype=np.float64).reshape(-1, self.n_inputs)
        Y = np.asarray(y, dtype=np.float64).reshape(-1, self.n_outputs)
        if X.shape[0] != Y.shape[0]:
            raise ValueError(f"x and y must hold the same number of points, got {X.shape[0]} and {Y.shape[0]}")
        found = np.full(X.shape[0], -1, dtype=np.int64)
        for i, d in enumerate(self.disjuncts):
            open_ = found < 0
            if not open_.any():
                break
            hit = d._satisfied(X[open_], Y[open_], tol)
            found[np.flatnonzero(open_)[hit]] = i
        return found

    def counterexample_check(self, x: Any, y: Any, tol: float = 1e-6) -> int | None:
        """The index of a disjunct that ``x`` and ``y = f(x)`` satisfy within ``tol`` (absolute for magnitudes up
        to 1, relative beyond: the rule of :mod:`nnblocks.spec.model`), or ``None`` when there is none.

        ``x`` and ``y`` may have any shape with ``n_inputs`` and ``n_outputs`` entries (C order, as VNN-COMP
        flattens ONNX tensors).
        """
        tol = _validate.nonnegative(tol, "tol")
        X, single_x = _as_points(x, self.n_inputs, "x")
        Y, single_y = _as_points(y, self.n_outputs, "y")
        if not (single_x and single_y):
            raise ValueError("x and y must be one point each (see Spec.check_batch for batches)")
        for i, d in enumerate(self.disjuncts):
            if d._satisfied(X, Y, tol)[0]:
                return i
        return None

    def as_dict(self) -> dict[str, Any]:
        """The dimensions, the name and the disjuncts as plain JSON data (arrays as lists)."""
        return super().as_dict()

