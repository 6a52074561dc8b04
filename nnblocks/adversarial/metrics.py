"""Distances between networks and statistics of adversarial examples (Rambau and Richter, Sections 3 and 5).

- :func:`d_in`: inner distance (Definition 3.2) with the L1 norm used in the paper's experiments,
  ``d_in(N, N') = ||(w, b) - (w', b')||_1`` over all weights and biases;
- :func:`d_osd`: outer-sampling pseudo-distance (Definition 3.4),
  ``d_osd(N, N') = ||O_N - O_N'||_1 / m`` with ``O_N = (p_N(x^1), ..., p_N(x^m))`` the classification
  probabilities ``p_N = softmax(f_N)`` on m reference inputs, the L1 norm taken over all entries;
- :func:`evaluate`: the statistics of Tables 4 and 5 for one input over a set of networks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnblocks._validate import integer
from nnblocks.network import Network

__all__ = ["ProbabilityFunction", "d_in", "d_osd", "softmax_probabilities", "accuracy", "evaluate", "Evaluation"]

ProbabilityFunction = Callable[[np.ndarray], np.ndarray]
"""A function mapping inputs (m x n_0) to classification probabilities (m x n_K): a grey-box oracle. Its values
are checked: entries >= 0 and rows summing to 1, up to ``PROBABILITY_TOL``."""


def _softmax(Y: np.ndarray) -> np.ndarray:
    Z = Y - Y.max(axis=-1, keepdims=True)  # shift for numerical stability; softmax is shift-invariant
    E = np.exp(Z)
    return E / E.sum(axis=-1, keepdims=True)


def softmax_probabilities(network: Network, X: Any) -> np.ndarray:
    """Classification probabilities ``p_N(x) = softmax(f_N(x))`` (Section 2): shape (N, n_K), or (n_K,)."""
    return _softmax(network.forward(X))


PROBABILITY_TOL = 1e-5
"""Tolerance of the check that a probability function returns probabilities (entries >= 0, rows summing to 1);
for outputs of a low-precision float type, C times its machine epsilon when that is larger (C classes)."""


def _probabilities(model: Network | ProbabilityFunction, X: np.ndarray) -> np.ndarray:
    if isinstance(model, Network):
        return softmax_probabilities(model, X)
    if not callable(model):
        raise TypeError(f"expected a Network or a function returning probabilities, got {type(model).__name__}")
    raw = np.asarray(model(X))
    P = raw.astype(np.float64)
    if P.ndim != 2 or P.shape[0] != X.shape[0]:
        raise ValueError(f"probability function returned shape {P.shape} for {X.shape[0]} inputs; expected (m, C)")
    if not np.all(np.isfinite(P)):
        raise ValueError("probability function returned NaN or infinite values")
    sums = P.sum(axis=1)
    # a low-precision softmax (float16) rounds each of the C entries by up to its eps
    tol = PROBABILITY_TOL
    if raw.dtype.kind == "f":
        tol = max(tol, P.shape[1] * float(np.finfo(raw.dtype).eps))
    if P.size and (P.min() < -tol or np.abs(sums - 1.0).max() > tol):
        raise ValueError(
            f"probability function returned values that are not probabilities (smallest entry {P.min():.6g}, "
            f"row sums from {sums.min():.6g} to {sums.max():.6g}); expected entries >= 0 and rows summing to 1"
        )
    return P


def _class_index(value: Any, name: str) -> int:
    try:
        return integer(value, name)
    except TypeError:
        raise ValueError(f"{name} must be a class index (an integer), got {value!r}") from None


def d_in(network1: Network, network2: Network) -> float:
    """Inner distance (Definition 3.2, L1 norm): the sum of absolute differences of all weights and biases."""
    if network1.layer_sizes != network2.layer_sizes:
        raise ValueError(
            f"the inner distance needs networks of the same structure, got {network1.layer_sizes} "
            f"and {network2.layer_sizes}"
        )
    return float(np.abs(network1.parameters() - network2.parameters()).sum())


def d_osd(
    network1: Network | ProbabilityFunction,
    network2: Network | ProbabilityFunction,
    reference_inputs: Any,
) -> float:
    """Outer-sampling pseudo-distance (Definition 3.4): ``||O_N - O_N'||_1 / m``.

    ``O_N`` stacks the classification probabilities of the m reference inputs (rows of
    ``reference_inputs``); the L1 norm sums absolute differences over all m x n_K entries. Either network
    may be given only as a function returning probabilities (a grey-box oracle).

    Definition 3.4 indexes the samples ``x^0, ..., x^m`` and divides by m; here m is the number of reference
    inputs (the paper's experiment: the first 50 training images, m = 50), so ``d_osd`` is the mean over the
    reference inputs of ``||p_N(x) - p_N'(x)||_1`` and lies in [0, 2].
    """
    X = np.asarray(reference_inputs, dtype=np.float64)
    if X.ndim == 1:
        X = X.reshape(1, -1)
    if X.shape[0] == 0:
        raise ValueError("d_osd needs at least one reference input")
    if not np.all(np.isfinite(X)):
        raise ValueError("reference_inputs contain NaN or infinite entries")
    P1 = _probabilities(network1, X)
    P2 = _probabilities(network2, X)
    if P1.shape != P2.shape:
        raise ValueError(f"probability shapes differ: {P1.shape} and {P2.shape}")
    return float(np.abs(P1 - P2).sum() / X.shape[0])


def accuracy(network: Network | ProbabilityFunction, X: Any, y: Any) -> float:
    """Share of inputs whose classification ``argmax p_N(x)`` equals the label (ties: lowest index)."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).reshape(-1)
    if X.ndim == 1:
        X = X.reshape(1, -1)
    if X.shape[0] != y.size:
        raise ValueError(f"{X.shape[0]} inputs but {y.size} labels")
    scores = network.forward(X) if isinstance(network, Network) else _probabilities(network, X)
    return float(np.mean(np.argmax(scores, axis=1) == y))


@dataclass(frozen=True)
class Evaluation:
    """Statistics of one input over a set of networks (Rambau and Richter, Tables 4 and 5).

    Shares of networks classifying the input as the target class, the true class, or another class
    (``*_share``); mean classification probabilities of the target, the true class, and all other classes
    together (``*_probability``); the weak confidence ``mean(p_target - p_true)``. ``probabilities`` holds
    the per-network probabilities (n_networks x n_K) and ``classes`` the per-network classifications.
    """

    n_networks: int
    true: int
    target: int
    target_share: float
    true_share: float
    other_share: float
    target_probability: float
    true_probability: float
    other_probability: float
    weak_confidence: float
    classes: np.ndarray
    probabilities: np.ndarray

    def as_dict(self) -> dict[str, Any]:
        """The scalar statistics as a JSON-ready dict."""
        return {
            "n_networks": self.n_networks,
            "true": self.true,
            "target": self.target,
            "target_share": self.target_share,
            "true_share": self.true_share,
            "other_share": self.other_share,
            "target_probability": self.target_probability,
            "true_probability": self.true_probability,
            "other_probability": self.other_probability,
            "weak_confidence": self.weak_confidence,
        }


def evaluate(
    x_adv: Any,
    networks: Network | ProbabilityFunction | Sequence[Network | ProbabilityFunction],
    true: int,
    target: int,
) -> Evaluation:
    """Classify ``x_adv`` by every network and summarise as in Tables 4 and 5 of the paper.

    Classification is ``argmax p_N(x_adv)`` (ties: lowest index). Networks may also be probability
    functions (their values are checked to be probabilities); a single network or function is a set of one.
    """
    if x_adv is None:
        raise ValueError("x_adv is None: there is no example to evaluate")
    x = np.asarray(x_adv, dtype=np.float64).reshape(1, -1)
    if not np.all(np.isfinite(x)):
        raise ValueError("x_adv contains NaN or infinite entries")
    networks = [networks] if isinstance(networks, Network) or callable(networks) else list(networks)
    if not networks:
        raise ValueError("evaluate needs at least one network")
    true, target = _class_index(true, "true"), _class_index(target, "target")
    if true == target:
        raise ValueError(f"true class and target class must differ, both are {true}")
    probs = [_probabilities(net, x) for net in networks]
    for i, p in enumerate(probs):
        if p.shape[1] != probs[0].shape[1]:
            raise ValueError(f"networks[{i}] gives {p.shape[1]} class probabilities, networks[0] {probs[0].shape[1]}")
    P = np.vstack(probs)
    n_classes = P.shape[1]
    for name, c in (("true", true), ("target", target)):
        if not 0 <= c < n_classes:
            raise ValueError(f"{name} class {c} out of range 0..{n_classes - 1}")
    classes = np.argmax(P, axis=1)
    is_target = classes == target
    is_true = classes == true
    p_target, p_true = P[:, target], P[:, true]
    return Evaluation(
        n_networks=len(networks),
        true=true,
        target=target,
        target_share=float(is_target.mean()),
        true_share=float(is_true.mean()),
        other_share=float((~is_target & ~is_true).mean()),
        target_probability=float(p_target.mean()),
        true_probability=float(p_true.mean()),
        other_probability=float((1.0 - p_target - p_true).mean()),
        weak_confidence=float((p_target - p_true).mean()),
        classes=classes,
        probabilities=P,
    )
