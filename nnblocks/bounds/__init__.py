"""Sound pre-activation bounds of a network over an input domain (a box, optionally ∩ a norm ball), by interval
arithmetic or LP tightening. A new bounding method is a new module here plus one entry in ``compute.METHODS``.
"""

from nnblocks.bounds.compute import METHODS, compute_bounds
from nnblocks.bounds.domain import InputDomain, as_domain
from nnblocks.bounds.graph import GraphBounds
from nnblocks.bounds.interval import layer_bounds
from nnblocks.bounds.output import OUTPUT_METHODS, OutputBounds, output_bounds
from nnblocks.bounds.pipeline import Pipeline, PipelineBounds, StageStats
from nnblocks.bounds.results import LayerBounds, NetworkBounds

__all__ = [
    "METHODS",
    "OUTPUT_METHODS",
    "GraphBounds",
    "InputDomain",
    "LayerBounds",
    "NetworkBounds",
    "OutputBounds",
    "Pipeline",
    "PipelineBounds",
    "StageStats",
    "as_domain",
    "compute_bounds",
    "layer_bounds",
    "output_bounds",
]
