"""NetworkBlock as a specification: every formulation encodes y = f(x) exactly (or relaxes it soundly).

Oracles: ``Network.forward`` for a fixed input, and for optimisation over a box the maximum over all
activation patterns of the linear region of Goerigk & Kurtz Theorem 1, solved as an LP built here
directly from the composed affine maps (scipy's HiGHS, independent of the block's code).
"""

from __future__ import annotations

import itertools

import highspy
import numpy as np
import pyomo.environ as pyo
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from nnblocks import HardSigmoid, HardTanh, Identity, Layer, LeakyReLU, Network, PiecewiseLinear, ReLU, ReLU6
from nnblocks.blocks import NetworkBlock
from nnblocks.solve import SolveStatus, solve, write

SOLVERS = ["highs", "scip_direct"]
KINDS = ["relu", "leaky", "hardtanh", "hardsigmoid", "relu6", "identity", "pwl"]
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- random networks ----------------------------------------------------------------------------
def random_pwl(rng: np.random.Generator, n_pieces: int) -> PiecewiseLinear:
    """A continuous piecewise-linear function with ``n_pieces`` pieces and breakpoints in [-1.5, 1.5]."""
    t = np.sort(rng.uniform(-1.5, 1.5, n_pieces - 1))
    t = t + 0.3 * np.arange(n_pieces - 1)  # strictly increasing, separated
    a = rng.uniform(-2, 2, n_pieces)
    c = np.empty(n_pieces)
    c[0] = rng.uniform(-1, 1)
    for p in range(1, n_pieces):
        c[p] = a[p - 1] * t[p - 1] + c[p - 1] - a[p] * t[p - 1]
    return PiecewiseLinear(t, a, c)


def make_activation(kind: str, rng: np.random.Generator):
    return {
        "relu": ReLU,
        "leaky": lambda: LeakyReLU(float(rng.uniform(0.05, 0.5))),
        "hardtanh": lambda: HardTanh(-0.5, 1.0),
        "hardsigmoid": HardSigmoid,
        "relu6": lambda: PiecewiseLinear([0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]) if rng.random() < 0.5
        else ReLU6(),
        "identity": Identity,
        "pwl": lambda: random_pwl(rng, int(rng.integers(3, 5))),
    }[kind]()


def make_network(rng, sizes, kinds, last_kind="identity") -> Network:
    layers = []
    for k in range(1, len(sizes)):
        kind = kinds[k - 1] if k < len(sizes) - 1 else last_kind
        scale = 2.5 if kind in ("hardsigmoid",) else 1.5
        W = rng.normal(size=(sizes[k], sizes[k - 1])) * scale / np.sqrt(sizes[k - 1])
        W[rng.random(W.shape) < 0.15] = 0.0  # some zero weights
        layers.append(Layer(W, rng.normal(scale=0.5, size=sizes[k]), make_activation(kind, rng)))
    return Network(layers)


