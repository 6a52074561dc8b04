"""Export a model as ``.lp`` or ``.mps`` with readable names."""

from __future__ import annotations

from pathlib import Path

from pyomo.opt import ProblemFormat

__all__ = ["write"]


def write(model, path) -> Path:
    """Write ``model`` as ``.lp`` or ``.mps`` (by suffix) with readable variable/constraint names.

    Returns the resolved path. Other suffixes raise ``ValueError``.
    """
    path = Path(path)
    fmt = {".lp": ProblemFormat.cpxlp, ".mps": ProblemFormat.mps}.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot write {path.name!r}: the suffix must be .lp or .mps")
    path.parent.mkdir(parents=True, exist_ok=True)
    model.write(str(path), format=fmt, io_options={"symbolic_solver_labels": True})
    return path.resolve()
