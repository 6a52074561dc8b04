"""``nnblocks batch INSTANCES.csv --out results.csv``: VNN-COMP instance lists, resumable, on many processes or
a Dask cluster.

The instance list has rows ``onnx,vnnlib,timeout`` (VNN-COMP's ``instances.csv``; paths relative to the list's
folder, an optional header row). Each instance becomes one row of the result file (CSV, or JSON lines for
``.jsonl``): ``onnx``, ``vnnlib``, ``timeout``, ``answer`` (sat/unsat/timeout/error), ``time``, ``stage``,
``counterexample`` (the VNN-COMP result file of a sat answer, in the folder ``<out stem>_counterexamples``
beside the result file, relative to it) and ``message``, with the runner's ``key``, ``task_status`` and
``wall_time`` (see :func:`nnblocks.batch.run_batch`). A second run on the same result file does only the
instances without a row.

Exit codes: 0 when every instance has a decided answer (sat or unsat), 1 when some ended with timeout or
error, 2 for bad input (a missing or malformed instance list, an unknown solver).
"""

from __future__ import annotations

import csv
import functools
import hashlib
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from nnblocks.cli import EXIT_NO_SOLUTION, app
from nnblocks.cli.verify import check_output, check_solver, check_timeout

_console = Console()

GRACE = 10.0
"""Seconds past an instance's timeout after which the runner interrupts it (verify keeps its own limit)."""


