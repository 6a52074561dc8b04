"""``nnblocks robust obj|feas|path``: robust problems of Goerigk & Kurtz on network and data files.

The uncertainty set is chosen by ``--method``:

* ``nn``: U = {c : ||f(c) - c_bar|| <= R} from ``--network`` (.npz/.onnx, or the comma-separated weight text
  files W1,W2,... of the ro-dnn format) and ``--center``; R is the ``--quantile`` of the training radii;
* ``kernel``: the SVC set fitted on the training data with nu = 1 - quantile (or ``--kernel-files``);
* ``discrete``: the training scenarios themselves.

``--time-limit`` covers the solve from building the set to the final evaluation of the worst case. Exit codes:
0 with a solution x (its status is printed: ``robust_optimal``, or ``time_limit`` / ``iteration_limit`` /
``stalled`` for a solution not proved robust), 1 without one (infeasible, a solver failure, no path), 2 for bad
input. ``--plot`` is written whatever the status.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from nnblocks.cli import EXIT_NO_SOLUTION, app, usage_errors
from nnblocks.cli.models import network_path

robust_app = typer.Typer(help="Robust optimization over data-driven uncertainty sets (Goerigk & Kurtz).",
                         no_args_is_help=True)
app.add_typer(robust_app, name="robust")

_METHODS = ("nn", "kernel", "discrete")

# The library's parameter names and the flags that set them: an error naming one is reported for its flag.
_FLAGS = {"q": "--quantile", "nu": "--quantile", "quantile": "--quantile", "rhs": "--rhs", "RHS^obj": "--rhs",
          "tol": "--tol", "time_limit": "--time-limit", "solver": "--solver", "center": "--center",
          "data": "--data", "source": "--source", "sink": "--sink"}


def _matrix(path: Path, option: str = "--data") -> np.ndarray:
    """A finite table of numbers from a .npy file or a text file of comma- (or semicolon-) separated rows."""
    if not path.exists():
        raise typer.BadParameter(f"file not found: {path}", param_hint=option)
    if path.suffix == ".npy":
        try:
            M = np.atleast_2d(np.load(path)).astype(float)
        except (ValueError, TypeError, OSError) as exc:
            raise typer.BadParameter(f"{path}: not a numeric .npy array ({exc})", param_hint=option) from None
        if M.ndim != 2:
            raise typer.BadParameter(f"{path}: expected a 2-D array, got shape {M.shape}", param_hint=option)
        lines = list(range(M.shape[0]))
        where = "row"
    else:
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            raise typer.BadParameter(f"{path}: not a text file of numbers", param_hint=option) from None
        rows, lines = [], []
        for lineno, line in enumerate(text.replace(";", ",").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append([float(v) for v in line.split(",") if v.strip()])
            except ValueError:
                raise typer.BadParameter(
                    f"{path}, line {lineno}: expected comma-separated numbers, got {line.strip()[:80]!r}",
                    param_hint=option,
                ) from None
            lines.append(lineno)
        if not rows:
            raise typer.BadParameter(f"{path}: expected a rectangular table of numbers (comma-separated rows), "
                                     "the file is empty", param_hint=option)
        ragged = next((k for k, r in enumerate(rows) if len(r) != len(rows[0])), None)
        if ragged is not None:
            raise typer.BadParameter(
                f"{path}: expected a rectangular table of numbers (comma-separated rows): line {lines[ragged]} has "
                f"{len(rows[ragged])} values, line {lines[0]} has {len(rows[0])}",
                param_hint=option,
            )
        M = np.asarray(rows, dtype=float)
        where = "line"
    bad = np.argwhere(~np.isfinite(M))
    if bad.size:
        r, c = (int(v) for v in bad[0])
        raise typer.BadParameter(f"{path}: NaN or infinite value in {where} {lines[r]}, column {c + 1}",
                                 param_hint=option)
    return M


def _columns(M: np.ndarray, expected: int, path: Path, option: str, what: str) -> None:
    if M.shape[1] != expected:
        raise typer.BadParameter(f"{path} has {M.shape[1]} columns, expected {expected} ({what})", param_hint=option)


def _check_options(solver: str, tol: float, time_limit: float | None, quantile: float | None = None,
                   method: str | None = None, write_model: Path | None = None, json_out: Path | None = None,
                   plot: Path | None = None) -> None:
    """Solver name, tolerance, time limit, quantile and output paths, checked before any data is read or solve
    started."""
    from nnblocks._validate import nonnegative
    from nnblocks._validate import time_limit as _check_time_limit
    from nnblocks.cli.adversarial import _check_outputs
    from nnblocks.solve import check_solver

    with usage_errors("--solver"):
        check_solver(solver)
    with usage_errors("--tol"):
        nonnegative(tol, "tol")
    with usage_errors("--time-limit"):
        _check_time_limit(time_limit)
    if method is not None and method not in _METHODS:
        raise typer.BadParameter(f"unknown method {method!r}: use one of {', '.join(_METHODS)}",
                                 param_hint="'--method'")
    if quantile is not None:
        upper_open = method == "kernel"  # the Kernel set needs nu = 1 - quantile > 0
        if not (0.0 <= quantile < 1.0 if upper_open else 0.0 <= quantile <= 1.0):
            interval = "[0, 1)" if upper_open else "[0, 1]"
            raise typer.BadParameter(f"the share of training data inside the set must lie in {interval}, got "
                                     f"{quantile}", param_hint="'--quantile'")
    _check_outputs(write_model, json_out, plot)


def _network(spec: str, center: Path | None) -> tuple[Any, np.ndarray]:
    parts = spec.split(",")
    if len(parts) == 1:  # one .npz/.onnx file or a shipped name
        files = [network_path(parts[0], "--network")]
    else:
        files = [Path(p) for p in parts]
        for f in files:
            if not f.exists():
                raise typer.BadParameter(f"network file not found: {f}", param_hint="'--network'")
    if center is None:
        raise typer.BadParameter("--center is required with --method nn", param_hint="'--center'")
    if len(files) == 1 and files[0].suffix in (".npz", ".onnx"):
        from nnblocks.io import load_network

        with usage_errors("--network"):
            net = load_network(files[0])
        c_bar = _matrix(center, "--center").ravel()
    else:
        from nnblocks.datasets.ro_dnn import load_ro_dnn_network

        net, c_bar = load_ro_dnn_network(files, center)
    return net, c_bar


def _uncertainty_set(method: str, train: np.ndarray, quantile: float, network: str | None, center: Path | None,
                     kernel_files: str | None, nonnegative: bool) -> Any:
    from nnblocks.robust import DiscreteUncertaintySet, KernelUncertaintySet, NetworkUncertaintySet

    if method not in _METHODS:
        raise typer.BadParameter(f"unknown method {method!r}: use one of {', '.join(_METHODS)}")
    if method == "discrete":
        return DiscreteUncertaintySet(train)
    if method == "kernel":
        lower = 0.0 if nonnegative else None
        if kernel_files:
            parts = [Path(p) for p in kernel_files.split(",")]
            if len(parts) != 4:
                raise typer.BadParameter("--kernel-files takes alphas,sv,q,theta (four paths)")
            with usage_errors("--kernel-files"):
                return KernelUncertaintySet.from_files(*parts, train, lower=lower)
        with usage_errors(flags=_FLAGS):
            return KernelUncertaintySet.fit(train, q=quantile, lower=lower)
    if network is None:
        raise typer.BadParameter("--network is required with --method nn", param_hint="'--network'")
    net, c_bar = _network(network, center)
    with usage_errors(flags=_FLAGS):
        return NetworkUncertaintySet.from_quantile(net, c_bar, train, quantile)


def _report(sol: Any, test: np.ndarray | None, level: float, rhs: float | None, json_path: Path | None,
            extra: dict) -> Any:
    from nnblocks.robust import out_of_sample

    oos = None
    if test is not None and sol.x is not None:
        oos = out_of_sample(sol.x, test, level=level, rhs=rhs, atol=0.01 if rhs is not None else 1e-6)
    console = Console()
    table = Table(title=f"robust {sol.problem} ({extra.get('method')})")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    rows = [("status", sol.status), ("certified worst case", str(sol.certified)),
            ("objective", f"{sol.objective:.6g}" if sol.objective is not None else "-"),
            ("worst-case c'x at x", f"{sol.robust_value:.6g}" if sol.robust_value is not None else "-"),
            ("iterations", str(sol.iterations)), ("time (s)", f"{sol.time:.2f}")]
    if oos is not None:
        rows += [("out-of-sample mean", f"{oos.mean:.6g}"),
                 (f"out-of-sample {int(round(level * 100))}% quantile", f"{oos.quantile:.6g}")]
        if oos.feasible_share is not None:
            rows.append(("feasible share (test)", f"{oos.feasible_share:.4f}"))
    if sol.arcs is not None:
        rows += [("arcs", " ".join(map(str, sol.arcs))), ("nodes", " ".join(map(str, sol.nodes or [])))]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
    if sol.message:
        console.print(f"[yellow]{sol.message}[/yellow]")
    if json_path is not None:
        rec = {"experiment": sol.problem, **extra, "status": sol.status, "certified": sol.certified,
               "x": sol.arcs if sol.arcs is not None else (None if sol.x is None else sol.x.tolist()),
               "objective": sol.objective, "robust_value": sol.robust_value, "time_s": sol.time,
               "iterations": sol.iterations, "message": sol.message}
        if oos is not None:
            rec.update(oos.as_dict())
        json_path.write_text(json.dumps(rec, indent=1))
        console.print(f"wrote {json_path}")
    return oos


def _exit_code(sol: Any) -> None:
    """Exit 1 without a solution x (or for arcs that form no path); 0 otherwise, with the status printed."""
    from nnblocks.robust.problems import NOT_A_PATH

    if sol.x is None or sol.status == NOT_A_PATH:
        raise typer.Exit(EXIT_NO_SOLUTION)


def _remaining(time_limit: float | None, start: float) -> float | None:
    """The time left of ``--time-limit`` after the set was built (at least a millisecond)."""
    return None if time_limit is None else max(time_limit - (time.perf_counter() - start), 1e-3)


_NETWORK = typer.Option(None, help="Network: .npz/.onnx, or comma-separated ro-dnn weight files W1,W2,W3.")
_CENTER = typer.Option(None, help="Center c_bar (text or .npy) for --method nn.")
_TRAIN = typer.Option(..., "--data", help="Training scenarios, one comma-separated row per scenario.")
_TEST = typer.Option(None, "--test", help="Test scenarios for the out-of-sample evaluation.")
_METHOD = typer.Option("nn", help="Uncertainty set: nn, kernel or discrete.")
_QUANTILE = typer.Option(0.9, help="Share of training data inside the set (NN radius quantile; Kernel 1 - nu).")
_KFILES = typer.Option(None, help="Kernel: alphas,sv,q,theta files instead of fitting.")
_ORACLE = typer.Option("patterns", help="NN adversarial problem: patterns or exact.")
_SOLVER = typer.Option("appsi_highs", help="Solver of the master / counterpart (any Pyomo name).")
_JSON = typer.Option(None, "--json", help="Write the result as JSON.")
_PLOT = typer.Option(None, help="Write a PNG (2-D level sets or out-of-sample histogram; the path for 'path').")
_TOL = typer.Option(1e-3, help="Relative tolerance of scenario generation.")
_TLIM = typer.Option(None, help="Time limit in seconds: building the set, the solve and the final worst case.")
_TEE = typer.Option(False, "--tee", help="Show the solver's log (master or counterpart solves; exact oracle).")
_WRITE = typer.Option(None, "--write-model", help="Write the model of the final solve to PATH.lp or PATH.mps.")
_GRAPH = typer.Option(..., help="Arc list: one 'tail;head' (or tail,head) line per arc; line j = arc j.")
_SOURCE = typer.Option(..., help="Source node.")
_SINK = typer.Option(..., help="Sink node.")
_QUANTILE_PATH = typer.Option(0.95, help="Share of training data inside U.")


def _oracle(method: str, oracle: str, tee: bool = False) -> dict:
    if oracle not in ("patterns", "exact"):
        raise typer.BadParameter(f"--oracle must be patterns or exact, got {oracle!r}", param_hint="'--oracle'")
    if method != "nn":
        return {}
    return {"method": oracle, "tee": True} if tee and oracle == "exact" else {"method": oracle}


def _check_plot(plot: Path | None, dim: int, test: Path | None) -> None:
    if plot is not None and dim != 2 and test is None:
        raise typer.BadParameter(f"the plot shows a 2-D set or the out-of-sample values of --test: the data has "
                                 f"{dim} columns and no --test was given", param_hint="'--plot'")


def _save_plot(plot: Path, U: Any, train: np.ndarray, sol: Any, oos: Any, level: float, label: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nnblocks.plot.robust import plot_level_sets, plot_out_of_sample

    panels = (U.dim == 2) + (oos is not None)
    if not panels:  # --test was given but there is no solution to evaluate on it
        Console().print(f"[yellow]no plot written to {plot}: no solution to evaluate on the test data[/yellow]")
        return
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.3), squeeze=False)
    k = 0
    if U.dim == 2:
        scen = sol.scenario_result.scenarios.get("objective") if sol.scenario_result else None
        if scen is None and sol.scenario_result is not None:
            scen = sol.scenario_result.scenarios.get("uncertain")
        plot_level_sets(U, train, ax=axes[0, 0], scenarios=scen or None)
        k = 1
    if oos is not None:
        plot_out_of_sample({label: oos}, level=level, ax=axes[0, k])
    fig.tight_layout()
    fig.savefig(plot, dpi=120)
    plt.close(fig)
    Console().print(f"wrote {plot}")


@robust_app.command()
def obj(
    data: Path = _TRAIN, test: Path | None = _TEST, method: str = _METHOD, network: str | None = _NETWORK,
    center: Path | None = _CENTER, quantile: float = _QUANTILE, kernel_files: str | None = _KFILES,
    rhs: float | None = typer.Option(None, help="Budget sum x = RHS (default n/2)."), oracle: str = _ORACLE,
    solver: str = _SOLVER, tol: float = _TOL, time_limit: float | None = _TLIM, tee: bool = _TEE,
    write_model: Path | None = _WRITE, json_out: Path | None = _JSON, plot: Path | None = _PLOT,
) -> None:
    """(Obj): min_x max_{c in U} c'x s.t. sum x = RHS, x in [-1, 1]^n."""
    from nnblocks.robust import robust_obj

    _solve_and_report(robust_obj, data=data, test=test, method=method, network=network, center=center,
                      quantile=quantile, kernel_files=kernel_files, rhs=rhs, oracle=oracle, solver=solver, tol=tol,
                      time_limit=time_limit, tee=tee, write_model=write_model, json_out=json_out, plot=plot,
                      level=quantile, feas_rhs=None)


