"""The ``nnblocks`` command line (typer + rich).

Commands live in one module per domain; each registers itself on :data:`app` when imported.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

app = typer.Typer(
    name="nnblocks",
    help="Trained piecewise-affine neural networks inside optimization models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@contextmanager
def usage_errors(option: str | None = None) -> Iterator[None]:
    """Report the library's input errors (ValueError, unknown or missing solver; the message names the problem) as
    usage errors of ``option``: the message without a traceback, exit code 2."""
    from nnblocks.solve import SolverNotAvailableError

    try:
        yield
    except (ValueError, SolverNotAvailableError) as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


# Registration by import (order sets the order in --help).
from nnblocks.cli import info as _info  # noqa: E402,F401

for _name in ("adversarial", "robust"):
    try:
        __import__(f"nnblocks.cli.{_name}")
    except ModuleNotFoundError as exc:  # a command module not present in this build
        if exc.name != f"nnblocks.cli.{_name}":
            raise


def main() -> None:
    """Entry point of the ``nnblocks`` console script."""
    app()
