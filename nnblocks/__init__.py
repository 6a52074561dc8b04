"""nnblocks: trained piecewise-affine neural networks inside Pyomo optimization models.

The core objects are importable from the top level; the two research lines live in their modules
(``nnblocks.adversarial``, ``nnblocks.sampling``, ``nnblocks.metrics``; ``nnblocks.robust``), loaded on
first access together with ``nnblocks.datasets``, ``nnblocks.train`` and ``nnblocks.io``.
"""

from __future__ import annotations

import importlib
from typing import Any

from nnblocks.activations import (
    HardSigmoid,
    HardTanh,
    Identity,
    LeakyReLU,
    PiecewiseLinear,
    ReLU,
    ReLU6,
)
from nnblocks.blocks import NetworkBlock, NormBall, TargetMargin
from nnblocks.bounds import InputDomain, NetworkBounds, compute_bounds
from nnblocks.io import UnsupportedOperationError, from_onnx, from_torch, load_network, save_network, to_onnx
from nnblocks.network import ActivationPattern, Layer, Network
from nnblocks.solve import (
    SolverError,
    SolveResult,
    SolverNotAvailableError,
    SolveStatus,
    available_solvers,
    model_size,
    solve,
    write,
)
from nnblocks.spec import (
    Disjunct,
    Spec,
    SpecError,
    ball_spec,
    box_spec,
    not_argmax_spec,
    read_vnnlib,
    write_vnnlib,
)
from nnblocks.verify import VerifyResult, VerifyStatus, verify  # the function verify shadows its package's name

__version__ = "0.1.0"

_SUBMODULES = ("adversarial", "datasets", "io", "metrics", "plot", "robust", "sampling", "train")

__all__ = [
    "ActivationPattern",
    "Disjunct",
    "HardSigmoid",
    "HardTanh",
    "Identity",
    "InputDomain",
    "Layer",
    "LeakyReLU",
    "Network",
    "NetworkBlock",
    "NetworkBounds",
    "NormBall",
    "PiecewiseLinear",
    "ReLU",
    "ReLU6",
    "SolveResult",
    "SolveStatus",
    "SolverError",
    "SolverNotAvailableError",
    "Spec",
    "SpecError",
    "TargetMargin",
    "UnsupportedOperationError",
    "VerifyResult",
    "VerifyStatus",
    "__version__",
    "available_solvers",
    "ball_spec",
    "box_spec",
    "compute_bounds",
    "from_onnx",
    "from_torch",
    "load_network",
    "model_size",
    "not_argmax_spec",
    "read_vnnlib",
    "save_network",
    "to_onnx",
    "solve",
    "verify",
    "write",
    "write_vnnlib",
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"nnblocks.{name}")
    raise AttributeError(f"module 'nnblocks' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, *_SUBMODULES])
