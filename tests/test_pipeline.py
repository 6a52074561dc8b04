"""The bounds pipeline: every stage intersected with the previous (never wider), sound, LP only for what is still
unstable, statistics per stage, the time budget, and the ways to ask for it."""

from __future__ import annotations

import numpy as np
import pytest

import nnblocks as nb
from nnblocks.bounds import InputDomain, Pipeline, PipelineBounds, compute_bounds


def network(seed: int = 0) -> nb.Network:
    rng = np.random.default_rng(seed)
    sizes = [4, 16, 16, 3]
    layers = [nb.Layer(rng.normal(size=(b, a)) / np.sqrt(a), rng.normal(size=b) * 0.3,
                       nb.ReLU() if k < 2 else nb.Identity()) for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))]
    return nb.Network(layers)


DOMAIN = InputDomain.ball(np.zeros(4), "inf", 0.6, -0.8, 0.5)


def test_each_stage_is_never_wider_and_the_result_is_sound():
    pytest.importorskip("torch")
    net = network()
    res = compute_bounds(net, DOMAIN, method="pipeline")
    assert isinstance(res, PipelineBounds) and res.method == "pipeline" and res.complete
    assert [s.stage for s in res.stages] == ["interval", "crown", "alpha-crown", "lp"]
    for before, after in zip(res.stages, res.stages[1:]):
        assert after.unstable <= before.unstable
        assert all(w1 <= w0 + 1e-12 for w0, w1 in zip(before.mean_width, after.mean_width))
    rng = np.random.default_rng(1)
    X = np.clip(rng.normal(size=(20000, 4)), -0.8, 0.8)
    X = X[DOMAIN.contains(X)]
    for k, pre in enumerate(net.pre_activations(X)):
        assert np.all(pre >= res.layers[k].lower) and np.all(pre <= res.layers[k].upper)
    for m in ("interval", "crown", "lp"):
        other = compute_bounds(net, DOMAIN, method=m)
        for a, b in zip(res.layers, other.layers):
            # the LP stage tightens only what is still unstable, and not the lower bound of a proven-inactive ReLU
            mask = (~a.stable | (a.n_pieces == 1)) if m == "lp" else np.ones(a.n, dtype=bool)
            tol = 1e-7 * (1 + np.abs(b.lower) + np.abs(b.upper))
            assert np.all(((a.lower >= b.lower - tol) | (a.upper <= 0)) | ~mask)
            assert np.all((a.upper <= b.upper + tol) | ~mask)
    assert res.as_dict()["stages"][0]["stage"] == "interval"


def test_lp_stage_only_for_unstable_neurons_and_given_pipelines():
    net = network(2)
    short = compute_bounds(net, DOMAIN, method=Pipeline(("interval", "crown", "lp")))
    assert [s.stage for s in short.stages] == ["interval", "crown", "lp"]
    full = compute_bounds(net, DOMAIN, method="lp")
    assert short.n_lps <= full.n_lps
    crown_only = compute_bounds(net, DOMAIN, method=Pipeline(("crown",)))
    assert crown_only.n_lps == 0 and [s.stage for s in crown_only.stages] == ["interval", "crown"]


def test_time_budget_and_errors():
    net = network(3)
    res = compute_bounds(net, DOMAIN, method=Pipeline(("interval", "crown", "lp"), time_limit=1e-9))
    assert not res.complete and not res.stages[-1].complete
    with pytest.raises(ValueError, match="unknown pipeline stage"):
        Pipeline(("interval", "zonotope"))
    with pytest.raises(ValueError, match="time_limit"):
        Pipeline(time_limit=-1)
    with pytest.raises(ValueError, match="need an 'lp' stage"):
        compute_bounds(net, DOMAIN, method=Pipeline(("crown",)), output_constraints=(np.ones((1, 3)), [0.0]))


@pytest.mark.parametrize("seed", range(6))
def test_pipeline_is_inside_lp_tightening_where_it_matters(seed):
    """On random networks and boxes: every neuron the pipeline leaves unstable, and every output neuron, has
    bounds inside plain LP tightening's (to the LP's dual-bound tolerance); the pipeline proves every neuron
    stable that LP tightening proves stable; both sound on samples."""
    rng = np.random.default_rng(seed)
    sizes = [3, *rng.integers(6, 14, size=int(rng.integers(2, 4))).tolist(), 2]
    layers = [nb.Layer(rng.normal(size=(b, a)) / np.sqrt(a), rng.normal(size=b) * 0.3,
                       nb.ReLU() if k < len(sizes) - 2 else nb.Identity())
              for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))]
    net = nb.Network(layers)
    lo = rng.uniform(-1, 0, 3)
    dom = InputDomain.box(lo, lo + rng.uniform(0.2, 1.5, 3))
    stages = ("interval", "crown", "lp")
    pipe = compute_bounds(net, dom, method=Pipeline(stages))
    lp = compute_bounds(net, dom, method="lp")
    X = rng.uniform(dom.lower, dom.upper, size=(5000, 3))
    for k, (a, b) in enumerate(zip(pipe.layers, lp.layers)):
        pre = net.pre_activations(X)[k]
        assert np.all(pre >= a.lower) and np.all(pre <= a.upper)
        tol = 1e-7 * (1 + np.abs(b.lower) + np.abs(b.upper))
        matters = ~a.stable | (a.n_pieces == 1)
        assert np.all((a.lower >= b.lower - tol) | ~matters | (a.upper <= 0))
        assert np.all((a.upper <= b.upper + tol) | ~matters)
        if a.n_pieces > 1:
            assert np.all(a.stable | ~b.stable)
