"""Lowerings of ONNX and torch operations to the three kinds of :mod:`nnblocks.graph`.

Pure functions of per-sample shapes (no batch axis) and constant parameters, each returning the operation
(and the output shape where it changes): one module per family.

* :mod:`~nnblocks.graph.lower.conv`: :func:`conv`, :func:`conv_transpose` (sparse Linear);
* :mod:`~nnblocks.graph.lower.pool`: :func:`avg_pool`, :func:`global_avg_pool` (Linear), :func:`max_pool`
  (WindowMax);
* :mod:`~nnblocks.graph.lower.norm`: :func:`batch_norm` (diagonal Linear);
* :mod:`~nnblocks.graph.lower.shape`: :func:`transpose`, :func:`slice_`, :func:`gather`, :func:`pad`,
  :func:`concat`, :func:`elementwise_affine` (selections and diagonals);
* :mod:`~nnblocks.graph.lower.reduce`: :func:`reduce_sum`, :func:`reduce_mean` (Linear), :func:`reduce_max`
  (WindowMax).

Reshape, Flatten, Squeeze, Unsqueeze, Identity and Dropout change only the per-sample shape of the flat
tensor and need no operation.
"""

from nnblocks.graph.lower.conv import conv, conv_output_shape, conv_transpose
from nnblocks.graph.lower.norm import batch_norm
from nnblocks.graph.lower.pool import avg_pool, global_avg_pool, max_pool
from nnblocks.graph.lower.reduce import reduce_max, reduce_mean, reduce_sum
from nnblocks.graph.lower.shape import concat, elementwise_affine, gather, pad, slice_, transpose

__all__ = [
    "avg_pool",
    "batch_norm",
    "concat",
    "conv",
    "conv_output_shape",
    "conv_transpose",
    "elementwise_affine",
    "gather",
    "global_avg_pool",
    "max_pool",
    "pad",
    "reduce_max",
    "reduce_mean",
    "reduce_sum",
    "slice_",
    "transpose",
]