def read_instances(path: Path) -> list[tuple[str, str, float]]:
    """The rows ``(onnx, vnnlib, timeout)`` of a VNN-COMP instance list; ValueError naming file and line for
    anything else (a header row ``onnx,vnnlib,timeout`` is skipped)."""
    if not path.is_file():
        raise FileNotFoundError(2, "instance list not found", str(path))
    rows = []
    with path.open(newline="", encoding="utf-8") as f:
        for n, row in enumerate(csv.reader(f), start=1):
            cells = [c.strip() for c in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if len(cells) != 3:
                raise ValueError(f"{path}:{n}: expected 3 columns onnx,vnnlib,timeout, got {len(cells)}")
            try:
                timeout = float(cells[2])
            except ValueError:
                if not rows and cells[2].lower() == "timeout":
                    continue  # the header row
                raise ValueError(f"{path}:{n}: the timeout {cells[2]!r} is not a number") from None
            if not timeout > 0:
                raise ValueError(f"{path}:{n}: the timeout must be a positive number of seconds, got {cells[2]}")
            rows.append((cells[0], cells[1], timeout))
    if not rows:
        raise ValueError(f"{path}: no instances (expected rows onnx,vnnlib,timeout)")
    return rows


def _instance_key(onnx: str, vnnlib: str) -> str:
    return f"{onnx}|{vnnlib}"


def verify_instance(task: dict[str, Any], solver: str | None, counterexamples: str) -> dict[str, Any]:
    """One instance: verify, and for sat the VNN-COMP result file in ``counterexamples`` (module level, so that
    process and Dask workers can run it)."""
    from nnblocks.cli.verify import load_instance
    from nnblocks.spec import write_result
    from nnblocks.verify import VerifyStatus, verify

    net, spec = load_instance(task["onnx_path"], task["vnnlib_path"])
    result = verify(net, spec, time_limit=task["time_limit"], solver=solver)
    row = {"onnx": task["onnx"], "vnnlib": task["vnnlib"], "timeout": task["time_limit"],
           "answer": result.status.value, "time": result.time, "stage": result.stage, "counterexample": None,
           "message": result.message}
    if result.status is VerifyStatus.SAT:
        folder = Path(counterexamples)
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha1(task["key"].encode()).hexdigest()[:8]
        name = f"{Path(task['onnx']).stem}__{Path(task['vnnlib']).name.split('.')[0]}__{digest}.counterexample"
        write_result(folder / name, "sat", result.x, result.y)
        row["counterexample"] = f"{folder.name}/{name}"
    return row


def _failure_row(task: dict[str, Any], status: str, message: str) -> dict[str, Any]:
    return {"onnx": task["onnx"], "vnnlib": task["vnnlib"], "timeout": task["time_limit"], "answer": status,
            "time": None, "stage": None, "counterexample": None}


def _hard_limit(task: dict[str, Any]) -> float:
    return task["time_limit"] + max(GRACE, 0.5 * task["time_limit"])


@app.command("batch")
def batch_command(
    instances: Annotated[Path, typer.Argument(metavar="INSTANCES.csv",
                                              help="Instance list: rows onnx,vnnlib,timeout (paths relative to it).")],
    out: Annotated[Path, typer.Option(help="Result file: .csv, or .jsonl for JSON lines.")] = Path("results.csv"),
    workers: Annotated[int, typer.Option(help="Processes to spread the instances over.")] = 1,
    dask: Annotated[str | None, typer.Option(help="Dask scheduler address (tcp://host:8786) to run on instead.")
                    ] = None,
    timeout_cap: Annotated[float | None, typer.Option(help="At most this many seconds per instance.")] = None,
    solver: Annotated[str | None, typer.Option(help="MILP stage's solver (default by problem class: "
                                               "nnblocks solvers).")] = None,
    rerun: Annotated[str, typer.Option(help="Run again the instances whose rows have these task statuses "
                                       "(comma-separated: error,timeout).")] = "",
    progress: Annotated[bool, typer.Option(help="Show a progress bar (on stderr).")] = True,
) -> None:
    """Verify every instance of a VNN-COMP instance list; resumes a previous run of the same result file.

    Exit code 0 when every instance is decided (sat or unsat), 1 when some are not, 2 for bad input.
    """
    from nnblocks.batch import run_batch

    cap = None if timeout_cap is None else check_timeout(timeout_cap, "--timeout-cap")
    check_solver(solver)
    check_output(out, "--out")
    if workers < 1:
        raise typer.BadParameter(f"needs at least 1 worker, got {workers}", param_hint="'--workers'")
    if dask is not None and workers != 1:
        raise typer.BadParameter("give --workers or --dask, not both", param_hint="'--workers'")
    statuses = [s.strip() for s in rerun.split(",") if s.strip()]
    bad = [s for s in statuses if s not in ("ok", "error", "timeout")]
    if bad:
        raise typer.BadParameter(f"unknown task status {bad[0]!r}: use ok, error or timeout", param_hint="'--rerun'")
    root = instances.resolve().parent
    tasks = []
    for onnx, vnnlib, timeout in read_instances(instances):
        tasks.append({"key": _instance_key(onnx, vnnlib), "onnx": onnx, "vnnlib": vnnlib,
                      "onnx_path": str(root / onnx), "vnnlib_path": str(root / vnnlib),
                      "time_limit": timeout if cap is None else min(timeout, cap)})
    counterexamples = out.resolve().parent / f"{out.stem}_counterexamples"
    fn = functools.partial(verify_instance, solver=solver, counterexamples=str(counterexamples))
    result = run_batch(tasks, fn, out, workers=workers, dask=dask, time_limit=_hard_limit, progress=progress,
                       rerun=statuses, on_failure=_failure_row, description=f"{instances.name}")
    keys = {t["key"] for t in tasks}
    answers = Counter(str(r.get("answer")) for r in result.rows if r.get("key") in keys)
    table = Table(title=f"{instances.name}: {len(tasks)} instances ({result.ran} run now, {result.skipped} done "
                        f"before)")
    table.add_column("answer")
    table.add_column("instances", justify="right")
    for answer in ("sat", "unsat", "timeout", "error", "unknown"):
        if answers.get(answer):
            table.add_row(answer, str(answers[answer]))
    _console.print(table)
    _console.print(f"wrote {out}")
    if answers.get("sat", 0) + answers.get("unsat", 0) < len(tasks):
        raise typer.Exit(EXIT_NO_SOLUTION)
