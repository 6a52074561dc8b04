"""Specification of NormBall and TargetMargin: distances equal numpy's, balls have their closed-form extremes."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyomo.environ as pyo
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nnblocks.blocks import NormBall, TargetMargin
from nnblocks.solve import SolveStatus, problem_class, solve

NORMS = [1, 2, "inf"]
ORD = {1: 1, 2: 2, "inf": np.inf}
DUAL = {1: np.inf, 2: 2, "inf": 1}  # dual norm: max_{||u|| <= 1} w'u = ||w||_dual

finite = st.floats(-10, 10, allow_nan=False, allow_infinity=False, width=64)


def vectors(n):
    return hnp.arrays(np.float64, n, elements=finite)


def model_with_x(n, bounds=(None, None)):
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(n), bounds=bounds)
    return m


# ------------------------------------------------------------------------------------------------ NormBall


@settings(max_examples=20, deadline=None)
@given(
    data=st.data(), n=st.integers(1, 6), norm=st.sampled_from(NORMS), solver=st.sampled_from(["highs", "scip_direct"])
)
def test_distance_equals_numpy(data, n, norm, solver):
    """With the variables fixed at x, minimising ``distance`` gives ||x - c|| (squared for L2)."""
    x = data.draw(vectors(n))
    c = data.draw(vectors(n))
    m = model_with_x(n)
    for j in range(n):
        m.x[j].fix(x[j])
    m.ball = NormBall(m.x, c, norm=norm)
    m.obj = pyo.Objective(expr=m.ball.distance)
    r = solve(m, solver).raise_for_status()
    expected = np.linalg.norm(x - c, ORD[norm])
    if norm == 2:
        expected = expected**2
        assert m.ball.squared
    assert r.objective == pytest.approx(expected, rel=1e-7, abs=1e-7)
    assert pyo.value(m.ball.distance) == pytest.approx(expected, rel=1e-7, abs=1e-7)
    assert m.ball.distance_value() == pytest.approx(np.linalg.norm(x - c, ORD[norm]), rel=1e-9, abs=1e-9)


@settings(max_examples=20, deadline=None)
@given(data=st.data(), n=st.integers(1, 5), norm=st.sampled_from(NORMS), r=st.floats(0.1, 5))
def test_max_linear_objective_over_ball_is_closed_form(data, n, norm, r):
    """max w'x over ||x - c|| <= r equals w'c + r ||w||_dual; L2 is a QCP solved by SCIP.

    (r >= 0.1: SCIP's feasibility tolerance (1e-6) on the squared constraint sum (x - c)^2 <= r^2 lets the
    radius grow by about 1e-6 / (2 r), which moves the L2 optimum by ||w||_2 times that.)
    """
    w = data.draw(vectors(n))
    c = data.draw(vectors(n))
    m = model_with_x(n)
    m.ball = NormBall(m.x, c, norm=norm, radius=r)
    m.obj = pyo.Objective(expr=sum(float(w[j]) * m.x[j] for j in range(n)), sense=pyo.maximize)
    assert problem_class(m) == ("QCP" if norm == 2 else "LP")
    res = solve(m).raise_for_status()
    assert res.solver == ("scip_direct" if norm == 2 else "appsi_highs")
    expected = float(w @ c + r * np.linalg.norm(w, DUAL[norm]))
    radius_slack = 2 * 1e-6 / (2 * r) if norm == 2 else 0.0  # twice the growth of the radius described above
    assert res.objective == pytest.approx(expected, rel=1e-6, abs=1e-5 + radius_slack * np.linalg.norm(w))
    assert m.ball.distance_value() <= r + 1e-5


@pytest.mark.parametrize("norm", NORMS)
def test_ball_on_linear_expressions(norm):
    """Terms may be expressions (e.g. network outputs y = A x + b): min ||A x + b - c|| over a box."""
    rng = np.random.default_rng(7)
    a = rng.normal(size=(3, 2))
    b = rng.normal(size=3)
    c = a @ np.array([0.3, -0.2]) + b  # reachable: the minimum distance is 0
    m = model_with_x(2, bounds=(-1, 1))
    outputs = [sum(float(a[i, k]) * m.x[k] for k in range(2)) + float(b[i]) for i in range(3)]
    m.ball = NormBall(outputs, c, norm=norm)
    m.obj = pyo.Objective(expr=m.ball.distance)
    r = solve(m, "scip_direct").raise_for_status()
    assert r.objective == pytest.approx(0.0, abs=1e-6)
    assert m.ball.distance_value() == pytest.approx(0.0, abs=1e-3)


def test_ball_accepts_lists_and_shaped_centers():
    m = model_with_x(4, bounds=(0, 1))
    m.b1 = NormBall([m.x[0], m.x[1], m.x[2], m.x[3]], np.zeros((2, 2)), norm="inf", radius=0.5)
    m.b2 = NormBall(m.x, [1, 1, 1, 1], norm="L1")
    assert m.b1.norm == "inf" and m.b2.norm == 1 and m.b1.radius == 0.5
    assert len(m.b1.terms) == 4 and m.b1.center.shape == (4,)
    m.obj = pyo.Objective(expr=m.b2.distance)  # nearest point to 1 in the inf-ball of radius 0.5 around 0
    r = solve(m).raise_for_status()
    assert r.objective == pytest.approx(2.0)
    # auxiliaries are bounded by the variables' own bounds and by the radius
    assert all(m.b2.d[j].ub == pytest.approx(1.0) for j in m.b2.J)
    assert m.b1.t.ub == pytest.approx(0.5)


def test_l1_ball_has_one_auxiliary_per_coordinate_and_linf_one():
    m = model_with_x(5)
    m.l1 = NormBall(m.x, np.zeros(5), norm=1, radius=1)
    m.li = NormBall(m.x, np.zeros(5), norm="inf", radius=1)
    m.l2 = NormBall(m.x, np.zeros(5), norm=2, radius=1)
    assert len(m.l1.d) == 5 and len(m.l1.above) == 5 and len(m.l1.below) == 5
    assert m.li.t.is_variable_type() and len(m.li.above) == 5
    assert m.l2.radius_con.upper == pytest.approx(1.0) and not hasattr(m.l2, "d")


def test_ball_validation():
    m = model_with_x(3)
    with pytest.raises(ValueError, match="center has 2 entries"):
        NormBall(m.x, [0, 0], norm=1)
    with pytest.raises(ValueError, match="finite"):
        NormBall(m.x, [0, np.nan, 0])
    with pytest.raises(ValueError, match="finite"):
        NormBall(m.x, [0, np.inf, 0])
    with pytest.raises(ValueError, match="radius"):
        NormBall(m.x, [0, 0, 0], radius=-1)
    with pytest.raises(ValueError, match="radius"):
        NormBall(m.x, [0, 0, 0], radius=np.inf)
    with pytest.raises(ValueError, match="unknown norm 3"):
        NormBall(m.x, [0, 0, 0], norm=3)
    with pytest.raises(ValueError, match="empty"):
        NormBall([], [])
    with pytest.raises(TypeError, match="constant"):
        NormBall([m.x[0], 1.0], [0, 0])


@pytest.mark.parametrize("norm", [True, False, np.True_, [1], (2,), None, 3, 0.5, "l3", float("nan")])
def test_norm_must_name_a_norm(norm):
    """A flag is not a norm, although True == 1 in Python; an unhashable value gets the same message."""
    m = model_with_x(3)
    with pytest.raises(ValueError, match=r"^unknown norm .*: use 1, 2 or 'inf'.*, got \w+$"):
        NormBall(m.x, [0, 0, 0], norm=norm)


@pytest.mark.parametrize(("norm", "expected"), [(1, 1), (1.0, 1), (np.int64(2), 2), ("L2", 2), (np.inf, "inf")])
def test_norm_spellings(norm, expected):
    m = model_with_x(3)
    assert NormBall(m.x, [0, 0, 0], norm=norm).norm == expected


def test_zero_radius_pins_the_terms():
    c = np.array([0.25, -0.5])
    for norm in NORMS:
        m = model_with_x(2, bounds=(-1, 1))
        m.ball = NormBall(m.x, c, norm=norm, radius=0)
        m.obj = pyo.Objective(expr=m.x[0] - m.x[1], sense=pyo.maximize)
        solve(m, "scip_direct").raise_for_status()
        # the squared L2 constraint sum (x - c)^2 <= 0 holds to SCIP's feasibility tolerance 1e-6 only
        assert [m.x[0].value, m.x[1].value] == pytest.approx(c.tolist(), abs=2e-3 if norm == 2 else 1e-6)


# ------------------------------------------------------------------------------------------------ TargetMargin


def margin_model(kind, gamma, target=1, lb=0.0):
    """min y_t s.t. y_j = given values for j != t: the optimum is the margin's right-hand side."""
    m = pyo.ConcreteModel()
    m.y = pyo.Var(range(4), bounds=(lb, 100))
    others = {0: 2.0, 2: 5.0, 3: 1.0}
    for j, v in others.items():
        if j != target:
            m.y[j].fix(v)
    m.margin = TargetMargin(m.y, target=target, gamma=gamma, kind=kind)
    m.obj = pyo.Objective(expr=m.y[target])
    return m


