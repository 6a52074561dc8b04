"""The relaxation formulation: the hull formulation with every indicator relaxed to [0, 1] (an LP).

Per neuron the convex hull of the graph of sigma over [L, U]; ReLU layers the FJ form with z in [0, 1].
"""

from __future__ import annotations

from nnblocks.blocks.formulations.hull import Hull

__all__ = ["Relaxation"]


class Relaxation(Hull):
    """:class:`~nnblocks.blocks.formulations.hull.Hull` with z, u in [0, 1]: the same components, no binaries."""

    name = "relaxation"
    relaxed = True
