"""The network uncertainty set, kept at this path: it lives in :mod:`nnblocks.robust.sets.network`."""

from nnblocks.robust.sets.network import DEFAULT_TOL, NetworkUncertaintySet
from nnblocks.robust.sets.patterns import PatternSet

__all__ = ["DEFAULT_TOL", "NetworkUncertaintySet", "PatternSet"]