@st.composite
def networks(draw, max_hidden=3, max_width=5, max_in=4):
    n_in = draw(st.integers(2, max_in))
    depth = draw(st.integers(1, max_hidden))
    widths = [draw(st.integers(2, max_width)) for _ in range(depth)]
    n_out = draw(st.integers(1, 2))
    kinds = [draw(st.sampled_from(KINDS)) for _ in range(depth)]
    last = draw(st.sampled_from(["identity", "identity", *KINDS]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return make_network(rng, [n_in, *widths, n_out], kinds, last), rng


# -- models -------------------------------------------------------------------------------------
def box_model(net: Network, formulation="bigm", lo=-1.0, hi=1.0, **kw) -> pyo.ConcreteModel:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(net.n_inputs), bounds=(lo, hi), initialize=0.0)  # an input no constraint uses keeps 0
    m.nn = NetworkBlock()
    m.nn.build(net, inputs=m.x, formulation=formulation, **kw)
    return m


# optima compared across formulations and bounds: no MIP gap, and the solvers' feasibility tolerances (1e-6 by
# default, which an optimum may use up in full on either side) well below the comparisons' 1e-6
EXACT = {
    "highs": {"mip_gap": 0.0, "mip_feasibility_tolerance": 1e-9, "primal_feasibility_tolerance": 1e-9},
    "scip_direct": {"mip_gap": 0.0, "numerics/feastol": 1e-9},
}


def maximise(m, j=0, solver="highs") -> float:
    m.del_component("obj")
    m.obj = pyo.Objective(expr=m.nn.outputs[j], sense=pyo.maximize)
    res = solve(m, solver=solver, **EXACT.get(solver, {"mip_gap": 0.0}))
    assert res.status == SolveStatus.OPTIMAL, res
    return float(res.objective)


def relaxed_max(m, j=0) -> float:
    r = m.clone()
    pyo.TransformationFactory("core.relax_integer_vars").apply_to(r)
    return maximise(r, j)


# -- the oracle: Theorem 1 region LPs -------------------------------------------------------------
def region_lp_max(net: Network, pattern, lo: float, hi: float, j: int = 0) -> float | None:
    """max y_j over the pattern's linear region within the box (None if empty), from the composed maps.

    h^k = diag(a_p) (W^k h^{k-1} + b^k) + c_p = M^k x + g^k, and t_{p-1} <= W^k h^{k-1} + b^k <= t_p.
    """
    n0 = net.n_inputs
    M, g = np.eye(n0), np.zeros(n0)
    A_ub, b_ub = [], []
    for layer, p in zip(net.layers, pattern):
        p = np.asarray(p)
        act = layer.activation
        WM, wg = layer.W @ M, layer.W @ g + layer.b
        t_lo, t_hi = act.piece_bounds()
        for i in range(layer.n_out):
            if np.isfinite(t_hi[p[i]]):
                A_ub.append(WM[i])
                b_ub.append(t_hi[p[i]] - wg[i])
            if np.isfinite(t_lo[p[i]]):
                A_ub.append(-WM[i])
                b_ub.append(wg[i] - t_lo[p[i]])
        D = act.slopes[p]
        M, g = D[:, None] * WM, D * wg + act.intercepts[p]
    res = linprog(
        -M[j], A_ub=np.array(A_ub) if A_ub else None, b_ub=np.array(b_ub) if b_ub else None,
        bounds=[(lo, hi)] * n0, method="highs",
    )
    if res.status == 2:
        return None
    assert res.status == 0, res.message
    return float(-res.fun + g[j])


def all_patterns(net: Network):
    per_layer = [list(itertools.product(*[range(layer.activation.n_pieces)] * layer.n_out)) for layer in net.layers]
    return itertools.product(*per_layer)


def enumerated_max(net: Network, lo: float, hi: float, j: int = 0) -> float:
    vals = [region_lp_max(net, pat, lo, hi, j) for pat in all_patterns(net)]
    return max(v for v in vals if v is not None)


def n_patterns(net: Network) -> int:
    return int(np.prod([layer.activation.n_pieces ** layer.n_out for layer in net.layers], dtype=float))


# -- 1. a fixed input gives the forward pass ------------------------------------------------------
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("formulation", ["bigm", "hull", "pattern"])
@SETTINGS
@given(data=networks())
def test_fixed_input_gives_forward_pass(formulation, solver, data):
    net, rng = data
    x0 = rng.uniform(-1, 1, net.n_inputs)
    kw = {"pattern": net.activation_pattern(x0)} if formulation == "pattern" else {}
    m = box_model(net, formulation, **kw)
    for i, v in enumerate(x0):  # fixed through its bounds (scip_direct refuses constraints without free vars)
        m.x[i].setlb(float(v))
        m.x[i].setub(float(v))
        m.x[i].value = float(v)  # an input no constraint uses keeps this value
    y = maximise(m, 0, solver)
    out = np.array([pyo.value(v) for v in m.nn.outputs])
    np.testing.assert_allclose(out, net.forward(x0), atol=1e-6, rtol=1e-6)
    assert y == pytest.approx(net.forward(x0)[0], abs=1e-6)
    for k, a in enumerate(net.pre_activations(x0), start=1):
        got = np.array([pyo.value(m.nn.layer[k].pre[j]) for j in range(a.size)])
        np.testing.assert_allclose(got, a, atol=1e-6, rtol=1e-6)
    assert [v for v in m.nn.inputs] == [m.x[i] for i in range(net.n_inputs)]  # the caller's vars, no copies


# -- 2. the MILP optimum is the best pattern region ----------------------------------------------
@st.composite
def tiny_networks(draw):
    n_in = draw(st.integers(2, 3))
    widths = draw(st.sampled_from([[2], [3], [4], [2, 2]]))
    kinds = [draw(st.sampled_from(KINDS)) for _ in widths]
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    net = make_network(rng, [n_in, *widths, 1], kinds)
    return net


@pytest.mark.slow
@pytest.mark.parametrize("solver", SOLVERS)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=tiny_networks())
def test_max_output_equals_pattern_enumeration(solver, net):
    assert n_patterns(net) <= 256  # small enough to enumerate
    oracle = enumerated_max(net, -1.0, 1.0)
    big = box_model(net, "bigm")
    hull = box_model(net, "hull")
    v_big, v_hull = maximise(big, 0, solver), maximise(hull, 0, solver)
    assert v_big == pytest.approx(oracle, rel=1e-6, abs=1e-6)
    assert v_hull == pytest.approx(oracle, rel=1e-6, abs=1e-6)
    # the optimum is a true network value: the input found maps to it
    x = np.array([pyo.value(big.x[i]) for i in range(net.n_inputs)])
    assert net.forward(x)[0] == pytest.approx(v_big, abs=1e-5)
    # LP relaxations: sound (>= optimum) and the hull never weaker than big-M
    r_big, r_hull = relaxed_max(big), relaxed_max(hull)
    assert r_hull >= oracle - 1e-6
    assert r_hull <= r_big + 1e-6
    # formulation="relaxation" is the hull's relaxation
    assert maximise(box_model(net, "relaxation")) == pytest.approx(r_hull, rel=1e-6, abs=1e-6)


