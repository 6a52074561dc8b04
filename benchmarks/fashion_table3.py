"""Rambau & Richter, Section 5 on the shipped Fashion-MNIST networks: Tables 3, 4, 5 and the grey-box count.

For the pairs true -> target = 2->1, 3->2, ..., 9->8, 0->9, 1->0 (gamma 0.2, alpha 5):

- FJAE: the FJ model of the nominal network;
- IRAE: ARFJ over the nominal network and 5 inner samples (eps_in = 0.05, drawn here with a fixed seed);
- ORAE: ARFJ over the nominal network and the 5 shipped outer samples ``outer_1..5`` (eps_osd = 0.2).

Each model is solved in two configurations in the same run: ``paper`` (interval big-M, no tightening, SCIP
defaults; a run stopped by ``--time-limit`` counts as at least that long) and ``default`` (nnblocks'
default), and the speed ratio is printed. The examples of the default configuration are evaluated on 15
fresh inner samples (Table 4) and the 15 shipped ``outer_eval`` samples (Table 5), and on the
independently trained ``greybox`` network (grey-box count).

    python benchmarks/fashion_table3.py [--pairs 2-1,3-2] [--kinds FJAE,IRAE,ORAE] [--configs paper,default]
                                        [--time-limit 600] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from nnblocks.adversarial import arfj, fj
from nnblocks.datasets import CLASSES, load_shipped, nominal_images
from nnblocks.metrics import evaluate
from nnblocks.sampling import inner

PAIRS = [(2, 1), (3, 2), (4, 3), (5, 4), (6, 5), (7, 6), (8, 7), (9, 8), (0, 9), (1, 0)]
KINDS = ("FJAE", "IRAE", "ORAE")
CONFIGS = ("paper", "default")
GAMMA, EPS_IN, ALPHA = 0.2, 0.05, 5
SEED_MODEL, SEED_EVAL = 2022, 2023


def _pairs(text: str | None) -> list[tuple[int, int]]:
    if not text:
        return PAIRS
    out = []
    for item in text.split(","):
        a, b = item.strip().split("-")
        out.append((int(a), int(b)))
    return out


def _fmt_time(t: float, limited: bool) -> str:
    return f">={t:.1f}" if limited else f"{t:.2f}"


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", help="e.g. 2-1,3-2 (default: all 10)")
    ap.add_argument("--kinds", default=",".join(KINDS), help="subset of FJAE,IRAE,ORAE")
    ap.add_argument("--configs", default=",".join(CONFIGS), help="subset of paper,default")
    ap.add_argument("--time-limit", type=float, default=600.0, help="seconds per solve (both configurations)")
    ap.add_argument("--json", help="write one record per solve")
    args = ap.parse_args(argv)
    pairs = _pairs(args.pairs)
    kinds = [k.strip().upper() for k in args.kinds.split(",") if k.strip()]
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    for k in kinds:
        if k not in KINDS:
            ap.error(f"unknown kind {k}; choose from {KINDS}")
    for c in configs:
        if c not in CONFIGS:
            ap.error(f"unknown config {c}; choose from {CONFIGS}")

    console = Console(width=max(Console().width, 150))
    nominal = load_shipped("nominal")
    X, y, _ = nominal_images()
    sets = {}
    if "FJAE" in kinds:
        sets["FJAE"] = [nominal]
    if "IRAE" in kinds:
        sets["IRAE"] = [nominal] + inner(nominal, eps=EPS_IN, n=ALPHA, rng=SEED_MODEL)
    if "ORAE" in kinds:
        sets["ORAE"] = [nominal] + [load_shipped(f"outer_{i}") for i in range(1, ALPHA + 1)]
    eval_inner = inner(nominal, eps=EPS_IN, n=15, rng=SEED_EVAL)
    try:
        eval_outer = [load_shipped(f"outer_eval_{i}") for i in range(1, 16)]
    except FileNotFoundError as exc:
        console.print(f"[yellow]Table 5 skipped: {exc}[/yellow]")
        eval_outer = None
    greybox = load_shipped("greybox")

    records: list[dict] = []
    examples: dict[tuple, np.ndarray] = {}
    total = len(pairs) * len(kinds) * len(configs)
    with Progress(console=console) as progress:
        task = progress.add_task("solving", total=total)
        for true, target in pairs:
            for kind in kinds:
                nets = sets[kind]
                for config in configs:
                    progress.update(task, description=f"{true}->{target} {kind} {config}")
                    if kind == "FJAE":
                        r = fj(nets[0], X[true], target, gamma=GAMMA, config=config, time_limit=args.time_limit)
                    else:
                        r = arfj(nets, X[true], target, gamma=GAMMA, config=config, time_limit=args.time_limit)
                    rec = {"pair": f"{true}->{target}", "true": true, "target": target, "kind": kind,
                           "config": config, **r.as_dict(), "n_networks": len(nets)}
                    rec["time_limited"] = r.status.value in ("time_limit", "time_limit_no_solution")
                    if r.x_adv is not None:
                        ei = evaluate(r.x_adv, eval_inner, true, target)
                        evs = [("inner", ei)]
                        if eval_outer is not None:
                            evs.append(("outer", evaluate(r.x_adv, eval_outer, true, target)))
                        for prefix, ev in evs:
                            for key, val in ev.as_dict().items():
                                if key not in ("true", "target", "n_networks"):
                                    rec[f"{prefix}_{key}"] = val
                        rec["greybox_class"] = int(np.argmax(greybox.forward(r.x_adv)))
                        rec["greybox_fooled"] = rec["greybox_class"] == target
                        examples[(true, target, kind, config)] = r.x_adv
                    records.append(rec)
                    if args.json:  # after every solve, so that an interrupted run keeps what it measured
                        _write_json(args.json, args.time_limit, records, complete=False)
                    progress.advance(task)

    by = {(r["true"], r["target"], r["kind"], r["config"]): r for r in records}

    # ---- Table 3 -------------------------------------------------------------------------------
    t3 = Table(title="Table 3: solution statistics (gamma 0.2, alpha 5); times in seconds, whole call")
    # size and nodes are those of the last model solved: with scenario generation (default ARFJ) that model
    # holds only the networks in "nets" (the others are fooled by its optimum)
    for col in ("pair", "AE", "nets", "#vars (#bin)", "#cons", "objective", "status", "nodes"):
        t3.add_column(col, justify="right")
    for c in configs:
        t3.add_column(f"time {c}", justify="right")
    if set(configs) == set(CONFIGS):
        t3.add_column("paper/default", justify="right")
    ratios: dict[str, list[float]] = {k: [] for k in kinds}
    for true, target in pairs:
        for kind in kinds:
            main_cfg = "default" if "default" in configs else configs[0]
            r = by[(true, target, kind, main_cfg)]
            row = [f"{true}->{target}", kind, f"{r['n_networks_model']}/{r['n_networks']}",
                   f"{r['n_vars']} ({r['n_binaries']})", str(r["n_constraints"]),
                   "-" if r["objective"] is None else f"{r['objective']:.5f}", r["status"],
                   "-" if r["nodes"] is None else str(r["nodes"])]
            for c in configs:
                rc = by[(true, target, kind, c)]
                row.append(_fmt_time(rc["time_s"], rc["time_limited"]))
            if set(configs) == set(CONFIGS):
                rp, rd = by[(true, target, kind, "paper")], by[(true, target, kind, "default")]
                ratio = rp["time_s"] / max(rd["time_s"], 1e-9)
                ratios[kind].append(ratio)
                row.append(("≥" if rp["time_limited"] else "") + f"{ratio:.1f}x")
            t3.add_row(*row)
    console.print(t3)

    summary = Table(title="Times per kind (s): median / max; speed ratio paper/default: median / min")
    for col in ("AE", *[f"{c} median" for c in configs], *[f"{c} max" for c in configs], "ratio median",
                "ratio min", "default optimal", "verified (all)"):
        summary.add_column(col, justify="right")
    for kind in kinds:
        row = [kind]
        for c in configs:
            row.append(f"{statistics.median(by[(t, g, kind, c)]['time_s'] for t, g in pairs):.2f}")
        for c in configs:
            row.append(f"{max(by[(t, g, kind, c)]['time_s'] for t, g in pairs):.2f}")
        if ratios[kind]:
            row += [f"{statistics.median(ratios[kind]):.1f}x", f"{min(ratios[kind]):.1f}x"]
        else:
            row += ["-", "-"]
        if "default" in configs:
            n_opt = sum(by[(t, g, kind, "default")]["status"] == "optimal" for t, g in pairs)
            row.append(f"{n_opt}/{len(pairs)}")
        else:
            row.append("-")
        row.append(str(all(by[(t, g, kind, c)]["verified"] for t, g in pairs for c in configs
                           if by[(t, g, kind, c)]["objective"] is not None)))
        summary.add_row(*row)
    console.print(summary)

    # ---- Tables 4 and 5 ---------------------------------------------------------------------------
    eval_cfg = "default" if "default" in configs else configs[0]
    for prefix, title in (("inner", "Table 4: robustness on 15 fresh inner samples"),
                          ("outer", "Table 5: robustness on the 15 shipped outer_eval samples")):
        t = Table(title=f"{title} ({eval_cfg} examples)")
        for col in ("pair", "AE", "target", "true", "other", "p target", "p true", "p other", "weak conf."):
            t.add_column(col, justify="right")
        for true, target in pairs:
            for kind in kinds:
                r = by[(true, target, kind, eval_cfg)]
                if f"{prefix}_target_share" not in r:
                    t.add_row(f"{true}->{target}", kind, *["-"] * 7)
                    continue
                t.add_row(f"{true}->{target}", kind, *(f"{r[f'{prefix}_{k}']:.2%}" for k in (
                    "target_share", "true_share", "other_share", "target_probability", "true_probability",
                    "other_probability", "weak_confidence")))
        console.print(t)

    gb = Table(title="Grey-box: examples the independently trained network classifies as the target")
    gb.add_column("AE")
    gb.add_column("fooled", justify="right")
    for kind in kinds:
        n = sum(bool(by[(t, g, kind, eval_cfg)].get("greybox_fooled")) for t, g in pairs)
        gb.add_row(kind, f"{n} of {len(pairs)}")
    console.print(gb)
    console.print(f"classes: {', '.join(f'{i}={c}' for i, c in enumerate(CLASSES))}; "
                  f"machine: {platform.machine()}, python {platform.python_version()}")

    if args.json:
        _write_json(args.json, args.time_limit, records, complete=True)
        console.print(f"wrote {args.json}")
    return records


def _write_json(path: str, time_limit: float, records: list[dict], complete: bool) -> None:
    meta = {"gamma": GAMMA, "eps_in": EPS_IN, "alpha": ALPHA, "time_limit": time_limit, "seed_model": SEED_MODEL,
            "seed_eval": SEED_EVAL, "created": time.strftime("%Y-%m-%d %H:%M:%S"), "complete": complete}
    with open(path, "w") as fh:
        json.dump({"meta": meta, "records": records}, fh, indent=1)


if __name__ == "__main__":
    main()
