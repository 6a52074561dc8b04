"""The old path of :mod:`nnblocks.adversarial.sampling` (inner and outer sampling of networks), re-exported."""

from nnblocks.adversarial.sampling import OuterSample, inner, l1_sphere, outer

__all__ = ["OuterSample", "inner", "l1_sphere", "outer"]
