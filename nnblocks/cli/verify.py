"""``nnblocks verify NET PROP``: decide a VNN-LIB property of a network, write VNN-COMP's result file.

Exit codes: 0 for a decided answer (``sat`` with a counterexample re-checked by a float64 forward pass, or
``unsat``), 1 for ``timeout`` or ``error`` (nothing is claimed), 2 for bad input (a missing or unreadable
network or property file, a malformed VNN-LIB file, an unknown solver; one line on stderr).
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from nnblocks.cli import EXIT_NO_SOLUTION, app, check_time_limit, usage_errors

_console = Console()


def check_output(path: Path | None, option: str) -> None:
    """Fail before any work when ``path`` cannot be written (a directory, no such or no writable folder)."""
    if path is None:
        return
    if path.is_dir():
        raise typer.BadParameter(f"{path} is a directory, expected a file path", param_hint=f"'{option}'")
    if not path.parent.is_dir():
        raise typer.BadParameter(f"cannot write {path}: directory {path.parent} does not exist",
                                 param_hint=f"'{option}'")
    if not os.access(path.parent, os.W_OK):
        raise typer.BadParameter(f"cannot write {path}: directory {path.parent} is not writable",
                                 param_hint=f"'{option}'")


def check_solver(solver: str | None) -> None:
    if solver is not None:
        from nnblocks.solve import check_solver as _check

        with usage_errors("--solver"):
            _check(solver)


def check_timeout(timeout: float, option: str = "--timeout") -> float:
    """A finite positive number of seconds."""
    limit = check_time_limit(timeout, option)
    if limit is None:
        raise typer.BadParameter(f"needs a finite number of seconds, got {timeout}", param_hint=f"'{option}'")
    return limit


def _existing(path: Path, what: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, f"{what} file not found", str(path))
    return path


def load_instance(network: str | Path, prop: str | Path) -> tuple[Any, Any]:
    """The network (a file, or a shipped name) and its property read with the network's input and output sizes.

    Missing files raise FileNotFoundError and malformed properties SpecError (one line naming file, line and
    token), which the command line reports as bad input.
    """
    from nnblocks.cli.models import network_path, shipped_networks
    from nnblocks.io import load_network
    from nnblocks.spec import read_vnnlib

    net_path = Path(network)
    if not net_path.exists() and net_path.stem not in shipped_networks():
        _existing(net_path, "network")
    net = load_network(network_path(net_path))
    spec = read_vnnlib(_existing(Path(prop), "property"), n_inputs=net.n_inputs, n_outputs=net.n_outputs)
    return net, spec


def violation(spec: Any, disjunct: int, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The largest violation of the input set and of the output rows of ``spec.disjuncts[disjunct]`` at ``x``,
    ``y`` (<= 0: every row holds; ``Spec.counterexample_check`` adds its tolerance to this)."""
    d = spec.disjuncts[disjunct]
    parts = [d.lower - x, x - d.upper]
    if d.input_A.shape[0]:
        parts.append(d.input_A @ x - d.input_b)
    if d.ball is not None:
        center, radius, norm = d.ball
        parts.append(np.atleast_1d(np.linalg.norm(x - center, ord=np.inf if norm == "inf" else norm) - radius))
    out = d.output_A @ y - d.output_b if d.output_A.shape[0] else np.zeros(1)
    return float(np.max(np.concatenate(parts))), float(np.max(out))


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _summary(result: Any, spec: Any, net_name: str, prop_name: str) -> None:
    table = Table(title=f"verify {net_name} {prop_name}")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    rows = [("status", result.status.value), ("stage", result.stage), ("time (s)", result.time),
            ("disjuncts", len(spec.disjuncts)), ("refuted", len(result.refuted))]
    if result.message:
        rows.append(("message", result.message))
    for k, v in rows:
        table.add_row(k, _fmt(v))
    _console.print(table)
    stages = Table(title="stages")
    for column in ("stage", "outcome", "time (s)", "counts", "note"):
        stages.add_column(column, justify="right" if column == "time (s)" else "left", overflow="fold")
    for st in result.stages:
        counts = ", ".join(f"{k}={_fmt(v)}" for k, v in st.counts.items() if not isinstance(v, list | dict))
        stages.add_row(st.stage, st.outcome, f"{st.time:.3f}", counts or "-", st.note or "")
    _console.print(stages)


