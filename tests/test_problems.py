"""The (Obj), (Feas) and robust shortest-path builders, out-of-sample evaluation, and the authors' data."""

from __future__ import annotations

import re

import networkx as nx
import numpy as np
import pytest

from nnblocks.robust.baselines import DiscreteUncertaintySet, KernelUncertaintySet
from nnblocks.robust.evaluation import out_of_sample
from nnblocks.robust.problems import _walk, path_arcs, robust_feas, robust_obj, robust_shortest_path
from tests.conftest import shared_data


def _small_graph() -> nx.MultiDiGraph:
    """s=0 ... t=4 with two pairs of parallel arcs (same tail and head, different costs)."""
    g = nx.MultiDiGraph()
    arcs = [(0, 1), (0, 1), (1, 2), (2, 4), (0, 3), (3, 4), (3, 4), (1, 3), (3, 2), (2, 1)]
    for j, (u, v) in enumerate(arcs):
        g.add_edge(u, v, index=j)
    return g


@pytest.mark.parametrize("method", ["counterpart", "scenarios"])
def test_shortest_path_with_parallel_arcs_against_brute_force(rng, method):
    g = _small_graph()
    P = rng.uniform(1.0, 10.0, size=(12, g.number_of_edges()))
    U = DiscreteUncertaintySet(P)
    sol = robust_shortest_path(g, U, 0, 4, method=method)
    assert sol.is_robust and sol.certified
    idx = {(u, v, k): d["index"] for u, v, k, d in g.edges(keys=True, data=True)}
    best = np.inf
    for path in nx.all_simple_edge_paths(g, 0, 4):
        x = np.zeros(g.number_of_edges())
        x[[idx[e] for e in path]] = 1.0
        best = min(best, (P @ x).max())
    assert sol.robust_value == pytest.approx(best)
    assert sol.nodes[0] == 0 and sol.nodes[-1] == 4
    # the arcs form the path; parallel arcs are told apart by index
    assert len(sol.arcs) == len(sol.nodes) - 1
    by_index = {j: (u, v) for u, v, j in path_arcs(g)}
    assert sorted(by_index[j] for j in sol.arcs) == sorted(zip(sol.nodes[:-1], sol.nodes[1:]))


def test_parallel_arc_choice_follows_the_cheaper_twin():
    g = nx.MultiDiGraph()
    g.add_edge("s", "t", index=0)
    g.add_edge("s", "t", index=1)
    U = DiscreteUncertaintySet([[5.0, 3.0], [4.0, 6.0]])  # worst cases 5 (arc 0) and 6 (arc 1)
    sol = robust_shortest_path(g, U, "s", "t")
    assert sol.arcs == [0] and sol.robust_value == pytest.approx(5.0)
    assert sol.nodes == ["s", "t"]


def test_path_input_errors():
    g = _small_graph()
    U = DiscreteUncertaintySet(np.ones((2, 3)))
    with pytest.raises(ValueError, match="dimension 3"):
        robust_shortest_path(g, U, 0, 4)
    U = DiscreteUncertaintySet(np.ones((2, 10)))
    with pytest.raises(ValueError, match="not a node"):
        robust_shortest_path(g, U, 0, 99)
    h = nx.MultiDiGraph()
    h.add_edge(0, 1, index=3)
    with pytest.raises(ValueError, match="exactly once"):
        path_arcs(h)


def test_obj_and_feas_methods_agree(rng):
    A = rng.normal(size=(5, 5))
    X = 150 + 10 * rng.normal(size=(100, 5)) @ A
    U = KernelUncertaintySet.fit(X, q=0.85)
    a = robust_obj(U, rhs=2.5, method="counterpart")
    b = robust_obj(U, rhs=2.5, method="scenarios", tol=1e-6)
    assert a.is_robust and b.is_robust
    assert a.robust_value == pytest.approx(b.robust_value, rel=1e-5)
    assert abs(a.x.sum() - 2.5) < 1e-6 and np.all(np.abs(a.x) <= 1 + 1e-9)
    f = robust_feas(U, rhs=0.0, method="counterpart")
    g = robust_feas(U, rhs=0.0, method="scenarios", tol=1e-7, max_iterations=2000)
    assert f.is_robust and g.is_robust
    assert f.objective == pytest.approx(g.objective, abs=1e-4)
    assert f.robust_value <= 1e-6  # the fresh worst case of the constraint keeps the right-hand side
    D = DiscreteUncertaintySet(X)
    d = robust_feas(D, rhs=0.0)
    assert (X @ d.x).max() <= 1e-6
    with pytest.raises(ValueError, match="infeasible"):
        robust_obj(U, rhs=6.0)


