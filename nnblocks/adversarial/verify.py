"""The independent check of an adversarial example: a float64 forward pass of every network against the margin."""

from __future__ import annotations

import numpy as np

__all__ = ["VERIFY_TOL", "check_margins", "verify"]

VERIFY_TOL = 1e-6
"""Absolute tolerance (scaled by max(1, |output|)) of the float64 margin check of ``verified``."""


def check_margins(networks, x, target, gamma, kind, min_output) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per network: does the float64 forward pass y = N(x) meet the margin (bool), its smallest slack, and y.

    Network i passes when every slack is at least -VERIFY_TOL * max(1, max_j |y_j|):

    - ratio margin: y_t - (1 + gamma) y_j for every j != t, and y_t - min_output (and y_t > 0);
    - difference margin: y_t - y_j - gamma for every j != t.

    For gamma = 0 this is y_t >= y_j for every j != t within the tolerance: a tie counts for the target
    (no argmax test, which would let the order of equal outputs decide). The MILP's rows are the same
    inequalities with slack >= 0 up to the solver's feasibility tolerance (1e-6 for SCIP, 1e-7 for HiGHS),
    which the scaled tolerance here accepts.
    """
    Y = np.vstack([np.asarray(net.forward(x), dtype=np.float64).reshape(-1) for net in networks])
    yt = Y[:, target]
    others = np.delete(Y, target, axis=1)
    scale = np.maximum(1.0, np.abs(Y).max(axis=1))
    if kind == "ratio":
        slack = np.minimum((yt[:, None] - (1 + gamma) * others).min(axis=1, initial=np.inf), yt - min_output)
    else:
        slack = (yt[:, None] - others - gamma).min(axis=1, initial=np.inf)
    passed = slack >= -VERIFY_TOL * scale
    if kind == "ratio":
        passed &= yt > 0
    return passed, slack, Y


def verify(networks, x, target, gamma, kind, min_output) -> tuple[bool, np.ndarray, np.ndarray]:
    """(every network passes :func:`check_margins`, slack per network, outputs per network)."""
    passed, slack, Y = check_margins(networks, x, target, gamma, kind, min_output)
    return bool(np.all(passed)), slack, Y
