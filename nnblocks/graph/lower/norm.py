"""Batch normalisation in inference: y = scale (x - mean) / sqrt(var + epsilon) + bias per channel."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from nnblocks.graph.linear import Linear
from nnblocks.graph.lower._index import as_shape

__all__ = ["batch_norm"]


def batch_norm(in_shape: Any, scale: Any, bias: Any, mean: Any, var: Any, epsilon: float = 1e-5) -> Linear:
    """The diagonal Linear map of ``BatchNormalization`` (inference) on a tensor with the channel axis first.

    Entry (c, ...) becomes gamma_c (x - mu_c) / sqrt(sigma^2_c + epsilon) + beta_c; in_shape is (C,) or
    (C, spatial...). The graph's simplification folds it into a neighbouring affine operation.
    """
    shape = as_shape(in_shape)
    C, n = shape[0], int(np.prod(shape[1:], dtype=np.int64))
    vals = [np.asarray(v, dtype=np.float64).reshape(-1) for v in (scale, bias, mean, var)]
    for name, v in zip(("scale", "bias", "mean", "var"), vals):
        if v.shape != (C,):
            raise ValueError(f"batch_norm: {name} must have {C} entries (one per channel), got {v.shape[0]}")
    g, beta, mu, var_ = vals
    if np.any(var_ + epsilon <= 0):
        raise ValueError("batch_norm: var + epsilon must be positive")
    a = g / np.sqrt(var_ + float(epsilon))
    diag = np.repeat(a, n)
    return Linear([sp.diags_array(diag, format="csr")], np.repeat(beta - a * mu, n))
