"""Adversarial examples by MIP: FJ for one network, ARFJ over a set of networks, sampling and metrics of networks.
A new model builder goes beside ``model.py`` (on ``FJProblem``, ``build_model``), a new heuristic into ``heuristic.py``.
"""

from nnblocks.adversarial.generation import arfj
from nnblocks.adversarial.heuristic import HEURISTIC_TIME, MIN_HEURISTIC_TIME
from nnblocks.adversarial.model import BOUNDS, CONFIGS, FJProblem, ModelRecord, arfj_model, build_model, fj_model
from nnblocks.adversarial.result import AdversarialResult
from nnblocks.adversarial.solving import DEFAULT_MIP_GAP, fj
from nnblocks.adversarial.verify import VERIFY_TOL

__all__ = [
    "BOUNDS",
    "CONFIGS",
    "DEFAULT_MIP_GAP",
    "HEURISTIC_TIME",
    "MIN_HEURISTIC_TIME",
    "VERIFY_TOL",
    "AdversarialResult",
    "FJProblem",
    "ModelRecord",
    "arfj",
    "arfj_model",
    "build_model",
    "fj",
    "fj_model",
]
