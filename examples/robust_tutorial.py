"""From raw scenario data to robust solutions (the tutorial of docs/robust.md).

Prints the status of every solve and writes ``robust_level_sets.png``, ``robust_oos.png`` and
``robust_path.png`` to ``--out`` (default: the current directory; ``--out docs/img`` refreshes the pictures
of the documentation):

    python examples/robust_tutorial.py [--out DIR] [--epochs 1000]

Needs the torch extra (for training the one-class network) and matplotlib.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pyomo.environ as pyo  # noqa: E402

from nnblocks.datasets.synthetic import synthetic  # noqa: E402
from nnblocks.plot.robust import plot_level_sets, plot_out_of_sample, plot_path  # noqa: E402
from nnblocks.robust import (  # noqa: E402
    DiscreteUncertaintySet,
    KernelUncertaintySet,
    NetworkUncertaintySet,
    ScenarioGeneration,
    out_of_sample,
    robust_obj,
    robust_shortest_path,
)
from nnblocks.train.one_class import one_class  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", type=Path, default=Path("."), help="directory for the pictures (default: .)")
    p.add_argument("--epochs", type=int, default=1000, help="training epochs of the one-class network")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    # 1. raw scenario data: 2-D mixed Gaussian with 5% uniform outliers (train), and a test sample
    train = synthetic("mixed", n=2, m=500, seed=3)
    test = synthetic("mixed", n=2, m=10_000, seed=3, test=True)

    # 2. three uncertainty sets holding 90% of the training data
    net, c_bar = one_class(train, q=0.9, epochs=args.epochs, restarts=3, seed=0, progress=False)
    U_nn = NetworkUncertaintySet.from_quantile(net, c_bar, train, q=0.9)
    U_kernel = KernelUncertaintySet.fit(train, q=0.9)
    U_discrete = DiscreteUncertaintySet(train)
    print(f"inside U: NN {U_nn.contains(train).mean():.3f}, Kernel {U_kernel.contains(train).mean():.3f}")

    # 3. (Obj): min max c'x, x1 + x2 = 0.3, x in [-1, 1]^2
    sols = {name: robust_obj(U, rhs=0.3) for name, U in
            (("NN", U_nn), ("Kernel", U_kernel), ("Discrete", U_discrete))}
    oos = {name: out_of_sample(s.x, test, level=0.9) for name, s in sols.items()}
    for name, s in sols.items():
        print(f"{name:8s} {s.status:15s} x = {np.round(s.x, 4)}  worst case {s.robust_value:8.3f}  "
              f"test mean {oos[name].mean:7.3f}  90% quantile {oos[name].quantile:7.3f}  "
              f"({s.iterations} iterations, {s.time:.2f} s)")

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3))
    plot_level_sets(U_nn, train, ax=axes[0], title="NN set (90% radius quantile)",
                    scenarios=sols["NN"].scenario_result.scenarios["objective"])
    plot_level_sets(U_kernel, train, ax=axes[1], title="Kernel set (nu = 0.1)", log=True)
    fig.tight_layout()
    fig.savefig(args.out / "robust_level_sets.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    plot_out_of_sample(oos, level=0.9, ax=ax, title="(Obj): c'x over 10,000 test scenarios")
    fig.tight_layout()
    fig.savefig(args.out / "robust_oos.png", dpi=110)
    plt.close(fig)

    # 4. the user's own model: uncertain costs in the objective, an uncertain capacity constraint
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(2), bounds=(0, 1))
    m.y = pyo.Var(domain=pyo.Binary)
    m.demand = pyo.Constraint(expr=m.x[0] + m.x[1] + m.y >= 1.2)
    m.fixed_cost = pyo.Objective(expr=40 * m.y)
    sg = ScenarioGeneration(m)
    sg.set_uncertain_objective(m.x, U_nn)  # 40 y + max_{c in U} c'x
    sg.add_uncertain_constraint(m.x, U_kernel, rhs=180.0)  # c'x <= 180 for all c in U_kernel
    res = sg.solve(progress=False)
    print(f"own model: {res.termination}, robust value {res.robust_value:.3f}, x = {np.round(res.x['objective'], 4)}, "
          f"y = {pyo.value(m.y):.0f}, certified = {res.certified}")

    # 5. robust shortest path on a small street grid with correlated travel times
    g = nx.MultiDiGraph()
    grid = nx.grid_2d_graph(4, 4)
    for u, v in grid.edges:
        g.add_edge(u, v, index=g.number_of_edges())
        g.add_edge(v, u, index=g.number_of_edges())
    rng = np.random.default_rng(1)
    base = rng.uniform(2, 6, size=g.number_of_edges())
    jam = rng.random(g.number_of_edges()) < 0.3
    jams = np.outer(rng.gamma(2.0, 0.4, size=300), jam)  # jams hit the same arcs together
    costs = base * (1 + jams) * rng.lognormal(0.0, 0.1, size=(300, base.size))
    U_path = KernelUncertaintySet.fit(costs, q=0.95, lower=0.0)
    sol = robust_shortest_path(g, U_path, (0, 0), (3, 3))
    nominal = robust_shortest_path(g, DiscreteUncertaintySet(costs.mean(axis=0)), (0, 0), (3, 3))
    print(f"path: {sol.status}, worst case {sol.robust_value:.2f}, nodes {sol.nodes}")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    pos = {v: v for v in g.nodes}
    plot_path(g, nominal.arcs, (0, 0), (3, 3), pos=pos, ax=axes[0], color="tab:blue", title="mean travel times")
    plot_path(g, sol.arcs, (0, 0), (3, 3), pos=pos, ax=axes[1], title="robust (Kernel set, 95%)")
    fig.tight_layout()
    fig.savefig(args.out / "robust_path.png", dpi=110)
    plt.close(fig)
    print(f"wrote pictures to {args.out}")


if __name__ == "__main__":
    main()
