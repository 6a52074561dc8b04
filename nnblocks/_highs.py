"""Silent ``highspy.Highs`` instances.

HiGHS writes a banner (version, copyright) to the process's standard output from C the first time an instance is
created in a process, before any option can be set; an instance's own output is switched off through the option
``output_flag``. :func:`new_highs` creates the first instance with file descriptor 1 captured, so nothing reaches
the user's output, and returns every instance with ``output_flag`` off. :func:`pass_model` hands an LP (or a QP)
given by arrays to such an instance.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["new_highs", "pass_model"]

_BANNER_WRITTEN = False
_LOCK = threading.Lock()


def new_highs() -> Any:
    """A new ``highspy.Highs`` that writes nothing (``output_flag`` off; the process's banner captured)."""
    global _BANNER_WRITTEN
    import highspy

    if not _BANNER_WRITTEN:
        from pyomo.common.tee import capture_output

        with _LOCK:
            if not _BANNER_WRITTEN:
                with capture_output(capture_fd=True):  # the banner comes once per process, from C
                    h = highspy.Highs()
                _BANNER_WRITTEN = True
                h.setOptionValue("output_flag", False)
                return h
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h


def pass_model(
    h: Any,
    cost: np.ndarray,
    A: Any,
    row_lo: np.ndarray,
    row_hi: np.ndarray,
    col_lo: np.ndarray,
    col_hi: np.ndarray,
    maximize: bool = False,
    hessian: np.ndarray | None = None,
) -> None:
    """Hand min (or max) cost^T x [+ x^T H x / 2] s.t. row_lo <= A x <= row_hi, col_lo <= x <= col_hi to ``h``.

    ``A`` is any scipy sparse matrix or array (passed column-wise); ``hessian`` a dense symmetric H (None for an
    LP), of which HiGHS reads the lower triangle. Infinite entries of the bounds mean no bound.
    """
    import highspy

    A = sp.csc_matrix(A)
    lp = highspy.HighsLp()
    lp.num_col_ = A.shape[1]
    lp.num_row_ = A.shape[0]
    lp.col_cost_ = np.asarray(cost, dtype=np.float64)
    lp.col_lower_ = np.asarray(col_lo, dtype=np.float64)
    lp.col_upper_ = np.asarray(col_hi, dtype=np.float64)
    lp.row_lower_ = np.asarray(row_lo, dtype=np.float64)
    lp.row_upper_ = np.asarray(row_hi, dtype=np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr.astype(np.int32)
    lp.a_matrix_.index_ = A.indices.astype(np.int32)
    lp.a_matrix_.value_ = A.data.astype(np.float64)
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    if hessian is None:
        h.passModel(lp)
        return
    H = sp.csc_matrix(np.tril(hessian))
    hess = highspy.HighsHessian()
    hess.dim_ = H.shape[0]
    hess.format_ = highspy.HessianFormat.kTriangular
    hess.start_ = H.indptr.astype(np.int32)
    hess.index_ = H.indices.astype(np.int32)
    hess.value_ = H.data.astype(np.float64)
    model = highspy.HighsModel()
    model.lp_ = lp
    model.hessian_ = hess
    h.passModel(model)
