"""Goerigk & Kurtz, robust shortest path on the Chicago weekend data (189 arcs, parallel arcs kept distinct):
min over s-t paths of max_{c in U} sum_{a in path} c_a with NN (q = 0.95, scenario generation with the pattern
decomposition and a MILP master), Kernel (the authors' kernel files, costs restricted to c >= 0 as they did,
one MILP by duality) and Discrete (the 570 training scenarios, one MILP); out-of-sample mean and 95% quantile of
the path length over the 571 test scenarios. The paper publishes times (NN 794.8 s, Kernel 1497.7 s,
Discrete 4.4 s per pair on average) and histograms, no path lengths.

    python benchmarks/gk_path.py --instances path:34-28,path:52-37 --json path.json
"""

from __future__ import annotations

import time

from _gk_common import (
    exact_check,
    methods,
    parser,
    print_mean_times,
    print_table,
    uncertainty_set,
    write_json,
)
from _gk_published import PATH_TIMES

from nnblocks.datasets.ro_dnn import PATH_PAIRS, load_path
from nnblocks.robust import out_of_sample, robust_shortest_path

Q = 0.95


def _pairs(spec: str) -> list[tuple[int, int]]:
    if spec.strip() in ("path:all", "all"):
        return list(PATH_PAIRS)
    out = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        if not item.startswith("path:") or "-" not in item:
            raise SystemExit(f"bad instance {item!r}: expected path:SOURCE-SINK or path:all")
        s, t = item[5:].split("-")
        out.append((int(s), int(t)))
    return out


def main() -> None:
    p = parser(__doc__.splitlines()[0], "path:all")
    p.add_argument("--time-limit", type=float, default=600.0, help="seconds per solve (Kernel's MILP is slow)")
    args = p.parse_args()
    ms = methods(args.methods)
    data = load_path(args.data)
    sets = {}
    records: list[dict] = []
    rows: list[list] = []
    for s, t in _pairs(args.instances):
        for method in ms:
            if method not in sets:
                sets[method] = uncertainty_set(method, data, Q, kernel=data.kernel, lower=0.0)
            U = sets[method]
            t0 = time.perf_counter()
            sol = robust_shortest_path(data.graph, U, s, t, tol=args.tol, time_limit=args.time_limit)
            elapsed = time.perf_counter() - t0
            rec = {"experiment": "path", "dim": data.train.shape[1], "type": "weekends", "source": s, "sink": t,
                   "method": method, "quantile": Q, "status": sol.status, "certified": sol.certified,
                   "x": sol.arcs, "nodes": sol.nodes, "robust_value": sol.robust_value, "time_s": elapsed,
                   "iterations": sol.iterations, "message": sol.message}
            rec.update(exact_check(U, sol.x, args.exact_time_limit) if method == "nn" and sol.x is not None
                       else exact_check(None, None, 0))
            oos = out_of_sample(sol.x, data.test, level=Q) if sol.x is not None else None
            rec.update({"oos_mean": oos.mean if oos else None, "oos_quantile": oos.quantile if oos else None,
                        "oos_feasible_share": None})
            records.append(rec)
            rows.append([f"{s}-{t}", method, sol.status, rec["robust_value"], rec["exact_worst_case"],
                         rec["exact_bound"], rec["oos_mean"], rec["oos_quantile"],
                         "-" if sol.arcs is None else len(sol.arcs), f"{elapsed:.1f}", sol.iterations])
    print_table("Robust shortest path (Chicago, weekends): robust value, exact worst case over U at the path, "
                "out-of-sample mean and 95% quantile of the travel time",
                ["pair", "method", "status", "robust", "exact_wc", "exact_bd", "oos_mean", "oos_q95", "arcs",
                 "time_s", "iters"], rows)
    print_mean_times(records, ms, PATH_TIMES, "", "pairs", digits=1)
    write_json(args.json, records)


if __name__ == "__main__":
    main()
