"""The MILP stage's big-M bounds: alpha-CROWN's pre-activation bounds contain every sampled pre-activation and lie
inside CROWN's, and the MILP stage with them agrees with the enumeration oracle."""

from __future__ import annotations

import numpy as np
import pytest

import nnblocks as nb
from nnblocks.verify import VerifyStatus
from nnblocks.verify.milp import _block_bounds
from tests.test_verify import _instances, random_network

pytest.importorskip("torch")


def test_alpha_big_m_bounds_sound_and_inside_crown():
    rng = np.random.default_rng(3)
    net = random_network(rng, 6, (12, 10), 3)
    lo = rng.uniform(-1, 0, 6)
    hi = lo + rng.uniform(0.2, 1.0, 6)
    crown = _block_bounds(net, lo, hi, "crown")
    alpha = _block_bounds(net, lo, hi, "alpha-crown", 5.0)
    X = lo + rng.random((20_000, 6)) * (hi - lo)
    H = X
    for layer, lc, la in zip(net.layers, crown.layers, alpha.layers):
        a = H @ layer.W.T + layer.b
        assert np.all(a >= la.lower - 1e-9) and np.all(a <= la.upper + 1e-9)
        assert np.all(la.lower >= lc.lower - 1e-12) and np.all(la.upper <= lc.upper + 1e-12)
        H = layer.activation(a)


@pytest.mark.parametrize("want_sat", [True, False])
def test_milp_stage_with_alpha_big_m_agrees_with_oracle(want_sat):
    for net, spec in _instances(4, want_sat, seed=11):
        r = nb.verify(net, spec, time_limit=20, stages=["milp"])
        assert r.status is (VerifyStatus.SAT if want_sat else VerifyStatus.UNSAT), r.message
        assert r.stages[0].counts.get("big_m_bounds", "").endswith("alpha-crown")
