"""Maxima over windows: y_j = max_{i in S_j} x_i. MaxPool (any kernel, stride, dilation, padding: padded
places are simply not in the window) and the elementwise Max of tensors lower to this; Min is -max(-x)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from nnblocks.graph.operation import Operation

__all__ = ["WindowMax"]


class WindowMax(Operation):
    """y_j = max over the window ``windows[j]`` of the inputs' concatenation (x_1, ..., x_r).

    Parameters
    ----------
    windows:
        Integer array (m, k): row j lists the flat indices (into the concatenation of the inputs) of output
        j's window; ``-1`` marks an unused place (windows shorter than k, padding). Every row has at least
        one index.
    in_sizes:
        The flat sizes of the inputs.
    """

    kind: ClassVar[str] = "window_max"

    def __init__(self, windows: np.ndarray, in_sizes: Sequence[int]) -> None:
        w = np.array(windows, dtype=np.int64)
        if w.ndim != 2 or w.shape[1] < 1:
            raise ValueError(f"windows must be an (m, k) integer array with k >= 1, got shape {w.shape}")
        total = int(sum(in_sizes))
        if w.size and (w.max() >= total or w.min() < -1):
            raise ValueError(f"window indices must lie in [0, {total}) or be -1")
        if not np.all((w >= 0).any(axis=1)):
            raise ValueError("every window needs at least one index")
        w.setflags(write=False)
        self.windows = w
        self._in_sizes = tuple(int(n) for n in in_sizes)

    @property
    def in_sizes(self) -> tuple[int, ...]:
        return self._in_sizes

    @property
    def out_size(self) -> int:
        return int(self.windows.shape[0])

    def _gather(self, xs: list[np.ndarray], fill: float) -> np.ndarray:
        X = np.concatenate([*xs, np.full((xs[0].shape[0], 1), fill)], axis=1)
        return X[:, np.where(self.windows >= 0, self.windows, X.shape[1] - 1)]

    def forward(self, xs: list[np.ndarray]) -> np.ndarray:
        self.check_inputs(xs)
        return self._gather(xs, -np.inf).max(axis=2)

    def interval(self, los: list[np.ndarray], his: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """max is monotone in every argument: [max of lower ends, max of upper ends], exact."""
        return self._gather(los, -np.inf).max(axis=2), self._gather(his, -np.inf).max(axis=2)

    def vjp(self, xs: list[np.ndarray], g: np.ndarray) -> list[np.ndarray]:
        V = self._gather(xs, -np.inf)
        arg = np.take_along_axis(
            np.broadcast_to(self.windows, V.shape), V.argmax(axis=2)[..., None], axis=2
        )[..., 0]
        total = sum(self._in_sizes)
        G = np.zeros((g.shape[0], total))
        rows = np.repeat(np.arange(g.shape[0]), g.shape[1])
        np.add.at(G, (rows, arg.ravel()), g.ravel())
        return np.split(G, np.cumsum(self._in_sizes)[:-1], axis=1)

    def __repr__(self) -> str:
        return f"WindowMax({sum(self._in_sizes)} -> {self.out_size}, window {self.windows.shape[1]})"