@pytest.mark.parametrize("solver", ["highs", "scip_direct"])
@pytest.mark.parametrize("kind", ["ratio", "difference"])
def test_margin_optimum(kind, solver):
    m = margin_model(kind, gamma=0.2)
    r = solve(m, solver).raise_for_status()
    expected = 1.2 * 5.0 if kind == "ratio" else 5.0 + 0.2
    assert r.objective == pytest.approx(expected)
    assert m.margin.satisfied()
    assert list(m.margin.others) == [0, 2, 3] and len(m.margin.margin) == 3


def test_margin_infeasible_when_target_capped():
    m = margin_model("difference", gamma=1.0)
    m.y[1].setub(5.5)
    assert solve(m, "highs").status is SolveStatus.INFEASIBLE


@settings(max_examples=20, deadline=None)
@given(y=hnp.arrays(np.float64, 5, elements=st.floats(0, 10)), t=st.integers(0, 4), gamma=st.floats(0, 1))
def test_satisfied_matches_definition(y, t, gamma):
    m = pyo.ConcreteModel()
    m.y = pyo.Var(range(5), bounds=(0, None))
    for j in range(5):
        m.y[j].fix(float(y[j]))
    for kind in ("ratio", "difference"):
        b = TargetMargin(m.y, t, gamma, kind=kind)
        setattr(m, f"mg_{kind}", b)
        others = np.delete(y, t)
        expected = np.all(y[t] >= ((1 + gamma) * others if kind == "ratio" else others + gamma) - 1e-6)
        assert b.satisfied() == bool(expected)
        # the same verdict from the constraints themselves
        slack_ok = all(pyo.value(c.body) >= c.lower - 1e-6 for c in b.margin.values())
        assert slack_ok == bool(expected)


