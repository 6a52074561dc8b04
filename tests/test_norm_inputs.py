"""Every entry point that takes a norm reads it the same way (nnblocks._validate.norm)."""

from __future__ import annotations

import math

import numpy as np
import pyomo.environ as pyo
import pytest

from nnblocks import Identity, InputDomain, Layer, Network, NormBall, ReLU
from nnblocks._validate import norm as parse_norm
from nnblocks.adversarial import fj
from nnblocks.robust import NetworkUncertaintySet

SAME = [
    (1, 1), ("1", 1), ("l1", 1), (" l1", 1), ("L1", 1), (1.0, 1), (np.int64(1), 1),
    (2, 2), ("2", 2), ("l2", 2), ("L2", 2), (np.float32(2), 2),
    ("inf", "inf"), ("infinity", "inf"), ("Inf", "inf"), ("linf", "inf"), ("LINF", "inf"), (" Linf ", "inf"),
    (math.inf, "inf"), (np.inf, "inf"),
]
REFUSED = [True, False, np.bool_(True), 0, 3, "l3", "", None, [1], np.array([1, 2]), "one"]


def _net() -> Network:
    rng = np.random.default_rng(0)
    return Network([Layer(rng.normal(size=(4, 2)), rng.normal(size=4), ReLU()),
                    Layer(rng.normal(size=(2, 4)), rng.normal(size=2), Identity())])


def _entry_points(value):
    """The norm as each entry point reads it."""
    net = _net()
    yield "parse", parse_norm(value)
    yield "InputDomain", InputDomain(lower=[-1, -1], upper=[1, 1], center=[0, 0], norm=value, radius=0.5).norm
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(2))
    m.ball = NormBall(m.x, center=[0.0, 0.0], norm=value, radius=1.0)
    yield "NormBall", m.ball.norm
    data = np.random.default_rng(1).uniform(-1, 1, size=(50, 2))
    yield "NetworkUncertaintySet", NetworkUncertaintySet(net, np.zeros(2), 1.0, norm=value, data=data).norm
    x_bar = np.array([0.3, -0.2])
    target = int(1 - np.argmax(net.forward(x_bar[None])[0]))
    yield "fj", fj(net, x_bar, target, gamma=0.1, norm=value, domain=(-5.0, 5.0), time_limit=30).norm


@pytest.mark.parametrize("value, expected", SAME, ids=[repr(v) for v, _ in SAME])
def test_the_same_norm_everywhere(value, expected):
    for where, got in _entry_points(value):
        assert got == expected, where


@pytest.mark.parametrize("value", REFUSED, ids=[repr(v) for v in REFUSED])
def test_the_same_refusal_everywhere(value):
    net = _net()
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(2))
    calls = {
        "parse": lambda: parse_norm(value),
        "InputDomain": lambda: InputDomain(lower=[-1, -1], upper=[1, 1], center=[0, 0], norm=value, radius=0.5),
        "NormBall": lambda: NormBall(m.x, center=[0.0, 0.0], norm=value, radius=1.0),
        "NetworkUncertaintySet": lambda: NetworkUncertaintySet(net, np.zeros(2), 1.0, norm=value),
        "fj": lambda: fj(net, np.zeros(2), 0, norm=value),
    }
    for where, call in calls.items():
        # for an InputDomain, norm=None means "no ball": with a center and a radius that is its own error
        no_ball = value is None and where == "InputDomain"
        expected = "a ball needs all of" if no_ball else "^unknown norm .*: use 1, 2 or 'inf'"
        with pytest.raises(ValueError, match=expected):
            call()


def test_norm_of_and_dual():
    from nnblocks._validate import dual_norm, norm_of

    v = np.array([[3.0, -4.0], [0.0, 0.0]])
    np.testing.assert_allclose(norm_of(v, 1), [7.0, 0.0])
    np.testing.assert_allclose(norm_of(v, 2), [5.0, 0.0])
    np.testing.assert_allclose(norm_of(v, "inf"), [4.0, 0.0])
    assert norm_of(v, 1, axis=None) == 7.0
    assert [dual_norm(p) for p in (1, 2, "inf")] == ["inf", 2, 1]