@SETTINGS
@given(net=tiny_networks(), seed=st.integers(0, 2**16))
def test_pattern_block_is_the_region_lp(net, seed):
    rng = np.random.default_rng(seed)
    pattern = tuple(tuple(int(p) for p in rng.integers(0, layer.activation.n_pieces, layer.n_out))
                    for layer in net.layers)
    oracle = region_lp_max(net, pattern, -1.0, 1.0)
    m = box_model(net, "pattern", pattern=pattern)
    assert m.nn.n_binaries == 0
    m.obj = pyo.Objective(expr=m.nn.outputs[0], sense=pyo.maximize)
    res = solve(m, solver="highs")
    if oracle is None:
        assert res.status in (SolveStatus.INFEASIBLE, SolveStatus.INFEASIBLE_OR_UNBOUNDED)
    else:
        assert res.status == SolveStatus.OPTIMAL
        assert res.objective == pytest.approx(oracle, rel=1e-6, abs=1e-6)


# -- 3. stable neurons get no binaries -----------------------------------------------------------
@pytest.mark.parametrize("formulation", ["bigm", "hull"])
@SETTINGS
@given(data=networks())
def test_only_unstable_neurons_get_binaries(formulation, data):
    net, _ = data
    m = box_model(net, formulation)
    expected = 0
    for k, (layer, B) in enumerate(zip(net.layers, m.nn.bounds.layers), start=1):
        reach = np.asarray(B.last_piece) - np.asarray(B.first_piece) + 1
        unstable = np.flatnonzero(reach > 1)
        np.testing.assert_array_equal(m.nn.unstable(k), unstable)
        relu = layer.activation == ReLU()
        expected += unstable.size if relu else int(reach[unstable].sum()) - unstable.size  # P - 1 binaries
        lb = m.nn.layer[k]
        if relu:
            assert set(lb.z.keys()) == set(unstable.tolist()) == set(lb.s.keys())
        else:
            assert {j for j, _ in lb.u.keys()} == set(unstable.tolist())
    assert m.nn.n_binaries == expected


def test_a_box_around_a_point_with_all_neurons_stable_is_linear(rng):
    net = make_network(rng, [3, 5, 4, 2], ["relu", "hardtanh"])
    x0 = rng.uniform(-1, 1, 3)
    m2 = pyo.ConcreteModel()
    m2.x = pyo.Var(range(3), bounds=lambda _m, i: (x0[i] - 1e-4, x0[i] + 1e-4), initialize=lambda _m, i: x0[i])
    m2.nn = NetworkBlock()
    m2.nn.build(net, inputs=m2.x)
    assert m2.nn.n_binaries == 0
    assert sum(len(m2.nn.unstable(k)) for k in (1, 2, 3)) == 0
    y = maximise(m2, 1)
    x = np.array([pyo.value(m2.x[i]) for i in range(3)])
    assert y == pytest.approx(net.forward(x)[1], abs=1e-7)