def test_ratio_requires_proven_nonnegative_outputs():
    m = pyo.ConcreteModel()
    m.y = pyo.Var(range(3), bounds=(-1, 5))
    with pytest.raises(ValueError, match=r"non-negative.*\[0, 2\].*difference"):
        m.bad = TargetMargin(m.y, target=1, gamma=0.1)
    m.free = pyo.Var(range(3))
    with pytest.raises(ValueError, match="not proven >= 0"):
        TargetMargin(m.free, target=0, gamma=0.1)
    # expressions carry no bounds: output_bounds must prove it
    exprs = [m.y[j] + 1 for j in range(3)]
    with pytest.raises(ValueError, match="not proven"):
        TargetMargin(exprs, target=0, gamma=0.1)
    m.ok = TargetMargin(exprs, target=0, gamma=0.1, output_bounds=[0, 0, 0])
    # only the other outputs need y_j >= 0; a LayerBounds-like object works through post_lower
    m.ok2 = TargetMargin(m.y, target=0, gamma=0.1, output_bounds=SimpleNamespace(post_lower=np.array([-1, 0, 0])))
    # the difference form is sound for any sign
    m.diff = TargetMargin(m.free, target=0, gamma=0.1, kind="difference")


def test_margin_validation():
    m = pyo.ConcreteModel()
    m.y = pyo.Var(range(3), bounds=(0, None))
    with pytest.raises(ValueError, match="target"):
        TargetMargin(m.y, target=3, gamma=0.1)
    with pytest.raises(ValueError, match="target"):
        TargetMargin(m.y, target=1.0, gamma=0.1)
    with pytest.raises(ValueError, match="gamma"):
        TargetMargin(m.y, target=0, gamma=-0.1)
    with pytest.raises(ValueError, match="kind"):
        TargetMargin(m.y, target=0, gamma=0.1, kind="hinge")
    with pytest.raises(ValueError, match="at least 2"):
        TargetMargin([m.y[0]], target=0, gamma=0.1)
    with pytest.raises(ValueError, match="3 outputs"):
        TargetMargin(m.y, target=0, gamma=0.1, output_bounds=[0, 0])


# ------------------------------------------------------------------------------------------------ with a network


def _small_network(seed=3):
    from nnblocks.activations import Identity, ReLU
    from nnblocks.network import Layer, Network

    rng = np.random.default_rng(seed)
    return Network(
        [
            Layer(rng.normal(size=(6, 2)), rng.normal(size=6) * 0.3, ReLU()),
            Layer(rng.normal(size=(3, 6)), rng.normal(size=3) * 0.3, Identity()),
        ]
    )