def test_out_of_sample_statistics():
    C = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [3.0, 0.0]])
    o = out_of_sample(np.array([1.0, 1.0]), C, level=0.5, rhs=3.0)  # values 1, 1, 4, 3
    assert o.mean == pytest.approx(2.25) and o.quantile == pytest.approx(2.0)
    assert o.feasible_share == pytest.approx(0.75) and o.n_infeasible == 1
    assert o.as_dict()["oos_mean"] == pytest.approx(2.25)
    with pytest.raises(ValueError, match="columns"):
        out_of_sample(np.ones(3), C)


# ---- bad input -------------------------------------------------------------------------------------------
_P3 = [[1.0, 2.0], [2.0, 1.0], [0.5, 0.5]]  # (Obj) with RHS 0.3: x = (0.15, 0.15), worst case 0.45


def test_obj_with_the_default_tolerance_reaches_the_true_optimum():
    sol = robust_obj(DiscreteUncertaintySet(_P3), rhs=0.3, method="scenarios")
    assert sol.is_robust
    np.testing.assert_allclose(sol.x, [0.15, 0.15], atol=1e-9)
    assert sol.objective == pytest.approx(0.45)


@pytest.mark.parametrize("method", ["scenarios", "counterpart"])
@pytest.mark.parametrize("kw, match", [
    ({"tol": float("nan")}, "tol must be finite and >= 0, got nan"),
    ({"tol": -1.0}, "tol must be finite and >= 0, got -1"),
    ({"max_iterations": 0}, "max_iterations must be >= 1, got 0"),
    ({"max_iterations": -3}, "max_iterations must be >= 1, got -3"),
    ({"time_limit": 0.0}, r"time_limit must be positive \(None for no limit\), got 0"),
    ({"rhs": float("nan")}, "rhs must be a finite number, got nan"),
])
def test_obj_refuses_parameters_that_would_give_a_wrong_answer(method, kw, match):
    U = DiscreteUncertaintySet(_P3)
    with pytest.raises(ValueError, match=match):
        robust_obj(U, method=method, **{"rhs": 0.3, **kw})


@pytest.mark.parametrize("method", ["scenarios", "counterpart"])
def test_feas_refuses_a_nan_right_hand_side(method):
    with pytest.raises(ValueError, match="rhs must be a finite number, got nan"):
        robust_feas(DiscreteUncertaintySet(_P3), rhs=float("nan"), method=method)


def _two_cycle_graph() -> nx.DiGraph:
    """Arcs 0: 0 -> 1 and 1: 1 -> 0 form a cycle; arc 2: 0 -> 2 is the only path from 0 to 2."""
    g = nx.DiGraph()
    for j, (u, v) in enumerate([(0, 1), (1, 0), (0, 2)]):
        g.add_edge(u, v, index=j)
    return g


class _Opaque:
    """An uncertainty set that cannot tell its cost bounds (only ``dim`` and ``worst_case``)."""

    def __init__(self, points):
        self._U = DiscreteUncertaintySet(points)
        self.dim = self._U.dim

    def worst_case(self, x, **kwargs):
        return self._U.worst_case(x)


@pytest.mark.parametrize("method", ["counterpart", "scenarios"])
def test_path_refuses_negative_costs_on_a_cycle(method):
    U = DiscreteUncertaintySet([[1.0, 1.0, 3.0], [-5.0, 1.0, 3.0]])
    with pytest.raises(ValueError, match=r"scenario 1 gives the cycle (0 -> 1 -> 0|1 -> 0 -> 1) the cost -4 < 0: "
                                         r"the flow formulation models simple paths only when no cycle has a "
                                         r"negative cost"):
        robust_shortest_path(_two_cycle_graph(), U, 0, 2, method=method)


