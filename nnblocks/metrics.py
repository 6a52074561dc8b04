"""The old path of :mod:`nnblocks.adversarial.metrics` (distances between networks, evaluation), re-exported."""

from nnblocks.adversarial.metrics import (
    PROBABILITY_TOL,
    Evaluation,
    ProbabilityFunction,
    accuracy,
    d_in,
    d_osd,
    evaluate,
    softmax_probabilities,
)

__all__ = [
    "PROBABILITY_TOL",
    "Evaluation",
    "ProbabilityFunction",
    "accuracy",
    "d_in",
    "d_osd",
    "evaluate",
    "softmax_probabilities",
]
