"""nnblocks: trained piecewise-affine neural networks inside Pyomo optimization models."""

from nnblocks.activations import (
    HardSigmoid,
    HardTanh,
    Identity,
    LeakyReLU,
    PiecewiseLinear,
    ReLU,
    ReLU6,
)
from nnblocks.network import ActivationPattern, Layer, Network

__version__ = "0.1.0"

__all__ = [
    "ActivationPattern",
    "HardSigmoid",
    "HardTanh",
    "Identity",
    "Layer",
    "LeakyReLU",
    "Network",
    "PiecewiseLinear",
    "ReLU",
    "ReLU6",
    "__version__",
]
