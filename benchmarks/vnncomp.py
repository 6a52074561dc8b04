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
"""

from __future__ import annotations

import os

# One BLAS thread: the bounds are many small matrix products, for which OpenBLAS's threads on a 2-core machine
# shared with other work cost more than they gain (measured: 8 boxes of ACAS Xu CROWN 0.07 s with one thread,
# 0.43 s with the default). Set before numpy is imported; an explicit setting in the environment wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import csv  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated  # noqa: E402

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
    start = time.perf_counter()
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


def main(
    benchmarks: Annotated[str, typer.Option(help="comma-separated folder names")] = "acasxu,mnistfc",
    timeout: Annotated[float, typer.Option(help="cap on each instance's time limit (s)")] = 60.0,
    json_path: Annotated[Path | None, typer.Option("--json", help="write rows and summaries here")] = None,
    data: Annotated[Path, typer.Option(help="folder of the benchmark folders")] = DEFAULT_DATA,
    solver: Annotated[str | None, typer.Option(help="MILP solver (default: nnblocks.solve's choice)")] = None,
    limit: Annotated[int | None, typer.Option(help="run only the first N instances of each benchmark")] = None,
) -> None:
    report: dict = {"timeout_cap": timeout, "benchmarks": {}}
    for name in [b.strip() for b in benchmarks.split(",") if b.strip()]:
        folder = data / name
        if not (folder / "instances.csv").exists():
            console.print(f"[red]{folder}/instances.csv not found: {name} skipped[/red]")
            continue
        pub = published(folder)
        rows = []
        table = Table(title=f"{name} (time limit min(competition's, {timeout:g} s))")
        for col in ("network", "property", "answer", "published", "time s", "stage", "best s", "ratio"):
            table.add_column(col)
        for onnx, vnnlib, t_comp in instances(folder)[:limit]:
            row = run_instance(onnx, vnnlib, min(t_comp, timeout), solver)
            p = pub.get((row["network"], row["property"]), {})
            row["published"] = p.get("answer")
            best = float(p["best_time_s"]) if p.get("best_time_s") else None
            row["best_time"] = best
            decided = row["answer"] in ("sat", "unsat")
            row["wrong"] = decided and row["published"] in ("sat", "unsat") and row["answer"] != row["published"]
            row["ratio"] = row["time"] / best if decided and best and not row["wrong"] else None
            rows.append(row)
            table.add_row(row["network"], row["property"], ("[red]" if row["wrong"] else "") + row["answer"][:60],
                          str(row["published"]), f"{row['time']:.2f}", str(row["stage"]),
                          "" if best is None else f"{best:g}", "" if row["ratio"] is None else f"{row['ratio']:.2f}")
            console.print(f"{name} {row['network']} {row['property']}: {row['answer'][:60]} ({row['time']:.2f} s, "
                          f"{row['stage']}; published {row['published']} in {best} s)")
        summary = summarize(rows)
        report["benchmarks"][name] = {"summary": summary, "rows": rows}
        console.print(table)
        console.print(f"{name}: {summary}")
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=1, default=str))
        console.print(f"wrote {json_path}")


if __name__ == "__main__":
    typer.run(main)
