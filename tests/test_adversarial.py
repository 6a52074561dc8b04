"""Specification of the FJ / ARFJ builders (nnblocks.adversarial)."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
import pytest

from nnblocks.activations import Identity, ReLU
from nnblocks.adversarial import AdversarialResult, arfj, fj, fj_model
from nnblocks.network import Layer, Network
from nnblocks.solve import SolverNotAvailableError, SolveStatus

GAMMA = 0.2
_RELU = ReLU()


def _net(rng: np.random.Generator, sizes=(6, 8, 6, 4), out=_RELU) -> Network:
    layers = []
    for k in range(1, len(sizes)):
        W = rng.normal(size=(sizes[k], sizes[k - 1])) / np.sqrt(sizes[k - 1])
        b = rng.normal(scale=0.3, size=sizes[k])
        layers.append(Layer(W, b, ReLU() if k < len(sizes) - 1 else out))
    return Network(layers)


def _instance(seed: int, out=_RELU, n_perturbed: int = 0):
    """A small network, a nominal input and a target class reachable with margin in the unit box."""
    rng = np.random.default_rng(seed)
    for _ in range(100):
        net = _net(rng, out=out)
        X = rng.uniform(size=(3000, net.n_inputs))
        Y = net.forward(X)
        x_bar = X[0]
        true = int(np.argmax(Y[0]))
        if Y[0, true] <= 0:
            continue
        others = [t for t in range(net.n_outputs) if t != true]
        for t in others:
            if isinstance(out, ReLU):
                ok = (Y[:, t] >= (1 + GAMMA) * np.delete(Y, t, axis=1).max(axis=1) + 1e-3) & (Y[:, t] > 1e-2)
            else:
                ok = Y[:, t] >= np.delete(Y, t, axis=1).max(axis=1) + GAMMA + 1e-3
            if ok.any():
                nets = [net] + [net.with_parameters(net.parameters() + rng.normal(scale=0.02, size=net.n_parameters))
                                for _ in range(n_perturbed)]
                return nets, x_bar, t
    raise RuntimeError("no instance found")


def _check_verified(res: AdversarialResult, nets, x_bar, target, gamma=GAMMA):
    """Independent check of a returned example: inside the box, target wins with the margin on every network."""
    assert res.x_adv is not None and res.verified
    assert np.all(res.x_adv >= 0) and np.all(res.x_adv <= 1)
    assert res.distance == pytest.approx(np.abs(res.x_adv - x_bar).sum(), abs=1e-9)
    for net in nets:
        y = net.forward(res.x_adv)
        assert np.argmax(y) == target
        assert y[target] >= (1 + gamma) * np.delete(y, target).max() - 1e-6 * max(1, np.abs(y).max())


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("config", ["default", "paper"])
def test_fj_returns_verified_optimal_example(seed, config):
    nets, x_bar, t = _instance(seed)
    res = fj(nets[0], x_bar, t, gamma=GAMMA, config=config)
    assert res.status == SolveStatus.OPTIMAL
    _check_verified(res, nets, x_bar, t)
    assert res.objective == pytest.approx(res.distance, rel=1e-6, abs=1e-6)
    assert res.n_vars > 0 and res.n_constraints > 0 and res.n_binaries >= 0


@pytest.mark.parametrize("seed", range(4))
def test_default_and_paper_configurations_agree(seed):
    nets, x_bar, t = _instance(seed)
    d = fj(nets[0], x_bar, t, mip_gap=0.0)
    p = fj(nets[0], x_bar, t, config="paper")
    assert d.objective == pytest.approx(p.objective, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_highs_gives_the_same_optimum(seed):
    nets, x_bar, t = _instance(seed)
    s = fj(nets[0], x_bar, t, mip_gap=0.0)
    h = fj(nets[0], x_bar, t, solver="appsi_highs", mip_gap=0.0)
    _check_verified(h, nets, x_bar, t)
    assert h.objective == pytest.approx(s.objective, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_arfj_with_one_network_equals_fj(seed):
    nets, x_bar, t = _instance(seed)
    a = arfj([nets[0]], x_bar, t, mip_gap=0.0)
    f = fj(nets[0], x_bar, t, mip_gap=0.0)
    assert a.objective == pytest.approx(f.objective, rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("seed", range(3))
def test_arfj_is_verified_on_every_network_and_never_below_fj(seed):
    nets, x_bar, t = _instance(seed, n_perturbed=3)
    a = arfj(nets, x_bar, t, mip_gap=0.0)
    if a.status == SolveStatus.INFEASIBLE:  # the perturbed networks admit no common example
        return
    assert a.status == SolveStatus.OPTIMAL
    _check_verified(a, nets, x_bar, t)
    assert a.margins.shape == (len(nets),)
    for net in nets:
        f = fj(net, x_bar, t, mip_gap=0.0)
        assert a.objective >= f.objective - 1e-6 * max(1.0, f.objective)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("config", ["default", "paper"])
def test_certification_agrees_with_the_optimum(seed, config):
    nets, x_bar, t = _instance(seed)
    opt = fj(nets[0], x_bar, t, mip_gap=0.0).objective
    below = fj(nets[0], x_bar, t, max_distance=opt * (1 - 1e-3), config=config, mip_gap=0.0)
    assert below.status == SolveStatus.INFEASIBLE and below.certificate and below.x_adv is None
    above = fj(nets[0], x_bar, t, max_distance=opt * (1 + 1e-3), config=config, mip_gap=0.0)
    assert not above.certificate
    _check_verified(above, nets, x_bar, t)
    assert above.distance <= opt * (1 + 1e-3) + 1e-7


def test_difference_margin_for_affine_outputs():
    nets, x_bar, t = _instance(7, out=Identity())
    res = fj(nets[0], x_bar, t, gamma=GAMMA)
    assert res.margin == "difference"
    y = nets[0].forward(res.x_adv)
    assert res.verified and y[t] >= np.delete(y, t).max() + GAMMA - 1e-6
    paper = fj(nets[0], x_bar, t, gamma=GAMMA, config="paper")
    assert paper.objective == pytest.approx(res.objective, rel=1e-4, abs=1e-6)
    with pytest.raises(ValueError, match="non-negative"):
        fj(nets[0], x_bar, t, margin="ratio")


@pytest.mark.parametrize("norm", ["inf", 2])
def test_other_norms_give_verified_examples(norm):
    nets, x_bar, t = _instance(1)
    res = fj(nets[0], x_bar, t, norm=norm)
    assert res.verified
    d = res.x_adv - x_bar
    expected = np.abs(d).max() if norm == "inf" else np.sqrt(d @ d)
    assert res.distance == pytest.approx(expected)
    l1 = fj(nets[0], x_bar, t)
    if norm == "inf":  # ||.||_inf <= ||.||_1: the L-inf optimum is at most the L1 optimum
        assert res.distance <= l1.distance + 1e-6


def test_arfj_carries_the_callers_norm_and_solver_through():
    """The result names the norm, configuration and solver of the call, on every path of arfj."""
    nets, x_bar, t = _instance(1, n_perturbed=2)
    l2 = arfj(nets, x_bar, t, norm=2)  # the extensive form (scenario generation is for the L1 norm)
    assert l2.norm == 2 and l2.as_dict()["norm"] == 2 and l2.verified
    d = l2.x_adv - x_bar
    assert l2.distance == pytest.approx(np.sqrt(d @ d))
    gen = arfj(nets, x_bar, t, solver="appsi_highs")  # scenario generation
    assert (gen.solver, gen.solve.solver, gen.config, gen.norm) == ("appsi_highs", "appsi_highs", "default", 1)
    paper = arfj(nets, x_bar, t, solver="appsi_highs", config="paper")
    assert (paper.solver, paper.config) == ("appsi_highs", "paper")


def test_arfj_whose_rounds_fail_names_the_callers_solver(monkeypatch):
    """When the rounds of scenario generation end without an example over the whole set, the result built from
    the last round still names the call's solver, configuration and norm, and holds the round's solver call."""
    from nnblocks.adversarial import solving
    from nnblocks.solve import SolveResult

    nets, x_bar, t = _instance(1, n_perturbed=2)
    calls = []

    def fails(m, **kwargs):
        calls.append(kwargs["solver"])
        return SolveResult(SolveStatus.ERROR, None, None, None, 0.01, kwargs["solver"], 3, "error", None, False)

    monkeypatch.setattr(solving, "solve", fails)
    res = arfj(nets, x_bar, t, solver="appsi_highs", heuristic=False)
    assert calls == ["appsi_highs"]
    assert res.status in (SolveStatus.FEASIBLE, SolveStatus.ERROR) and res.message
    assert (res.solver, res.config, res.norm) == ("appsi_highs", "default", 1)
    assert res.solve is not None and res.solve.solver == "appsi_highs" and res.nodes == 3
    assert res.as_dict()["solve"]["termination"] == "error"


def test_the_result_holds_its_solver_call():
    nets, x_bar, t = _instance(0)
    res = fj(nets[0], x_bar, t)
    assert res.solve is not None and res.solve_time == res.solve.time and res.nodes == res.solve.nodes
    back = res.as_dict()
    assert back["nodes"] == res.nodes and back["solve"] == res.solve.as_dict()


def test_build_model_returns_the_model_and_its_record():
    from nnblocks.adversarial import FJProblem, build_model

    nets, x_bar, t = _instance(0)
    problem = FJProblem(nets[0], x_bar, t)
    assert problem.networks == (nets[0],) and problem.margin == "ratio" and problem.heuristic
    m, record = build_model(problem)
    assert not any(name.startswith("_nnblocks") for name in vars(m))  # no private state on the model
    assert record.incumbent is not None and record.cutoff and hasattr(m, "cutoff")
    assert record.tunings == ("no_separation", "no_heuristics") and record.logits
    assert len(record.network_bounds) == 1 and record.as_dict()["cutoff"] is True
    with pytest.raises(ValueError, match="unknown config"):
        FJProblem(nets[0], x_bar, t, config="fast")


def test_fj_model_is_an_unsolved_pyomo_model(tmp_path):
    nets, x_bar, t = _instance(0)
    m = fj_model(nets[0], x_bar, t)
    assert isinstance(m, pyo.ConcreteModel)
    assert all(m.x[j].value is None for j in m.x)
    from nnblocks.solve import solve, write

    path = write(m, tmp_path / "fj.lp")
    assert path.stat().st_size > 0
    res = solve(m)
    assert res.objective == pytest.approx(fj(nets[0], x_bar, t).objective, rel=1e-3)


def test_bad_input_gets_clear_errors():
    nets, x_bar, t = _instance(0)
    net = nets[0]
    with pytest.raises(ValueError, match="target"):
        fj(net, x_bar, net.n_outputs)
    with pytest.raises(ValueError, match="inputs"):
        fj(net, x_bar[:-1], t)
    with pytest.raises(ValueError, match="NaN"):
        fj(net, np.full_like(x_bar, np.nan), t)
    with pytest.raises(ValueError, match="config"):
        fj(net, x_bar, t, config="fast")
    with pytest.raises(ValueError, match="norm"):
        fj(net, x_bar, t, norm=3)
    with pytest.raises(ValueError, match="outside"):
        fj(net, x_bar + 2, t)
    with pytest.raises(SolverNotAvailableError):
        fj(net, x_bar, t, solver="no_such_solver")
    other = Network([Layer(np.ones((2, 3)), np.zeros(2), ReLU())])
    with pytest.raises(ValueError, match="inputs/outputs"):
        arfj([net, other], x_bar, t)


def test_unreachable_target_is_reported_infeasible():
    # output 1 is identically zero: no input makes class 1 win
    net = Network([Layer(np.array([[1.0, 0.5], [0.0, 0.0]]), np.array([0.1, -1.0]), ReLU())])
    res = fj(net, np.array([0.5, 0.5]), 1)
    assert res.status == SolveStatus.INFEASIBLE and res.x_adv is None and not res.verified


@pytest.mark.slow
def test_shipped_network_demo_pair_is_verified():
    from nnblocks.datasets import load_shipped, nominal_images

    net = load_shipped("nominal")
    X, _, _ = nominal_images()
    res = fj(net, X[2], 1)
    assert res.status == SolveStatus.OPTIMAL and res.gap is not None and res.gap <= 1e-4
    _check_verified(res, [net], X[2], 1)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(2))
def test_scenario_generation_matches_the_extensive_form(seed):
    nets, x_bar, t = _instance(seed, n_perturbed=3)
    gen = arfj(nets, x_bar, t, mip_gap=0.0)
    full = arfj(nets, x_bar, t, config="paper")
    assert gen.status == full.status
    if full.status == SolveStatus.OPTIMAL:
        assert gen.objective == pytest.approx(full.objective, rel=1e-5, abs=1e-6)
        assert gen.verified and full.verified
        assert 1 <= gen.n_networks_model <= len(nets) and full.n_networks_model == len(nets)


def test_margins_missed_within_solver_tolerances_are_repaired(monkeypatch):
    """A MILP point whose margin holds only up to the solver's tolerances is replaced by the exact LP optimum
    of its activation regions, so that the returned example is verified and still optimal."""
    from nnblocks.adversarial import solving

    nets, x_bar, t = _instance(3)
    ref = fj(nets[0], x_bar, t)
    real_solve = solving.solve
    missed = []

    def sloppy_solve(m, **kwargs):
        res = real_solve(m, **kwargs)
        # step back towards x_bar by 0.1%: the margin, tight at the optimum, is then missed slightly
        for j in m.x:
            m.x[j].set_value(float(x_bar[j] + (1 - 1e-3) * (m.x[j].value - x_bar[j])))
        x = np.array([m.x[j].value for j in m.x])
        y = nets[0].forward(x)
        missed.append(y[t] - (1 + GAMMA) * np.delete(y, t).max())
        return res

    monkeypatch.setattr(solving, "solve", sloppy_solve)
    res = fj(nets[0], x_bar, t)
    assert missed and missed[0] < -1e-6  # the solver's point alone would not verify
    _check_verified(res, nets[:1], x_bar, t)
    assert ref.distance - 1e-7 <= res.distance <= ref.distance * (1 + 1e-6) + 1e-7


def test_heuristic_stops_at_its_deadline():
    """The ascent of the primal heuristic returns nothing once its deadline has passed (x_bar fails the margin)."""
    from nnblocks.adversarial import heuristic

    nets, x_bar, t = _instance(0)
    lo, up = np.zeros_like(x_bar), np.ones_like(x_bar)
    args = (nets, x_bar, lo, up, t, GAMMA, "difference", None)
    assert heuristic._gradient_start(*args, deadline=0.0) is None
    assert heuristic.incumbent(nets, x_bar, lo, up, t, GAMMA, "difference", None, time_limit=0.0) is None
    assert heuristic.incumbent(nets, x_bar, lo, up, t, GAMMA, "difference", None) is not None


def test_heuristic_budget_follows_the_time_left():
    from nnblocks.adversarial.heuristic import HEURISTIC_TIME, MIN_HEURISTIC_TIME, heuristic_time

    assert heuristic_time(None) == HEURISTIC_TIME
    assert heuristic_time(100.0) == HEURISTIC_TIME
    assert heuristic_time(0.5) == 0.5
    assert heuristic_time(-3.0) == MIN_HEURISTIC_TIME


@pytest.mark.parametrize("solver_bound, kept", [(1e-3, True), (1e9, False)])
def test_timed_out_solve_keeps_a_valid_bound_for_the_heuristic_example(monkeypatch, solver_bound, kept):
    """When time runs out before the solver beats the heuristic's cutoff, the heuristic example stands and the
    solver's dual bound (of the model with the cutoff row, whose optimum is the same) stays as its bound."""
    from nnblocks.adversarial import solving
    from nnblocks.solve import SolveResult

    nets, x_bar, t = _instance(0)

    def timed_out(m, **kwargs):
        return SolveResult(SolveStatus.TIME_LIMIT_NO_SOLUTION, None, solver_bound, None, 1.0, "scip_direct", 7,
                           "maxTimeLimit", None, False)

    monkeypatch.setattr(solving, "solve", timed_out)
    res = fj(nets[0], x_bar, t, time_limit=5.0)
    assert res.status == SolveStatus.TIME_LIMIT and res.verified
    assert res.objective == pytest.approx(res.heuristic_distance)
    if kept:
        assert res.bound == solver_bound
        assert res.gap == pytest.approx((res.objective - solver_bound) / res.objective)
    else:  # a bound above the example's distance cannot be valid: dropped
        assert res.bound is None and res.gap is None


