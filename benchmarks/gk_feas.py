"""Goerigk & Kurtz, problem (Feas): max sum x s.t. c'x <= RHS for all c in U, x in [-1, 1]^n, for the quantiles
0.40, 0.45, ..., 0.90 (NN: R = that quantile of the training radii; Kernel: nu = 1 - quantile; Discrete: the
training data, quantile-independent), compared with the published per-instance values (appendix Tables 3-5
of arXiv:2011.09769v1: objective sum x and number of infeasible test scenarios out of 10,000).

RHS = 0 as in the published tables (the authors' code); a test scenario counts as feasible when
c'x <= RHS + 0.01, as theirs. NN solutions come from scenario generation with the pattern decomposition,
each checked by the exact worst case over U (Theorem 3) under --exact-time-limit.

    python benchmarks/gk_feas.py --instances 20d:1:1 --quantiles 0.4,0.9 --json feas.json
"""

from __future__ import annotations

import time

from _gk_common import (
    exact_check,
    methods,
    parser,
    print_table,
    synthetic_instances,
    uncertainty_set,
    write_json,
)
from _gk_published import FEAS_20D, QUANTILES

from nnblocks.datasets.ro_dnn import load_instance
from nnblocks.robust import out_of_sample, robust_feas


def main() -> None:
    p = parser(__doc__.splitlines()[0], "2d:all,20d:1:1,20d:2:1,20d:3:1")
    p.add_argument("--quantiles", default=",".join(f"{q:.2f}" for q in QUANTILES))
    p.add_argument("--rhs", type=float, default=0.0)
    args = p.parse_args()
    ms = methods(args.methods)
    qs = [round(float(q), 2) for q in args.quantiles.split(",")]
    records: list[dict] = []
    rows: list[list] = []
    for dim, T, I in synthetic_instances(args.instances):
        inst = load_instance(args.data, dim, T, I)
        pub = FEAS_20D.get((T, I)) if dim == 20 else None
        for method in ms:
            for q in qs if method != "discrete" else [None]:
                if method == "kernel" and q not in inst.kernels:
                    continue
                t0 = time.perf_counter()
                U = uncertainty_set(method, inst, q, kernel=inst.kernels.get(q))
                sol = robust_feas(U, rhs=args.rhs, tol=args.tol)
                elapsed = time.perf_counter() - t0
                rec = {"experiment": "feas", "dim": dim, "type": T, "instance": I, "method": method, "quantile": q,
                       "rhs": args.rhs, "status": sol.status, "certified": sol.certified, "x": sol.x,
                       "objective": sol.objective, "robust_value": sol.robust_value, "time_s": elapsed,
                       "iterations": sol.iterations}
                rec.update(exact_check(U, sol.x, args.exact_time_limit) if method == "nn" and sol.x is not None
                           else exact_check(None, None, 0))
                oos = (out_of_sample(sol.x, inst.test, level=0.9, rhs=args.rhs, atol=0.01)
                       if inst.test is not None and sol.x is not None else None)
                rec.update({"oos_mean": oos.mean if oos else None, "oos_quantile": oos.quantile if oos else None,
                            "oos_feasible_share": oos.feasible_share if oos else None,
                            "oos_infeasible": oos.n_infeasible if oos else None})
                if pub is not None and method in ("nn", "kernel") and q in QUANTILES and args.rhs == 0.0:
                    k = QUANTILES.index(q)
                    rec.update({"published_objective": pub[f"{method}_obj"][k],
                                "published_infeasible": pub[f"{method}_infeas"][k]})
                records.append(rec)
                rows.append([f"{dim}d:{T}:{I}", method, "-" if q is None else f"{q:.2f}", sol.status,
                             _f(sol.objective), _f(rec.get("published_objective")), _f(sol.robust_value, 3),
                             _f(rec["exact_worst_case"], 3), _f(rec["exact_bound"], 3), rec["oos_infeasible"],
                             rec.get("published_infeasible"), _f(rec["oos_feasible_share"], 4), f"{elapsed:.2f}",
                             sol.iterations])
    print_table(f"(Feas) max sum x, c'x <= {args.rhs:g} for all c in U: objective, worst-case c'x at x (pattern "
                "oracle / exact over U), infeasible test scenarios vs the published values",
                ["instance", "method", "q", "status", "obj", "pub_obj", "wc_lhs", "exact_wc", "exact_bd", "infeas",
                 "pub_infeas", "feas_share", "time_s", "iters"], rows)
    write_json(args.json, records)


def _f(v, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


if __name__ == "__main__":
    main()
