"""What :func:`nnblocks.verify` returns: the status, the counterexample and what each stage did."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from nnblocks._results import AsDict

__all__ = ["STAGES", "StageStats", "VerifyResult", "VerifyStatus"]

STAGES = ("falsify", "bounds", "branch", "milp")
"""The stages of :func:`nnblocks.verify`, cheapest first."""


class VerifyStatus(StrEnum):
    """Answer to "does some input of the spec's input set give an output of its unsafe set?" (VNN-COMP's words)."""

    SAT = "sat"
    """A counterexample exists: ``x`` and ``y = f(x)`` (float64 forward pass) satisfy one disjunct of the spec."""
    UNSAT = "unsat"
    """No counterexample exists: proved by sound bounds or by a solver's infeasibility proof."""
    TIMEOUT = "timeout"
    """The time limit was reached before an answer (or a stage could not decide: nothing is claimed)."""
    ERROR = "error"
    """A stage failed (a solver error, a network or spec that cannot be handled): nothing is claimed."""


@dataclass
class StageStats(AsDict):
    """One stage's work: wall time (s), its outcome and its counts.

    ``outcome``: ``"sat"``, ``"unsat"`` (the stage decided), ``"open"`` (it ran, some disjuncts remain),
    ``"timeout"`` (stopped by the time limit), ``"skipped"`` (nothing left to do or not applicable; ``note``
    says why) or ``"error"``. ``counts`` are what it did, e.g. ``samples``, ``pgd_steps`` (falsify),
    ``refuted`` disjuncts (bounds), ``boxes``, ``bound_calls``, ``max_depth`` (branch), ``milps`` (milp).
    """

    stage: str
    time: float = 0.0
    outcome: str = "open"
    counts: dict[str, Any] = field(default_factory=dict)
    note: str = ""


@dataclass
class VerifyResult(AsDict):
    """Result of :func:`nnblocks.verify`.

    ``x``, ``y``: the counterexample (``sat`` only), ``y`` its float64 forward pass; ``disjunct`` the index of
    the spec's disjunct they satisfy. ``stage`` the stage that decided (``falsify``, ``bounds``, ``branch``,
    ``milp``; None when undecided). ``time`` wall seconds in all; ``stages`` one :class:`StageStats` per stage
    run, in order; ``refuted`` the disjuncts proved to have no point (all of them for ``unsat``); ``message``
    says why an undecided run stopped.
    """

    status: VerifyStatus
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    disjunct: int | None = None
    stage: str | None = None
    time: float = 0.0
    stages: list[StageStats] = field(default_factory=list)
    refuted: list[int] = field(default_factory=list)
    message: str = ""

    @property
    def decided(self) -> bool:
        """True for ``sat`` and ``unsat``."""
        return self.status in (VerifyStatus.SAT, VerifyStatus.UNSAT)

    def stage_stats(self, stage: str) -> StageStats | None:
        """The statistics of ``stage`` (None when it did not run)."""
        return next((s for s in self.stages if s.stage == stage), None)
