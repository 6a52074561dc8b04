"""One stated tolerance, met by every returned solution: :data:`nnblocks.solve.SOLUTION_TOL`.

On small random networks: a worst case's scenario lies in its domain box exactly and in U to the tolerance,
its value is c'x at the scenario, and it is within the tolerance of the maximum it claims (the pattern method:
the maximum over the points' activation regions, each solved to 1e-11 here; the exact method: the maximum
over all activation patterns). A solver's ordinary answers pass the independent check without a re-solve.
"""

from __future__ import annotations

import itertools

import clarabel
import numpy as np
import pyomo.environ as pyo
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from nnblocks.activations import Identity, ReLU
from nnblocks.blocks import NetworkBlock
from nnblocks.network import Layer, Network
from nnblocks.robust import NetworkUncertaintySet
from nnblocks.robust.network_set import DEFAULT_TOL
from nnblocks.robust.sets.patterns import build_problems, verify
from nnblocks.solve import CHECK_TOL, SOLUTION_TOL, check_solution, solve

_CONES = {"zero": clarabel.ZeroConeT, "nonneg": clarabel.NonnegativeConeT, "soc": clarabel.SecondOrderConeT}


def _net(rng, sizes):
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        act = Identity() if k == len(sizes) - 2 else ReLU()
        layers.append(Layer(rng.normal(size=(n_out, n_in)), rng.normal(size=n_out), act))
    return Network(layers)


def _random_set(seed, norm, n_in=None, hidden=None, scale=None):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 5)) if n_in is None else n_in
    hidden = tuple(int(h) for h in rng.integers(2, 7, size=rng.integers(1, 3))) if hidden is None else hidden
    net = _net(rng, (n, *hidden, int(rng.integers(1, 4))))
    scale = 10 ** rng.uniform(-1, 2) if scale is None else scale
    data = rng.uniform(-1, 1, size=(60, n)) * scale
    U = NetworkUncertaintySet.from_quantile(net, net.forward(data).mean(axis=0), data, rng.uniform(0.3, 0.9),
                                            norm=norm)
    return U, rng.normal(size=n)


def _region_max(U, pieces, x):
    """max c'x over the activation regions of ``pieces``, each solved by Clarabel to 1e-11 (points checked)."""
    lo, hi = U.domain
    problems, _, _ = build_problems(U.network, pieces, U.center, U.radius, U.norm, lo, hi)
    best = -np.inf
    for prob in problems:
        if prob.infeasible:
            continue
        s = clarabel.DefaultSettings()
        s.verbose = False
        s.tol_gap_abs = s.tol_gap_rel = s.tol_feas = 1e-11
        s.max_iter = 500
        P = sp.csc_matrix((prob.n_vars, prob.n_vars))
        sol = clarabel.DefaultSolver(P, prob.q(x), prob.A, prob.b, [_CONES[k](d) for k, d in prob.cones], s).solve()
        if str(sol.status) == "Solved":
            best = max(best, float(x @ np.array(sol.x[: prob.n])))
    return best


def _assert_returned_solution(U, wc, x):
    lo, hi = U.domain
    assert np.all(wc.scenario >= lo) and np.all(wc.scenario <= hi)  # in the box exactly
    assert U.radii(wc.scenario) <= U.radius + SOLUTION_TOL * max(1.0, U.radius)
    assert wc.value == float(x @ wc.scenario)


def test_the_tolerances_are_stated_once():
    assert DEFAULT_TOL == SOLUTION_TOL == 1e-6
    assert CHECK_TOL == pytest.approx(10 * SOLUTION_TOL)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), norm=st.sampled_from([2, 1, "inf"]))
def test_pattern_worst_case_is_a_member_within_the_tolerance_of_the_regions_maximum(seed, norm):
    U, x = _random_set(seed, norm)
    wc = U.worst_case(x)
    _assert_returned_solution(U, wc, x)
    best = _region_max(U, U.patterns().pieces, x)
    # a region's exact optimum may lie a solver tolerance outside U, so it may exceed the value a little
    assert wc.value >= best - SOLUTION_TOL * max(1.0, abs(best))


@settings(max_examples=15, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), norm=st.sampled_from([2, 1, "inf"]),
       formulation=st.sampled_from(["bigm", "hull"]))
def test_exact_worst_case_is_a_member_within_the_tolerance_of_the_maximum(seed, norm, formulation):
    U, x = _random_set(seed, norm, n_in=2, hidden=(4,), scale=1.0)
    wc = U.worst_case(x, method="exact", formulation=formulation)
    assert wc.status == "optimal", wc.stats
    _assert_returned_solution(U, wc, x)
    n = sum(layer.n_out for layer in U.network.layers if layer.activation.n_pieces > 1)
    every = np.array(list(itertools.product((0, 1), repeat=n)), dtype=np.int64)
    best = _region_max(U, every, x)  # the maximum over U (every activation pattern)
    assert wc.value >= best - SOLUTION_TOL * max(1.0, abs(best))
    assert wc.bound >= wc.value


@settings(max_examples=15, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), formulation=st.sampled_from(["bigm", "hull"]),
       solver=st.sampled_from(["scip_direct", "highs"]))
def test_ordinary_solver_answers_pass_the_check_without_a_resolve(seed, formulation, solver):
    """CHECK_TOL lets a solver's rounding pass: a correct answer is never re-solved."""
    rng = np.random.default_rng(seed)
    net = _net(rng, (3, 5, 4, 2))
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(3), bounds=(-2.0, 2.0))
    m.nn = NetworkBlock()
    m.nn.build(net, inputs=m.x, formulation=formulation)
    m.obj = pyo.Objective(expr=m.nn.outputs[0] - 0.5 * m.nn.outputs[1], sense=pyo.maximize)
    res = solve(m, solver, check=check_solution)
    assert res.status.value == "optimal" and len(res.attempts) == 1, res.attempts
    xv = np.array([m.x[i].value for i in range(3)])
    y = net.forward(np.clip(xv, -2.0, 2.0))
    assert float(y[0] - 0.5 * y[1]) == pytest.approx(res.objective, rel=1e-4, abs=1e-4)


def test_a_point_moved_into_U_gives_away_no_more_value_than_it_must():
    """A solver's point slightly outside U is moved towards a member by the smallest step that reaches U."""
    U = NetworkUncertaintySet(Network([Layer(np.eye(2), np.zeros(2), Identity())]), [0.0, 0.0], 1.0, norm=2,
                              domain=(-2 * np.ones(2), 2 * np.ones(2)))
    c = np.array([1.0 + 1e-4, 0.0])  # outside by 1e-4: a step of about 1e-4 towards the center is needed
    moved, ok = verify(U, c, np.zeros(2), DEFAULT_TOL)
    assert ok and U.contains(moved)
    assert moved[0] == pytest.approx(1.0 + DEFAULT_TOL, abs=1e-10)  # on the tolerance's boundary


def test_a_scenario_outside_the_box_by_a_solver_tolerance_is_put_into_it():
    U = NetworkUncertaintySet(Network([Layer(np.eye(2), np.zeros(2), Identity())]), [0.0, 0.0], 1.0, norm="inf",
                              domain=(np.zeros(2), np.ones(2)))
    c, ok = verify(U, np.array([1.0 + 6.6e-7, -1e-9]), np.full(2, 0.5), DEFAULT_TOL)
    assert ok and np.array_equal(c, [1.0, 0.0])
