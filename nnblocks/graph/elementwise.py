"""Elementwise piecewise-affine activations y_j = sigma(x_j): every nnblocks activation (ReLU, LeakyReLU,
HardTanh/Clip, ReLU6, HardSigmoid, Abs, any :class:`~nnblocks.activations.PiecewiseLinear`)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from nnblocks.activations import PiecewiseLinear
from nnblocks.graph.operation import Operation

__all__ = ["Elementwise"]

_EPS = float(np.finfo(np.float64).eps)
_TINY = float(np.finfo(np.float64).tiny)


class Elementwise(Operation):
    """y = sigma(x) entry by entry, sigma a continuous piecewise-affine function."""

    kind: ClassVar[str] = "elementwise"

    def __init__(self, activation: PiecewiseLinear, size: int) -> None:
        if not isinstance(activation, PiecewiseLinear):
            raise TypeError(
                f"activation must be an nnblocks activation (PiecewiseLinear), got {type(activation).__name__}"
            )
        if int(size) < 1:
            raise ValueError(f"an elementwise operation needs a positive size, got {size}")
        self.activation = activation
        self.size = int(size)

    @property
    def in_sizes(self) -> tuple[int, ...]:
        return (self.size,)

    @property
    def out_size(self) -> int:
        return self.size

    def forward(self, xs: list[np.ndarray]) -> np.ndarray:
        self.check_inputs(xs)
        return self.activation(xs[0])

    def interval(self, los: list[np.ndarray], his: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The exact image of every interval (ends and inner breakpoints), widened by the rounding of one
        multiply-add where a slope is not 0 or 1."""
        lo, hi = self.activation.image_bounds(los[0], his[0])
        a = self.activation.slopes
        c = self.activation.intercepts
        if np.all(np.isin(a, (0.0, 1.0))) and np.all(c == 0.0):
            return lo, hi
        pad = 2 * _EPS * np.maximum(np.abs(lo), np.abs(hi)) + _TINY
        with np.errstate(invalid="ignore"):
            return np.nextafter(lo - pad, -np.inf), np.nextafter(hi + pad, np.inf)

    def vjp(self, xs: list[np.ndarray], g: np.ndarray) -> list[np.ndarray]:
        slope = self.activation.slopes[self.activation.piece_index(xs[0])]
        return [g * slope]

    def __repr__(self) -> str:
        return f"Elementwise({self.activation!r}, {self.size})"