def test_l2_ball_on_network_outputs():
    """Goerigk & Kurtz: max x_0 + x_1 s.t. ||f(x) - c_bar||_2 <= R, checked by a forward pass (an MIQCP)."""
    from nnblocks.blocks import NetworkBlock

    net = _small_network()
    x0 = np.array([0.2, -0.4])
    c_bar = net.forward(x0[None])[0] + 0.05
    radius = 0.5
    m = model_with_x(2, bounds=(-1, 1))
    m.nn = NetworkBlock()
    m.nn.build(net, inputs=m.x)
    m.ball = NormBall(m.nn.outputs, c_bar, norm=2, radius=radius)
    m.obj = pyo.Objective(expr=m.x[0] + m.x[1], sense=pyo.maximize)
    assert problem_class(m) == "MIQCP"
    r = solve(m).raise_for_status()
    assert r.solver == "scip_direct"
    x = np.array([m.x[0].value, m.x[1].value])
    y = net.forward(x[None])[0]
    assert np.linalg.norm(y - c_bar) <= radius + 1e-4
    assert r.objective >= x0.sum() - 1e-6  # x0 itself is feasible
    # a dense grid of feasible points never beats the optimum
    g = np.stack(np.meshgrid(np.linspace(-1, 1, 81), np.linspace(-1, 1, 81)), -1).reshape(-1, 2)
    inside = np.linalg.norm(net.forward(g) - c_bar, axis=1) <= radius
    assert g[inside].sum(axis=1).max() <= r.objective + 1e-6


@pytest.mark.parametrize("solver", ["highs", "scip_direct"])
@pytest.mark.parametrize("rank", [1, 2])
def test_nearest_input_with_target_margin(solver, rank):
    """min ||x - x0||_1 s.t. output t beats the others by gamma (difference form: the outputs have any sign).

    t is the runner-up at x0 (reachable) or the last class (here unreachable: the result is INFEASIBLE,
    confirmed on a grid).
    """
    from nnblocks.blocks import NetworkBlock

    net = _small_network()
    x0 = np.array([0.2, -0.4])
    y0 = net.forward(x0[None])[0]
    t = int(np.argsort(-y0)[rank])
    m = model_with_x(2, bounds=(-3, 3))
    m.nn = NetworkBlock()
    m.nn.build(net, inputs=m.x)
    m.ball = NormBall(m.x, x0, norm=1)
    with pytest.raises(ValueError, match="non-negative"):
        TargetMargin(m.nn.outputs, t, 0.1, output_bounds=m.nn.bounds.layers[-1])
    m.margin = TargetMargin(m.nn.outputs, t, gamma=0.1, kind="difference")
    m.obj = pyo.Objective(expr=m.ball.distance)
    r = solve(m, solver)
    if r.status is SolveStatus.INFEASIBLE:  # no input of the box makes t win: confirm on a grid
        g = np.stack(np.meshgrid(np.linspace(-3, 3, 121), np.linspace(-3, 3, 121)), -1).reshape(-1, 2)
        y = net.forward(g)
        assert not np.any(y[:, t] >= np.delete(y, t, axis=1).max(axis=1) + 0.1)
        return
    r.raise_for_status()
    x = np.array([m.x[0].value, m.x[1].value])
    y = net.forward(x[None])[0]
    assert np.all(y[t] >= np.delete(y, t) + 0.1 - 1e-6)
    assert r.objective == pytest.approx(np.abs(x - x0).sum(), abs=1e-6)
    assert r.objective > 0  # t does not win at x0
    # no grid point closer to x0 makes t win
    g = np.stack(np.meshgrid(np.linspace(-3, 3, 241), np.linspace(-3, 3, 241)), -1).reshape(-1, 2)
    yg = net.forward(g)
    wins = np.all(yg[:, [t]] >= np.delete(yg, t, axis=1) + 0.1, axis=1)
    assert np.abs(g[wins] - x0).sum(axis=1).min() >= r.objective - 1e-6


@pytest.mark.parametrize("suffix", [".lp", ".mps"])
def test_network_model_written_to_file_has_the_same_optimum(tmp_path, suffix):
    """A MILP with a network, an L1 ball and a margin, exported and solved by highspy without Pyomo."""
    import highspy

    from nnblocks.blocks import NetworkBlock
    from nnblocks.solve import write

    net = _small_network()
    x0 = np.array([0.2, -0.4])
    t = int(np.argsort(-net.forward(x0[None])[0])[1])
    m = model_with_x(2, bounds=(-3, 3))
    m.nn = NetworkBlock()
    m.nn.build(net, inputs=m.x)
    m.ball = NormBall(m.x, x0, norm=1)
    m.margin = TargetMargin(m.nn.outputs, t, gamma=0.1, kind="difference")
    m.obj = pyo.Objective(expr=m.ball.distance)
    assert problem_class(m) == "MILP"
    through_pyomo = solve(m).raise_for_status().objective
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    assert h.readModel(str(write(m, tmp_path / f"fj{suffix}"))) == highspy.HighsStatus.kOk
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    assert h.getInfo().objective_function_value == pytest.approx(through_pyomo, abs=1e-6)
