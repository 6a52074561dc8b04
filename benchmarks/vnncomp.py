"""nnblocks.verify on VNN-COMP benchmark folders, compared with the competition's published answers and times.

    python benchmarks/vnncomp.py --benchmarks acasxu,mnistfc --timeout 60 --json PATH [--data DIR]

Each folder of ``--data`` (default ``../shared/data/vnncomp``) holds ``instances.csv`` (``onnx,vnnlib,timeout``
rows, VNN-COMP's format) and ``published.csv`` (per instance the answer the competition's tools agreed on and the
fastest published wall time). Per instance the run gives the answer, the published answer, the time (network and
specification reading included, as the published times include tool start-up), the stage that decided and the
ratio of the time to the fastest published time; per benchmark the number decided, the number of wrong answers
(a decided answer that contradicts a published sat/unsat) and the median ratio over the decided instances.
The time limit of an instance is the competition's, capped by ``--timeout``. Networks the importer gives as a
graph of operations (convolutions, pooling, residual sums) are verified as graphs; a network that nnblocks
cannot import is a row "refused: <error>", not a crash. The published times were measured on the competition's
machines (16+ cores or a GPU); compare as ratios.

Where the ``maraboupy`` package imports (``pip install ".[benchmark]"``), ``--marabou`` (on by default then) runs
Marabou on the same instances in the same run, right after nnblocks on each, as a comparison on the same machine:
the network read by ``Marabou.read_onnx``, the property by Marabou's own VNN-LIB parser
(``MarabouCore.loadProperty``), solved with Marabou's default options on one worker and one BLAS thread, its
time limit the instance's (whole seconds, rounded up). Each Marabou run is a child process killed at the time
limit plus ``--marabou-grace`` seconds, so that a crash or a hang is a row ("error: ...", "timeout (killed)")
and not the end of the run. Its time is measured like nnblocks's, from reading the network to the answer (the
interpreter's start and the import of maraboupy not included). A Marabou counterexample is re-checked by a
float64 forward pass of nnblocks's import of the network against nnblocks's reading of the property (column
"cex": ok or failed); its answers are compared with the published ones as nnblocks's are.
"""

from __future__ import annotations

import os

# One BLAS thread: the bounds are many small matrix products, for which OpenBLAS's threads on a 2-core machine
# shared with other work cost more than they gain (measured: 8 boxes of ACAS Xu CROWN 0.07 s with one thread,
# 0.43 s with the default). Set before numpy is imported; an explicit setting in the environment wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import csv  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated  # noqa: E402

import numpy as np  # noqa: E402
import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import nnblocks as nb  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "vnncomp"
console = Console(width=160)


def published(folder: Path) -> dict[tuple[str, str], dict]:
    """(network stem, property stem) -> the row of published.csv (empty when the file is missing)."""
    path = folder / "published.csv"
    if not path.exists():
        return {}
    with open(path, newline="") as fh:
        return {(row["network"], row["property"]): row for row in csv.DictReader(fh)}


def instances(folder: Path) -> list[tuple[Path, Path, float]]:
    """The (onnx, vnnlib, timeout) rows of instances.csv, paths resolved against the folder."""
    rows = []
    with open(folder / "instances.csv", newline="") as fh:
        for row in csv.reader(fh):
            if len(row) >= 3 and row[0].strip():
                rows.append((folder / row[0].strip(), folder / row[1].strip(), float(row[2])))
    return rows


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".onnx", ".vnnlib"):
        name = name.removesuffix(suffix)
    return name


def run_instance(onnx: Path, vnnlib: Path, timeout: float, solver: str | None) -> dict:
    """Verify one instance; the row of the report."""
    row: dict = {"network": _stem(onnx), "property": _stem(vnnlib), "timeout": timeout}
    start, start_cpu = time.perf_counter(), time.process_time()
    try:
        network = nb.from_onnx(onnx)
    except Exception as exc:  # noqa: BLE001 - a network the importer refuses is a row of the report
        row.update(answer=f"refused: {type(exc).__name__}: {exc}"[:200], time=time.perf_counter() - start,
                   stage=None, stages={})
        return row
    try:
        result = nb.verify(network, vnnlib, time_limit=max(timeout - (time.perf_counter() - start), 0.05),
                           solver=solver)
    except Exception as exc:  # noqa: BLE001 - an instance that cannot be read is a row as well
        row.update(answer=f"error: {type(exc).__name__}: {exc}"[:200], time=time.perf_counter() - start,
                   stage=None, stages={})
        return row
    row.update(
        answer=str(result.status.value),
        time=time.perf_counter() - start,
        stage=result.stage,
        stages={s.stage: {"time": round(s.time, 4), "outcome": s.outcome,
                          **{k: v for k, v in s.counts.items() if k != "statuses"}} for s in result.stages},
        message=result.message[:200],
    )
    row["cpu"] = time.process_time() - start_cpu
    return row


