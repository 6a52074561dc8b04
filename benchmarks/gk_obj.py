"""Goerigk & Kurtz, problem (Obj): min_x max_{c in U} c'x, sum x = RHS, x in [-1, 1]^n, with NN, Kernel and
Discrete sets on the authors' staged instances; out-of-sample mean and 90% quantile on the test data,
compared with the published values (appendix Table 2 of arXiv:2011.09769v1, 20-D).

RHS = 0.3 in 2-D and n/2 = 10 in 20-D, q = 0.9 (R = 90% quantile of the training radii; Kernel nu = 0.1), as
the authors. NN solutions come from scenario generation with the pattern decomposition; each is checked
by the exact worst case over U (Theorem 3) under --exact-time-limit.

    python benchmarks/gk_obj.py --instances 20d:1:1,2d:all --methods nn,kernel,discrete --json obj.json
"""

from __future__ import annotations

import time

from _gk_common import (
    exact_check,
    methods,
    parser,
    print_mean_times,
    print_table,
    synthetic_instances,
    uncertainty_set,
    write_json,
)
from _gk_published import OBJ_20D, OBJ_20D_TIMES

from nnblocks.datasets.ro_dnn import load_instance
from nnblocks.robust import out_of_sample, robust_obj

Q = 0.9


def main() -> None:
    args = parser(__doc__.splitlines()[0], "2d:all,20d:1:1,20d:2:1,20d:3:1").parse_args()
    ms = methods(args.methods)
    records: list[dict] = []
    rows: list[list] = []
    for dim, T, I in synthetic_instances(args.instances):
        inst = load_instance(args.data, dim, T, I)
        rhs = 0.3 if dim == 2 else dim / 2.0
        pub = OBJ_20D.get((T, I)) if dim == 20 else None
        for method in ms:
            if method == "kernel" and Q not in inst.kernels:
                continue
            t0 = time.perf_counter()
            U = uncertainty_set(method, inst, Q, kernel=inst.kernels.get(Q))
            sol = robust_obj(U, rhs=rhs, tol=args.tol)
            elapsed = time.perf_counter() - t0
            rec = {"experiment": "obj", "dim": dim, "type": T, "instance": I, "method": method, "quantile": Q,
                   "rhs": rhs, "status": sol.status, "certified": sol.certified, "x": sol.x,
                   "robust_value": sol.robust_value, "time_s": elapsed, "iterations": sol.iterations}
            rec.update(exact_check(U, sol.x, args.exact_time_limit) if method == "nn" and sol.x is not None
                       else exact_check(None, None, 0))
            oos = out_of_sample(sol.x, inst.test, level=0.9) if inst.test is not None and sol.x is not None else None
            rec.update({"oos_mean": oos.mean if oos else None, "oos_quantile": oos.quantile if oos else None,
                        "oos_feasible_share": None})
            if pub is not None and method in ("nn", "kernel"):
                k = 0 if method == "nn" else 1
                rec.update({"published_oos_mean": pub[k], "published_oos_quantile": pub[k + 2]})
            records.append(rec)
            rows.append([f"{dim}d:{T}:{I}", method, sol.status, rec["robust_value"], rec["exact_worst_case"],
                         rec["exact_bound"], rec["oos_mean"], rec.get("published_oos_mean"), rec["oos_quantile"],
                         rec.get("published_oos_quantile"), f"{elapsed:.2f}", sol.iterations])
    print_table("(Obj) min max c'x: robust value, exact worst case over U at x, out-of-sample (test) mean and "
                "90% quantile vs the published values",
                ["instance", "method", "status", "robust", "exact_wc", "exact_bd", "oos_mean", "pub_mean",
                 "oos_q90", "pub_q90", "time_s", "iters"], rows)
    print_mean_times([r for r in records if r["dim"] == 20], ms, OBJ_20D_TIMES, "20-D ", "instances")
    write_json(args.json, records)


if __name__ == "__main__":
    main()