# ---------------------------------------------------------------------------------------------------
# bad input: clear errors instead of silent or misleading results
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("time_limit", [0, -5.0, float("nan")])
def test_time_limit_must_be_positive(time_limit):
    nets, x_bar, t = _instance(0, n_perturbed=1)
    with pytest.raises(ValueError, match="time_limit must be positive"):
        fj(nets[0], x_bar, t, time_limit=time_limit)
    with pytest.raises(ValueError, match="time_limit must be positive"):
        arfj(nets, x_bar, t, time_limit=time_limit)


def test_time_limit_must_be_a_number_and_inf_means_no_limit():
    nets, x_bar, t = _instance(0)
    with pytest.raises(TypeError, match="time_limit must be a number"):
        fj(nets[0], x_bar, t, time_limit="5")
    res = fj(nets[0], x_bar, t, time_limit=float("inf"))
    assert res.status == SolveStatus.OPTIMAL and res.verified
    res = fj(nets[0], x_bar, t, time_limit=np.array(60.0))  # a 0-d array is a number
    assert res.status == SolveStatus.OPTIMAL and res.verified


def test_solver_must_be_an_available_solver_name():
    nets, x_bar, t = _instance(0)
    with pytest.raises(SolverNotAvailableError, match="''.*available solvers"):
        fj(nets[0], x_bar, t, solver="")
    with pytest.raises(TypeError, match="solver must be a solver name"):
        fj(nets[0], x_bar, t, solver=3)
    with pytest.raises(TypeError, match="solver must be a solver name"):
        arfj(nets, x_bar, t, solver=3)


