"""Synthetic scenario generators (Gaussian, mixed Gaussian, polyhedral; 5% uniform outliers)."""

from __future__ import annotations

import numpy as np
import pytest

from nnblocks.datasets import SYNTHETIC_KINDS, synthetic


@pytest.mark.parametrize("kind", SYNTHETIC_KINDS)
def test_shape_outliers_and_determinism(kind):
    X = synthetic(kind, 4, 200, seed=7)
    assert X.shape == (200, 4) and np.all(X >= 0)
    np.testing.assert_array_equal(X, synthetic(kind, 4, 200, seed=7))
    assert not np.array_equal(X, synthetic(kind, 4, 200, seed=8))
    out = X[:10]  # round(0.05 * 200) outliers first, uniform in [0, 300]^n
    assert np.all(out <= 300)
    T = synthetic(kind, 4, 2000, seed=7, test=True)
    assert T.shape == (2000, 4)
    # the test sample is from the training distribution (same seed) but a different draw
    np.testing.assert_allclose(T.mean(axis=0), X[10:].mean(axis=0), atol=0.25 * X[10:].std(axis=0).max() + 2)
    assert not np.any(np.all(np.isin(T[:5], X), axis=1))


def test_outliers_are_shared_across_kinds_for_a_seed():
    A, B = synthetic("gaussian", 3, 100, seed=1), synthetic("polyhedral", 3, 100, seed=1)
    np.testing.assert_array_equal(A[:5], B[:5])
    assert synthetic("gaussian", 3, 100, seed=1, outliers=0.0).shape == (100, 3)


def test_polyhedral_points_satisfy_the_budget():
    n = 6
    T = synthetic("polyhedral", n, 3000, seed=3, test=True)
    lo, hi = T.min(axis=0), T.max(axis=0)
    delta = (T - lo) / (hi - lo)  # empirical bounds approximate lo_i + 150 and hi_i + 150 from inside
    assert np.all(delta.sum(axis=1) <= n / 2 + 0.1 * n)
    assert np.quantile(delta.sum(axis=1), 0.99) > 0.8 * n / 2


def test_mixed_means_lie_in_different_orthants():
    T = synthetic("mixed", 2, 4000, seed=11, test=True) - 150.0
    signs = {tuple(s) for s in np.sign(T[np.linalg.norm(T, axis=1) > 20]).astype(int)}
    assert len(signs) >= 2


def test_bad_kind_is_named():
    with pytest.raises(ValueError, match="unknown kind"):
        synthetic("uniform", 2, 10, 0)
