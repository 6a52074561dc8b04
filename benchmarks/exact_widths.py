"""Exact per-neuron bounds of one layer by MILP, next to interval, CROWN and alpha-CROWN: the floor of any sound method.

    python benchmarks/exact_widths.py [--layer 2] [--sample N] [--time-limit S] [--solver NAME] [--json PATH]

For mnist-net_256x2 (784-256-256-10) over the box of ``mnistfc/vnnlib/prop_0_0.03.vnnlib`` (the Linf ball of 0.03
around its image, clipped to [0, 1]; the domain of ``benchmarks/bounds.py``'s VNN-COMP part), the pre-activations
:math:`a^k_j = W^k_j h^{k-1} + b^k_j` of layer ``k`` have the exact range

.. math:: \\underline a^k_j = \\min_{x \\in X} a^k_j(x), \\qquad \\overline a^k_j = \\max_{x \\in X} a^k_j(x),

one MILP each (``NetworkBlock`` of the network cut after layer ``k``, with an identity activation there, and
``nnblocks.solve``); every sound bound method has :math:`l^k_j \\le \\underline a^k_j` and
:math:`u^k_j \\ge \\overline a^k_j`, so the exact mean width :math:`\\frac1{n_k} \\sum_j (\\overline a^k_j -
\\underline a^k_j)` is the narrowest mean width any of them can reach. Each MILP has a time limit; the exact
range is then enclosed by

* the **outer** estimate: the solvers' dual bounds (at most the minimum, at least the maximum; valid also when a
  MILP stopped at its time limit or its gap), and
* the **inner** estimate: the smallest and largest :math:`a^k_j` over the points actually reached (every MILP's
  incumbent input, clipped to the box, and random vertices of the box), each computed by a float64 forward pass.

The exact mean width lies between the inner and the outer mean width; a claim that a width is out of reach of
any sound method rests on the inner one. The big-Ms of the MILPs come from alpha-CROWN bounds of the cut network
(sound, so the MILP's optimum is the exact one). ``--sample N`` bounds N random neurons of the layer instead of
all (the mean is then a sample mean; the output says so).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import pyomo.environ as pyo
import typer
from rich.console import Console
from rich.table import Table

from nnblocks import Identity, Layer, Network, from_onnx, read_vnnlib, solve
from nnblocks.blocks import NetworkBlock
from nnblocks.bounds import InputDomain, compute_bounds

ROOT = Path(__file__).resolve().parents[1]
VNNCOMP = ROOT.parent / "shared" / "data" / "vnncomp"
console = Console(width=150)


def domain(prop: Path, n_in: int) -> InputDomain:
    """The input box of the first disjunct of a VNN-LIB property, clipped to [0, 1]."""
    spec = read_vnnlib(prop, n_inputs=n_in)
    lo = np.clip(np.asarray(spec.disjuncts[0].lower, dtype=np.float64), 0.0, 1.0)
    hi = np.clip(np.asarray(spec.disjuncts[0].upper, dtype=np.float64), 0.0, 1.0)
    return InputDomain.box(lo, hi)


def cut(network: Network, k: int) -> Network:
    """The first ``k`` layers of ``network`` with an identity activation on layer ``k``: its outputs are a^k."""
    layers = list(network.layers[:k])
    layers[-1] = Layer(layers[-1].W, layers[-1].b, Identity())
    return Network(layers)


def exact_bounds(network: Network, dom: InputDomain, k: int, neurons: np.ndarray, time_limit: float,
                 solver: str | None, progress: bool = True) -> dict:
    """Min and max of a^k_j over ``dom`` for the given neurons j, one MILP each.

    Returns the arrays ``outer_lo``, ``outer_hi`` (dual bounds), ``points`` (the incumbent inputs, clipped to the
    box, one row per solved MILP with a solution), per-MILP ``status`` and ``time``, and the bounds' time.
    """
    head = cut(network, k)
    start = time.perf_counter()
    big_m = compute_bounds(head, dom, method="alpha-crown")
    bounds_time = time.perf_counter() - start
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(head.n_inputs), bounds=lambda _, i: (float(dom.lower[i]), float(dom.upper[i])))
    m.nn = NetworkBlock(head, inputs=m.x, bounds=big_m)
    outputs = m.nn.outputs
    n = len(neurons)
    outer = np.full((2, n), np.nan)
    status, times, points = [[""] * n for _ in range(2)], np.zeros((2, n)), []
    for s, sense in enumerate((pyo.minimize, pyo.maximize)):
        for i, j in enumerate(neurons):
            if hasattr(m, "obj"):
                m.del_component(m.obj)
            m.obj = pyo.Objective(expr=outputs[int(j)], sense=sense)
            t0 = time.perf_counter()
            res = solve(m, solver=solver, time_limit=time_limit, threads=1)
            times[s, i] = time.perf_counter() - t0
            status[s][i] = str(res.status.value)
            if res.bound is not None and np.isfinite(res.bound):
                outer[s, i] = res.bound
            if res.objective is not None:
                points.append(np.array([pyo.value(m.x[t]) for t in range(head.n_inputs)]))
            if progress and (i + 1) % 32 == 0:
                console.print(f"  {'min' if s == 0 else 'max'}: {i + 1}/{n} MILPs, {times[s, :i + 1].sum():.0f} s",
                              highlight=False)
    X = np.clip(np.array(points), dom.lower, dom.upper) if points else np.empty((0, head.n_inputs))
    return {"outer_lo": outer[0], "outer_hi": outer[1], "points": X, "status": status, "time": times,
            "bounds_time": bounds_time, "head": head}


def main(
    layer: Annotated[int, typer.Option(help="the layer k whose pre-activations a^k are bounded")] = 2,
    sample: Annotated[int | None, typer.Option(help="bound this many random neurons of the layer (default all)")
                      ] = None,
    time_limit: Annotated[float, typer.Option(help="time limit (s) per MILP")] = 60.0,
    solver: Annotated[str | None, typer.Option(help="MILP solver (default: nnblocks.solve's choice)")] = None,
    vertices: Annotated[int, typer.Option(help="random box vertices added to the inner estimate")] = 10000,
    seed: Annotated[int, typer.Option(help="seed of the neuron sample and the vertices")] = 0,
    network_path: Annotated[Path, typer.Option("--network")] = VNNCOMP / "mnistfc" / "onnx" / "mnist-net_256x2.onnx",
    prop: Annotated[Path, typer.Option(help="VNN-LIB file whose first input box is the domain")
                    ] = VNNCOMP / "mnistfc" / "vnnlib" / "prop_0_0.03.vnnlib",
    json_path: Annotated[Path | None, typer.Option("--json", help="write the per-neuron bounds as JSON here")] = None,
) -> None:
    if os.environ.get("OMP_NUM_THREADS") != "1":
        console.print("note: set OMP_NUM_THREADS=1 for one-core timings")
    network = from_onnx(network_path)
    if not isinstance(network, Network):
        raise typer.BadParameter(f"{network_path} is not a dense network")
    if not 1 <= layer < len(network.layers) + 1:
        raise typer.BadParameter(f"layer must be in 1..{len(network.layers)}")
    dom = domain(prop, network.n_inputs)
    n_k = network.layers[layer - 1].W.shape[0]
    rng = np.random.default_rng(seed)
    neurons = np.arange(n_k) if sample is None or sample >= n_k else np.sort(rng.choice(n_k, sample, replace=False))
    console.print(f"{network_path.name}, layer {layer} ({n_k} neurons), domain: box of {prop.name} clipped to [0, 1] "
                  f"(mean half-width {np.mean(dom.upper - dom.lower) / 2:.4f}); {len(neurons)} neurons, "
                  f"{2 * len(neurons)} MILPs of at most {time_limit:g} s")

    widths, times = {}, {}
    for method in ("interval", "crown", "alpha-crown"):
        start = time.perf_counter()
        nb = compute_bounds(network, dom, method=method)
        times[method] = time.perf_counter() - start
        widths[method] = nb.upper(layer) - nb.lower(layer)

    start, start_cpu = time.perf_counter(), time.process_time()
    ex = exact_bounds(network, dom, layer, neurons, time_limit, solver)
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    head = ex["head"]
    V = np.where(rng.random((vertices, network.n_inputs)) < 0.5, dom.lower, dom.upper)
    A = head.forward(np.vstack([ex["points"], V, dom.lower[None], dom.upper[None]]))[:, neurons]
    inner_lo, inner_hi = A.min(axis=0), A.max(axis=0)
    outer_w = ex["outer_hi"] - ex["outer_lo"]
    inner_w = inner_hi - inner_lo
    if np.any(inner_lo < ex["outer_lo"] - 1e-6) or np.any(inner_hi > ex["outer_hi"] + 1e-6):
        console.print("[red]a reached value lies outside the MILPs' dual bounds (solver tolerance?)[/red]")
    statuses = [s for row in ex["status"] for s in row]
    not_optimal = [(("min", "max")[s], int(neurons[i]), ex["status"][s][i])
                   for s in range(2) for i in range(len(neurons)) if ex["status"][s][i] != "optimal"]

    target = float(np.mean(widths["interval"])) / 5
    table = Table(title=f"{network_path.stem}, layer {layer} pre-activation, mean width over "
                        f"{'all ' if len(neurons) == n_k else 'a sample of '}{len(neurons)} of {n_k} neurons")
    for col in ("method", "time", "mean width", "min", "max", "/ exact (inner)"):
        table.add_column(col, justify="left" if col == "method" else "right")
    ref = float(np.mean(inner_w))
    for method in ("interval", "crown", "alpha-crown"):
        w = widths[method][neurons]
        table.add_row(method, f"{times[method]:.3f} s", f"{np.mean(w):.4f}", f"{w.min():.4f}", f"{w.max():.4f}",
                      f"{np.mean(w) / ref:.2f}")
    table.add_row("exact, outer (dual bounds)", f"{wall:.0f} s", f"{np.mean(outer_w):.4f}", f"{outer_w.min():.4f}",
                  f"{outer_w.max():.4f}", f"{np.mean(outer_w) / ref:.2f}")
    table.add_row("exact, inner (reached)", "", f"{ref:.4f}", f"{inner_w.min():.4f}", f"{inner_w.max():.4f}", "1.00")
    console.print(table)
    counts = {s: statuses.count(s) for s in sorted(set(statuses))}
    console.print(f"MILPs: {counts}; {wall:.0f} s wall, {cpu:.0f} s CPU of this process (solver threads included), "
                  f"median {np.median(ex['time']):.2f} s, max {ex['time'].max():.1f} s; big-Ms from alpha-CROWN of "
                  f"the cut network ({ex['bounds_time']:.2f} s); inner estimate from {len(ex['points'])} incumbents "
                  f"and {vertices} random vertices")
    if not_optimal:
        console.print(f"not optimal (dual bound used for the outer estimate): {not_optimal}")
    if len(neurons) < n_k:
        se = np.std(inner_w, ddof=1) / np.sqrt(len(neurons))
        console.print(f"sample of {len(neurons)} neurons: the inner mean width {ref:.4f} estimates the layer's mean "
                      f"with a standard error of {se:.4f} (sample range {inner_w.min():.4f} to {inner_w.max():.4f})")
    verdict = "above" if ref > target else "not above"
    console.print(f"5x target: interval mean width {np.mean(widths['interval']):.4f} / 5 = {target:.4f}; the exact "
                  f"mean width is at least {ref:.4f} (inner) and at most {np.mean(outer_w):.4f} (outer): {verdict} the "
                  "target" + (", so no sound method can reach it" if ref > target and len(neurons) == n_k else ""))
    if json_path is not None:
        json_path.write_text(json.dumps({
            "network": network_path.name, "property": prop.name, "layer": layer, "neurons": neurons.tolist(),
            "time_limit": time_limit, "wall_s": wall, "cpu_s": cpu, "milp_status": ex["status"],
            "milp_time_s": ex["time"].tolist(), "outer_lo": ex["outer_lo"].tolist(),
            "outer_hi": ex["outer_hi"].tolist(), "inner_lo": inner_lo.tolist(), "inner_hi": inner_hi.tolist(),
            **{f"{m}_width": widths[m][neurons].tolist() for m in widths},
            "mean_width": {**{m: float(np.mean(widths[m][neurons])) for m in widths}, "exact_outer":
                           float(np.mean(outer_w)), "exact_inner": ref},
        }, indent=1))
        console.print(f"wrote {json_path}")


if __name__ == "__main__":
    typer.run(main)