@pytest.mark.parametrize("norm", [True, [1], np.array([1])])
def test_norm_must_be_a_norm_name(norm):
    nets, x_bar, t = _instance(0)
    with pytest.raises(ValueError, match="unknown norm .*use 1, 2 or 'inf'"):
        fj(nets[0], x_bar, t, norm=norm)
    with pytest.raises(ValueError, match="unknown norm"):
        arfj(nets, x_bar, t, norm=norm)


def test_domain_must_be_a_pair_of_scalars_or_per_input_arrays():
    nets, x_bar, t = _instance(0)
    n0 = x_bar.size
    with pytest.raises(ValueError, match=f"domain lower bound has {n0 + 2} entries but the network has {n0} inputs"):
        fj(nets[0], x_bar, t, domain=(np.zeros(n0 + 2), 1.0))
    with pytest.raises(ValueError, match=f"domain upper bound has 2 entries but the network has {n0} inputs"):
        fj(nets[0], x_bar, t, domain=(0.0, np.ones(2)))
    with pytest.raises(ValueError, match="domain must be a pair \\(lower, upper\\), got a tuple of 3 items"):
        fj(nets[0], x_bar, t, domain=(0.0, 1.0, 2.0))
    with pytest.raises(ValueError, match="domain must be a pair"):
        arfj(nets, x_bar, t, domain=0.0)
    # a 1-element array is a scalar bound, as in InputDomain
    one = fj(nets[0], x_bar, t, domain=(np.zeros(1), [1.0]))
    ref = fj(nets[0], x_bar, t, domain=(0.0, 1.0))
    assert one.status == SolveStatus.OPTIMAL and one.objective == pytest.approx(ref.objective, rel=1e-6, abs=1e-9)
    # per-input arrays of the right length are fine
    res = fj(nets[0], x_bar, t, domain=(np.zeros(n0), np.ones(n0)))
    assert res.status == SolveStatus.OPTIMAL


