"""Continuous piecewise-affine activation functions.

Every activation nnblocks knows is a continuous piecewise-affine function of one variable,

    sigma(z) = a_p * z + c_p   for z in [t_{p-1}, t_p],  p = 0, ..., P-1,

with breakpoints t_0 < ... < t_{P-2} (t_{-1} = -inf, t_{P-1} = +inf), slopes a_p and intercepts c_p.
This is the class of eq. (10) in Goerigk & Kurtz; ReLU, leaky ReLU, hard tanh and hard sigmoid are
special cases, and so is the identity (one piece). Piece p is *active* at z when
t_{p-1} < z <= t_p (a point on a breakpoint belongs to the lower piece; both pieces agree there by
continuity). Encodings in :mod:`nnblocks.blocks` use one binary (the u-variables of eq. (12)) per
piece.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Activation",
    "PiecewiseLinear",
    "Identity",
    "ReLU",
    "LeakyReLU",
    "HardTanh",
    "HardSigmoid",
    "ReLU6",
    "named",
]

_CONTINUITY_TOL = 1e-9


@dataclass(frozen=True, eq=False)
class PiecewiseLinear:
    """A continuous piecewise-affine function given by breakpoints, slopes and intercepts.

    Parameters
    ----------
    breakpoints:
        Strictly increasing breakpoints t_0 < ... < t_{P-2} (P-1 values; empty for one piece).
    slopes, intercepts:
        a_p and c_p of each of the P pieces, so that sigma(z) = a_p z + c_p on piece p.

    Raises
    ------
    ValueError
        If the lengths do not match, a number is not finite, the breakpoints are not strictly
        increasing, or two neighbouring pieces disagree at their common breakpoint.
    """

    breakpoints: np.ndarray
    slopes: np.ndarray
    intercepts: np.ndarray

    def __post_init__(self) -> None:
        t = np.atleast_1d(np.asarray(self.breakpoints, dtype=np.float64)).ravel()
        a = np.atleast_1d(np.asarray(self.slopes, dtype=np.float64)).ravel()
        c = np.atleast_1d(np.asarray(self.intercepts, dtype=np.float64)).ravel()
        if a.size == 0 or a.size != c.size or t.size != a.size - 1:
            raise ValueError(
                f"a piecewise-linear activation with P pieces needs P slopes, P intercepts and "
                f"P-1 breakpoints; got {a.size} slopes, {c.size} intercepts, {t.size} breakpoints"
            )
        for name, arr in (("breakpoints", t), ("slopes", a), ("intercepts", c)):
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"activation {name} must be finite, got {arr.tolist()}")
        if np.any(np.diff(t) <= 0):
            raise ValueError(f"activation breakpoints must be strictly increasing, got {t.tolist()}")
        left = a[:-1] * t + c[:-1]
        right = a[1:] * t + c[1:]
        gap = np.abs(left - right)
        if np.any(gap > _CONTINUITY_TOL * np.maximum(1.0, np.abs(left))):
            k = int(np.argmax(gap))
            raise ValueError(
                f"activation is not continuous at breakpoint {t[k]:g}: piece {k} gives {left[k]:g}, "
                f"piece {k + 1} gives {right[k]:g}"
            )
        for name, arr in (("breakpoints", t), ("slopes", a), ("intercepts", c)):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    # -- evaluation -------------------------------------------------------------------------
    @property
    def n_pieces(self) -> int:
        """Number of affine pieces P."""
        return int(self.slopes.size)

    def piece_index(self, z: np.ndarray) -> np.ndarray:
        """Index p of the active piece for every entry of ``z`` (ties go to the lower piece)."""
        return np.searchsorted(self.breakpoints, np.asarray(z, dtype=np.float64), side="left")

    def __call__(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        p = self.piece_index(z)
        return self.slopes[p] * z + self.intercepts[p]

    def piece_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper ends (t_{p-1}, t_p) of every piece, with -inf/+inf at the ends."""
        lo = np.concatenate(([-np.inf], self.breakpoints))
        hi = np.concatenate((self.breakpoints, [np.inf]))
        return lo, hi

    def _limit(self, z: np.ndarray) -> np.ndarray:
        """sigma(z) extended to z = -inf / +inf by its limit (finite where the outer piece is flat)."""
        z = np.asarray(z, dtype=np.float64)
        out = self(np.where(np.isfinite(z), z, 0.0))
        for end, piece in ((-np.inf, 0), (np.inf, -1)):
            a, c = self.slopes[piece], self.intercepts[piece]
            val = c if a == 0 else np.sign(a) * end
            out = np.where(z == end, val, out)
        return out

    def image_bounds(self, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact bounds of sigma over the intervals [lower, upper] (vectorised over entries).

        The extremes of a continuous piecewise-affine function over an interval are attained at the
        interval's ends (or their limits, for infinite ends) or at breakpoints inside it.
        """
        lower = np.asarray(lower, dtype=np.float64)
        upper = np.asarray(upper, dtype=np.float64)
        vl, vu = self._limit(lower), self._limit(upper)
        lo, hi = np.minimum(vl, vu), np.maximum(vl, vu)
        if self.breakpoints.size:
            t = self.breakpoints
            vt = self(t)
            inside = (t >= lower[..., None]) & (t <= upper[..., None])
            lo = np.minimum(lo, np.where(inside, vt, np.inf).min(axis=-1))
            hi = np.maximum(hi, np.where(inside, vt, -np.inf).max(axis=-1))
        return lo, hi

    # -- identity ---------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """A short name: the class name for the named activations."""
        return type(self).__name__

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, PiecewiseLinear)
            and np.array_equal(self.breakpoints, other.breakpoints)
            and np.array_equal(self.slopes, other.slopes)
            and np.array_equal(self.intercepts, other.intercepts)
        )

    def __hash__(self) -> int:
        return hash((self.breakpoints.tobytes(), self.slopes.tobytes(), self.intercepts.tobytes()))

    def __repr__(self) -> str:
        return (
            f"PiecewiseLinear(breakpoints={self.breakpoints.tolist()}, slopes={self.slopes.tolist()}, "
            f"intercepts={self.intercepts.tolist()})"
        )


Activation = PiecewiseLinear
"""Every activation is a :class:`PiecewiseLinear`; the named ones below are convenience subclasses."""


class Identity(PiecewiseLinear):
    """sigma(z) = z (one piece)."""

    def __init__(self) -> None:
        super().__init__(np.empty(0), np.array([1.0]), np.array([0.0]))

    def __repr__(self) -> str:
        return "Identity()"


class ReLU(PiecewiseLinear):
    """sigma(z) = max(0, z): piece 0 inactive (z <= 0), piece 1 active (z > 0)."""

    def __init__(self) -> None:
        super().__init__(np.array([0.0]), np.array([0.0, 1.0]), np.array([0.0, 0.0]))

    def __repr__(self) -> str:
        return "ReLU()"


class LeakyReLU(PiecewiseLinear):
    """sigma(z) = alpha z for z <= 0, z for z > 0."""

    alpha: float

    def __init__(self, alpha: float = 0.01) -> None:
        object.__setattr__(self, "alpha", float(alpha))
        super().__init__(np.array([0.0]), np.array([float(alpha), 1.0]), np.array([0.0, 0.0]))

    def __repr__(self) -> str:
        return f"LeakyReLU(alpha={self.alpha!r})"


class HardTanh(PiecewiseLinear):
    """sigma(z) = min(hi, max(lo, z)) (PyTorch ``Hardtanh(min_val=lo, max_val=hi)``)."""

    lo: float
    hi: float

    def __init__(self, lo: float = -1.0, hi: float = 1.0) -> None:
        lo, hi = float(lo), float(hi)
        if not lo < hi:
            raise ValueError(f"HardTanh needs lo < hi, got lo={lo}, hi={hi}")
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)
        super().__init__(np.array([lo, hi]), np.array([0.0, 1.0, 0.0]), np.array([lo, 0.0, hi]))

    def __repr__(self) -> str:
        return f"HardTanh(lo={self.lo!r}, hi={self.hi!r})"


class ReLU6(HardTanh):
    """sigma(z) = min(6, max(0, z))."""

    def __init__(self) -> None:
        super().__init__(0.0, 6.0)

    def __repr__(self) -> str:
        return "ReLU6()"


class HardSigmoid(PiecewiseLinear):
    """PyTorch's hard sigmoid: 0 for z <= -3, 1 for z >= 3, z/6 + 1/2 in between."""

    def __init__(self) -> None:
        super().__init__(np.array([-3.0, 3.0]), np.array([0.0, 1.0 / 6.0, 0.0]), np.array([0.0, 0.5, 1.0]))

    def __repr__(self) -> str:
        return "HardSigmoid()"


def named(pwl: PiecewiseLinear) -> PiecewiseLinear:
    """The named activation (Identity, ReLU, LeakyReLU, HardTanh, HardSigmoid, ReLU6) equal to ``pwl`` if there
    is one, else ``pwl`` itself: what an importer or a file gives as breakpoints reads back under its name."""
    candidates: list[PiecewiseLinear] = [Identity(), ReLU(), HardSigmoid(), ReLU6()]
    if pwl.n_pieces == 2 and pwl.breakpoints[0] == 0 and pwl.slopes[1] == 1 and not pwl.intercepts.any():
        candidates.append(LeakyReLU(float(pwl.slopes[0])))
    if pwl.n_pieces == 3 and pwl.slopes.tolist() == [0.0, 1.0, 0.0]:
        lo, hi = pwl.breakpoints
        if pwl.intercepts.tolist() == [lo, 0.0, hi]:
            candidates.append(HardTanh(lo, hi))
    for cand in candidates:
        if cand == pwl:
            return cand
    return pwl