@robust_app.command()
def feas(
    data: Path = _TRAIN, test: Path | None = _TEST, method: str = _METHOD, network: str | None = _NETWORK,
    center: Path | None = _CENTER, quantile: float = _QUANTILE, kernel_files: str | None = _KFILES,
    rhs: float = typer.Option(0.0, help="Right-hand side of c'x <= RHS."), oracle: str = _ORACLE,
    solver: str = _SOLVER, tol: float = _TOL, time_limit: float | None = _TLIM, tee: bool = _TEE,
    write_model: Path | None = _WRITE, json_out: Path | None = _JSON, plot: Path | None = _PLOT,
) -> None:
    """(Feas): max_x sum x s.t. c'x <= RHS for all c in U, x in [-1, 1]^n."""
    from nnblocks.robust import robust_feas

    _solve_and_report(robust_feas, data=data, test=test, method=method, network=network, center=center,
                      quantile=quantile, kernel_files=kernel_files, rhs=rhs, oracle=oracle, solver=solver, tol=tol,
                      time_limit=time_limit, tee=tee, write_model=write_model, json_out=json_out, plot=plot,
                      level=0.9, feas_rhs=rhs)


def _solve_and_report(builder, *, data, test, method, network, center, quantile, kernel_files, rhs, oracle, solver,
                      tol, time_limit, tee, write_model, json_out, plot, level: float, feas_rhs: float | None) -> None:
    """Shared body of ``obj`` and ``feas``: the set, the robust solution, the report and the plot.

    Every input is checked before the solve, so that a long solve is not lost to a bad file or option.
    """
    _check_options(solver, tol, time_limit, quantile, method, write_model, json_out, plot)
    oracle_options = _oracle(method, oracle, tee)
    train = _matrix(data, "--data")
    tst = _matrix(test, "--test") if test else None
    if tst is not None:
        _columns(tst, train.shape[1], test, "--test", f"one value per column of the training data {data}")
    _check_plot(plot, train.shape[1], test)
    start = time.perf_counter()
    U = _uncertainty_set(method, train, quantile, network, center, kernel_files, False)
    with usage_errors(flags=_FLAGS):
        sol = builder(U, rhs=rhs, solver=solver, tol=tol, time_limit=_remaining(time_limit, start), progress=True,
                      oracle_options=oracle_options, tee=tee, write_model=write_model)
    if write_model is not None:
        Console().print(f"wrote {write_model}")
    oos = _report(sol, tst, level, feas_rhs, json_out, {"method": method, "quantile": quantile, "rhs": rhs})
    if plot:
        _save_plot(plot, U, train, sol, oos, level, method)
    _exit_code(sol)