def test_arfj_accepts_a_single_network_like_fj():
    nets, x_bar, t = _instance(0)
    a = arfj(nets[0], x_bar, t, mip_gap=0.0)
    f = fj(nets[0], x_bar, t, mip_gap=0.0)
    assert a.status == SolveStatus.OPTIMAL
    assert a.objective == pytest.approx(f.objective, rel=1e-6, abs=1e-7)


def test_an_input_already_classified_as_the_target_is_its_own_example():
    nets, x_bar, t = _instance(0)
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(3000, x_bar.size))
    Y = nets[0].forward(X)
    ok = (Y[:, t] >= (1 + GAMMA) * np.delete(Y, t, axis=1).max(axis=1) + 1e-3) & (Y[:, t] > 1e-2)
    x = X[np.flatnonzero(ok)[0]]
    res = fj(nets[0], x, t)
    assert res.status == SolveStatus.OPTIMAL and res.verified
    assert res.distance == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("config", ["default", "paper"])
def test_given_bounds_give_the_same_optimum_as_computed_bounds(config):
    """User NetworkBounds of the ReLU network (as compute_bounds gives them) work in both configurations; in the
    default configuration, where the output ReLU is not encoded, the output layer keeps its pre-activation
    bounds."""
    from nnblocks.bounds import compute_bounds

    nets, x_bar, t = _instance(1)
    given = fj(nets[0], x_bar, t, config=config, bounds=[compute_bounds(nets[0], (0.0, 1.0))], mip_gap=0.0)
    ref = fj(nets[0], x_bar, t, config=config, bounds="interval", mip_gap=0.0)
    assert given.status == SolveStatus.OPTIMAL
    _check_verified(given, nets, x_bar, t)
    assert given.objective == pytest.approx(ref.objective, rel=1e-5, abs=1e-6)
    # a single NetworkBounds for the single network of fj
    single = fj(nets[0], x_bar, t, config=config, bounds=compute_bounds(nets[0], (0.0, 1.0)), mip_gap=0.0)
    assert single.objective == pytest.approx(ref.objective, rel=1e-5, abs=1e-6)


