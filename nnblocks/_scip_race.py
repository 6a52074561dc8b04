"""One SCIP solve of an .mps file in its own process, for the portfolio of :func:`nnblocks.solve._race`.

Usage: ``python -m nnblocks._scip_race JOB.json``. The job names the model file, SCIP's parameters and the
variables whose values to report; the result (SCIP's status, objective, dual bound, nodes, values) is
written as JSON to the job's ``out`` path. Imports only pyscipopt, so that the process starts quickly.
"""

from __future__ import annotations

import json
import sys


def main(job_path: str) -> None:
    import pyscipopt

    with open(job_path) as fh:
        job = json.load(fh)
    m = pyscipopt.Model()
    m.hideOutput()
    m.readProblem(job["model"])
    for key, value in job["params"].items():
        m.setParam(key, value)
    m.optimize()
    has_solution = m.getNSols() > 0
    values = None
    if has_solution:
        by_name = {v.name: v for v in m.getVars()}
        sol = m.getBestSol()
        values = [m.getSolVal(sol, by_name[n]) for n in job["read"]]
    out = {
        "status": m.getStatus(),
        "objective": m.getObjVal() if has_solution else None,
        "bound": m.getDualbound(),
        "nodes": m.getNNodes(),
        "values": values,
    }
    with open(job["out"] + ".tmp", "w") as fh:
        json.dump(out, fh)
    import os

    os.replace(job["out"] + ".tmp", job["out"])  # the parent sees a complete file or none


if __name__ == "__main__":
    main(sys.argv[1])
