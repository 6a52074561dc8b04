"""VNN-COMP result files: the answer on the first line (``sat``, ``unsat``, ``timeout``, ``error``,
``unknown``) and, after ``sat``, the counterexample as ``((X_0 v)\\n (X_1 v)\\n ... (Y_0 v)\\n ...)``.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from nnblocks import _validate
from nnblocks._results import AsDict
from nnblocks.spec.model import SpecError

__all__ = ["ResultFile", "ResultStatus", "read_result", "write_result"]


class ResultStatus(enum.StrEnum):
    """The answers of a VNN-COMP result file."""

    SAT = "sat"
    UNSAT = "unsat"
    TIMEOUT = "timeout"
    ERROR = "error"
    UNKNOWN = "unknown"


# the names of VNN-COMP 2021 result files, read as the later ones
_ALIASES = {"violated": "sat", "holds": "unsat"}
_PAIR = re.compile(r"\(\s*([XY])_(\d+)\s+([^\s()]+)\s*\)")


@dataclasses.dataclass(frozen=True, eq=False)
class ResultFile(AsDict):
    """A result file's content: the answer and, for ``sat``, the counterexample's inputs ``x`` and outputs
    ``y`` (flattened, float64; ``None`` when the file has none)."""

    status: ResultStatus
    x: np.ndarray | None = None
    y: np.ndarray | None = None


def _status(status: Any) -> ResultStatus:
    return _validate.enum_member(ResultStatus, getattr(status, "value", status), "status")


def write_result(path: str | os.PathLike, status: Any, x: Any = None, y: Any = None) -> str:
    """Write a VNN-COMP result file and return its text.

    ``status`` is one of ``"sat"``, ``"unsat"``, ``"timeout"``, ``"error"``, ``"unknown"`` (or an enumeration
    member with such a value). For ``sat``, ``x`` and ``y`` (the counterexample's input and output, any shape,
    flattened in C order) follow as ``((X_0 v)\\n (X_1 v)\\n ... (Y_0 v)\\n ...)``, each number written so that it
    reads back exactly; other answers take no counterexample.
    """
    st = _status(status)
    text = st.value + "\n"
    if st is ResultStatus.SAT:
        if x is None or y is None:
            raise ValueError("a sat result needs the counterexample: x and y")
        xs = np.asarray(x, dtype=np.float64).ravel().tolist()
        ys = np.asarray(y, dtype=np.float64).ravel().tolist()
        pairs = [f"(X_{i} {v!r})" for i, v in enumerate(xs)] + [f"(Y_{j} {v!r})" for j, v in enumerate(ys)]
        text += "(" + "\n ".join(pairs) + ")\n"
    elif x is not None or y is not None:
        raise ValueError(f"a {st.value} result has no counterexample: x and y must be None")
    Path(path).write_text(text, encoding="utf-8")
    return text


def read_result(path: str | os.PathLike) -> ResultFile:
    """Read a VNN-COMP result file (also the 2021 names ``violated`` and ``holds`` for sat and unsat).

    SpecError naming the file for an unknown answer or a counterexample that is not ``(X_i v)`` ... ``(Y_j
    v)`` with consecutive indices from 0.
    """
    text = Path(path).read_text(encoding="utf-8")
    first, _, rest = text.strip().partition("\n")
    word = first.strip().lower()
    word = _ALIASES.get(word, word)
    try:
        status = ResultStatus(word)
    except ValueError:
        raise SpecError(f"{path}:1: unknown result {first.strip()!r} (expected one of "
                        f"{[s.value for s in ResultStatus]})") from None
    body = rest.strip()
    if not body:
        return ResultFile(status)
    if status is not ResultStatus.SAT:
        raise SpecError(f"{path}:2: a {status.value} result has no counterexample")
    if not (body.startswith("(") and body.endswith(")")):
        raise SpecError(f"{path}:2: the counterexample must be enclosed in parentheses")
    inner = body[1:-1]
    pairs = _PAIR.findall(inner)
    if _PAIR.sub("", inner).strip():
        raise SpecError(f"{path}: the counterexample holds text other than (X_i v) and (Y_j v) pairs")
    values: dict[str, list[float]] = {"X": [], "Y": []}
    for kind, index, value in pairs:
        if int(index) != len(values[kind]):
            raise SpecError(f"{path}: {kind}_{index} out of order (expected {kind}_{len(values[kind])})")
        try:
            values[kind].append(float(value))
        except ValueError:
            raise SpecError(f"{path}: {kind}_{index} has the value {value!r}, not a number") from None
    return ResultFile(status, np.array(values["X"]), np.array(values["Y"]))