def test_arfj_with_given_bounds_per_network_in_scenario_generation():
    """One NetworkBounds per network: each round of scenario generation uses those of its networks."""
    from nnblocks.bounds import compute_bounds

    nets, x_bar, t = _instance(0, n_perturbed=2)
    bounds = [compute_bounds(n, (0.0, 1.0)) for n in nets]
    given = arfj(nets, x_bar, t, bounds=bounds, mip_gap=0.0)
    ref = arfj(nets, x_bar, t, mip_gap=0.0)
    assert given.status == ref.status
    if ref.status == SolveStatus.OPTIMAL:
        _check_verified(given, nets, x_bar, t)
        assert given.objective == pytest.approx(ref.objective, rel=1e-5, abs=1e-6)
    with pytest.raises(ValueError, match="bounds has 1 entries for 3 networks: give one NetworkBounds per network"):
        arfj(nets, x_bar, t, bounds=bounds[:1])


@pytest.mark.parametrize("config", ["default", "paper"])
def test_given_bounds_must_fit_the_network(config):
    from nnblocks.bounds import compute_bounds

    nets, x_bar, t = _instance(0)
    net = nets[0]
    # bounds of another network of the same shapes (every bias shifted by +100): x_bar's pre-activations lie below
    shifted = Network([Layer(layer.W, layer.b + 100.0, layer.activation) for layer in net.layers])
    with pytest.raises(ValueError, match="bounds\\[0\\] do not contain the pre-activations of network 0 at x_bar "
                                         "\\(layer 1, neuron 0"):
        fj(net, x_bar, t, config=config, bounds=[compute_bounds(shifted, (0.0, 1.0))])
    wider = Network([Layer(np.ones((9, net.n_inputs)), np.zeros(9), ReLU()),
                     Layer(np.ones((net.n_outputs, 9)), np.zeros(net.n_outputs), ReLU())])
    with pytest.raises(ValueError, match="bounds\\[0\\] have layer sizes \\(9, 4\\) but network 0 has layer sizes "
                                         "\\(8, 6, 4\\)"):
        fj(net, x_bar, t, config=config, bounds=[compute_bounds(wider, (0.0, 1.0))])
    with pytest.raises(TypeError, match="bounds\\[0\\] must be a NetworkBounds"):
        fj(net, x_bar, t, config=config, bounds=["interval"])
    with pytest.raises(ValueError, match="unknown bounds 'tight'"):
        fj(net, x_bar, t, config=config, bounds="tight")


