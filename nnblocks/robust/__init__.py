"""Data-driven robust optimization with uncertainty sets learned by neural networks (Goerigk & Kurtz)."""

from nnblocks.robust.base import UncertaintySet, WorstCase

__all__ = ["UncertaintySet", "WorstCase"]

# Each module below adds its public names here (one import line per module).
from nnblocks.robust.network_set import NetworkUncertaintySet, PatternSet  # noqa: E402

__all__ += ["NetworkUncertaintySet", "PatternSet"]
