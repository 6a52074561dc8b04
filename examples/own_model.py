"""A user's own Pyomo model with a network inside: the closest input that a network classifies as a target.

Nothing here is a ready-made builder: the model is ordinary Pyomo, and nnblocks adds three blocks to it,

- ``NetworkBlock``: y = f(x) for a trained ReLU network (Fischetti–Jo big-M, bounds from the input box
  intersected with an L-infinity ball),
- ``NormBall``: the L1 distance ||x - x_bar||_1 as an objective (one auxiliary per coordinate, as in the
  FJ model), and a second ball ||x - x_bar||_inf <= 0.3 as a constraint,
- ``TargetMargin``: y_target >= y_j + gamma for every other class j.

The model is solved with two solvers by name (each with a 60 s limit; the status of each solve is printed),
both answers are checked with a forward pass in float64, and the model is exported to ``model.lp`` and
``model.mps`` in ``--out`` (default: the current directory).

    python examples/own_model.py [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyomo.environ as pyo

from nnblocks import Identity, Layer, Network, ReLU
from nnblocks.blocks import NetworkBlock, NormBall, TargetMargin
from nnblocks.solve import solve, write

GAMMA = 0.05
RADIUS_INF = 0.3


def small_classifier(seed: int = 7) -> Network:
    """A fixed 12-16-16-4 ReLU classifier (numpy weights; any trained Network is used the same way)."""
    rng = np.random.default_rng(seed)
    sizes = [12, 16, 16, 4]
    layers = []
    for k in range(1, len(sizes)):
        W = rng.normal(size=(sizes[k], sizes[k - 1])) * np.sqrt(2.0 / sizes[k - 1])
        layers.append(Layer(W, rng.normal(scale=0.1, size=sizes[k]), ReLU() if k < len(sizes) - 1 else Identity()))
    return Network(layers)


def build_model(net: Network, x_bar: np.ndarray, target: int) -> pyo.ConcreteModel:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(net.n_inputs), bounds=(0.0, 1.0))  # the input, e.g. pixel intensities
    m.nn = NetworkBlock()
    m.nn.build(net, inputs=m.x, ball=dict(center=x_bar, norm="inf", radius=RADIUS_INF))
    m.near = NormBall(m.nn.inputs, center=x_bar, norm="inf", radius=RADIUS_INF)
    m.dist = NormBall(m.nn.inputs, center=x_bar, norm=1)
    m.margin = TargetMargin(m.nn.outputs, target=target, gamma=GAMMA, kind="difference")
    m.obj = pyo.Objective(expr=m.dist.distance, sense=pyo.minimize)
    return m


def check(net: Network, x: np.ndarray, x_bar: np.ndarray, target: int, tol: float = 1e-6) -> float:
    """Forward pass in float64: the margin holds (up to tol) and the point lies in the constraint ball."""
    y = net.forward(x)
    margin = float(y[target] - np.delete(y, target).max())
    assert margin >= GAMMA - tol, f"margin {margin} < gamma {GAMMA}"
    assert np.abs(x - x_bar).max() <= RADIUS_INF + tol
    assert np.all((x >= -tol) & (x <= 1 + tol))
    return margin


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("."), help="directory for model.lp / model.mps (default: .)")
    args = ap.parse_args()

    net = small_classifier()
    x_bar = np.random.default_rng(3).uniform(0.2, 0.8, net.n_inputs)
    y_bar = net.forward(x_bar)
    target = int(np.argsort(y_bar)[-2])  # the runner-up class
    print(f"x_bar is classified {int(np.argmax(y_bar))}; looking for the closest input classified {target}")

    m = build_model(net, x_bar, target)
    print(f"binaries: {m.nn.n_binaries} (unstable neurons per layer: "
          f"{[len(m.nn.unstable(k)) for k in range(1, len(net) + 1)]})")
    objectives = {}
    for solver in ("scip_direct", "highs"):
        res = solve(m, solver=solver, time_limit=60)
        res.raise_for_status()
        x = np.array([pyo.value(v) for v in m.nn.inputs])
        margin = check(net, x, x_bar, target)
        objectives[solver] = res.objective
        print(f"{solver:12s} {res.status.value:8s} ||x - x_bar||_1 = {res.objective:.6f}  "
              f"time {res.time:.2f} s  verified margin {margin:.4f}")
    a, b = objectives.values()
    assert abs(a - b) <= 1e-5 * max(1.0, abs(a)), f"the solvers disagree: {objectives}"

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    for suffix in (".lp", ".mps"):
        path = write(m, out / f"model{suffix}")
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
