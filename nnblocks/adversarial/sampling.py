"""Sampling the uncertainty sets of networks of Rambau and Richter (Section 3 and 4).

- :func:`inner`: networks ``N`` with inner distance ``d_in(N, N_bar) = eps`` exactly (Definition 3.2, L1 norm):
  the parameter vector of the nominal network plus a direction drawn uniformly on the L1 sphere of radius eps
  (samples of the inner eps-neighbourhood, on its boundary — the hardest members for robustness).
- :func:`outer`: networks trained from scratch by a given training function and kept when their
  outer-sampling pseudo-distance to the reference is below eps (Definition 3.4, ``U^osd_eps``); the reference
  may be a Network or only a function returning probabilities (grey-box oracle).
"""

from __future__ import annotations

import time
import warnings
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnblocks._results import AsDict
from nnblocks.adversarial.metrics import ProbabilityFunction, d_osd
from nnblocks.network import Network

__all__ = ["inner", "l1_sphere", "outer", "OuterSample"]


def l1_sphere(dim: int, radius: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` points drawn uniformly from the L1 sphere ``{v in R^dim : ||v||_1 = radius}``, shape (size, dim).

    Method: magnitudes ``|v_i| = radius * e_i / sum_j e_j`` with i.i.d. standard exponential ``e_i`` — the
    normalised vector is Dirichlet(1, ..., 1), uniform on the simplex — and independent uniform random signs.
    The simplex faces are mapped onto the 2^dim facets of the sphere by the signs, and the uniform measure on
    the simplex is the surface measure of each facet, so the points are uniform on the sphere.
    """
    if dim <= 0 or size < 0:
        raise ValueError(f"need dim > 0 and size >= 0, got dim={dim}, size={size}")
    if not (np.isfinite(radius) and radius >= 0):
        raise ValueError(f"radius must be a finite non-negative number, got {radius}")
    e = rng.standard_exponential((size, dim))
    magnitudes = radius * e / e.sum(axis=1, keepdims=True)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(size, dim))
    return signs * magnitudes


def inner(
    network: Network, eps: float = 0.05, n: int = 5, rng: np.random.Generator | int | None = None
) -> list[Network]:
    """``n`` networks at inner distance exactly ``eps`` from ``network`` (Definition 3.2, L1 norm).

    Each sample is ``network.with_parameters(theta + delta)`` where ``theta`` is the flat vector of all
    weights and biases and ``delta`` is uniform on the L1 sphere of radius ``eps`` (see :func:`l1_sphere`).
    ``d_in(sample, network) == eps`` up to floating-point rounding. ``rng`` is a numpy Generator or a seed.
    """
    if not isinstance(network, Network):
        raise TypeError(f"inner sampling needs an nnblocks Network, got {type(network).__name__}")
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive finite number, got {eps}")
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    rng = np.random.default_rng(rng)
    theta = network.parameters()
    deltas = l1_sphere(theta.size, eps, n, rng)
    return [network.with_parameters(theta + delta) for delta in deltas]


@dataclass
class OuterSample(AsDict, exclude=("networks",)):
    """Result of :func:`outer`.

    ``networks`` are the accepted networks in the order they were trained, ``distances`` their d_osd to the
    reference and ``seeds`` the seeds they were trained with; ``tries`` counts the training runs evaluated,
    ``acceptances`` the accepted ones; ``tried_seeds`` and ``tried_distances`` cover every try. ``as_dict()``
    leaves the networks out (:func:`nnblocks.io.save_network` writes them).
    """

    networks: list[Network]
    distances: list[float]
    seeds: list[int]
    eps: float
    n: int
    tries: int
    tried_seeds: list[int] = field(default_factory=list)
    tried_distances: list[float] = field(default_factory=list)
    time: float = 0.0

    @property
    def acceptances(self) -> int:
        return len(self.networks)

    @property
    def acceptance_rate(self) -> float:
        return self.acceptances / self.tries if self.tries else 0.0

    @property
    def complete(self) -> bool:
        """True when the requested ``n`` networks were found within ``max_tries``."""
        return self.acceptances >= self.n


def outer(
    train: Callable[[int], Network],
    reference: Network | ProbabilityFunction,
    reference_inputs: Any,
    eps: float = 0.2,
    n: int = 5,
    max_tries: int = 100,
    first_seed: int = 1,
    executor: Executor | None = None,
    prefetch: int | None = None,
    progress: bool = True,
) -> OuterSample:
    """Sample the outer-sampling eps-neighbourhood ``U^osd_eps(reference)`` (Definition 3.4) by retraining.

    Calls ``train(seed)`` for ``seed = first_seed, first_seed + 1, ...`` and keeps the returned network when
    ``d_osd(network, reference, reference_inputs) < eps``, until ``n`` networks are kept or ``max_tries``
    networks were trained. ``reference`` may be a Network or only a function mapping inputs to
    probabilities (the grey-box oracle: the reference's weights are never needed).

    With an ``executor`` (e.g. ``concurrent.futures.ProcessPoolExecutor`` with a picklable ``train``, or a
    Dask client's executor) up to ``prefetch`` trainings (default: the executor's worker count) run at once;
    acceptance is still decided in seed order, so the result equals the sequential one.

    If fewer than ``n`` networks are accepted within ``max_tries``, a warning is issued and the result has
    ``complete == False``.
    """
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive finite number, got {eps}")
    if n < 0 or max_tries < 0:
        raise ValueError(f"n and max_tries must be non-negative, got n={n}, max_tries={max_tries}")
    X = np.asarray(reference_inputs, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"reference_inputs must be a non-empty 2-D array (m x n_0), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("reference_inputs contain NaN or infinite entries")
    from tqdm.auto import tqdm

    start = time.perf_counter()
    result = OuterSample(networks=[], distances=[], seeds=[], eps=float(eps), n=n, tries=0)
    if executor is not None and prefetch is None:
        prefetch = int(getattr(executor, "_max_workers", 2) or 2)
    prefetch = max(1, int(prefetch or 1))
    pending: deque[tuple[int, Any]] = deque()
    next_seed = first_seed
    bar = tqdm(total=n, desc="outer sampling", unit="net", disable=not progress, leave=False)
    try:
        while result.acceptances < n and result.tries < max_tries:
            if executor is None:
                seed, network = next_seed, train(next_seed)
                next_seed += 1
            else:
                while len(pending) < prefetch and next_seed - first_seed < max_tries:
                    pending.append((next_seed, executor.submit(train, next_seed)))
                    next_seed += 1
                seed, future = pending.popleft()
                network = future.result()
            if not isinstance(network, Network):
                raise TypeError(f"train({seed}) must return an nnblocks Network, got {type(network).__name__}")
            if isinstance(reference, Network) and network.layer_sizes != reference.layer_sizes:
                raise ValueError(
                    f"train({seed}) returned a network of sizes {network.layer_sizes}, the reference has "
                    f"{reference.layer_sizes}"
                )
            distance = d_osd(network, reference, X)
            result.tries += 1
            result.tried_seeds.append(seed)
            result.tried_distances.append(distance)
            if distance < eps:
                result.networks.append(network)
                result.distances.append(distance)
                result.seeds.append(seed)
                bar.update(1)
            bar.set_postfix(tries=result.tries, last=f"{distance:.4f}")
    finally:
        bar.close()
        for _, future in pending:
            future.cancel()
    result.time = time.perf_counter() - start
    if not result.complete:
        warnings.warn(
            f"outer sampling accepted {result.acceptances} of {n} networks within {max_tries} tries "
            f"(eps={eps}); smallest d_osd seen: {min(result.tried_distances, default=float('nan')):.4f}",
            RuntimeWarning,
            stacklevel=2,
        )
    return result