@pytest.mark.parametrize("method", ["counterpart", "scenarios"])
def test_path_accepts_negative_arc_costs_on_cycles_of_non_negative_cost(method):
    """Arc a -> b costs -1 but the cycle a -> b -> a costs 4 in every scenario: every flow is a path plus
    cycles that cost >= 0, so the flow formulation is exact."""
    g = nx.DiGraph()
    for j, (u, v) in enumerate([("s", "a"), ("a", "t"), ("a", "b"), ("b", "a")]):
        g.add_edge(u, v, index=j)
    U = DiscreteUncertaintySet([[1.0, 1.0, -1.0, 5.0], [2.0, 1.0, -1.0, 5.0]])
    sol = robust_shortest_path(g, U, "s", "t", method=method)
    assert sol.is_robust and sol.arcs == [0, 1] and sol.nodes == ["s", "a", "t"]
    assert sol.robust_value == pytest.approx(3.0)


def test_path_accepts_negative_costs_off_cycles():
    g = nx.DiGraph()
    for j, (u, v) in enumerate([(0, 1), (1, 2), (0, 2)]):  # no cycle: every flow is a path
        g.add_edge(u, v, index=j)
    sol = robust_shortest_path(g, DiscreteUncertaintySet([[-2.0, 1.0, 0.0], [-1.0, 0.5, 0.2]]), 0, 2)
    assert sol.is_robust and sol.arcs == [0, 1] and sol.nodes == [0, 1, 2]
    assert sol.robust_value == pytest.approx(-0.5)


def test_path_of_a_set_without_cost_bounds_is_a_simple_path_or_named_not_a_path():
    # the cycle 0 -> 1 -> 0 costs -4: the flow formulation takes it, which is no s-t path
    sol = robust_shortest_path(_two_cycle_graph(), _Opaque([[-5.0, 1.0, 3.0]]), 0, 2)
    assert sol.status == "not_a_path" and not sol.is_robust
    assert re.search(r"contains cycles \(arcs \[0, 1\]\).*path inside it costs 3.*negative arc costs", sol.message)
    assert sol.nodes == [0, 2] and sol.arcs == [0, 1, 2]
    # costs that make the cycle useless: the returned solution is the simple path
    sol = robust_shortest_path(_two_cycle_graph(), _Opaque([[0.0, 0.0, 3.0], [1.0, -1.0, 2.0]]), 0, 2)
    assert sol.is_robust and sol.arcs == [2] and sol.nodes == [0, 2]
    np.testing.assert_array_equal(sol.x, [0.0, 0.0, 1.0])
    assert sol.robust_value == pytest.approx(3.0)


def test_path_nodes_and_arcs_leave_cycles_out():
    arcs = [(0, 1, 0), (1, 3, 1), (3, 1, 2), (1, 2, 3)]  # 0 -> 1 -> 2 with the cycle 1 -> 3 -> 1
    path, nodes = _walk(arcs, [0, 1, 2, 3], 0, 2)
    assert path == [0, 3] and nodes == [0, 1, 2]


def test_path_needs_a_directed_graph():
    g = nx.Graph()
    g.add_edge(0, 1)
    with pytest.raises(ValueError, match="graph must be a directed networkx graph .*got Graph"):
        robust_shortest_path(g, DiscreteUncertaintySet([[1.0]]), 0, 1)


def test_out_of_sample_refuses_nan_input():
    C = np.array([[1.0, 0.0], [np.nan, 1.0]])
    with pytest.raises(ValueError, match=r"x contains 1 NaN or infinite value\(s\), at index \[0\]"):
        out_of_sample([np.nan, 1.0], C[:1])
    with pytest.raises(ValueError, match=r"scenarios contains 1 NaN or infinite value\(s\), at \(row, column\) "
                                         r"\[\(1, 0\)\]"):
        out_of_sample([1.0, 1.0], C)
    with pytest.raises(ValueError, match="rhs must be a finite number, got nan"):
        out_of_sample([1.0, 1.0], C[:1], rhs=float("nan"))
    with pytest.raises(ValueError, match="atol must be finite and >= 0"):
        out_of_sample([1.0, 1.0], C[:1], rhs=1.0, atol=-1.0)


