"""What every uncertainty set offers to the robust-optimization machinery.

An uncertainty set U answers the adversarial problem max_{c in U} c'x for a given x (the worst case of
an uncertain linear objective or constraint). Scenario generation (:mod:`nnblocks.robust.scenario`) needs
nothing else, so network, Kernel, Discrete and user-defined sets are interchangeable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from nnblocks._results import AsDict

__all__ = ["WorstCase", "UncertaintySet"]


@dataclass
class WorstCase(AsDict):
    """Result of the adversarial problem max_{c in U} c'x.

    Attributes
    ----------
    scenario:
        The maximising c (a member of U, checked by the set where it can).
    value:
        c'x at ``scenario`` (a lower bound on the true maximum).
    bound:
        An upper bound on max_{c in U} c'x where the method proves one (``None`` otherwise); equal to
        ``value`` up to the gap when solved to optimality.
    status:
        ``"optimal"`` when value is proved maximal (within the solver's gap), ``"feasible"`` when a
        scenario is returned without proof (heuristic, time limit), otherwise the failing status.
    method, time, stats:
        How it was computed, wall time in seconds, and method-specific statistics.
    """

    scenario: np.ndarray
    value: float
    bound: float | None
    status: str
    method: str
    time: float
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def gap(self) -> float | None:
        """Relative gap (bound - value) / max(1, |value|), or None without a bound."""
        if self.bound is None:
            return None
        return (self.bound - self.value) / max(1.0, abs(self.value))


@runtime_checkable
class UncertaintySet(Protocol):
    """The protocol of an uncertainty set: its dimension and its adversarial problem."""

    @property
    def dim(self) -> int:  # pragma: no cover - protocol
        ...

    def worst_case(self, x: np.ndarray, **kwargs: Any) -> WorstCase:  # pragma: no cover - protocol
        ...
