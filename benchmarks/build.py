"""Build and solve a Fischetti–Jo model with nnblocks' NetworkBlock and with OMLT's full-space big-M.

On identical ReLU networks and the same input box, for each tool: the time to build the
network's encoding (bounds included), the size of the whole FJ model (free variables, binaries,
constraints) and the time HiGHS takes to solve

    min ||x - x_bar||_1   s.t.  y = f(x),  y_target >= y_j + gamma  (j != target),  0 <= x <= 1

(the L1 distance with one auxiliary per pixel as in the FJ model, a difference margin). Only the
network encoding differs between the two models. Networks: the trained 784-8-8-8-10 Fashion-MNIST
classifier shipped in ``models/`` (if present; otherwise He-initialised), and He-initialised
784-256-256-10 and 784-512x3-10 networks (fixed seed).

Boxes (``--radii``): the whole pixel box [0, 1]^784 ("none") and the boxes [0, 1]^784 ∩ [x_bar - r, x_bar + r]
of verification (both tools get the same box as variable bounds). OMLT creates one binary per ReLU whatever
its bounds; nnblocks none for a neuron its bounds prove stable. Over the whole box no hidden neuron of
these networks is provably stable (interval bounds; LP bounds on the two smaller ones), so the binary
counts agree there; the smaller the box, the more neurons the bounds fix.

    python benchmarks/build.py [--time-limit 60] [--networks small,medium,large] [--radii none,0.05]
                               [--bounds interval] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pyomo.environ as pyo
from rich.console import Console
from rich.table import Table

from nnblocks import Identity, Layer, Network, ReLU
from nnblocks.blocks import NetworkBlock
from nnblocks.solve import model_size, solve

ROOT = Path(__file__).resolve().parents[1]
NOMINAL = ROOT / "models" / "fashion-mnist" / "nominal.npz"
IMAGES = ROOT / "models" / "fashion-mnist" / "nominal_images.npz"
ARCHITECTURES = {"small": [784, 8, 8, 8, 10], "medium": [784, 256, 256, 10], "large": [784, 512, 512, 512, 10]}


def he_network(sizes: list[int], seed: int = 0) -> Network:
    """ReLU hidden layers, identity output; W ~ N(0, 2 / n_in), b ~ N(0, 0.01)."""
    rng = np.random.default_rng(seed)
    layers = []
    for k in range(1, len(sizes)):
        W = rng.normal(size=(sizes[k], sizes[k - 1])) * np.sqrt(2.0 / sizes[k - 1])
        b = rng.normal(scale=0.1, size=sizes[k])
        layers.append(Layer(W, b, ReLU() if k < len(sizes) - 1 else Identity()))
    return Network(layers)


def networks(names: list[str]) -> list[tuple[str, Network, str]]:
    out = []
    for name in names:
        sizes = ARCHITECTURES[name]
        label = "-".join(map(str, sizes))
        if name == "small" and NOMINAL.exists():
            out.append((label, Network.load(NOMINAL), "trained"))
        else:
            out.append((label, he_network(sizes), "He init"))
    return out


def image_and_target(net: Network) -> tuple[np.ndarray, int]:
    """A Fashion-MNIST test image (or a fixed random one) and the class that scores second on it."""
    if IMAGES.exists():
        x_bar = np.load(IMAGES)["X"][0].astype(float)
    else:
        x_bar = np.random.default_rng(1).uniform(0, 1, 784)
    y = net.forward(x_bar)
    return x_bar, int(np.argsort(y)[-2])


def fj_wrapper(m: pyo.ConcreteModel, x: list, y: list, x_bar: np.ndarray, target: int, gamma: float) -> None:
    """The FJ objective and margin on the given input/output variables (identical for both tools)."""
    n = len(x)
    m.d = pyo.Var(range(n), bounds=(0, 1))
    m.dist_pos = pyo.Constraint(range(n), rule=lambda _m, i: x[i] - m.d[i] <= float(x_bar[i]))
    m.dist_neg = pyo.Constraint(range(n), rule=lambda _m, i: -x[i] - m.d[i] <= -float(x_bar[i]))
    others = [j for j in range(len(y)) if j != target]
    m.margin = pyo.Constraint(others, rule=lambda _m, j: y[target] >= y[j] + gamma)
    m.obj = pyo.Objective(expr=sum(m.d.values()), sense=pyo.minimize)


def build_nnblocks(net: Network, lo: np.ndarray, hi: np.ndarray, bounds: str = "interval"):
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(net.n_inputs), bounds=lambda _m, i: (float(lo[i]), float(hi[i])))
    start = time.perf_counter()
    m.nn = NetworkBlock()
    m.nn.build(net, inputs=m.x, bounds=bounds)
    elapsed = time.perf_counter() - start
    return m, m.nn.inputs, m.nn.outputs, elapsed


def build_omlt(net: Network, lo: np.ndarray, hi: np.ndarray):
    from omlt import OmltBlock
    from omlt.neuralnet import FullSpaceNNFormulation, NetworkDefinition
    from omlt.neuralnet.layer import DenseLayer, InputLayer

    m = pyo.ConcreteModel()
    start = time.perf_counter()
    definition = NetworkDefinition(scaled_input_bounds={i: (float(lo[i]), float(hi[i])) for i in range(net.n_inputs)})
    prev = InputLayer([net.n_inputs])
    definition.add_layer(prev)
    for layer in net.layers:
        if layer.activation == ReLU():
            act = "relu"
        elif layer.activation == Identity():
            act = "linear"
        else:
            raise ValueError(f"the OMLT comparison covers ReLU/identity layers, got {layer.activation!r}")
        dense = DenseLayer(prev.output_size, [layer.n_out], activation=act, weights=layer.W.T, biases=layer.b)
        definition.add_layer(dense)
        definition.add_edge(prev, dense)
        prev = dense
    m.nn = OmltBlock()
    quiet = logging.getLogger("pyomo.core")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # OMLT initialises its scaled inputs at 0, outside a narrowed box (W1002)
    try:
        m.nn.build_formulation(FullSpaceNNFormulation(definition))
    finally:
        quiet.setLevel(level)
    elapsed = time.perf_counter() - start
    x = [m.nn.inputs[i] for i in range(net.n_inputs)]
    y = [m.nn.outputs[j] for j in range(net.n_outputs)]
    return m, x, y, elapsed


def run(net_label, net, origin, tool, time_limit, gamma, solver, bounds="interval", radius=None) -> dict:
    x_bar, target = image_and_target(net)
    lo, hi = np.zeros(net.n_inputs), np.ones(net.n_inputs)
    if radius is not None:  # the box [0,1]^784 intersected with an L-infinity ball around x_bar
        lo, hi = np.clip(x_bar - radius, 0, 1), np.clip(x_bar + radius, 0, 1)
    m, x, y, build_s = build_nnblocks(net, lo, hi, bounds) if tool == "nnblocks" else build_omlt(net, lo, hi)
    fj_wrapper(m, x, y, x_bar, target, gamma)
    size = model_size(m)
    rec = {
        "network": net_label,
        "weights": origin,
        "tool": tool,
        "bounds": bounds if tool == "nnblocks" else "omlt interval",
        "build_s": build_s,
        "n_vars": size.n_vars,
        "n_binaries": size.n_binaries,
        "n_constraints": size.n_constraints,
        "solver": solver,
        "time_limit": time_limit,
        "radius": radius,
    }
    if time_limit > 0:
        res = solve(m, solver=solver, time_limit=time_limit)
        rec.update(status=str(res.status.value), solve_s=res.time, objective=res.objective, bound=res.bound)
        if res.has_solution:
            xs = np.array([pyo.value(v) for v in x])
            out = net.forward(xs)
            rec["verified_margin"] = float(out[target] - np.delete(out, target).max())
    else:
        rec.update(status="not solved", solve_s=None, objective=None, bound=None)
    return rec


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _print_table(console: Console, box_records: list[dict], radius: float | None, args) -> None:
    box = "[0,1]^784" if radius is None else f"[0,1]^784 ∩ ||x - x_bar||_inf <= {radius:g}"
    table = Table(title=f"FJ model, input box {box}, nnblocks bounds {args.bounds}, {args.solver}, "
                  f"time limit {args.time_limit:g} s")
    for col in ["network", "weights", "tool", "build s", "speed-up", "vars", "binaries", "constraints", "status",
                "solve s", "objective", "bound"]:
        table.add_column(col, justify="left" if col in ("network", "weights", "tool", "status") else "right")
    by_net: dict[str, dict[str, dict]] = {}
    for rec in box_records:
        by_net.setdefault(rec["network"], {})[rec["tool"]] = rec
    for rec in box_records:
        other = by_net[rec["network"]].get("omlt")
        speed = other["build_s"] / rec["build_s"] if (other and rec["tool"] == "nnblocks") else None
        rec["build_speedup_vs_omlt"] = speed
        table.add_row(
            rec["network"], rec["weights"], rec["tool"], f"{rec['build_s']:.2f}", _fmt(speed, ".1f"),
            str(rec["n_vars"]), str(rec["n_binaries"]), str(rec["n_constraints"]), rec["status"],
            _fmt(rec["solve_s"], ".1f"), _fmt(rec["objective"], ".4f"), _fmt(rec["bound"], ".4f"),
        )
    console.print(table)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--networks", default="small,medium,large", help="comma list of small, medium, large")
    ap.add_argument("--tools", default="nnblocks,omlt")
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per FJ solve (0: build only)")
    ap.add_argument("--gamma", type=float, default=0.1, help="margin y_target - y_j")
    ap.add_argument("--solver", default="highs")
    ap.add_argument("--bounds", default="interval", choices=["interval", "lp"], help="nnblocks' bounds")
    ap.add_argument("--radii", default="none,0.05",
                    help="comma list of r: the box [0,1]^784 ∩ ||x - x_bar||_inf <= r per table; 'none': [0,1]^784")
    ap.add_argument("--json", type=Path, default=None, help="write one record per network and tool")
    args = ap.parse_args()
    tools = args.tools.split(",")
    console = Console(width=160)
    # warm-up: imports and first-use costs are not part of a build
    warm = he_network([4, 3, 2])
    for tool in tools:
        (build_nnblocks if tool == "nnblocks" else build_omlt)(warm, np.zeros(4), np.ones(4))
    radii = [None if r.strip().lower() == "none" else float(r) for r in args.radii.split(",") if r.strip()]
    nets = networks(args.networks.split(","))
    records = []
    for radius in radii:
        box_records = []
        for label, net, origin in nets:
            for tool in tools:
                rec = run(label, net, origin, tool, args.time_limit, args.gamma, args.solver, args.bounds, radius)
                box_records.append(rec)
                console.log(f"{label} {tool} (radius {radius}): build {rec['build_s']:.2f} s, status {rec['status']}")
        _print_table(console, box_records, radius, args)
        records += box_records
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))
        console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
