"""Verification specifications: a property's negation as input sets and output constraints (VNN-LIB).

Read and write VNN-COMP's VNN-LIB files, build specifications in Python, and write and read result files.
"""

from __future__ import annotations

from nnblocks.spec.build import ball_spec, box_spec, not_argmax_rows, not_argmax_spec
from nnblocks.spec.model import Disjunct, Spec, SpecError
from nnblocks.spec.result import ResultFile, ResultStatus, read_result, write_result
from nnblocks.spec.vnnlib import MAX_DISJUNCTS, read_vnnlib, write_vnnlib

__all__ = [
    "MAX_DISJUNCTS",
    "Disjunct",
    "ResultFile",
    "ResultStatus",
    "Spec",
    "SpecError",
    "ball_spec",
    "box_spec",
    "not_argmax_rows",
    "not_argmax_spec",
    "read_result",
    "read_vnnlib",
    "write_result",
    "write_vnnlib",
]
