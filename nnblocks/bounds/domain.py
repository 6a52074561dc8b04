"""The input domain X of a bound computation: a box [l, u], optionally intersected with a norm ball.

B_p(c, r) = {x : ||x - c||_p <= r}; :class:`InputDomain` validates and normalises it once, :func:`as_domain`
turns what :func:`~nnblocks.bounds.compute_bounds` accepts (an InputDomain or a ``(lower, upper)`` box) into one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nnblocks import _validate
from nnblocks._validate import norm_of

__all__ = ["InputDomain", "as_domain"]


@dataclass(frozen=True, eq=False)
class InputDomain:
    """The box [lower, upper], optionally intersected with the ball ||x - center||_norm <= radius.

    ``lower`` / ``upper`` may contain -inf / +inf. ``norm`` is 1, 2 or ``"inf"`` (``np.inf``, ``"l1"``,
    ``"L2"``, ... are accepted and normalised). A size-1 box is broadcast to the center's size (and, in
    :func:`compute_bounds`, to the network's input size).

    Raises
    ------
    ValueError
        For NaN or mismatched shapes, ``lower > upper``, a NaN/inf center, a negative or non-finite
        radius, an unknown norm, a ball given only in part, or an empty intersection of box and ball.
    """

    lower: np.ndarray
    upper: np.ndarray
    center: np.ndarray | None = None
    norm: int | str | None = None
    radius: float | None = None

    def __post_init__(self) -> None:
        lo = np.atleast_1d(np.array(self.lower, dtype=np.float64)).ravel()
        hi = np.atleast_1d(np.array(self.upper, dtype=np.float64)).ravel()
        ball = (self.center is not None, self.norm is not None, self.radius is not None)
        if any(ball) and not all(ball):
            raise ValueError("a ball needs all of center, norm and radius (or none of them)")
        center = None
        if self.center is not None:
            center = np.atleast_1d(np.array(self.center, dtype=np.float64)).ravel()
            if not np.all(np.isfinite(center)):
                raise ValueError("ball center contains NaN or infinite entries")
            if lo.size == 1 and center.size > 1:
                lo = np.full(center.size, lo[0])
            if hi.size == 1 and center.size > 1:
                hi = np.full(center.size, hi[0])
        if lo.shape != hi.shape:
            raise ValueError(f"box lower and upper have different shapes {lo.shape} and {hi.shape}")
        if np.any(np.isnan(lo)) or np.any(np.isnan(hi)):
            raise ValueError("box bounds contain NaN")
        if np.any(lo > hi):
            i = int(np.argmax(lo > hi))
            raise ValueError(f"empty box: lower[{i}] = {lo[i]:g} > upper[{i}] = {hi[i]:g}")
        if np.any(lo == np.inf) or np.any(hi == -np.inf):
            raise ValueError("empty box: a lower bound is +inf or an upper bound is -inf")
        norm, radius = None, None
        if center is not None:
            if center.shape != lo.shape:
                raise ValueError(f"ball center has shape {center.shape}, the box has shape {lo.shape}")
            norm = _validate.norm(self.norm)
            radius = float(self.radius)  # type: ignore[arg-type]
            if not np.isfinite(radius) or radius < 0:
                raise ValueError(f"ball radius must be finite and non-negative, got {self.radius!r}")
            dist = norm_of(center - np.clip(center, lo, hi), norm)
            if dist > radius * (1 + 1e-12) + 1e-300:
                raise ValueError(
                    f"empty domain: the ball of radius {radius:g} ({norm}-norm) does not meet the box "
                    f"(distance from the center to the box: {dist:g})"
                )
            center.setflags(write=False)
        lo.setflags(write=False)
        hi.setflags(write=False)
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "upper", hi)
        object.__setattr__(self, "center", center)
        object.__setattr__(self, "norm", norm)
        object.__setattr__(self, "radius", radius)

    @classmethod
    def box(cls, lower: Any, upper: Any) -> InputDomain:
        """The box [lower, upper] (no ball)."""
        return cls(lower, upper)

    @classmethod
    def ball(
        cls, center: Any, norm: int | str, radius: float, lower: Any = -np.inf, upper: Any = np.inf
    ) -> InputDomain:
        """The ball ||x - center||_norm <= radius, intersected with the box [lower, upper] (default: none)."""
        return cls(lower, upper, center, norm, radius)

    @property
    def dim(self) -> int:
        """Number of input variables."""
        return int(self.lower.size)

    @property
    def has_ball(self) -> bool:
        return self.center is not None

    def contains(self, X: Any, tol: float = 1e-9) -> np.ndarray | bool:
        """Whether the point(s) X (shape (n,) or (N, n)) lie in the domain, up to ``tol``."""
        X = np.asarray(X, dtype=np.float64)
        single = X.ndim == 1
        X2 = X.reshape(1, -1) if single else X
        ok = np.all((X2 >= self.lower - tol) & (X2 <= self.upper + tol), axis=1)
        if self.center is not None:
            ok &= norm_of(X2 - self.center, self.norm, axis=1) <= self.radius + tol  # type: ignore[arg-type]
        return bool(ok[0]) if single else ok

    def effective_box(self) -> tuple[np.ndarray, np.ndarray]:
        """A box containing the domain: the box intersected with [c - r, c + r] (valid for every p-norm)."""
        if self.center is None:
            return self.lower, self.upper
        lo = np.maximum(self.lower, self.center - self.radius)  # type: ignore[operator]
        hi = np.minimum(self.upper, self.center + self.radius)  # type: ignore[operator]
        return lo, np.maximum(hi, lo)

    def _broadcast(self, n: int) -> InputDomain:
        if self.dim == n:
            return self
        if self.dim == 1 and self.center is None:
            return InputDomain(np.full(n, self.lower[0]), np.full(n, self.upper[0]))
        raise ValueError(f"input domain has dimension {self.dim}, the network expects {n} inputs")


def as_domain(domain: Any, n: int) -> InputDomain:
    """``domain`` as an :class:`InputDomain` of dimension n: an InputDomain or a ``(lower, upper)`` box, a size-1
    box broadcast to n."""
    if isinstance(domain, InputDomain):
        return domain._broadcast(n)
    if isinstance(domain, tuple | list) and len(domain) == 2:
        return InputDomain(*domain)._broadcast(n)
    raise TypeError(f"domain must be an InputDomain or a (lower, upper) tuple, got {type(domain).__name__}")
