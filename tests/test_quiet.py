"""Specification: no solver writes to the standard output unless asked to (``tee=True``); the library reports
through :mod:`logging`, never through ``print``.

HiGHS writes its banner from C, once per process, when the first instance is created: the cases run in a fresh
Python process whose file descriptor 1 is the test's (captured with ``capfd``), and in this process with a
``highspy.Highs`` that writes a banner on its first creation.
"""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import nnblocks as nb
from nnblocks.bounds import compute_bounds
from nnblocks.robust import KernelUncertaintySet, NetworkUncertaintySet
from nnblocks.robust.lemma4 import ellipsoid_network
from tests.models import small_milp

ROOT = Path(__file__).resolve().parents[1]

_NETWORK = """
import numpy as np
import nnblocks as nb
rng = np.random.default_rng(0)
net = nb.Network([nb.Layer(rng.normal(size=(4, 3)), rng.normal(size=4), nb.ReLU()),
                  nb.Layer(rng.normal(size=(2, 4)), np.zeros(2), nb.Identity())])
"""

_MODEL = """
import sys
import pyomo.environ as pyo
import nnblocks as nb
m = pyo.ConcreteModel()
m.x = pyo.Var(bounds=(0, 1))
m.y = pyo.Var(domain=pyo.Binary)
m.c = pyo.Constraint(expr=m.x + m.y >= 0.5)
m.o = pyo.Objective(expr=m.x + 2 * m.y)
"""

# The fresh processes: the paths through which an instance is created first (compute_bounds' LP, the Kernel
# set's QP, Pyomo's HiGHS interfaces and the option check); SCIP runs first in its process (it creates none).
CASES = {
    "compute_bounds_lp": _NETWORK + """
from nnblocks.bounds import compute_bounds
b = compute_bounds(net, (np.zeros(3), np.ones(3)), method="lp")
assert b.method == "lp"
""",
    "kernel_fit": """
import numpy as np
from nnblocks.robust import KernelUncertaintySet
U = KernelUncertaintySet.fit(np.random.default_rng(0).normal(size=(30, 2)), q=0.5, solver="highs")
assert U.fit_info.solver == "highs"
""",
    "solve_scip_then_highs": _MODEL + """
assert nb.solve(m, solver="scip_direct").status == "optimal"
assert nb.solve(m, solver="highs").status == "optimal"
assert nb.solve(m, solver="appsi_highs", presolve="off").status == "optimal"
""",
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_fresh_process_writes_nothing_to_stdout(case, capfd):
    capfd.readouterr()
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(CASES[case])], cwd=ROOT, timeout=300)
    out, err = capfd.readouterr()
    assert done.returncode == 0, err
    assert out == "", f"{case} wrote to stdout:\n{out}"


@pytest.fixture
def banner(monkeypatch):
    """highspy.Highs writing a banner to file descriptor 1 when the first instance is created, as HiGHS does
    once per process (this process has long written its own)."""
    import highspy

    solve_module = importlib.import_module("nnblocks.solve.families")  # the module holding the HiGHS option check
    state = {"written": False}

    class Highs(highspy.Highs):
        def __init__(self) -> None:
            if not state["written"]:
                state["written"] = True
                os.write(1, b"Running HiGHS (banner)\n")
            super().__init__()

    monkeypatch.setattr(highspy, "Highs", Highs)
    monkeypatch.setattr(importlib.import_module("nnblocks._highs"), "_BANNER_WRITTEN", False)
    monkeypatch.setattr(solve_module, "_HIGHS_CHECKER", None)
    return state


def _lp_bounds() -> None:
    rng = np.random.default_rng(0)
    net = nb.Network([nb.Layer(rng.normal(size=(4, 3)), rng.normal(size=4), nb.ReLU()),
                      nb.Layer(rng.normal(size=(2, 4)), np.zeros(2), nb.Identity())])
    assert compute_bounds(net, (np.zeros(3), np.ones(3)), method="lp").method == "lp"


def _kernel_fit() -> None:
    U = KernelUncertaintySet.fit(np.random.default_rng(0).normal(size=(30, 2)), q=0.5, solver="highs")
    assert U.fit_info.solver == "highs"


def _exact_worst_case() -> None:  # the README's network-set snippet: LP bounds, then SCIP
    Sigma, a = np.diag([1.0, 4.0]), np.array([2.0, 1.0])
    network, c_bar, R = ellipsoid_network(Sigma, a)
    U = NetworkUncertaintySet(network, c_bar, R, domain=(a - 1, a + 1))
    assert U.worst_case(np.array([1.0, -1.0]), method="exact").value == pytest.approx(2.118033988749895, rel=1e-5)


def _solve_highs() -> None:
    assert nb.solve(_milp(), solver="highs").status == "optimal"


def _solve_appsi_highs_with_options() -> None:
    assert nb.solve(_milp(), solver="appsi_highs", presolve="off").status == "optimal"


@pytest.mark.parametrize("run", [_lp_bounds, _kernel_fit, _exact_worst_case, _solve_highs,
                                 _solve_appsi_highs_with_options], ids=lambda f: f.__name__.strip("_"))
def test_the_first_highs_instance_keeps_its_banner_off_stdout(run, banner, capfd):
    capfd.readouterr()
    run()
    out, _ = capfd.readouterr()
    assert banner["written"], "a HiGHS instance was created"
    assert out == ""


_milp = small_milp


@pytest.mark.parametrize("solver", ["highs", "appsi_highs", "scip_direct"])
def test_a_solve_is_silent_without_tee_and_logs_with_it(solver, capfd):
    capfd.readouterr()
    assert nb.solve(_milp(), solver=solver).status == "optimal"
    out, _ = capfd.readouterr()
    assert out == ""
    assert nb.solve(_milp(), solver=solver, tee=True).status == "optimal"
    out, _ = capfd.readouterr()
    assert out.strip(), "tee=True shows the solver's log"


def test_the_library_does_not_print():
    """Only the command line writes to the terminal; the library uses logging (and warnings)."""
    offenders = []
    for path in sorted((ROOT / "nnblocks").rglob("*.py")):
        if "cli" in path.relative_to(ROOT / "nnblocks").parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders
