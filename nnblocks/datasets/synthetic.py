"""Synthetic scenario data of Goerigk & Kurtz's experiments (after Shang, Huang & You 2017).

``synthetic(kind, n, m, seed)`` draws m scenarios c in R^n:

* ``"gaussian"``: one multivariate normal N(mu, Sigma);
* ``"mixed"``: two independent normals, each point from either with probability 1/2; the two means lie
  in different orthants ("quadrants") around the shift point;
* ``"polyhedral"``: uniform points of a budgeted set {c_i = lo_i + (hi_i - lo_i) delta_i, delta in
  [0,1]^n, sum delta <= Gamma}, Gamma = n/2 by default (the 2-D experiment used Gamma = 1 = n/2);

all shifted by +150 and clipped at 0; by default 5% of the rows (the first ones, as in the authors' files)
are outliers drawn uniformly from [0, 300]^n. ``test=True`` draws from the same distribution (same
``seed``) without outliers and independently of the training draw.

Details the papers leave open, inferred from the authors' data files (documented so results can be
judged): every mean coordinate is uniform in [-75, -25] or [25, 75] with probability 1/2 each; the
covariance is s * A'A with A uniform on [0, 1]^{n x n} and s = 400 / n (matching the spread of the
staged 2-D and 20-D covariances, whose eigenvalues range over three orders of magnitude in 20-D); each
polyhedral bound pair is two uniforms in [-75, 25] or [25, 125] (probability 1/2), widened by 10 on
each side; the budget is imposed by rejection sampling. Samples are not bit-identical to the authors'.
"""

from __future__ import annotations

import numpy as np

__all__ = ["synthetic", "SYNTHETIC_KINDS"]

SYNTHETIC_KINDS = ("gaussian", "mixed", "polyhedral")
_SHIFT = 150.0
_OUTLIER_HIGH = 300.0


def _mean(rng: np.random.Generator, n: int) -> np.ndarray:
    low = np.where(rng.random(n) <= 0.5, -75.0, 25.0)
    return low + 50.0 * rng.random(n)


def _covariance(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
    A = rng.random((n, n))
    return scale * (A.T @ A)


def synthetic(
    kind: str,
    n: int,
    m: int,
    seed: int,
    *,
    outliers: float = 0.05,
    test: bool = False,
    gamma: float | None = None,
    cov_scale: float | None = None,
) -> np.ndarray:
    """m scenarios in R^n of the given kind (an (m, n) float array; see the module docstring).

    Parameters
    ----------
    kind: "gaussian", "mixed" or "polyhedral".
    n: dimension N of a scenario.
    m: number of rows, outliers included.
    seed: fixes the distribution (means, covariances, bounds) and the draw.
    outliers: share of rows drawn uniformly from [0, 300]^n (rows 0 .. round(outliers*m)-1); ignored
        (no outliers) with ``test=True``.
    test: draw a test sample of the same distribution, independent of the training sample.
    gamma: budget of the polyhedral kind (default n / 2).
    cov_scale: s of the covariance s * A'A (default 400 / n).
    """
    if kind not in SYNTHETIC_KINDS:
        raise ValueError(f"unknown kind {kind!r}: use one of {SYNTHETIC_KINDS}")
    if int(n) < 1 or int(m) < 0:
        raise ValueError(f"need n >= 1 and m >= 0, got n={n}, m={m}")
    if not 0.0 <= outliers <= 1.0:
        raise ValueError(f"outliers must be a share in [0, 1], got {outliers}")
    n, m = int(n), int(m)
    params, train_draw, test_draw, noise = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4))
    draw = test_draw if test else train_draw
    n_out = 0 if test else int(round(outliers * m))
    k = m - n_out
    scale = 400.0 / n if cov_scale is None else float(cov_scale)
    if kind == "gaussian":
        mu, Sigma = _mean(params, n), _covariance(params, n, scale)
        X = draw.multivariate_normal(mu, Sigma, size=k, method="eigh")
    elif kind == "mixed":
        mu1, Sigma1 = _mean(params, n), _covariance(params, n, scale)
        mu2 = _mean(params, n)
        while np.array_equal(np.sign(mu1), np.sign(mu2)):  # different orthants
            mu2 = _mean(params, n)
        Sigma2 = _covariance(params, n, scale)
        first = draw.random(k) <= 0.5
        X = np.where(
            first[:, None],
            draw.multivariate_normal(mu1, Sigma1, size=k, method="eigh"),
            draw.multivariate_normal(mu2, Sigma2, size=k, method="eigh"),
        )
    else:
        G = n / 2.0 if gamma is None else float(gamma)
        base = np.where(params.random(n) <= 0.5, -75.0, 25.0)
        v = base + 100.0 * params.random((2, n))
        lo, hi = v.min(axis=0) - 10.0, v.max(axis=0) + 10.0
        deltas = np.empty((0, n))
        while deltas.shape[0] < k:  # rejection sampling of the budget constraint, in batches
            D = draw.random((max(2 * (k - deltas.shape[0]), 16), n))
            deltas = np.vstack([deltas, D[D.sum(axis=1) <= G]])
        X = lo + (hi - lo) * deltas[:k]
    X = np.maximum(X + _SHIFT, 0.0)
    if n_out:
        X = np.vstack([_OUTLIER_HIGH * noise.random((n_out, n)), X])
    return X
