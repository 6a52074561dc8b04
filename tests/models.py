"""Small models shared by several test files."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from nnblocks import Layer, Network, ReLU


def small_milp() -> pyo.ConcreteModel:
    """min x + 2y s.t. x + y >= 0.5, x in [0, 1], y binary (optimum 0.5 at y = 0)."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 1))
    m.y = pyo.Var(domain=pyo.Binary)
    m.c = pyo.Constraint(expr=m.x + m.y >= 0.5)
    m.o = pyo.Objective(expr=m.x + 2 * m.y)
    return m


def small_cli_network(tmp_path, seed: int = 1):
    """A 4-6-3 ReLU network saved as ``net.npz`` and an input ``x.npy`` under ``tmp_path``, with the input's
    class and a target class that some input in [0, 1]^4 reaches with the default margin.

    Returns ``(net, path, img, true, target)``.
    """
    rng = np.random.default_rng(seed)
    net = Network([Layer(rng.normal(size=(6, 4)), rng.normal(scale=0.3, size=6), ReLU()),
                   Layer(rng.normal(size=(3, 6)) / 2, rng.normal(scale=0.3, size=3), ReLU())])
    path = tmp_path / "net.npz"
    net.save(path)
    X = rng.uniform(size=(2000, 4))
    Y = net.forward(X)
    true = int(np.argmax(Y[0]))
    target = next(t for t in range(3) if t != true and
                  ((Y[:, t] >= 1.2 * np.delete(Y, t, axis=1).max(axis=1) + 1e-3) & (Y[:, t] > 0.01)).any())
    img = tmp_path / "x.npy"
    np.save(img, X[0])
    return net, path, img, true, target