# -- 4. fix_pattern / unfix_pattern ----------------------------------------------------------------
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("formulation", ["bigm", "hull"])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=tiny_networks(), seed=st.integers(0, 2**16))
def test_fix_pattern_switches_between_milp_and_region_lp(formulation, solver, net, seed):
    rng = np.random.default_rng(seed)
    m = box_model(net, formulation)
    milp = maximise(m, 0, solver)
    x0 = rng.uniform(-1, 1, net.n_inputs)
    pattern = net.activation_pattern(x0)
    m.nn.fix_pattern(pattern)
    indicators = [v for k in range(1, len(net) + 1) for name in ("z", "u")
                  for v in getattr(m.nn.layer[k], name, {}).values()]
    assert all(v.fixed for v in indicators)
    fixed = maximise(m, 0, solver)
    assert fixed == pytest.approx(region_lp_max(net, pattern, -1.0, 1.0), rel=1e-6, abs=1e-6)
    assert fixed <= milp + 1e-6
    m.nn.unfix_pattern()
    assert not any(v.fixed for v in indicators)
    assert maximise(m, 0, solver) == pytest.approx(milp, rel=1e-6, abs=1e-6)


def test_fix_pattern_outside_the_bounds_is_an_error(rng):
    net = make_network(rng, [2, 3, 1], ["relu"])
    m = box_model(net, "bigm", lo=0.5, hi=0.5 + 1e-6)  # a tiny box: every neuron stable
    pattern = net.activation_pattern(np.array([0.5, 0.5]))
    flipped = (tuple(1 - p for p in pattern[0]), pattern[1])
    with pytest.raises(ValueError, match="incompatible with the bounds"):
        m.nn.fix_pattern(flipped)
    m.nn.fix_pattern(pattern)  # the pattern of the box itself is fine
    with pytest.raises(ValueError, match="pieces|layers"):
        m.nn.fix_pattern(pattern[:1])


# -- 5. export: the .mps / .lp file solved by highspy has the same optimum -------------------------
@pytest.mark.parametrize("suffix", [".mps", ".lp"])
@pytest.mark.parametrize("formulation", ["bigm", "hull"])
def test_written_file_solved_by_highspy_has_the_same_optimum(tmp_path, rng, suffix, formulation):
    net = make_network(rng, [3, 4, 3, 2], ["relu", "pwl"])
    m = box_model(net, formulation)
    m.obj = pyo.Objective(expr=m.nn.outputs[0] - 0.5 * m.nn.outputs[1], sense=pyo.minimize)
    res = solve(m, solver="highs")
    assert res.status == SolveStatus.OPTIMAL
    path = write(m, tmp_path / f"model{suffix}")
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    assert h.readModel(str(path)) == highspy.HighsStatus.kOk
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    assert h.getInfo().objective_function_value == pytest.approx(res.objective, rel=1e-7, abs=1e-7)


# -- 6. inputs, bounds and errors ----------------------------------------------------------------
def test_own_inputs_with_input_bounds_and_ball(rng):
    net = make_network(rng, [4, 6, 6, 3], ["relu", "relu"])
    m = pyo.ConcreteModel()
    m.nn = NetworkBlock()
    m.nn.build(net, input_bounds=(0.0, 1.0))
    assert [v.bounds for v in m.nn.inputs] == [(0.0, 1.0)] * 4
    assert m.nn.inputs[2] is m.nn.input[2]
    n_box = m.nn.n_binaries
    m2 = pyo.ConcreteModel()
    m2.nn = NetworkBlock()
    m2.nn.build(net, input_bounds=(0.0, 1.0), ball=dict(center=np.full(4, 0.5), norm=1, radius=0.05))
    assert m2.nn.n_binaries <= n_box
    for k in (1, 2, 3):
        assert np.all(m2.nn.bounds.layers[k - 1].upper <= m.nn.bounds.layers[k - 1].upper + 1e-12)
    # precomputed bounds are used as given
    m3 = pyo.ConcreteModel()
    m3.nn = NetworkBlock()
    m3.nn.build(net, input_bounds=(0.0, 1.0), bounds=m2.nn.bounds)
    assert m3.nn.bounds is m2.nn.bounds and m3.nn.n_binaries == m2.nn.n_binaries


def test_bad_input_gives_clear_errors(rng):
    net = make_network(rng, [3, 4, 2], ["relu"])
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(3), bounds=(0, 1))
    m.x[1].setub(None)
    m.nn = NetworkBlock()
    with pytest.raises(ValueError, match=r"inputs \[1\] are unbounded"):
        m.nn.build(net, inputs=m.x)
    m.b = NetworkBlock()
    with pytest.raises(ValueError, match="unknown formulation"):
        m.b.build(net, inputs=m.x, formulation="sos")
    m.c = NetworkBlock()
    with pytest.raises(ValueError, match="3 inputs but 2"):
        m.c.build(net, inputs=[m.x[0], m.x[2]])
    m.d = NetworkBlock()
    with pytest.raises(ValueError, match="needs pattern"):
        m.d.build(net, inputs=m.x, formulation="pattern")
    m.e = NetworkBlock()
    with pytest.raises(ValueError, match="either inputs"):
        m.e.build(net, inputs=m.x, input_bounds=(0, 1))
    m.f = NetworkBlock()
    with pytest.raises(RuntimeError, match="call .build"):
        _ = m.f.outputs
    # the pattern formulation needs no bounds: an unbounded input is fine there
    m.g = NetworkBlock()
    m.g.build(net, inputs=m.x, formulation="pattern", pattern=net.activation_pattern(np.zeros(3)))
    assert m.g.bounds is None and m.g.n_binaries == 0


