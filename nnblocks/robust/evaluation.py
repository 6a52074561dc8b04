"""Out-of-sample evaluation of robust solutions (Goerigk & Kurtz, Section 4): the values c'x over test
scenarios, their mean and quantile, and the share of scenarios in which an uncertain constraint holds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnblocks._validate import nonnegative

__all__ = ["OutOfSample", "out_of_sample"]


@dataclass(frozen=True)
class OutOfSample:
    """Statistics of v_j = (c^j)'x over test scenarios c^j.

    ``quantile`` is the empirical ``level``-quantile of v (linear interpolation, as numpy); with ``rhs``
    given, ``feasible_share`` is the share of j with v_j <= rhs + atol and ``n_infeasible`` their complement.
    """

    mean: float
    quantile: float
    level: float
    minimum: float
    maximum: float
    n: int
    feasible_share: float | None
    n_infeasible: int | None
    values: np.ndarray

    def as_dict(self) -> dict:
        """The statistics without the values (for JSON records)."""
        return {"oos_mean": self.mean, "oos_quantile": self.quantile, "oos_level": self.level,
                "oos_min": self.minimum, "oos_max": self.maximum, "oos_n": self.n,
                "oos_feasible_share": self.feasible_share, "oos_infeasible": self.n_infeasible}


def _check_finite(a: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(a)
    if bad.any():
        where = [tuple(p) for p in np.argwhere(bad)[:5].tolist()] if a.ndim > 1 else np.flatnonzero(bad)[:5].tolist()
        kind = "(row, column)" if a.ndim > 1 else "index"
        more = " ..." if bad.sum() > 5 else ""
        raise ValueError(f"{name} contains {int(bad.sum())} NaN or infinite value(s), at {kind} {where}{more}")


def out_of_sample(x: np.ndarray, scenarios: np.ndarray, level: float = 0.9, rhs: float | None = None,
                  atol: float = 1e-6) -> OutOfSample:
    """Evaluate x on test scenarios (rows of ``scenarios``).

    ``atol`` is the tolerance of the feasibility check v_j <= rhs + atol (Goerigk & Kurtz's evaluation uses
    0.01 on the synthetic data). x, the scenarios and ``rhs`` must be finite (``ValueError`` otherwise).
    """
    x = np.asarray(x, dtype=float).ravel()
    C = np.atleast_2d(np.asarray(scenarios, dtype=float))
    if C.ndim != 2:
        raise ValueError(f"scenarios must be a 2-D array (scenarios x dimension), got shape {C.shape}")
    if C.shape[1] != x.size:
        raise ValueError(f"scenarios have {C.shape[1]} columns, x has {x.size} entries")
    if C.shape[0] == 0:
        raise ValueError("no test scenarios")
    _check_finite(x, "x")
    _check_finite(C, "scenarios")
    if not 0.0 <= level <= 1.0:
        raise ValueError(f"level must lie in [0, 1], got {level}")
    if rhs is not None and not np.isfinite(rhs):
        raise ValueError(f"rhs must be a finite number, got {rhs}")
    nonnegative(atol, "atol")
    v = C @ x
    share = n_inf = None
    if rhs is not None:
        ok = v <= rhs + atol
        share = float(ok.mean())
        n_inf = int((~ok).sum())
    return OutOfSample(mean=float(v.mean()), quantile=float(np.quantile(v, level)), level=float(level),
                       minimum=float(v.min()), maximum=float(v.max()), n=int(v.size), feasible_share=share,
                       n_infeasible=n_inf, values=v)