# The child process of one Marabou run: argv = onnx, vnnlib, Marabou's time limit (whole seconds), result path.
# It writes {"answer", "time", "cpu", "x", "y"} as JSON to the result path (Marabou's C++ code prints to the same
# stdout, so the answer does not go there).
MARABOU_CHILD = r'''
import json, sys, time, warnings
warnings.simplefilter("ignore")
from maraboupy import Marabou, MarabouCore
onnx, vnnlib, limit, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
start, start_cpu = time.perf_counter(), time.process_time()
net = Marabou.read_onnx(onnx)
ipq = net.getInputQuery()
MarabouCore.loadProperty(ipq, vnnlib)
options = Marabou.createOptions(numWorkers=1, numBlasThreads=1, timeoutInSeconds=limit, verbosity=0)
code, vals, stats = MarabouCore.solve(ipq, options, "")
row = {"answer": str(code), "time": time.perf_counter() - start, "cpu": time.process_time() - start_cpu,
       "timed_out": bool(stats.hasTimedOut())}
if code == "sat" and vals:
    row["x"] = [vals[ipq.inputVariableByIndex(i)] for i in range(ipq.getNumInputVariables())]
    row["y"] = [vals[ipq.outputVariableByIndex(i)] for i in range(ipq.getNumOutputVariables())]
with open(out, "w") as fh:
    json.dump(row, fh)
'''


def marabou_available() -> bool:
    """Whether the maraboupy package is installed (found without importing it: it is used in child processes)."""
    return importlib.util.find_spec("maraboupy") is not None


def check_counterexample(onnx: Path, vnnlib: Path, x: list[float]) -> bool | None:
    """Whether ``x`` and nnblocks's float64 forward pass of the network satisfy a disjunct of the property;
    None when nnblocks cannot read the network or the property."""
    try:
        network = nb.from_onnx(onnx)
        spec = nb.read_vnnlib(vnnlib, n_inputs=network.n_inputs, n_outputs=network.n_outputs)
        y = network.forward(np.asarray(x, dtype=np.float64)[None])[0]
    except Exception:  # noqa: BLE001 - an instance nnblocks refuses has no check, which the row says
        return None
    return spec.counterexample_check(x, y) is not None


def run_marabou(onnx: Path, vnnlib: Path, timeout: float, grace: float = 15.0) -> dict:
    """Marabou on one instance in a child process killed after ``timeout + grace`` s; the row of the report.

    ``answer`` is Marabou's (``sat``, ``unsat``; ``timeout`` for its TIMEOUT and for a killed child; otherwise
    ``error: ...`` or Marabou's own word, e.g. ``unknown``), ``time`` and ``cpu`` the child's seconds from reading
    the network to the answer (``time`` the child's whole wall time when it was killed or failed), ``cex`` for
    ``sat`` whether the counterexample passes the float64 re-check (None when nnblocks cannot do it).
    """
    row: dict = {"network": _stem(onnx), "property": _stem(vnnlib), "timeout": timeout}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "marabou.json"
        cmd = [sys.executable, "-c", MARABOU_CHILD, str(onnx), str(vnnlib), str(max(1, math.ceil(timeout))), str(out)]
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout + grace)
        except subprocess.TimeoutExpired:
            row.update(answer="timeout", time=time.perf_counter() - start, cpu=None, message="killed")
            return row
        wall = time.perf_counter() - start
        if not out.exists():
            tail = " ".join((proc.stderr or proc.stdout or "").split()[-30:])
            row.update(answer=f"error: exit code {proc.returncode}: {tail}"[:200], time=wall, cpu=None)
            return row
        result = json.loads(out.read_text())
    answer = result["answer"].lower()
    row.update(answer="timeout" if answer == "timeout" or result["timed_out"] else answer, time=result["time"],
               cpu=result["cpu"], process_time=wall)
    if answer == "sat":
        row["x"], row["y"] = result.get("x"), result.get("y")
        row["cex"] = None if row["x"] is None else check_counterexample(onnx, vnnlib, row["x"])
    return row


def summarize(rows: list[dict]) -> dict:
    decided = [r for r in rows if r["answer"] in ("sat", "unsat")]
    ratios = [r["ratio"] for r in decided if r.get("ratio") is not None]
    solvable = [r for r in rows if r.get("published") in ("sat", "unsat")]
    return {
        "instances": len(rows),
        "decided": len(decided),
        "published_decided": len(solvable),
        "wrong": sum(bool(r.get("wrong")) for r in rows),
        "refused": sum(r["answer"].startswith("refused") for r in rows),
        "median_ratio": statistics.median(ratios) if ratios else None,
        "max_ratio": max(ratios) if ratios else None,
        "total_time": sum(r["time"] for r in rows),
    }


def score(row: dict, pub: dict) -> dict:
    """Add the published answer, the fastest published time, ``wrong`` and the ratio to a row (in place)."""
    row["published"] = pub.get("answer")
    best = float(pub["best_time_s"]) if pub.get("best_time_s") else None
    row["best_time"] = best
    decided = row["answer"] in ("sat", "unsat")
    row["wrong"] = decided and row["published"] in ("sat", "unsat") and row["answer"] != row["published"]
    row["ratio"] = row["time"] / best if decided and best and not row["wrong"] else None
    return row


