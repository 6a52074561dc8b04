"""Classical uncertainty sets as network uncertainty sets (Goerigk & Kurtz, Lemma 4).

Each constructor returns ``(network, center, radius)`` such that, with the Euclidean norm,
U_f(W, c_bar, R) = {c : ||f(c) - c_bar||_2 <= R} equals the given set:

* case (i), :func:`ellipsoid_network`: {c : (c - a)' Sigma (c - a) <= 1} with f(c) = V (c - a), V'V = Sigma,
  c_bar = 0, R = 1 (two identity layers);
* case (ii), :func:`polyhedron_network`: {c : A c <= b} with f(c) = relu(A c - b), c_bar = 0, R = 0;
* case (iii), :func:`binary_polytope_network`: {c in {0,1}^N : A c = b} with one layer
  f(c) = sigma([I; A; A] c + [0; -b; 1 - b]) and the four-piece activation sigma, zero exactly at 0 and 1.

They give exact oracles: max c'x over the ellipsoid is a'x + sqrt(x' Sigma^{-1} x), over the polyhedron
one LP, over the binary set an enumeration.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnblocks.activations import Identity, PiecewiseLinear, ReLU
from nnblocks.network import Layer, Network

__all__ = ["ellipsoid_network", "polyhedron_network", "binary_polytope_network", "zero_one_activation"]


def _matrix(A: Any, name: str) -> np.ndarray:
    A = np.atleast_2d(np.asarray(A, dtype=np.float64))
    if A.ndim != 2 or not np.all(np.isfinite(A)):
        raise ValueError(f"{name} must be a finite 2-D array")
    return A


def _rhs(b: Any, p: int) -> np.ndarray:
    b = np.asarray(b, dtype=np.float64).ravel()
    if b.shape != (p,) or not np.all(np.isfinite(b)):
        raise ValueError(f"b must be a finite vector of length {p}, got shape {b.shape}")
    return b


def ellipsoid_network(Sigma: Any, a: Any) -> tuple[Network, np.ndarray, float]:
    """Case (i): the ellipsoid {c : (c - a)' Sigma (c - a) <= 1}, Sigma symmetric positive definite."""
    Sigma = _matrix(Sigma, "Sigma")
    a = np.asarray(a, dtype=np.float64).ravel()
    n = a.size
    if Sigma.shape != (n, n):
        raise ValueError(f"Sigma must be {n} x {n} to match a, got {Sigma.shape}")
    if not np.allclose(Sigma, Sigma.T):
        raise ValueError("Sigma must be symmetric")
    try:
        L = np.linalg.cholesky(Sigma)  # Sigma = L L', so V = L' satisfies V'V = Sigma
    except np.linalg.LinAlgError:
        raise ValueError("Sigma must be positive definite (Cholesky factorisation failed)") from None
    net = Network([Layer(np.eye(n), -a, Identity()), Layer(L.T, np.zeros(n), Identity())])
    return net, np.zeros(n), 1.0


def polyhedron_network(A: Any, b: Any) -> tuple[Network, np.ndarray, float]:
    """Case (ii): the polyhedron {c : A c <= b}."""
    A = _matrix(A, "A")
    b = _rhs(b, A.shape[0])
    return Network([Layer(A, -b, ReLU())]), np.zeros(A.shape[0]), 0.0


def zero_one_activation() -> PiecewiseLinear:
    """sigma(z) = -z (z <= 0), z (0..1/2), 1 - z (1/2..1), z - 1 (z >= 1): zero exactly at 0 and 1."""
    return PiecewiseLinear([0.0, 0.5, 1.0], [-1.0, 1.0, -1.0, 1.0], [0.0, 0.0, 1.0, -1.0])


def binary_polytope_network(A: Any, b: Any) -> tuple[Network, np.ndarray, float]:
    """Case (iii): the binary points {c in {0,1}^N : A c = b}."""
    A = _matrix(A, "A")
    p, n = A.shape
    b = _rhs(b, p)
    W = np.vstack([np.eye(n), A, A])
    bias = np.concatenate([np.zeros(n), -b, 1.0 - b])
    return Network([Layer(W, bias, zero_one_activation())]), np.zeros(n + 2 * p), 0.0
