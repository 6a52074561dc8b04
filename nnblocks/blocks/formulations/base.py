"""The shared base of the formulations: what a formulation builds on one layer block and how it is read back.

A formulation encodes one layer h^k = sigma(W^k h^{k-1} + b^k) at a time on the layer's block
``m.nn.layer[k]``; :class:`~nnblocks.blocks.NetworkBlock` calls it layer by layer, then asks it for the
pre-activation expression of a neuron and to fix or unfix an activation pattern.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pyomo.core.expr.numeric_expr import LinearExpression

from nnblocks.activations import PiecewiseLinear, ReLU
from nnblocks.blocks.formulations._common import Affine

__all__ = ["Formulation", "LayerSpec", "Previous"]

_RELU = ReLU()


@dataclass
class Previous:
    """The previous layer's post-activations h^{k-1}: variables and, where a neuron is constant, its value."""

    vars: np.ndarray  # object array of VarData (None where constant)
    const: np.ndarray  # float array: the constant value, NaN where the neuron is a variable


@dataclass(frozen=True)
class LayerSpec:
    """What one layer's encoding is built from: h^k = sigma(W h^{k-1} + b) with its bounds.

    ``bounds`` is the layer's :class:`~nnblocks.bounds.LayerBounds` (pre-activation a^k in [L, U], the
    pieces first..last it can reach, the post-activation box), None for a formulation that needs none;
    ``pattern`` holds the piece of every neuron when the formulation builds the pattern in.
    """

    k: int
    W: np.ndarray
    b: np.ndarray
    activation: PiecewiseLinear
    prev: Previous
    bounds: Any = None
    pattern: np.ndarray | None = None

    @property
    def n(self) -> int:
        """The number of neurons of the layer."""
        return int(self.W.shape[0])

    @property
    def is_relu(self) -> bool:
        """Whether sigma is the ReLU max(0, a) (its two pieces get the Fischetti–Jo form)."""
        return self.activation == _RELU

    def affine(self, j: int) -> LinearExpression:
        """W_j h^{k-1} + b_j, the pre-activation of neuron j, as one LinearExpression (constant neurons of
        h^{k-1} folded into the constant)."""
        aff = Affine.of(self.W, self.b, self.prev, np.array([j]))
        return LinearExpression(constant=float(aff.constant[0]), linear_coefs=aff.coefs[0], linear_vars=aff.vars[0])

    @property
    def lower(self) -> np.ndarray:
        """L: the lower pre-activation bounds."""
        return np.asarray(self.bounds.lower, dtype=float)

    @property
    def upper(self) -> np.ndarray:
        """U: the upper pre-activation bounds."""
        return np.asarray(self.bounds.upper, dtype=float)

    @property
    def first(self) -> np.ndarray:
        """The first piece every neuron can reach within [L, U]."""
        return np.asarray(self.bounds.first_piece, dtype=int)

    @property
    def last(self) -> np.ndarray:
        """The last piece every neuron can reach within [L, U]."""
        return np.asarray(self.bounds.last_piece, dtype=int)

    @property
    def post_lower(self) -> np.ndarray:
        """The lower bounds of the post-activations h^k."""
        return np.asarray(self.bounds.post_lower)

    @property
    def post_upper(self) -> np.ndarray:
        """The upper bounds of the post-activations h^k."""
        return np.asarray(self.bounds.post_upper)


class Formulation(ABC):
    """A formulation of :class:`~nnblocks.blocks.NetworkBlock`: one layer's variables and constraints.

    Subclasses set ``name`` (what ``NetworkBlock(..., formulation=name)`` selects once the class is
    registered with :func:`~nnblocks.blocks.formulations.register_formulation`) and implement
    :meth:`build_layer`, :meth:`indicator_names` and :meth:`fix_layer`. A formulation holds no state: everything
    it needs is in the :class:`LayerSpec` and on the layer block, so one instance serves every block and the
    model pickles.

    Class attributes
    ----------------
    name:
        The formulation's name.
    needs_bounds:
        Whether the layers need pre-activation bounds (big-M constants, reachable pieces); the block then
        computes or checks them before building.
    builds_pattern:
        Whether the activation pattern is part of the encoding (``pattern=`` is required and cannot be
        fixed or unfixed afterwards).
    """

    name: ClassVar[str]
    needs_bounds: ClassVar[bool] = True
    builds_pattern: ClassVar[bool] = False

    @abstractmethod
    def build_layer(self, lb: Any, spec: LayerSpec) -> np.ndarray:
        """Add the layer's components to the layer block ``lb``: ``x[j]`` = h^k_j for every neuron j and
        whatever the formulation needs; return the indices of the neurons that got indicator variables."""

    def pre_activation(self, lb: Any, spec: LayerSpec, j: int) -> Any:
        """The pre-activation a^k_j of a neuron with indicator variables: by default W_j h^{k-1} + b_j
        (:meth:`LayerSpec.affine`); a formulation with a compact form of it (a variable, a short sum) returns that."""
        return spec.affine(j)

    @abstractmethod
    def indicator_names(self, spec: LayerSpec) -> tuple[str, ...]:
        """The names of the layer block's components holding the indicator variables (binary unless the
        formulation is relaxed); empty when the layer has none."""

    @abstractmethod
    def fix_layer(self, lb: Any, spec: LayerSpec, pieces: np.ndarray) -> None:
        """Fix the layer's indicators to the pieces ``pieces[j]`` (pieces the bounds allow: the block checks)."""

    def unfix_layer(self, lb: Any, spec: LayerSpec) -> None:
        """Free every indicator of the layer again (undo :meth:`fix_layer`)."""
        for name in self.indicator_names(spec):
            for v in lb.component(name).values():
                v.unfix()

    def __repr__(self) -> str:
        return f"<formulation {self.name!r}>"
