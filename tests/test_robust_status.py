"""Statuses of robust results are enumerations that compare equal to their strings; a worst case knows whether it
is proven."""

from __future__ import annotations

import numpy as np
import pytest

from nnblocks.robust import (
    DiscreteUncertaintySet,
    RobustSolution,
    RobustStatus,
    Termination,
    WorstCase,
    WorstCaseStatus,
    robust_obj,
)
from nnblocks.robust.problems import NOT_A_PATH


def _wc(status, bound=1.0, method="exact") -> WorstCase:
    return WorstCase(np.zeros(2), 1.0, bound, status, method, 0.0)


def test_worst_case_status_is_an_enum_equal_to_its_string():
    wc = _wc("optimal")
    assert wc.status is WorstCaseStatus.OPTIMAL and wc.status == "optimal" and f"{wc.status}" == "optimal"
    assert wc.as_dict()["status"] == "optimal"
    assert _wc(WorstCaseStatus.TIME_LIMIT_NO_SOLUTION).status == "time_limit_no_solution"


def test_an_unknown_worst_case_status_is_refused():
    with pytest.raises(ValueError, match="worst-case status must be one of .*got 'solved'"):
        _wc("solved")


@pytest.mark.parametrize(("status", "bound", "method", "proven"), [
    ("optimal", 1.0, "exact", True),
    ("optimal", 1.0, "enumeration", True),
    ("optimal", None, "exact", False),      # no bound: nothing proved
    ("feasible", 1.0, "exact", False),
    ("optimal", 1.0, "patterns", False),    # exact over the searched regions only
    ("error", None, "exact", False),
])
def test_proven(status, bound, method, proven):
    assert _wc(status, bound, method).proven is proven


def test_worst_cases_of_the_shipped_sets_carry_enum_statuses():
    U = DiscreteUncertaintySet(np.array([[1.0, 0.0], [0.0, 2.0]]))
    wc = U.worst_case(np.array([1.0, 1.0]))
    assert wc.status is WorstCaseStatus.OPTIMAL and wc.proven


def test_robust_solution_status_is_an_enum_equal_to_its_string():
    U = DiscreteUncertaintySet(np.array([[1.0, 0.0], [0.0, 2.0]]))
    sol = robust_obj(U, rhs=1.0, method="scenarios")
    assert sol.status is RobustStatus.ROBUST_OPTIMAL and sol.status == "robust_optimal" and sol.is_robust
    assert sol.status == Termination.ROBUST_OPTIMAL
    assert NOT_A_PATH is RobustStatus.NOT_A_PATH and NOT_A_PATH == "not_a_path"
    assert {s.value for s in Termination} < {s.value for s in RobustStatus}


def test_an_unknown_robust_status_is_refused():
    with pytest.raises(ValueError, match="robust status must be one of"):
        RobustSolution(problem="obj", method="scenarios", status="done", x=None, objective=None, robust_value=None,
                       worst_case=None, time=0.0, iterations=0, certified=False)