def _answer(row: dict) -> str:
    text = ("[red]" if row["wrong"] else "") + row["answer"][:40]
    if row.get("cex") is False:
        text += " [red](cex failed)[/red]"
    return text


def _summary_line(name: str, who: str, summary: dict) -> str:
    med = summary["median_ratio"]
    return (f"{name} {who}: {summary['decided']} of {summary['instances']} decided "
            f"({summary['published_decided']} decided by a published tool), {summary['wrong']} wrong, median ratio "
            f"{'-' if med is None else f'{med:.2f}'}, total {summary['total_time']:.0f} s")


def main(
    benchmarks: Annotated[str, typer.Option(help="comma-separated folder names")] = "acasxu,mnistfc",
    timeout: Annotated[float, typer.Option(help="cap on each instance's time limit (s)")] = 60.0,
    json_path: Annotated[Path | None, typer.Option("--json", help="write rows and summaries here")] = None,
    data: Annotated[Path, typer.Option(help="folder of the benchmark folders")] = DEFAULT_DATA,
    solver: Annotated[str | None, typer.Option(help="MILP solver (default: nnblocks.solve's choice)")] = None,
    limit: Annotated[int | None, typer.Option(help="run only the first N instances of each benchmark")] = None,
    marabou: Annotated[bool | None, typer.Option(
        "--marabou/--no-marabou", help="also run Marabou on each instance (default: when maraboupy is installed)",
        show_default=False)] = None,
    marabou_grace: Annotated[float, typer.Option(help="Marabou's child is killed this long after its time limit")
                             ] = 15.0,
    ours: Annotated[bool, typer.Option("--ours/--no-ours", help="run nnblocks.verify (--no-ours: Marabou alone)")
                    ] = True,
) -> None:
    if marabou is None:
        marabou = marabou_available()
    elif marabou and not marabou_available():
        console.print("[red]--marabou: the maraboupy package is not installed (pip install \".[benchmark]\")[/red]")
        raise typer.Exit(2)
    report: dict = {"timeout_cap": timeout, "marabou": marabou, "benchmarks": {}}
    for name in [b.strip() for b in benchmarks.split(",") if b.strip()]:
        folder = data / name
        if not (folder / "instances.csv").exists():
            console.print(f"[red]{folder}/instances.csv not found: {name} skipped[/red]")
            continue
        pub = published(folder)
        rows, m_rows = [], []
        table = Table(title=f"{name} (time limit min(competition's, {timeout:g} s))")
        cols = ["network", "property", "published", "best s"]
        if ours:
            cols += ["answer", "time s", "stage", "ratio"]
        if marabou:
            cols += ["Marabou", "Marabou s", "Marabou ratio"]
        for col in cols:
            table.add_column(col)
        for onnx, vnnlib, t_comp in instances(folder)[:limit]:
            key = (_stem(onnx), _stem(vnnlib))
            p = pub.get(key, {})
            cells = []
            if ours:
                row = score(run_instance(onnx, vnnlib, min(t_comp, timeout), solver), p)
                rows.append(row)
                cells += [_answer(row), f"{row['time']:.2f}", str(row["stage"]),
                          "" if row["ratio"] is None else f"{row['ratio']:.2f}"]
                console.print(f"{name} {key[0]} {key[1]}: {row['answer'][:60]} ({row['time']:.2f} s, "
                              f"{row['stage']}; published {row['published']} in {row['best_time']} s)")
            if marabou:
                m = score(run_marabou(onnx, vnnlib, min(t_comp, timeout), marabou_grace), p)
                m_rows.append(m)
                if ours:
                    rows[-1]["marabou"] = m
                cells += [_answer(m), f"{m['time']:.2f}", "" if m["ratio"] is None else f"{m['ratio']:.2f}"]
                console.print(f"{name} {key[0]} {key[1]} Marabou: {m['answer'][:60]} ({m['time']:.2f} s"
                              f"{'' if m.get('cex') is None else ', cex ' + ('ok' if m['cex'] else 'failed')})")
            best = p.get("best_time_s")
            table.add_row(key[0], key[1], str(p.get("answer")), best or "", *cells)
        entry: dict = {}
        if ours:
            entry.update(summary=summarize(rows), rows=rows)
        if marabou:
            entry["marabou_summary"] = summarize(m_rows)
            entry["marabou_summary"]["cex_failed"] = sum(r.get("cex") is False for r in m_rows)
            if not ours:
                entry["marabou_rows"] = m_rows
        report["benchmarks"][name] = entry
        console.print(table)
        if ours:
            console.print(_summary_line(name, "nnblocks", entry["summary"]))
        if marabou:
            console.print(_summary_line(name, "Marabou", entry["marabou_summary"])
                          + f", {entry['marabou_summary']['cex_failed']} counterexamples failing the re-check")
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=1, default=str))
        console.print(f"wrote {json_path}")


if __name__ == "__main__":
    typer.run(main)
