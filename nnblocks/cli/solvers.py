"""``nnblocks solvers``: the solvers usable here and the default solver for each problem class."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from nnblocks.cli import app


@app.command("solvers")
def solvers_command() -> None:
    """List the installed Pyomo solvers and the default solver of each problem class (LP, MILP, QP ...)."""
    from nnblocks.solve import _DEFAULTS, _KNOWN_NAMES, _is_available

    console = Console()
    table = Table(title="solvers")
    table.add_column("solver")
    table.add_column("installed")
    table.add_column("default for")
    defaults: dict[str, list[str]] = {}
    for cls, name in _DEFAULTS.items():
        defaults.setdefault(name, []).append(cls)
    for name in _KNOWN_NAMES:
        available = _is_available(name)
        if available or name in defaults:
            table.add_row(name, "yes" if available else "no", ", ".join(defaults.get(name, [])) or "-")
    console.print(table)
    console.print("Any other Pyomo solver name is accepted by --solver; the default is chosen by the model's class "
                  "(nnblocks.solve.problem_class).")
