"""The Discrete and Kernel sets, kept at this path: they live in :mod:`nnblocks.robust.sets`."""

from nnblocks.robust.sets.discrete import DiscreteUncertaintySet
from nnblocks.robust.sets.kernel import KernelFit, KernelUncertaintySet

__all__ = ["DiscreteUncertaintySet", "KernelUncertaintySet", "KernelFit"]