def test_given_bounds_that_cut_off_a_feasible_example_are_refused():
    """Bounds over a small box around x_bar contain x_bar's pre-activations but not those of the heuristic's
    example: they are not valid over the input domain and would give a wrong optimum."""
    from nnblocks.bounds import compute_bounds

    nets, x_bar, t = _instance(0)
    tight = compute_bounds(nets[0], (np.clip(x_bar - 1e-3, 0, 1), np.clip(x_bar + 1e-3, 0, 1)))
    with pytest.raises(ValueError, match="bounds\\[0\\] exclude an input of the domain at distance"):
        fj(nets[0], x_bar, t, bounds=[tight])


def test_given_bounds_restricted_by_the_margin_may_exclude_x_bar():
    """LP bounds over the inputs whose outputs meet the target margin (``output_constraints``) are valid for the
    FJ model although x_bar, which misses the margin, lies outside them: they are accepted and give the same
    optimum. Network on [-1, 1]: outputs (relu(1 - x), relu(x)); class 1 wins by 1 + gamma iff x >= 1.2 / 2.2."""
    from nnblocks.bounds import compute_bounds

    net = Network([Layer(np.array([[1.0], [-1.0]]), np.array([0.0, 1.0]), ReLU()),
                   Layer(np.array([[0.0, 1.0], [1.0, 0.0]]), np.zeros(2), ReLU())])
    x_bar, t = np.array([0.1]), 1
    A = np.array([[1.0 + GAMMA, -1.0], [0.0, -1.0]])  # h_1 >= (1 + gamma) h_0, h_1 >= 1e-3
    b = np.array([0.0, -1e-3])
    nb = compute_bounds(net, (-1.0, 1.0), method="lp", output_constraints=(A, b))
    assert nb.output_constrained
    assert nb.lower(1)[0] > x_bar[0]  # x >= 0.545 on the margin region: x_bar's pre-activation 0.1 lies below
    given = fj(net, x_bar, t, domain=(-1.0, 1.0), bounds=[nb], mip_gap=0.0)
    assert given.status == SolveStatus.OPTIMAL and given.verified
    assert given.objective == pytest.approx(1.2 / 2.2 - 0.1, rel=1e-5, abs=1e-6)
