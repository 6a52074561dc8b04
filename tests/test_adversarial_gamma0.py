"""Specification of fj / arfj at gamma = 0 and of the statuses of scenario generation.

gamma = 0 asks for y_t >= y_j for every j != t: a tie counts for the target (up to VERIFY_TOL * max(1, |y|)).
Every test runs under a wall-clock guard, so that a scenario loop that never ends fails instead of hanging.
"""

from __future__ import annotations

import signal
import time

import numpy as np
import pytest

from nnblocks.activations import ReLU
from nnblocks.adversarial import VERIFY_TOL, arfj, fj, generation, heuristic, solving, verify
from nnblocks.network import Layer, Network
from nnblocks.solve import SolveStatus
from tests.conftest import shared_data

GUARD_S = 120  # seconds: a call that takes longer is taken to loop


@pytest.fixture(autouse=True)
def wall_clock_guard():
    """Fail the test (instead of hanging the suite) when it runs longer than GUARD_S."""

    def _expired(signum, frame):
        raise TimeoutError(f"still running after {GUARD_S} s")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.alarm(GUARD_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _tie_network(c: float) -> Network:
    """On [0, 1]: outputs (relu(2c - x), relu(x)); class 1 is at least class 0 exactly for x >= c."""
    return Network([Layer(np.array([[-1.0], [1.0]]), np.array([2 * c, 0.0]), ReLU())])


def _slack_ok(res, nets, target):
    """Independent check of the gamma = 0 definition on every network, with the documented tolerance."""
    assert res.x_adv is not None and res.verified
    for net in nets:
        y = net.forward(res.x_adv)
        assert y[target] >= np.delete(y, target).max() - VERIFY_TOL * max(1.0, np.abs(y).max())


# ---------------------------------------------------------------------------------------------------
# the definition: ties count for the target
# ---------------------------------------------------------------------------------------------------
def test_a_tie_counts_for_the_target_whatever_the_class_order():
    net = _tie_network(0.5)
    x = np.array([0.5])  # y = (0.5, 0.5)
    for target in (0, 1):
        ok, slack, Y = verify.verify([net], x, target, 0.0, "ratio", 1e-3)
        assert ok and slack[0] == 0.0 and Y[0, 0] == Y[0, 1]
    # a miss beyond the tolerance is not a tie
    ok, _, _ = verify.verify([net], np.array([0.5 - 1e-5]), 1, 0.0, "ratio", 1e-3)
    assert not ok
    # the margin still needs the target output at least min_output: all-zero outputs are no win
    zero = Network([Layer(np.zeros((2, 1)), np.zeros(2), ReLU())])
    assert not verify.verify([zero], x, 1, 0.0, "ratio", 1e-3)[0]


def test_verification_tolerance_is_the_documented_one():
    """A margin missed by 1e-8 (within the solvers' feasibility tolerance) verifies; by 1e-5 it does not."""
    net = _tie_network(0.5)
    assert verify.verify([net], np.array([0.5 - 0.5e-8]), 1, 0.0, "difference", 1e-3)[0]
    assert not verify.verify([net], np.array([0.5 - 0.5e-5]), 1, 0.0, "difference", 1e-3)[0]


@pytest.mark.parametrize("config", ["default", "paper"])
def test_fj_at_gamma0_returns_the_tie_as_a_verified_optimum(config):
    net = _tie_network(0.5)
    res = fj(net, [0.0], target=1, gamma=0.0, config=config, time_limit=60)
    assert res.status == SolveStatus.OPTIMAL
    _slack_ok(res, [net], 1)
    assert res.distance == pytest.approx(0.5, abs=1e-6)


def test_arfj_at_gamma0_ends_at_a_tie_of_the_second_network():
    """Scenario generation: network 0's optimum (x = 0.5) fails network 1, whose tie at x = 0.75 is the optimum
    for both; the rounds end there (no network is added twice)."""
    nets = [_tie_network(0.5), _tie_network(0.75)]
    start = time.perf_counter()
    res = arfj(nets, [0.0], target=1, gamma=0.0, time_limit=60)
    assert time.perf_counter() - start < 30
    assert res.status == SolveStatus.OPTIMAL, res.message
    _slack_ok(res, nets, 1)
    assert res.distance == pytest.approx(0.75, abs=1e-6)
    assert res.n_networks_model == 2


# ---------------------------------------------------------------------------------------------------
# statuses say what happened
# ---------------------------------------------------------------------------------------------------
def _instance():
    rng = np.random.default_rng(7)
    for _ in range(200):
        layers = [Layer(rng.normal(size=(6, 3)), rng.normal(scale=0.3, size=6), ReLU()),
                  Layer(rng.normal(size=(3, 6)) / 2, rng.normal(scale=0.3, size=3), ReLU())]
        net = Network(layers)
        x_bar = rng.uniform(size=3)
        y = net.forward(x_bar)
        if y.max() <= 0.05:
            continue
        X = rng.uniform(size=(2000, 3))
        Y = net.forward(X)
        for t in range(3):
            wins = (Y[:, t] > 1.3 * np.delete(Y, t, axis=1).max(axis=1)) & (Y[:, t] > 0.05)
            if t != int(np.argmax(y)) and wins.any():
                others = [net.with_parameters(net.parameters() + rng.normal(scale=0.02, size=net.n_parameters))
                          for _ in range(2)]
                return [net, *others], x_bar, t
    raise RuntimeError("no instance")


def _solver_point_at_x_bar(monkeypatch, x_bar):
    """The solver reports OPTIMAL with x_bar as its point (which misses the margin by far) and polishing fails."""
    real_solve = solving.solve

    def wrong_point(m, **kwargs):
        res = real_solve(m, **kwargs)
        for j in m.x:
            m.x[j].set_value(float(x_bar[j]))
        return res

    monkeypatch.setattr(solving, "solve", wrong_point)
    monkeypatch.setattr(heuristic, "polish", lambda *args, **kwargs: None)


def test_fj_never_reports_optimal_for_an_example_that_fails_the_check(monkeypatch):
    nets, x_bar, t = _instance()
    _solver_point_at_x_bar(monkeypatch, x_bar)
    res = fj(nets[0], x_bar, t, gamma=0.0, heuristic=False, time_limit=60)
    assert res.status == SolveStatus.ERROR and not res.verified
    assert res.x_adv is not None and res.margins[0] < -VERIFY_TOL  # the unverified point, for inspection
    assert "misses the margin of network 0" in res.message
    assert res.as_dict()["message"] == res.message


def test_fj_falls_back_to_the_verified_heuristic_example(monkeypatch):
    nets, x_bar, t = _instance()
    _solver_point_at_x_bar(monkeypatch, x_bar)
    res = fj(nets[0], x_bar, t, gamma=0.0, time_limit=60)
    assert res.heuristic_distance is not None
    assert res.status == SolveStatus.FEASIBLE and res.verified
    assert res.distance == pytest.approx(res.heuristic_distance)
    assert "heuristic" in res.message


def test_arfj_without_time_limit_never_reports_a_time_limit(monkeypatch):
    """A round whose example fails the check ends scenario generation with a status that says so."""
    nets, x_bar, t = _instance()
    _solver_point_at_x_bar(monkeypatch, x_bar)
    res = arfj(nets, x_bar, t, gamma=0.0, heuristic=False)
    assert res.status not in (SolveStatus.TIME_LIMIT, SolveStatus.TIME_LIMIT_NO_SOLUTION)
    assert res.message
    if res.x_adv is not None and res.status != SolveStatus.ERROR:
        assert res.verified  # the whole-set heuristic's example
    else:
        assert res.status == SolveStatus.ERROR and not res.verified


def test_arfj_reports_a_round_that_fails_its_own_check_instead_of_looping(monkeypatch):
    """If a round's example failed the check on a network already in its model, the loop cannot add that network
    again: it stops and says why."""
    nets, x_bar, t = _instance()
    calls = []
    real = verify.check_margins

    def failing_on_network_0(networks, *args):
        passed, slack, Y = real(networks, *args)
        if len(networks) == len(nets):  # the loop's check over the whole set
            calls.append(1)
            passed = np.ones_like(passed)  # every network passes but network 0, the one already in the model
            passed[0], slack = False, slack.copy()
            slack[0] = -1.0
        return passed, slack, Y

    # the check wherever it runs: the loop's check over the whole set and the final verification
    monkeypatch.setattr(generation.verify, "check_margins", failing_on_network_0)
    res = arfj(nets, x_bar, t, gamma=0.0, heuristic=False)
    assert res.status not in (SolveStatus.TIME_LIMIT, SolveStatus.TIME_LIMIT_NO_SOLUTION, SolveStatus.OPTIMAL)
    assert res.n_networks_model <= len(nets)
    assert "its own model" in res.message
    assert res.n_networks_model == 1 and len(calls) <= 3  # stopped after the first round


def test_arfj_reports_the_failure_when_no_example_over_the_whole_set_is_found(monkeypatch):
    nets, x_bar, t = _instance()
    _solver_point_at_x_bar(monkeypatch, x_bar)
    monkeypatch.setattr(generation, "whole_set_incumbent", lambda *args, **kwargs: None)
    res = arfj(nets, x_bar, t, gamma=0.0, heuristic=False)
    assert res.status == SolveStatus.ERROR and not res.verified
    assert res.x_adv is not None and np.allclose(res.x_adv, x_bar)  # the unverified example, for inspection
    assert "misses the margin" in res.message and "no example verified on every network" in res.message


def test_arfj_stopped_by_its_time_limit_says_so(monkeypatch):
    from nnblocks.solve import SolveResult

    nets, x_bar, t = _instance()

    def timed_out(m, **kwargs):
        return SolveResult(SolveStatus.TIME_LIMIT_NO_SOLUTION, None, None, None, 1.0, "scip_direct", 7,
                           "maxTimeLimit", None, False)

    monkeypatch.setattr(solving, "solve", timed_out)
    res = arfj(nets, x_bar, t, gamma=0.0, heuristic=False, time_limit=30)
    assert res.status in (SolveStatus.TIME_LIMIT, SolveStatus.TIME_LIMIT_NO_SOLUTION)
    assert (res.x_adv is not None) == (res.status == SolveStatus.TIME_LIMIT) == res.verified


# ---------------------------------------------------------------------------------------------------
# the reproducers
# ---------------------------------------------------------------------------------------------------
def _load(name: str, n: int):
    nets = [Network.load(shared_data("regressions", f"{name}_net{i}.npz")) for i in range(n)]
    return nets, np.load(shared_data("regressions", f"{name}_x_bar.npy"))


@pytest.mark.shared_data
@pytest.mark.parametrize("target, distance", [(0, None), (1, 0.7980784963609), (2, 0.2071541727686), (3, None)])
def test_arfj_gamma0_two_networks_ends_with_the_optimum(target, distance):
    """Two networks on [0, 1]^2 (optima checked on a 1501 x 1501 grid and with the paper configuration)."""
    nets, x_bar = _load("arfj_gamma0_loop", 2)
    start = time.perf_counter()
    res = arfj(nets, x_bar, target=target, gamma=0.0, time_limit=60)
    assert time.perf_counter() - start < 30
    assert res.n_networks_model <= len(nets)
    if distance is None:
        assert res.status == SolveStatus.INFEASIBLE and res.x_adv is None
    else:
        assert res.status == SolveStatus.OPTIMAL, res.message
        _slack_ok(res, nets, target)
        assert res.distance == pytest.approx(distance, rel=1e-4)


@pytest.mark.shared_data
@pytest.mark.parametrize("target, distance", [(0, 0.1609160311328), (1, 0.1617246069392)])
def test_arfj_gamma0_four_networks_without_time_limit_is_optimal(target, distance):
    nets, x_bar = _load("arfj_false_time_limit", 4)
    res = arfj(nets, x_bar, target=target, gamma=0.0, bounds="interval")  # no time limit: the guard stops a loop
    assert res.status == SolveStatus.OPTIMAL, res.message
    _slack_ok(res, nets, target)
    assert res.distance == pytest.approx(distance, rel=1e-4)
    assert res.n_networks_model <= len(nets)


# ---------------------------------------------------------------------------------------------------
# x_bar already in the target class; rounds with the heuristic's example only
# ---------------------------------------------------------------------------------------------------
def _two_networks_x_bar_wins_on_the_first():
    """Two 2-3-3 ReLU networks on [0, 1]^2: x_bar is class 2 for the first network, and the second network
    never puts an input into class 2 (checked on a 1001 x 1001 grid and with the paper configuration)."""
    net0 = Network([
        Layer(np.array([[-0.01, 1.05], [0.74, 0.72], [1.62, -1.21]]), np.array([-0.19, -0.4, -0.03]), ReLU()),
        Layer(np.array([[1.0, -0.02, 0.5], [-1.91, 0.15, -0.91], [1.78, 0.89, 0.95]]), np.array([-0.02, 0.18, 0.2]),
              ReLU()),
    ])
    net1 = Network([
        Layer(np.array([[-0.34, -0.5], [-0.11, -0.61], [-0.59, -0.28]]), np.array([-0.22, 0.23, -0.48]), ReLU()),
        Layer(np.array([[0.82, -0.63, -0.55], [-1.35, -0.14, -0.25], [0.19, -0.53, 0.09]]),
              np.array([0.55, 0.12, -0.17]), ReLU()),
    ])
    return [net0, net1], np.array([0.17, 0.78])


def test_fj_at_x_bar_already_in_the_target_class_is_optimal_at_distance_0():
    (net0, _), x_bar = _two_networks_x_bar_wins_on_the_first()
    res = fj(net0, x_bar, target=2, gamma=0.0, time_limit=60)
    assert res.status == SolveStatus.OPTIMAL and res.distance == 0.0 and res.bound == 0.0
    _slack_ok(res, [net0], 2)


def test_arfj_where_one_network_never_reaches_the_target_is_infeasible():
    nets, x_bar = _two_networks_x_bar_wins_on_the_first()
    res = arfj(nets, x_bar, target=2, gamma=0.0, time_limit=60)
    assert res.status == SolveStatus.INFEASIBLE and res.x_adv is None
    assert res.n_networks_model == 2


def test_a_round_with_only_the_heuristic_example_leads_to_the_next_round(monkeypatch):
    """The solver refuses every round (status infeasible, although the heuristic's example is feasible): each
    round's example stands as FEASIBLE, and the rounds go on until it fools every network."""
    from nnblocks.solve import SolveResult

    nets, x_bar, t = _instance()

    def refuses(m, **kwargs):
        return SolveResult(SolveStatus.INFEASIBLE, None, None, None, 0.01, "scip_direct", 0, "infeasible", None,
                           False)

    monkeypatch.setattr(solving, "solve", refuses)
    res = arfj(nets, x_bar, t, gamma=0.0)
    assert res.status == SolveStatus.FEASIBLE and res.verified
    assert "heuristic" in res.message
    _slack_ok(res, nets, t)