# ---- the authors' data -----------------------------------------------------------------------------------
@pytest.mark.shared_data
def test_kernel_obj_20d_reproduces_the_published_table():
    """Goerigk & Kurtz (earlier version), appendix Table 2, Gaussian instance 1, Kernel: 1329.2 / 1360.8."""
    base = shared_data("ro-dnn", "20d")
    stem = "1-1-0.90"
    U = KernelUncertaintySet.from_files(*[base / "kernel" / f"{k}-{stem}.txt" for k in ("alphas", "sv", "q", "theta")],
                                        base / "data" / "train-1-1.txt")
    sol = robust_obj(U, rhs=10.0)
    assert sol.is_robust and sol.certified
    test = np.loadtxt(base / "data" / "test-1-1.txt", delimiter=",")
    o = out_of_sample(sol.x, test, level=0.9)
    assert o.mean == pytest.approx(1329.2, abs=0.1)
    assert o.quantile == pytest.approx(1360.8, abs=0.1)


def _network_set(dim: str, T: int, I: int, q: float):
    from nnblocks.datasets.ro_dnn import load_instance
    from nnblocks.robust.network_set import NetworkUncertaintySet

    inst = load_instance(shared_data("ro-dnn"), dim, T, I)
    return inst, NetworkUncertaintySet.from_quantile(inst.network, inst.center, inst.train, q)


@pytest.mark.shared_data
@pytest.mark.slow
@pytest.mark.parametrize("T,I", [(1, 26), (2, 21), (3, 21)])
def test_network_obj_2d_patterns_and_exact(T, I):
    inst, U = _network_set("2d", T, I, 0.9)
    sol = robust_obj(U, rhs=0.3)
    assert sol.is_robust
    assert not sol.certified and "oracle" in sol.message  # the pattern decomposition proves nothing
    assert abs(sol.x.sum() - 0.3) < 1e-6
    # worst cases found are members of U
    for c in sol.scenario_result.scenarios["objective"]:
        assert U.contains(np.asarray(c))
    # an exact worst case at the solution bounds the pattern value from above
    exact = U.worst_case(sol.x, method="exact", time_limit=15)
    assert exact.bound is None or exact.bound >= sol.robust_value - 1e-4 * max(1.0, abs(sol.robust_value))


@pytest.mark.shared_data
@pytest.mark.slow
def test_network_obj_20d_reproduces_the_published_table():
    """Appendix Table 2, Gaussian instance 1, NN: out-of-sample mean 612.8, 90% quantile 651.7."""
    inst, U = _network_set("20d", 1, 1, 0.9)
    sol = robust_obj(U, rhs=10.0)
    assert sol.is_robust
    o = out_of_sample(sol.x, inst.test, level=0.9)
    assert o.mean == pytest.approx(612.8, rel=0.01)
    assert o.quantile == pytest.approx(651.7, rel=0.01)


def test_cli_obj_feas_path_with_discrete_and_kernel(tmp_path, rng):
    from typer.testing import CliRunner

    from nnblocks.cli import app

    X = 100 + 10 * rng.normal(size=(60, 2))
    np.savetxt(tmp_path / "train.txt", X, delimiter=", ")
    np.savetxt(tmp_path / "test.txt", X[:20], delimiter=", ")
    runner = CliRunner()
    out = tmp_path / "obj.json"
    r = runner.invoke(app, ["robust", "obj", "--data", str(tmp_path / "train.txt"), "--test",
                            str(tmp_path / "test.txt"), "--method", "discrete", "--rhs", "0.3", "--json", str(out),
                            "--plot", str(tmp_path / "obj.png")])
    assert r.exit_code == 0, r.output
    rec = __import__("json").loads(out.read_text())
    assert rec["status"] == "robust_optimal"
    assert rec["robust_value"] == pytest.approx((X @ np.array(rec["x"])).max(), rel=1e-9)
    assert (tmp_path / "obj.png").stat().st_size > 0
    r = runner.invoke(app, ["robust", "feas", "--data", str(tmp_path / "train.txt"), "--method", "kernel",
                            "--quantile", "0.8", "--rhs", "50"])
    assert r.exit_code == 0, r.output
    g = tmp_path / "graph.csv"
    g.write_text("0;1\n0;1\n")
    np.savetxt(tmp_path / "costs.txt", np.array([[5.0, 3.0], [4.0, 6.0]]), delimiter=",")
    out = tmp_path / "path.json"
    r = runner.invoke(app, ["robust", "path", "--graph", str(g), "--source", "0", "--sink", "1", "--data",
                            str(tmp_path / "costs.txt"), "--method", "discrete", "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert __import__("json").loads(out.read_text())["x"] == [0]
    r = runner.invoke(app, ["robust", "obj", "--data", str(tmp_path / "missing.txt"), "--method", "discrete"])
    assert r.exit_code != 0 and "not found" in r.output


def _flat(output: str) -> str:
    """The CLI's output without the error box's borders and line breaks."""
    return " ".join(output.replace("│", " ").split())


def test_cli_checks_files_and_options_before_the_solve(tmp_path, rng, monkeypatch):
    from typer.testing import CliRunner

    import nnblocks.robust
    from nnblocks.cli import app

    def no_solve(*args, **kwargs):
        raise AssertionError("solved despite bad input")

    monkeypatch.setattr(nnblocks.robust, "robust_obj", no_solve)
    train = tmp_path / "train.txt"
    np.savetxt(train, 1.0 + rng.uniform(size=(10, 2)), delimiter=",")
    wide = tmp_path / "wide.txt"
    np.savetxt(wide, rng.uniform(size=(4, 3)), delimiter=",")
    nan = tmp_path / "nan.txt"
    nan.write_text("1, 2\nnan, 1\n")
    text = tmp_path / "text.txt"
    text.write_text("1, 2\na, b\n")
    ragged = tmp_path / "ragged.txt"
    ragged.write_text("1, 2\n\n3\n")
    cases = [
        (["--test", str(wide)], "has 3 columns, expected 2"),
        (["--test", str(nan)], "NaN or infinite value in line 2, column 1"),
        (["--solver", "foo"], "unknown solver 'foo'; available solvers:"),
        (["--tol", "nan"], "tol must be finite and >= 0"),
        (["--time-limit", "0"], "time_limit must be positive"),
        (["--data", str(text)], "line 2: expected comma-separated numbers, got 'a, b'"),
        (["--data", str(ragged)], "line 3 has 1 values, line 1 has 2"),
    ]
    runner = CliRunner()
    for extra, message in cases:
        args = ["robust", "obj", "--data", str(train), "--method", "discrete", "--rhs", "0.3", *extra]
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (extra, r.output)
        assert message in _flat(r.output), (extra, r.output)


def test_cli_path_checks_the_graph_and_reports_negative_costs_as_usage_errors(tmp_path):
    from typer.testing import CliRunner

    from nnblocks.cli import app

    graph = tmp_path / "graph.txt"
    graph.write_text("0;1\n1;0\n0;2\n")
    costs = tmp_path / "costs.txt"
    costs.write_text("1, 1, 3\n-5, 1, 3\n")
    narrow = tmp_path / "narrow.txt"
    narrow.write_text("1, 2\n")
    runner = CliRunner()
    base = ["robust", "path", "--graph", str(graph), "--source", "0", "--data", str(costs), "--method", "discrete"]
    cases = [
        (["--sink", "7"], "node 7 is not in the graph"),
        (["--sink", "2", "--test", str(narrow)], "has 2 columns, expected 3"),
        (["--sink", "2"], "scenario 1 gives the cycle"),
    ]
    for extra, message in cases:
        r = runner.invoke(app, [*base, *extra])
        assert r.exit_code == 2, (extra, r.output)
        assert message in _flat(r.output), (extra, r.output)


def test_path_with_known_non_negative_costs_leaves_zero_cost_cycles_out(monkeypatch):
    import nnblocks.robust.problems as problems

    solve = problems._run

    def with_cycle(*args, **kwargs):  # an optimal arc set that also takes the zero-cost cycle 0 -> 1 -> 0
        sol = solve(*args, **kwargs)
        sol.x = np.ones(3)
        sol.robust_value = sol.objective = 3.0
        return sol

    monkeypatch.setattr(problems, "_run", with_cycle)
    sol = robust_shortest_path(_two_cycle_graph(), DiscreteUncertaintySet([[0.0, 0.0, 3.0]]), 0, 2)
    assert sol.is_robust and sol.certified
    assert sol.arcs == [2] and sol.nodes == [0, 2]
    np.testing.assert_array_equal(sol.x, [0.0, 0.0, 1.0])
    assert sol.robust_value == pytest.approx(3.0)
