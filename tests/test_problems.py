"""The (Obj), (Feas) and robust shortest-path builders, out-of-sample evaluation, and the authors' data."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from nnblocks.robust.baselines import DiscreteUncertaintySet, KernelUncertaintySet
from nnblocks.robust.evaluation import out_of_sample
from nnblocks.robust.problems import path_arcs, robust_feas, robust_obj, robust_shortest_path
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
