"""Networks as graphs of piecewise-affine operations (convolution, pooling, batch norm, residual sums, ...).

Every operation lowers to one of three kinds, each in its own module with its shape, forward pass,
interval bounds and gradient: :class:`Linear`, :class:`Elementwise` and :class:`WindowMax`; a new ONNX or
torch operation is a lowering to these (a new file of ``nnblocks.graph.lowering``-style helpers) plus one
entry in the importers.
"""

from nnblocks.graph.elementwise import Elementwise
from nnblocks.graph.graph import Graph, Node
from nnblocks.graph.linear import Linear, as_weight
from nnblocks.graph.operation import Operation, outward
from nnblocks.graph.window_max import WindowMax

__all__ = ["Elementwise", "Graph", "Linear", "Node", "Operation", "WindowMax", "as_weight", "outward"]
