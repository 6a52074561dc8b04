"""``nnblocks solvers``: the solvers usable here and the default solver for each problem class."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from nnblocks.cli import app


@app.command("solvers")
def solvers_command() -> None:
    """List the installed Pyomo solvers and the default solver of each problem class (LP, MILP, QP ...)."""
    from nnblocks.solve import FAMILIES, PROBLEM_CLASSES, available_solvers, default_solver

    console = Console()
    table = Table(title="solvers")
    table.add_column("solver")
    table.add_column("installed")
    table.add_column("default for")
    defaults: dict[str, list[str]] = {}
    for cls in PROBLEM_CLASSES:
        defaults.setdefault(default_solver(cls), []).append(cls)
    installed = set(available_solvers())
    for name in (name for fam in FAMILIES for name in fam.solvers):
        available = name in installed
        if available or name in defaults:
            table.add_row(name, "yes" if available else "no", ", ".join(defaults.get(name, [])) or "-")
    console.print(table)
    console.print("Any other Pyomo solver name is accepted by --solver; the default is chosen by the model's class "
                  "(nnblocks.solve.problem_class).")
