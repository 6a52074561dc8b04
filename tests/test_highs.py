"""nnblocks._highs: silent highspy instances and problems handed over as arrays (checked against known optima)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from nnblocks._highs import new_highs, pass_model

highspy = pytest.importorskip("highspy")


def _solve(**problem) -> tuple[np.ndarray, float]:
    h = new_highs()
    pass_model(h, **problem)
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return np.asarray(h.getSolution().col_value), h.getInfo().objective_function_value


@pytest.mark.parametrize("matrix", [np.array([[1.0, 2.0]]), sp.csr_matrix([[1.0, 2.0]]), sp.coo_matrix([[1.0, 2.0]])])
def test_an_lp_maximised(matrix):
    """max x + y s.t. x + 2 y <= 4, 0 <= x, y <= 3: the vertex (3, 1/2), value 7/2, from any matrix format."""
    x, value = _solve(cost=[1.0, 1.0], A=matrix, row_lo=[-np.inf], row_hi=[4.0], col_lo=[0.0, 0.0],
                      col_hi=[3.0, 3.0], maximize=True)
    np.testing.assert_allclose(x, [3.0, 0.5], atol=1e-9)
    assert value == pytest.approx(3.5)


def test_an_lp_minimised_by_default():
    x, value = _solve(cost=[1.0, 1.0], A=np.array([[1.0, 2.0]]), row_lo=[2.0], row_hi=[np.inf], col_lo=[0.0, 0.0],
                      col_hi=[3.0, 3.0])
    np.testing.assert_allclose(x, [0.0, 1.0], atol=1e-9)
    assert value == pytest.approx(1.0)


def test_a_qp_with_a_dense_hessian():
    """min c^T x + x^T H x / 2 with H = [[2, 1], [1, 2]], c = (-3, -3): the unconstrained optimum (1, 1), value -3."""
    x, value = _solve(cost=[-3.0, -3.0], A=np.array([[1.0, 1.0]]), row_lo=[-np.inf], row_hi=[10.0],
                      col_lo=[-5.0, -5.0], col_hi=[5.0, 5.0], hessian=np.array([[2.0, 1.0], [1.0, 2.0]]))
    np.testing.assert_allclose(x, [1.0, 1.0], atol=1e-6)
    assert value == pytest.approx(-3.0, abs=1e-8)
