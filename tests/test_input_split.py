"""Input splitting's bounds: forward-mode linear bounds and CROWN's output rows with their input coefficients are
sound (sampled inputs never leave them), inside the interval bounds, and the branch and bound with them agrees
with enumeration."""

from __future__ import annotations

import time

import numpy as np
import pytest

import nnblocks as nb
from nnblocks.activations import HardTanh
from nnblocks.bounds.crown import BallDomain, crown, crown_rows
from nnblocks.bounds.forward import forward_bounds, is_chain
from nnblocks.bounds.output import as_graph
from nnblocks.graph import Linear
from nnblocks.verify.bounds import input_groups
from nnblocks.verify.branch import split_inputs
from tests.test_crown import ACTS, random_network
from tests.test_verify import random_network as relu_network
from tests.test_verify import random_spec


def _boxes(rng: np.random.Generator, B: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    lo = rng.uniform(-1.5, 0.5, (B, n))
    return lo, lo + rng.uniform(0.01, 2.0, (B, n)) * (rng.random((B, n)) < 0.8)  # some boxes flat in some sides


def _tensors(graph, X: np.ndarray) -> list[np.ndarray]:
    out = [X]
    for node in graph.nodes:
        out.append(node.op.forward([out[-1]]))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_forward_bounds_sound_and_inside_interval(seed):
    rng = np.random.default_rng(seed)
    n_in = int(rng.integers(1, 6))
    acts = [ACTS[int(i)] for i in rng.integers(0, len(ACTS), 3)]
    net = random_network(rng, [n_in, 8, 7, 6, 3], acts)
    graph = as_graph(net)
    assert is_chain(graph)
    lo, hi = _boxes(rng, 40, n_in)
    T = forward_bounds(graph, lo, hi)
    assert T is not None
    I = graph.interval_bounds(lo, hi)
    X = lo[:, None, :] + rng.random((40, 300, n_in)) * (hi - lo)[:, None, :]
    X[:, :2] = np.stack([lo, hi], axis=1)  # two corners
    Z = _tensors(graph, X.reshape(-1, n_in))
    for t, z in enumerate(Z):
        z = z.reshape(40, 300, -1)
        assert np.all(z >= T[t][0][:, None, :]) and np.all(z <= T[t][1][:, None, :]), t
        assert np.all(T[t][0] >= I[t][0]) and np.all(T[t][1] <= I[t][1]), t


@pytest.mark.parametrize("seed", range(6))
def test_crown_rows_sound_with_coefficients(seed):
    rng = np.random.default_rng(100 + seed)
    n_in = int(rng.integers(1, 6))
    acts = [nb.ReLU(), nb.LeakyReLU(0.1), HardTanh(-1.0, 1.0)]
    net = random_network(rng, [n_in, 9, 8, 4], [acts[int(i)] for i in rng.integers(0, 3, 2)])
    graph = as_graph(net)
    C = rng.normal(size=(5, 4))
    lo, hi = _boxes(rng, 30, n_in)
    plain = crown(graph, BallDomain(lo, hi), C, only_unstable=True).lower
    for start, tighten in [(None, True), (forward_bounds(graph, lo, hi), True), (forward_bounds(graph, lo, hi), False)]:
        low, coef, tensors = crown_rows(graph, lo, hi, C, start=start, tighten=tighten)
        if start is None:
            np.testing.assert_allclose(low, plain, rtol=1e-9, atol=1e-9)
        X = lo[:, None, :] + rng.random((30, 300, n_in)) * (hi - lo)[:, None, :]
        Y = net.forward(X.reshape(-1, n_in)).reshape(30, 300, -1) @ C.T
        assert np.all(Y >= low[:, None, :])
        # where the linear bound gave the row's bound (not the interval bound of the output), coef x + d with
        # d = low - min over the box of coef x is below C f(x) as well
        ilo = Linear([C]).interval([tensors[-1][0]], [tensors[-1][1]])[0]
        d = low - np.einsum("bmn,bn->bm", np.maximum(coef, 0), lo) - np.einsum("bmn,bn->bm", np.minimum(coef, 0), hi)
        lin = np.einsum("bmn,bsn->bsm", coef, X) + d[:, None, :]
        from_linear = (low > ilo)[:, None, :]
        assert np.all((Y >= lin - 1e-9 * (1 + np.abs(lin))) | ~from_linear)
        for t, z in enumerate(_tensors(graph, X.reshape(-1, n_in))):
            z = z.reshape(30, 300, -1)
            assert np.all(z >= tensors[t][0][:, None, :]) and np.all(z <= tensors[t][1][:, None, :])


def test_forward_start_no_looser_than_interval_start():
    """With the forward-mode start, CROWN flags no more neurons unstable than with interval bounds alone."""
    rng = np.random.default_rng(3)
    net = relu_network(rng, 3, (12, 12, 12), 4)
    graph = as_graph(net)
    lo, hi = _boxes(rng, 50, 3)
    _, _, plain = crown_rows(graph, lo, hi, np.eye(4))
    _, _, fwd = crown_rows(graph, lo, hi, np.eye(4), start=forward_bounds(graph, lo, hi))
    unstable = [int(np.sum((T[t][0] < 0) & (T[t][1] > 0))) for T in (plain, fwd) for t in (1, 3, 5)]
    assert sum(unstable[3:]) <= sum(unstable[:3])


@pytest.mark.parametrize("seed", range(12))
def test_split_inputs_agrees_with_enumeration(seed):
    rng = np.random.default_rng(1000 + seed)
    net = relu_network(rng, 2, (5, 4), 3)
    drawn = random_spec(rng, net, polytope=seed % 3 == 0)
    if drawn is None:
        pytest.skip("spec near the decision boundary")
    spec, sat = drawn
    answers = []
    for group in input_groups(spec, list(range(len(spec.disjuncts)))):
        answer, cx, _ = split_inputs(net, spec, group, time.perf_counter() + 30.0)
        assert answer in ("sat", "unsat")
        if answer == "sat":
            assert spec.counterexample_check(cx.x, net.forward(cx.x)) is not None
        answers.append(answer)
    assert ("sat" in answers) == sat
