"""nnblocks.verify: never a wrong answer.

Oracle: on a network small enough to enumerate every activation pattern, the network is affine on each
pattern's region (a polytope), so min over the input set of the violation max_i (A f(x) - b)_i is the least of
one LP per pattern (scipy's HiGHS). ``sat`` iff that minimum is <= 0. Specs are drawn away from the boundary
(|minimum| >= 1e-3) so that the oracle's own tolerances do not matter. Every counterexample is re-checked by
onnxruntime on the exported network (float32, to float32 tolerance) and by the spec.
"""

from __future__ import annotations

import csv
import functools
import itertools
import json

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

import nnblocks as nb
from nnblocks.bounds import OUTPUT_METHODS
from nnblocks.spec import Disjunct, Spec, box_spec, not_argmax_spec, write_result
from nnblocks.verify import STAGES, VerifyStatus
from nnblocks.verify.falsify import InputSet, network_gradient
from tests.conftest import shared_data

BOUNDS = "crown" if "crown" in OUTPUT_METHODS else "interval"


# -- oracle ----------------------------------------------------------------------------------------------------
def random_network(rng: np.random.Generator, n_in: int, hidden: tuple[int, ...], n_out: int) -> nb.Network:
    sizes = (n_in, *hidden, n_out)
    layers = []
    for k in range(len(sizes) - 1):
        W = rng.standard_normal((sizes[k + 1], sizes[k])) / np.sqrt(sizes[k])
        b = 0.3 * rng.standard_normal(sizes[k + 1])
        layers.append(nb.Layer(W, b, nb.ReLU() if k < len(sizes) - 2 else nb.Identity()))
    return nb.Network(layers)


def min_violation(net: nb.Network, d: Disjunct) -> float:
    """min over the disjunct's input set of max_i (A f(x) - b)_i, by one LP per activation pattern."""
    hidden = [layer.n_out for layer in net.layers[:-1]]
    n = net.n_inputs
    best = np.inf
    for bits in itertools.product((0, 1), repeat=sum(hidden)):
        M, c = np.eye(n), np.zeros(n)  # h = M x + c
        rows, rhs = [], []
        pos = 0
        for layer in net.layers[:-1]:
            A_pre, g_pre = layer.W @ M, layer.W @ c + layer.b
            on = np.array(bits[pos:pos + layer.n_out], dtype=bool)
            pos += layer.n_out
            # active: pre >= 0  <=>  -A_pre x <= g_pre; inactive: pre <= 0
            rows.append(np.where(on[:, None], -A_pre, A_pre))
            rhs.append(np.where(on, g_pre, -g_pre))
            M, c = A_pre * on[:, None], g_pre * on
        last = net.layers[-1]
        Mo, co = last.W @ M, last.W @ c + last.b
        R = d.output_A @ Mo  # violation rows: R x + r - t <= 0
        r = d.output_A @ co - d.output_b
        A_ub = np.vstack([np.c_[np.vstack(rows), np.zeros(sum(hidden))],
                          np.c_[R, -np.ones(R.shape[0])],
                          np.c_[d.input_A, np.zeros(d.input_A.shape[0])]])
        b_ub = np.concatenate([np.concatenate(rhs), -r, d.input_b])
        res = linprog(np.r_[np.zeros(n), 1.0], A_ub=A_ub, b_ub=b_ub,
                      bounds=[*zip(d.lower, d.upper), (-1e6, None)], method="highs")
        if res.status == 0:
            best = min(best, res.fun)
    return best


def random_spec(rng: np.random.Generator, net, polytope: bool = False, max_disjuncts: int = 3,
                violation=None) -> tuple[Spec, bool] | None:
    """A spec of 1 to ``max_disjuncts`` disjuncts of 1-2 rows on one random box; its oracle answer by
    ``violation(net, disjunct)`` (default :func:`min_violation`; None when near the boundary)."""
    n = net.n_inputs
    lo = rng.uniform(-1, 0, n)
    hi = lo + rng.uniform(0.2, 1.5, n)
    X = lo + rng.random((2000, n)) * (hi - lo)
    Y = net.forward(X)
    disjuncts = []
    for _ in range(rng.integers(1, max_disjuncts + 1)):
        A = rng.standard_normal((rng.integers(1, 3), net.n_outputs))
        q = rng.choice([0.0, 0.002, 0.05, 0.3])
        b = np.quantile(Y @ A.T, q, axis=0) - (0.05 if q == 0 else 0.0)
        iA, ib = np.zeros((0, n)), np.zeros(0)
        if polytope:
            iA = rng.standard_normal((1, n))
            ib = np.array([float(np.median(X @ iA[0]))])
        disjuncts.append(Disjunct(lo, hi, iA, ib, A, b))
    spec = Spec(n, net.n_outputs, tuple(disjuncts))
    values = [(violation or min_violation)(net, d) for d in disjuncts]
    if min(abs(v) for v in values) < 1e-3:
        return None
    return spec, min(values) <= 0


