"""One-class training: architecture of the papers, determinism, and the quantile radius."""

from __future__ import annotations

import numpy as np
import pytest

from nnblocks.activations import Identity, ReLU
from nnblocks.datasets import synthetic
from nnblocks.robust import NetworkUncertaintySet
from nnblocks.train.one_class import quantile_loss_weights

torch = pytest.importorskip("torch")


def test_loss_positions_and_weights_follow_the_paper():
    inner, a, outer, b = quantile_loss_weights(500, 0.9)
    np.testing.assert_array_equal(inner, [449, 448, 447, 446, 445])
    np.testing.assert_array_equal(outer, [451, 452, 453, 454, 455])
    np.testing.assert_array_equal(a, [5, 10, 15, 20, 25])
    np.testing.assert_array_equal(b, [1, 2, 3, 4, 5])


def test_tiny_training_is_deterministic_and_the_quantile_holds():
    from nnblocks.train.one_class import one_class

    X = synthetic("mixed", 2, 120, seed=2)
    kw = dict(hidden=(6, 6), rep_dim=4, epochs=30, restarts=2, seed=3, progress=False)
    net, center = one_class(X, **kw)
    net2, center2 = one_class(X, **kw)
    assert net == net2 and np.array_equal(center, center2)
    assert net.layer_sizes == (2, 6, 6, 4)
    assert [type(layer.activation) for layer in net.layers] == [ReLU, ReLU, Identity]
    assert all(not layer.b.any() for layer in net.layers)
    assert np.all(np.abs(center) >= 0.01 - 1e-7)
    U = NetworkUncertaintySet.from_quantile(net, center, X, 0.9)
    assert U.radius == np.quantile(U.radii(X), 0.9)
    assert np.mean(U.contains(X, tol=0)) == pytest.approx(0.9, abs=1 / 120 + 1e-12)


def test_training_pulls_the_inner_points_in_relative_to_the_outer():
    from nnblocks.train.one_class import one_class

    X = synthetic("gaussian", 2, 100, seed=5)
    net0, c0 = one_class(X, hidden=(8, 8), rep_dim=8, epochs=0, restarts=1, seed=1, progress=False)
    net1, c1 = one_class(X, hidden=(8, 8), rep_dim=8, epochs=150, restarts=1, seed=1, progress=False)
    np.testing.assert_allclose(c0, c1)  # same initial network, same center

    def ratio(net, c):
        d = np.sort(np.sum((net.forward(X) - c) ** 2, axis=1))
        return d[85:90].mean() / d[91:96].mean()

    assert ratio(net1, c1) < ratio(net0, c0)


def test_bad_data_is_named():
    from nnblocks.train.one_class import one_class

    with pytest.raises(ValueError, match="NaN"):
        one_class(np.array([[0.0, np.nan], [1.0, 1.0]]), epochs=1, progress=False)