def test_block_works_with_the_highs_interface_on_nested_models(rng):
    """The block keeps Pyomo's default ctype: every solver interface sees its constraints."""
    net = make_network(rng, [2, 3, 1], ["relu"])
    outer = pyo.ConcreteModel()
    outer.sub = pyo.Block()
    outer.sub.x = pyo.Var(range(2), bounds=(-1, 1))
    outer.sub.nn = NetworkBlock()
    outer.sub.nn.build(net, inputs=outer.sub.x)
    v = maximise_model(outer, outer.sub.nn.outputs[0])
    assert v == pytest.approx(enumerated_max(net, -1.0, 1.0), abs=1e-6)


def maximise_model(m, expr, solver="highs") -> float:
    m.obj = pyo.Objective(expr=expr, sense=pyo.maximize)
    res = solve(m, solver=solver, **EXACT.get(solver, {"mip_gap": 0.0}))
    assert res.status == SolveStatus.OPTIMAL
    return float(res.objective)


@pytest.mark.parametrize("formulation", ["bigm", "hull"])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=tiny_networks())
def test_lp_bounds_give_no_more_binaries_and_the_same_optimum(formulation, net):
    interval = box_model(net, formulation, bounds="interval")
    lp = box_model(net, formulation, bounds="lp")
    assert lp.nn.bounds.method == "lp"
    assert lp.nn.n_binaries <= interval.nn.n_binaries
    assert maximise(lp) == pytest.approx(maximise(interval), rel=1e-6, abs=1e-6)


def test_networks_sharing_one_input_use_the_same_variables(rng):
    """Several networks on one input (as in the robust FJ model): no copies of the input."""
    nets = [make_network(rng, [3, 4, 2], ["relu"]) for _ in range(3)]
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(3), bounds=(0, 1), initialize=0.5)
    m.nets = pyo.Block(range(3))
    for i, net in enumerate(nets):
        m.nets[i].nn = NetworkBlock()
        m.nets[i].nn.build(net, inputs=m.x)
        assert all(a is b for a, b in zip(m.nets[i].nn.inputs, m.x.values()))
    m.obj = pyo.Objective(expr=sum(m.nets[i].nn.outputs[0] for i in range(3)), sense=pyo.maximize)
    res = solve(m, solver="highs")
    assert res.status == SolveStatus.OPTIMAL
    x = np.array([pyo.value(m.x[i]) for i in range(3)])
    assert res.objective == pytest.approx(sum(net.forward(x)[0] for net in nets), abs=1e-6)


def test_a_failed_build_leaves_the_block_empty_and_reusable(rng):
    net = make_network(rng, [2, 3, 1], ["relu"])
    m = pyo.ConcreteModel()
    m.nn = NetworkBlock()
    with pytest.raises(ValueError, match="unbounded"):
        m.nn.build(net, input_bounds=(None, 1.0))
    assert not list(m.nn.component_objects())
    m.nn.build(net, input_bounds=(0.0, 1.0))
    assert len(m.nn.inputs) == 2


@pytest.mark.parametrize("norm", [1, "inf"])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=tiny_networks(), seed=st.integers(0, 2**16))
def test_ball_bounds_are_sound_inside_the_ball(norm, net, seed):
    """Bounds over box ∩ ball change the model, not the optimum over the ball."""
    from nnblocks.blocks import NormBall

    rng = np.random.default_rng(seed)
    center, radius = rng.uniform(-0.5, 0.5, net.n_inputs), 0.4
    values = []
    for ball in (None, dict(center=center, norm=norm, radius=radius)):
        m = box_model(net, "bigm", ball=ball)
        m.ball = NormBall(m.x, center=center, norm=norm, radius=radius)
        values.append(maximise(m))
        if ball is not None:
            assert m.nn.n_binaries <= box_model(net, "bigm").nn.n_binaries
    assert values[1] == pytest.approx(values[0], rel=1e-6, abs=1e-6)
