"""The base of every operation of a graph: its shape, float64 forward pass, sound interval bounds and gradient.

Values travel between operations as flat batches: a tensor of per-sample shape (C, H, W) is an array of
shape (N, C*H*W) in C order. Every operation of the ONNX or torch vocabulary lowers to one of three
kinds (:mod:`~nnblocks.graph.linear`, :mod:`~nnblocks.graph.elementwise`, :mod:`~nnblocks.graph.window_max`),
so bounds and encodings are written once per kind, not once per ONNX op.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

__all__ = ["Operation", "outward"]

_EPS = float(np.finfo(np.float64).eps)
_TINY = float(np.finfo(np.float64).tiny)


def outward(
    lo: np.ndarray, hi: np.ndarray, magnitude: np.ndarray, n_terms: np.ndarray | int
) -> tuple[np.ndarray, np.ndarray]:
    """Widen [lo, hi] by the rounding error of a float64 sum of ``n_terms`` products of total ``magnitude``.

    Higham's bound: |fl(sum) - sum| <= gamma_n * sum |terms| with gamma_n = n u / (1 - n u), u = eps / 2;
    gamma is taken with eps (twice u) and one more term for the bias, and the result is moved one more ulp
    outwards, so the interval contains the exact real-arithmetic value.
    """
    n = np.asarray(n_terms, dtype=np.float64) + 1.0
    gamma = n * _EPS / (1.0 - n * _EPS)
    pad = gamma * magnitude + _TINY
    return np.nextafter(lo - pad, -np.inf), np.nextafter(hi + pad, np.inf)


class Operation(ABC):
    """One operation y = op(x_1, ..., x_r) on flat per-sample tensors.

    Subclasses set ``kind`` and implement :meth:`forward`, :meth:`interval` and :meth:`vjp`;
    ``in_sizes`` and ``out_size`` are the flat sizes of the inputs and of the output.
    """

    kind: ClassVar[str]

    @property
    @abstractmethod
    def in_sizes(self) -> tuple[int, ...]:
        """The flat sizes of the inputs, in order."""

    @property
    @abstractmethod
    def out_size(self) -> int:
        """The flat size of the output."""

    @property
    def n_inputs(self) -> int:
        """How many tensors the operation reads."""
        return len(self.in_sizes)

    @abstractmethod
    def forward(self, xs: list[np.ndarray]) -> np.ndarray:
        """The output for a batch: each x_i of shape (N, in_sizes[i]); returns (N, out_size), float64."""

    @abstractmethod
    def interval(self, los: list[np.ndarray], his: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Sound bounds of the output when every input lies in its box [lo_i, hi_i] (batched like
        :meth:`forward`; floating-point sound)."""

    @abstractmethod
    def vjp(self, xs: list[np.ndarray], g: np.ndarray) -> list[np.ndarray]:
        """The gradient of sum(g * op(xs)) with respect to each input (a subgradient at kinks)."""

    def check_inputs(self, xs: list[np.ndarray]) -> None:
        """Refuse inputs of the wrong count or size with a clear message."""
        if len(xs) != self.n_inputs:
            raise ValueError(f"{self.kind} takes {self.n_inputs} input tensor(s), got {len(xs)}")
        for i, (x, n) in enumerate(zip(xs, self.in_sizes)):
            if x.ndim != 2 or x.shape[1] != n:
                raise ValueError(f"{self.kind} input {i} must have shape (N, {n}), got {x.shape}")