def _recheck(net: Any, spec: Any, result: Any) -> tuple[np.ndarray, bool]:
    """The counterexample's outputs by a float64 forward pass and whether they satisfy a disjunct of the spec
    (within its tolerance); the largest violations are printed."""
    x = np.asarray(result.x, dtype=np.float64).ravel()
    y = np.asarray(net.forward(x.reshape(1, -1)), dtype=np.float64).ravel()
    k = spec.counterexample_check(x, y)
    disjunct = result.disjunct if result.disjunct is not None else (k if k is not None else 0)
    v_in, v_out = violation(spec, disjunct, x, y)
    word = "[green]confirmed[/green]" if k is not None else "[red]NOT confirmed[/red]"
    _console.print(f"counterexample {word} by a float64 forward pass: disjunct {disjunct}, max violation "
                   f"input {v_in:.3g}, output {v_out:.3g} (<= 0: every row holds), "
                   f"max |y - y_verify| = {float(np.max(np.abs(y - np.ravel(result.y)))):.3g}")
    return y, k is not None


@app.command("verify")
def verify_command(
    network: Annotated[str, typer.Argument(metavar="NET", help="Network: .onnx (or .npz) file or shipped name.")],
    prop: Annotated[str, typer.Argument(metavar="PROP", help="Property: VNN-LIB file (.vnnlib or .vnnlib.gz).")],
    timeout: Annotated[float, typer.Option(help="Seconds for all stages together.")] = 60.0,
    solver: Annotated[str | None, typer.Option(help="MILP stage's solver (default by problem class: "
                                               "nnblocks solvers).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write VNN-COMP's result file (sat/unsat/timeout/error, then "
                                             "the counterexample).")] = None,
    stages: Annotated[str, typer.Option(help="Stages to run, comma-separated, of falsify,bounds,branch,milp.")
                      ] = "falsify,bounds,branch,milp",
    seed: Annotated[int, typer.Option(help="Seed of the falsification's sampling.")] = 0,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the full result as JSON.")] = None,
) -> None:
    """Decide a VNN-LIB property: sat (a counterexample, re-checked), unsat (proved), timeout or error.

    Exit code 0 for sat or unsat, 1 for timeout or error, 2 for bad input.
    """
    from nnblocks.spec import write_result
    from nnblocks.verify import VerifyStatus, verify

    limit = check_timeout(timeout)
    check_solver(solver)
    check_output(out, "--out")
    check_output(json_path, "--json")
    net, spec = load_instance(network, prop)
    with _console.status("verifying ..."), usage_errors(flags={"stages": "--stages", "seed": "--seed"}):
        result = verify(net, spec, time_limit=limit, solver=solver, stages=stages, seed=seed)
    _summary(result, spec, Path(network).name, Path(prop).name)
    answer = result.status.value
    decided = result.decided
    if result.status is VerifyStatus.SAT:
        y, confirmed = _recheck(net, spec, result)
        if not confirmed:  # never a sat without a confirmed counterexample
            answer, decided = "unknown", False
    if out is not None:
        if answer == "sat":
            write_result(out, answer, result.x, y)
        else:
            write_result(out, answer)
        _console.print(f"wrote {out}")
    if json_path is not None:
        json_path.write_text(json.dumps(result.as_dict(), indent=1, allow_nan=False))
        _console.print(f"wrote {json_path}")
    if not decided:
        raise typer.Exit(EXIT_NO_SOLUTION)
