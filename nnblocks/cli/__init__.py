"""The ``nnblocks`` command line (typer + rich).

Commands live in one module per domain; each registers itself on :data:`app` when imported.

Exit codes, the same for every command: 0 when the command produced its answer (for a solving command: a
solution, whose status is printed: optimal, or feasible / time-limited), 1 when it ended without one
(infeasible, a time limit before any solution, a solver failure), 2 for bad input, including any error the
library raises for it (one line on stderr, no traceback).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

EXIT_OK = 0
"""The command produced its answer (a solution, with its status printed)."""
EXIT_NO_SOLUTION = 1
"""The command ran but found no solution (infeasible, time limit without solution, solver failure)."""
EXIT_BAD_INPUT = 2
"""Bad input: a usage error or an error the library raised for the input (one line on stderr)."""


def _library_errors() -> tuple[type[BaseException], ...]:
    """The errors by which the library reports bad input or an unusable solver (imported only when needed)."""
    from nnblocks.io import UnsupportedOperationError
    from nnblocks.solve import SolverError

    return ValueError, TypeError, SolverError, UnsupportedOperationError, OSError, ImportError


def _one_line(exc: BaseException) -> str:
    """The message of a library error on one line, the missing file or package named."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.strerror}: {exc.filename}"
    elif isinstance(exc, ModuleNotFoundError) and exc.name and str(exc).startswith("No module named"):
        top = exc.name.split(".")[0]
        extra = {"torch": "torch", "distributed": "dask", "dask": "dask"}.get(top, "all")
        text = f"this command needs the Python package {top!r}, which is not installed: pip install 'nnblocks[{extra}]'"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Library warnings as one line on stderr (without the source line)."""
    print(f"Warning: {' '.join(str(message).split())}", file=sys.stderr)


class _Commands(TyperGroup):
    """The root command group: turns the library's errors into one line on stderr and exit code 2."""

    def invoke(self, ctx: Any) -> Any:
        previous = warnings.showwarning
        warnings.showwarning = _show_warning
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if isinstance(exc, _library_errors()):
                typer.echo(f"Error: {_one_line(exc)}", err=True)
                raise typer.Exit(EXIT_BAD_INPUT) from None
            raise
        finally:
            warnings.showwarning = previous


app = typer.Typer(
    name="nnblocks",
    cls=_Commands,
    help="Trained piecewise-affine neural networks inside optimization models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("nnblocks")
        except PackageNotFoundError:  # run from a source tree that is not installed
            from nnblocks import __version__ as number
        typer.echo(f"nnblocks {number}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Trained piecewise-affine neural networks inside optimization models.

    Exit codes: 0 = answer obtained (its status is printed), 1 = no solution (infeasible, time limit without
    solution, solver failure), 2 = bad input.
    """


@contextmanager
def usage_errors(option: str | None = None, flags: dict[str, str] | None = None) -> Iterator[None]:
    """Report the library's input errors (ValueError, TypeError, unknown or missing solver; the message names the
    problem) as usage errors of ``option``: the message without a traceback, exit code 2.

    Without ``option``, ``flags`` maps the library's parameter names to the flags that set them: the error is
    reported for the flag of the first parameter its message names (``gamma`` -> ``--gamma``).
    """
    from nnblocks.solve import SolverNotAvailableError

    try:
        yield
    except (ValueError, TypeError, SolverNotAvailableError) as exc:
        message = _one_line(exc)
        hint = option
        if hint is None and flags:
            hint = _flag_of(message, flags)
        raise typer.BadParameter(message, param_hint=_hint(hint)) from None


def _flag_of(message: str, flags: dict[str, str]) -> str | None:
    """The flag of the parameter named first in ``message`` (whole words only), or None."""
    import re

    found = [(m.start(), flag) for name, flag in flags.items()
             if (m := re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", message))]
    return min(found)[1] if found else None


def _hint(option: str | None) -> str | None:
    if option is None:
        return None
    return option if option.startswith("'") else f"'{option}'"


def check_time_limit(time_limit: float | None, option: str = "--time-limit") -> float | None:
    """The time limit (seconds > 0, or None) checked before any work, named by its flag."""
    from nnblocks._validate import time_limit as _check_time_limit

    with usage_errors(option):
        return _check_time_limit(time_limit)


# Registration by import (order sets the order in --help).
from nnblocks.cli import info as _info  # noqa: E402,F401
from nnblocks.cli import models as _models  # noqa: E402,F401

for _name in ("adversarial", "robust", "verify", "batch"):
    try:
        __import__(f"nnblocks.cli.{_name}")
    except ModuleNotFoundError as exc:  # a command module not present in this build
        if exc.name != f"nnblocks.cli.{_name}":
            raise

from nnblocks.cli import solvers as _solvers  # noqa: E402,F401


def main() -> None:
    """Entry point of the ``nnblocks`` console script."""
    app()
