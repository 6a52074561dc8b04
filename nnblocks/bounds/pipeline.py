"""Bounds cheapest first: a sequence of methods, each intersected with the bounds before it, in one time budget.

``Pipeline(stages=("interval", "crown", "alpha-crown", "lp"))`` runs interval arithmetic, then CROWN and
alpha-CROWN (each bound intersected with the previous stage's, so no stage widens a bound), then LP
tightening only for the neurons the bounds so far leave unstable, with those bounds in the LP's relaxation
(a tighter triangle than the interval bounds give). Every stage records its time, unstable count and mean
widths in :class:`StageStats`. ``compute_bounds(network, domain, method="pipeline")`` runs the default
pipeline; ``compute_bounds(..., method=Pipeline(...))`` a given one.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnblocks._results import AsDict
from nnblocks._validate import time_limit as _check_time_limit
from nnblocks.bounds.alpha import alpha_method
from nnblocks.bounds.crown import crown_method
from nnblocks.bounds.domain import InputDomain
from nnblocks.bounds.interval import interval_bounds, layer_bounds
from nnblocks.bounds.lp import _lp_tighten
from nnblocks.bounds.results import LayerBounds, NetworkBounds
from nnblocks.network import Network

__all__ = ["STAGES", "Pipeline", "PipelineBounds", "StageStats", "pipeline_method"]

STAGES = ("interval", "crown", "alpha-crown", "lp")
"""The stage names a pipeline accepts."""


@dataclass(frozen=True)
class StageStats(AsDict):
    """One stage: its name, wall-clock time (s), unstable neurons after it, mean width per layer after it,
    and whether it ran to the end (False: skipped or stopped by the time budget)."""

    stage: str
    time: float
    unstable: int
    mean_width: tuple[float, ...]
    complete: bool = True


@dataclass(frozen=True, eq=False)
class PipelineBounds(NetworkBounds):
    """:class:`NetworkBounds` with the statistics of every stage (``stages``)."""

    stages: tuple[StageStats, ...] = field(default=())


def _intersect(old: list[LayerBounds], new: tuple[LayerBounds, ...], network: Network) -> list[LayerBounds]:
    out = []
    for a, b, layer in zip(old, new, network.layers):
        lo = np.maximum(a.lower, b.lower)
        hi = np.minimum(a.upper, b.upper)
        out.append(layer_bounds(lo, np.maximum(lo, hi), layer.activation))
    return out


def _stats(stage: str, seconds: float, layers: list[LayerBounds], complete: bool) -> StageStats:
    widths = tuple(float(np.mean(lb.width)) if lb.n else 0.0 for lb in layers)
    unstable = sum(lb.n_unstable for lb in layers if lb.n_pieces > 1)
    return StageStats(stage, seconds, int(unstable), widths, complete)


@dataclass(frozen=True)
class Pipeline:
    """Bounding stages run in order, each intersected with the previous ones, inside ``time_limit`` seconds.

    Parameters
    ----------
    stages:
        Names from :data:`STAGES`, e.g. ``("interval", "crown", "lp")``; "interval" always runs first
        (it is the start of every other stage) whether listed or not.
    time_limit:
        Wall-clock budget for all stages (None: none). alpha-CROWN and LP stop when it runs out and the
        bounds reached so far are returned (``complete=False``).
    alpha_iterations:
        Projected-gradient steps of the alpha-crown stage.
    """

    stages: tuple[str, ...] = STAGES
    time_limit: float | None = None
    alpha_iterations: int = 20

    def __post_init__(self) -> None:
        stages = (self.stages,) if isinstance(self.stages, str) else tuple(self.stages)
        for s in stages:
            if s not in STAGES:
                raise ValueError(f"unknown pipeline stage {s!r}: use {', '.join(repr(n) for n in STAGES)}")
        object.__setattr__(self, "stages", stages)
        object.__setattr__(self, "time_limit", _check_time_limit(self.time_limit))

    def run(self, network: Network, domain: InputDomain, output_constraints: Any = None,
            passes: int = 1) -> PipelineBounds:
        """The bounds of every layer of ``network`` over ``domain`` (``output_constraints`` and ``passes``
        go to the LP stage, as in :func:`~nnblocks.bounds.compute_bounds`)."""
        if output_constraints is not None and "lp" not in self.stages:
            raise ValueError("output_constraints need an 'lp' stage")
        start = _time.perf_counter()
        t0 = start
        layers = interval_bounds(network, domain)
        stats = [_stats("interval", _time.perf_counter() - t0, layers, True)]
        complete, infeasible, n_lps = True, False, 0
        for stage in self.stages:
            if stage == "interval":
                continue
            left = None if self.time_limit is None else self.time_limit - (_time.perf_counter() - start)
            if left is not None and left <= 0:
                stats.append(_stats(stage, 0.0, layers, False))
                complete = False
                continue
            t0 = _time.perf_counter()
            done = True
            if stage == "crown":
                layers = _intersect(layers, crown_method(network, domain).layers, network)
            elif stage == "alpha-crown":
                res = alpha_method(network, domain, time_limit=left, alpha_iterations=self.alpha_iterations)
                layers = _intersect(layers, res.layers, network)
            else:
                layers, done, infeasible, n = _lp_tighten(network, domain, list(layers), True, left,
                                                          output_constraints, passes, _time.perf_counter())
                n_lps += n
            complete &= done
            stats.append(_stats(stage, _time.perf_counter() - t0, layers, done))
            if infeasible:
                break
        return PipelineBounds(tuple(layers), "pipeline", _time.perf_counter() - start, complete, infeasible, n_lps,
                              output_constrained=output_constraints is not None, stages=tuple(stats))


def pipeline_method(network: Network, domain: InputDomain, *, time_limit: float | None = None,
                    output_constraints: Any = None, passes: int = 1, **_: Any) -> PipelineBounds:
    """``compute_bounds(method="pipeline")``: the default :class:`Pipeline` within ``time_limit``."""
    return Pipeline(time_limit=time_limit).run(network, domain, output_constraints, passes)