def confirm_with_onnxruntime(net: nb.Network, spec: Spec, x: np.ndarray, tmp_path) -> None:
    path = tmp_path / "net.onnx"
    nb.to_onnx(net, path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    y32 = sess.run(None, {sess.get_inputs()[0].name: x.reshape(1, -1).astype(np.float32)})[0][0]
    assert spec.counterexample_check(x, y32.astype(np.float64), tol=1e-4) is not None


# -- random tiny networks against the oracle -------------------------------------------------------------------
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), polytope=st.booleans())
def test_verify_agrees_with_enumeration(seed, polytope, tmp_path):
    rng = np.random.default_rng(seed)
    net = random_network(rng, int(rng.integers(1, 4)), (int(rng.integers(2, 5)), int(rng.integers(1, 4))),
                         int(rng.integers(1, 4)))
    drawn = random_spec(rng, net, polytope)
    if drawn is None:
        return
    spec, expect_sat = drawn
    r = nb.verify(net, spec, time_limit=30, seed=seed, bounds=BOUNDS)
    assert r.status in (VerifyStatus.SAT, VerifyStatus.UNSAT), r.message
    assert (r.status is VerifyStatus.SAT) == expect_sat, (r.status, r.stage)
    if r.status is VerifyStatus.SAT:
        assert np.array_equal(r.y, net.forward(r.x))
        assert spec.disjuncts[r.disjunct].satisfied_by(r.x, r.y)
        confirm_with_onnxruntime(net, spec, r.x, tmp_path)
    else:
        assert r.refuted == list(range(len(spec.disjuncts)))  # every disjunct proved empty
    json.dumps(r.as_dict(), allow_nan=False)


