"""Scenario generation with its oracle on an executor's workers gives the serial answer."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from nnblocks import Identity, Layer, Network, ReLU
from nnblocks.robust import NetworkUncertaintySet, robust_obj


def _set() -> NetworkUncertaintySet:
    rng = np.random.default_rng(0)
    net = Network([
        Layer(rng.normal(size=(8, 3)), rng.normal(size=8), ReLU()),
        Layer(rng.normal(size=(8, 8)), rng.normal(size=8), ReLU()),
        Layer(rng.normal(size=(3, 8)), rng.normal(size=3), Identity()),
    ])
    data = rng.uniform(-1, 1, size=(400, 3))
    return NetworkUncertaintySet.from_quantile(net, net.forward(data).mean(axis=0), data, 0.9)


def test_robust_obj_with_a_process_pool_oracle_equals_the_serial_one():
    serial = robust_obj(_set())
    with ProcessPoolExecutor(2) as pool:
        parallel = robust_obj(_set(), oracle_options={"executor": pool, "n_batches": 4})
    assert serial.status == parallel.status == "robust_optimal"
    assert parallel.objective == pytest.approx(serial.objective, rel=1e-7, abs=1e-9)
    np.testing.assert_allclose(parallel.x, serial.x, atol=1e-6)


def test_robust_obj_on_a_local_dask_cluster_equals_the_serial_one():
    distributed = pytest.importorskip("distributed")
    serial = robust_obj(_set())
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl,
        distributed.Client(cl) as client,
    ):
        parallel = robust_obj(_set(), oracle_options={"executor": client.get_executor()})
    assert parallel.status == serial.status
    assert parallel.objective == pytest.approx(serial.objective, rel=1e-7, abs=1e-9)
