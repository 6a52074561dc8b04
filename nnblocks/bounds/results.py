"""The results of a bound computation: :class:`LayerBounds` per layer, :class:`NetworkBounds` for the network."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nnblocks._results import AsDict

__all__ = ["LayerBounds", "NetworkBounds"]


@dataclass(frozen=True, eq=False)
class LayerBounds(AsDict):
    """Bounds of one layer: pre-activation a^k in [lower, upper], post-activation h^k in [post_lower, post_upper].

    ``first_piece`` / ``last_piece``: the range of activation pieces whose closed interval
    [t_{p-1}, t_p] meets [lower, upper] in more than one point (a degenerate interval gets the piece
    ``piece_index`` gives it). A neuron is *stable* when first == last: one affine piece
    sigma(z) = a_p z + c_p holds on all of [lower, upper]. (On a breakpoint both neighbouring pieces
    agree, so :meth:`PiecewiseLinear.piece_index` may report the neighbour there.)
    With ReLU semantics a stable neuron is *active* when its piece is the last one and *inactive*
    when it is piece 0 of an activation with more than one piece.
    """

    lower: np.ndarray
    upper: np.ndarray
    post_lower: np.ndarray
    post_upper: np.ndarray
    first_piece: np.ndarray
    last_piece: np.ndarray
    n_pieces: int = 2

    @property
    def n(self) -> int:
        return int(self.lower.size)

    @property
    def width(self) -> np.ndarray:
        """upper - lower (inf where a bound is infinite)."""
        return self.upper - self.lower

    @property
    def stable(self) -> np.ndarray:
        """Boolean mask of the neurons with one possible piece."""
        return self.first_piece == self.last_piece

    @property
    def n_stable(self) -> int:
        return int(np.count_nonzero(self.stable))

    @property
    def n_unstable(self) -> int:
        return self.n - self.n_stable

    @property
    def n_active(self) -> int:
        return int(np.count_nonzero(self.stable & (self.first_piece == self.n_pieces - 1)))

    @property
    def n_inactive(self) -> int:
        if self.n_pieces < 2:
            return 0
        return int(np.count_nonzero(self.stable & (self.first_piece == 0)))


@dataclass(frozen=True, eq=False)
class NetworkBounds(AsDict):
    """Bounds of every layer (``layers[k-1]`` is layer k), the method used and the wall-clock time (s).

    ``complete`` is False when a ``time_limit`` stopped LP tightening early (the bounds are sound but
    partly interval bounds). ``infeasible`` is True when an LP proved, with a checked Farkas certificate,
    that no input of the domain satisfies the ``output_constraints`` (every bound is then vacuously valid).
    ``output_constrained`` is True when ``output_constraints`` were given: the bounds then hold only for
    the inputs of the domain whose outputs satisfy them.
    """

    layers: tuple[LayerBounds, ...]
    method: str
    time: float
    complete: bool = True
    infeasible: bool = False
    n_lps: int = field(default=0)
    output_constrained: bool = False

    def __getitem__(self, k: int) -> LayerBounds:
        return self.layers[k]

    def __len__(self) -> int:
        return len(self.layers)

    def summary(self) -> list[dict]:
        """Per layer: layer (1-based), n, active, inactive, unstable, stable, mean_width, max_width."""
        rows = []
        for k, lb in enumerate(self.layers, start=1):
            w = lb.width
            rows.append(
                {
                    "layer": k,
                    "n": lb.n,
                    "active": lb.n_active,
                    "inactive": lb.n_inactive,
                    "stable": lb.n_stable,
                    "unstable": lb.n_unstable,
                    "mean_width": float(np.mean(w)) if w.size else 0.0,
                    "max_width": float(np.max(w)) if w.size else 0.0,
                }
            )
        return rows

    def lower(self, k: int) -> np.ndarray:
        """Pre-activation lower bounds of layer k (1-based)."""
        return self.layers[k - 1].lower

    def upper(self, k: int) -> np.ndarray:
        """Pre-activation upper bounds of layer k (1-based)."""
        return self.layers[k - 1].upper