@robust_app.command()
def path(
    graph: Path = _GRAPH, source: int = _SOURCE, sink: int = _SINK,
    data: Path = _TRAIN, test: Path | None = _TEST, method: str = _METHOD, network: str | None = _NETWORK,
    center: Path | None = _CENTER, quantile: float = _QUANTILE_PATH,
    kernel_files: str | None = _KFILES, oracle: str = _ORACLE, solver: str = _SOLVER, tol: float = _TOL,
    time_limit: float | None = _TLIM, tee: bool = _TEE, write_model: Path | None = _WRITE,
    json_out: Path | None = _JSON, plot: Path | None = _PLOT,
) -> None:
    """Robust shortest path: min over source-sink paths of max_{c in U} sum of the arc costs."""
    import networkx as nx

    from nnblocks.robust import robust_shortest_path

    _check_options(solver, tol, time_limit, quantile, method, write_model, json_out, plot)
    oracle_options = _oracle(method, oracle, tee)
    table = _matrix(graph, "--graph")
    if table.shape[1] != 2 or not np.array_equal(table, np.round(table)):
        raise typer.BadParameter(f"{graph}: expected two integer node labels 'tail;head' per line",
                                 param_hint="'--graph'")
    arcs = table.astype(int)
    g = nx.MultiDiGraph()
    g.add_edges_from((int(t), int(h), j, {"index": j}) for j, (t, h) in enumerate(arcs))
    for node, option in ((source, "--source"), (sink, "--sink")):
        if node not in g:
            raise typer.BadParameter(f"node {node} is not in the graph {graph}", param_hint=f"'{option}'")
    train = _matrix(data, "--data")
    _columns(train, len(arcs), data, "--data", f"one cost per arc of {graph}")
    tst = _matrix(test, "--test") if test else None
    if tst is not None:
        _columns(tst, len(arcs), test, "--test", f"one cost per arc of {graph}")
    start = time.perf_counter()
    U = _uncertainty_set(method, train, quantile, network, center, kernel_files, True)
    with usage_errors(flags=_FLAGS):
        sol = robust_shortest_path(g, U, source, sink, solver=solver, tol=tol,
                                   time_limit=_remaining(time_limit, start), progress=True,
                                   oracle_options=oracle_options, tee=tee, write_model=write_model)
    if write_model is not None:
        Console().print(f"wrote {write_model}")
    _report(sol, tst, quantile, None, json_out, {"method": method, "quantile": quantile, "source": source,
                                                  "sink": sink})
    if plot:  # the graph, with the chosen arcs when there are any
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from nnblocks.plot.robust import plot_path

        fig, ax = plt.subplots(figsize=(6, 6))
        plot_path(g, sol.arcs, source, sink, ax=ax, title=f"robust path {source}-{sink} ({method})")
        fig.savefig(plot, dpi=120)
        plt.close(fig)
        Console().print(f"wrote {plot}")
    _exit_code(sol)
