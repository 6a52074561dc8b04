"""What every uncertainty set offers to the robust-optimization machinery.

An uncertainty set U answers the adversarial problem max_{c in U} c'x for a given x (the worst case of
an uncertain linear objective or constraint). Scenario generation (:mod:`nnblocks.robust.scenario`) needs
nothing else, so network, Kernel, Discrete and user-defined sets are interchangeable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import numpy as np

from nnblocks._results import AsDict
from nnblocks._validate import enum_member
from nnblocks.solve import SolveStatus

__all__ = ["WorstCase", "WorstCaseStatus", "UncertaintySet", "NetworkSet"]

UNPROVEN_METHODS = ("patterns",)
"""Methods whose "optimal" is relative to a subset of U (the union of some activation regions): never a proof."""


# the exact method passes its solve's outcome on: the worst case speaks the vocabulary of a solve
WorstCaseStatus = StrEnum("WorstCaseStatus", [(s.name, s.value) for s in SolveStatus], module=__name__)
"""Outcome of an adversarial problem: an enumeration with the members of :class:`~nnblocks.solve.SolveStatus`
(each compares equal to its string value). ``"optimal"``: the value is proved maximal (within the solver's gap);
``"feasible"``: a scenario of U without proof of maximality (heuristic, time limit); otherwise the failing
status."""
WorstCaseStatus.__doc__ = "Outcome of an adversarial problem (the members of SolveStatus; see nnblocks.robust.base)."


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
        A :class:`WorstCaseStatus` (a string given here is converted): ``"optimal"`` when the method found
        the maximum (within the solver's gap), ``"feasible"`` when a scenario is returned without proof
        (heuristic, time limit), otherwise the failing status.
    method, time, stats:
        How it was computed, wall time in seconds, and method-specific statistics.
    """

    scenario: np.ndarray
    value: float
    bound: float | None
    status: WorstCaseStatus
    method: str
    time: float
    stats: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.status = enum_member(WorstCaseStatus, self.status, "worst-case status")

    @property
    def proven(self) -> bool:
        """Whether ``value`` is proved to be max_{c in U} c'x: status optimal, a bound, and a method that
        searches all of U (not the pattern method, which is exact over the regions it searched only)."""
        return self.status == WorstCaseStatus.OPTIMAL and self.bound is not None and self.method not in UNPROVEN_METHODS

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


@runtime_checkable
class NetworkSet(Protocol):
    """What the exact method (Theorem 3) needs of a set U = {c : ||f(c) - c_bar|| <= R} (eq. (11)): the
    network f, center c_bar, radius R, norm, domain box and data, membership, and the pattern method
    (Theorem 1) for polishing a point (``worst_case(x, method="patterns", points=...)``)."""

    @property
    def network(self) -> Any: ...  # pragma: no cover - protocol

    @property
    def center(self) -> np.ndarray: ...  # pragma: no cover - protocol

    @property
    def radius(self) -> float: ...  # pragma: no cover - protocol

    @property
    def norm(self) -> int | str: ...  # pragma: no cover - protocol

    @property
    def dim(self) -> int: ...  # pragma: no cover - protocol

    @property
    def domain(self) -> tuple[np.ndarray, np.ndarray] | None: ...  # pragma: no cover - protocol

    @property
    def data(self) -> np.ndarray | None: ...  # pragma: no cover - protocol

    def radii(self, C: Any) -> np.ndarray: ...  # pragma: no cover - protocol

    def contains(self, C: Any, tol: float = ...) -> np.ndarray | bool: ...  # pragma: no cover - protocol

    def worst_case(self, x: np.ndarray, **kwargs: Any) -> WorstCase: ...  # pragma: no cover - protocol