@functools.cache
def _instances(n: int, want_sat: bool, seed: int = 7, polytope: bool = False):
    """n (network, spec) pairs with the oracle answer ``want_sat``."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        net = random_network(rng, 2, (4, 3), 2)
        drawn = random_spec(rng, net, polytope)
        if drawn is not None and drawn[1] == want_sat:
            out.append((net, drawn[0]))
    return tuple(out)


# -- each stage on its own -------------------------------------------------------------------------------------
@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_alone_is_sound(stage, tmp_path):
    """Alone, a stage may leave an instance open, but what it says agrees with the oracle; the MILP and branch
    stages decide every instance of these tiny networks."""
    for want_sat in (True, False):
        for net, spec in _instances(4, want_sat, seed=11):
            r = nb.verify(net, spec, time_limit=1 if stage == "falsify" else 20, stages=[stage], bounds=BOUNDS)
            assert r.stage in (None, stage)
            if r.status is VerifyStatus.SAT:
                assert want_sat
                confirm_with_onnxruntime(net, spec, r.x, tmp_path)
            elif r.status is VerifyStatus.UNSAT:
                assert not want_sat
            else:
                assert stage in ("falsify", "bounds"), (stage, r.status, r.message)
            assert r.stage_stats(stage) is not None or r.decided


def test_falsify_finds_sampled_counterexample():
    net = random_network(np.random.default_rng(3), 3, (8, 8), 4)
    lo, hi = -np.ones(3), np.ones(3)
    y = net.forward(np.zeros(3))
    k = int(np.argmin(y))  # the argmax is not k at x = 0
    r = nb.verify(net, not_argmax_spec(lo, hi, k, 4), time_limit=10, stages=["falsify"])
    assert r.status is VerifyStatus.SAT and r.stage == "falsify"
    assert r.stage_stats("falsify").counts["samples"] >= 1


def test_bounds_stage_proves_easy_unsat():
    net = random_network(np.random.default_rng(4), 3, (5,), 2)
    lo, hi = -0.1 * np.ones(3), 0.1 * np.ones(3)
    ymax = net.forward(lo + np.random.default_rng(0).random((1000, 3)) * 0.2).max(axis=0)
    spec = box_spec(lo, hi, np.array([[-1.0, 0.0]]), np.array([-(ymax[0] + 10.0)]))  # y_0 >= ymax_0 + 10
    r = nb.verify(net, spec, time_limit=10, stages=["bounds"], bounds=BOUNDS)
    assert r.status is VerifyStatus.UNSAT and r.stage == "bounds"


def test_milp_modes_agree():
    for want_sat in (True, False):
        for net, spec in _instances(3, want_sat, seed=5):
            for mode in ("each", "one"):
                r = nb.verify(net, spec, time_limit=20, stages=["milp"], milp_mode=mode)
                assert r.status is (VerifyStatus.SAT if want_sat else VerifyStatus.UNSAT), (mode, r.message)


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    net = random_network(rng, 4, (6, 5), 3)
    X = rng.standard_normal((20, 4))
    G_out = rng.standard_normal((20, 3))
    _, G = network_gradient(net, X, G_out)
    h = 1e-6
    for i in range(4):
        E = np.zeros(4)
        E[i] = h
        fd = ((net.forward(X + E) - net.forward(X - E)) * G_out).sum(axis=1) / (2 * h)
        np.testing.assert_allclose(G[:, i], fd, rtol=1e-4, atol=1e-6)


def test_input_set_projection_stays_inside():
    rng = np.random.default_rng(1)
    d = Disjunct(-np.ones(3), np.ones(3), rng.standard_normal((4, 3)), 0.3 * np.ones(4), np.eye(3), np.zeros(3))
    S = InputSet(d)
    X = S.uniform(500, rng)
    assert S.contains(X).all()
    assert all(d.contains_input(x) for x in X[:50])


# -- input checks ----------------------------------------------------------------------------------------------
def test_bad_arguments():
    net = random_network(np.random.default_rng(0), 2, (3,), 2)
    spec = box_spec(-np.ones(2), np.ones(2), np.eye(2), np.zeros(2))
    with pytest.raises(ValueError, match="stages"):
        nb.verify(net, spec, stages=["attack"])
    with pytest.raises(ValueError, match="time_limit"):
        nb.verify(net, spec, time_limit=-1)
    with pytest.raises(ValueError, match="inputs"):
        nb.verify(net, box_spec(-np.ones(3), np.ones(3), np.eye(2), np.zeros(2)))
    with pytest.raises(TypeError, match="network"):
        nb.verify([1, 2], spec)


def test_vnnlib_text_and_result_text(tmp_path):
    net = random_network(np.random.default_rng(2), 2, (3,), 2)
    text = "\n".join(["(declare-const X_0 Real)", "(declare-const X_1 Real)", "(declare-const Y_0 Real)",
                      "(declare-const Y_1 Real)", "(assert (>= X_0 -1))", "(assert (<= X_0 1))",
                      "(assert (>= X_1 -1))", "(assert (<= X_1 1))", "(assert (>= Y_0 -1000))"])
    r = nb.verify(net, text, time_limit=10)
    assert r.status is VerifyStatus.SAT
    lines = write_result(tmp_path / "result.txt", r.status, r.x, r.y).splitlines()  # the one writer of results
    assert lines[0] == "sat" and "(X_0 " in lines[1]


# -- ACAS Xu against the published answers ---------------------------------------------------------------------
@pytest.mark.slow
def test_acasxu_no_wrong_answer():
    folder = shared_data("vnncomp", "acasxu")
    with open(folder / "published.csv", newline="") as fh:
        published = {(r["network"], r["property"]): r["answer"] for r in csv.DictReader(fh)}
    decided = 0
    with open(folder / "instances.csv", newline="") as fh:
        rows = [r for r in csv.reader(fh) if r]
    for onnx_path, vnnlib_path, _ in rows:
        key = (onnx_path.split("/")[-1].removesuffix(".onnx"), vnnlib_path.split("/")[-1].removesuffix(".vnnlib"))
        net = nb.from_onnx(folder / onnx_path)
        r = nb.verify(net, folder / vnnlib_path, time_limit=5)
        if r.decided:
            decided += 1
            assert r.status.value == published[key], key
        if r.status is VerifyStatus.SAT:
            spec = nb.read_vnnlib(folder / vnnlib_path)
            sess = ort.InferenceSession(str(folder / onnx_path), providers=["CPUExecutionProvider"])
            inp = sess.get_inputs()[0]
            shape = [1 if not isinstance(s, int) else s for s in inp.shape]
            y = sess.run(None, {inp.name: r.x.reshape(shape).astype(np.float32)})[0].ravel()
            assert spec.counterexample_check(r.x, y.astype(np.float64), tol=1e-4) is not None, key
    assert decided >= len(rows) // 4  # at 5 s each; the benchmark measures with the real time limits


def test_spec_without_disjuncts_is_unsat():
    net = random_network(np.random.default_rng(0), 2, (3,), 2)
    r = nb.verify(net, Spec(2, 2, ()), time_limit=5)
    assert r.status is VerifyStatus.UNSAT and r.refuted == []


def test_unknown_bounds_method():
    net = random_network(np.random.default_rng(0), 2, (3,), 2)
    with pytest.raises(ValueError, match="bounds must be"):
        nb.verify(net, box_spec(-np.ones(2), np.ones(2), np.eye(2), np.zeros(2)), bounds="symbolic")
