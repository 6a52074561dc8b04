"""Distances between networks and the Table 4/5 statistics (Rambau and Richter, Definitions 3.2, 3.4)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnblocks import Identity, Layer, Network, ReLU
from nnblocks.metrics import accuracy, d_in, d_osd, evaluate, softmax_probabilities


def _random_network(rng: np.random.Generator, sizes=(3, 4, 2)) -> Network:
    return Network(
        [Layer(rng.normal(size=(m, n)), rng.normal(size=m), ReLU()) for n, m in zip(sizes[:-1], sizes[1:])]
    )


def _constant(p):
    """A probability function returning the same probabilities for every input (a grey-box oracle)."""
    p = np.asarray(p, dtype=float)
    return lambda X: np.tile(p, (len(X), 1))


def test_d_osd_hand_computed():
    # N: outputs (x, 0) -> p(ln 3) = (3/4, 1/4), p(0) = (1/2, 1/2); N': outputs (0, 0) -> (1/2, 1/2) always.
    N = Network([Layer([[1.0], [0.0]], [0.0, 0.0], Identity())])
    N2 = Network([Layer([[0.0], [0.0]], [0.0, 0.0], Identity())])
    X = np.array([[np.log(3.0)], [0.0]])
    # ||O_N - O_N'||_1 = |3/4 - 1/2| + |1/4 - 1/2| + 0 + 0 = 1/2, divided by m = 2.
    assert d_osd(N, N2, X) == pytest.approx(0.25, abs=1e-15)
    assert d_osd(N2, N, X) == pytest.approx(0.25, abs=1e-15)
    assert d_osd(N, N, X) == 0.0


def test_d_osd_accepts_probability_functions():
    rng = np.random.default_rng(0)
    N, N2 = _random_network(rng), _random_network(rng)
    X = rng.uniform(size=(7, 3))
    expected = d_osd(N, N2, X)
    assert d_osd(lambda Z: softmax_probabilities(N, Z), N2, X) == pytest.approx(expected, rel=1e-14)
    assert d_osd(N, _constant([0.5, 0.5]), X) == pytest.approx(
        np.abs(softmax_probabilities(N, X) - 0.5).sum() / 7, rel=1e-14
    )


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_d_osd_is_a_pseudometric_bounded_by_2(seed):
    rng = np.random.default_rng(seed)
    A, B, C = (_random_network(rng) for _ in range(3))
    X = rng.normal(size=(5, 3))
    ab, bc, ac = d_osd(A, B, X), d_osd(B, C, X), d_osd(A, C, X)
    assert 0.0 <= ab <= 2.0
    assert ac <= ab + bc + 1e-12
    assert ab == pytest.approx(d_osd(B, A, X), abs=1e-15)


def test_d_osd_errors():
    N = Network([Layer([[1.0], [0.0]], [0.0, 0.0], Identity())])
    with pytest.raises(ValueError, match="at least one reference input"):
        d_osd(N, N, np.zeros((0, 1)))
    with pytest.raises(ValueError, match="returned shape"):
        d_osd(N, lambda X: np.ones(3), np.zeros((2, 1)))
    with pytest.raises(TypeError, match="Network or a function"):
        d_osd(N, 3.0, np.zeros((2, 1)))


def test_d_in_is_l1_over_weights_and_biases():
    N = Network([Layer([[1.0, -2.0]], [0.5], ReLU()), Layer([[3.0]], [0.0], ReLU())])
    N2 = Network([Layer([[1.5, -2.0]], [0.0], ReLU()), Layer([[1.0]], [-1.0], ReLU())])
    assert d_in(N, N2) == pytest.approx(0.5 + 0.5 + 2.0 + 1.0)
    assert d_in(N, N) == 0.0
    with pytest.raises(ValueError, match="same structure"):
        d_in(N, Network([Layer([[1.0, 0.0, 0.0]], [0.0], ReLU())]))


def test_softmax_probabilities_stable_and_normalised():
    N = Network([Layer([[1000.0], [0.0], [-1000.0]], [0.0, 0.0, 0.0], Identity())])
    P = softmax_probabilities(N, np.array([[1.0], [0.0]]))
    assert np.all(np.isfinite(P))
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    np.testing.assert_allclose(P[0], [1.0, 0.0, 0.0], atol=1e-300)
    np.testing.assert_allclose(P[1], [1 / 3, 1 / 3, 1 / 3])


def test_evaluate_hand_made():
    # 4 "networks" as probability functions over 3 classes; true = 0, target = 1.
    probs = [[0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7], [0.3, 0.5, 0.2]]
    ev = evaluate(np.zeros(2), [_constant(p) for p in probs], true=0, target=1)
    assert ev.n_networks == 4
    assert ev.target_share == 0.5  # networks 0 and 3
    assert ev.true_share == 0.25  # network 1
    assert ev.other_share == 0.25  # network 2
    assert ev.target_probability == pytest.approx((0.7 + 0.3 + 0.2 + 0.5) / 4)
    assert ev.true_probability == pytest.approx((0.2 + 0.6 + 0.1 + 0.3) / 4)
    assert ev.other_probability == pytest.approx((0.1 + 0.1 + 0.7 + 0.2) / 4)
    assert ev.weak_confidence == pytest.approx(((0.7 - 0.2) + (0.3 - 0.6) + (0.2 - 0.1) + (0.5 - 0.3)) / 4)
    assert ev.classes.tolist() == [1, 0, 2, 1]
    assert ev.as_dict()["target_share"] == 0.5


def test_evaluate_on_networks_matches_forward():
    rng = np.random.default_rng(3)
    nets = [_random_network(rng, (3, 5, 4)) for _ in range(6)]
    x = rng.uniform(size=3)
    ev = evaluate(x, nets, true=2, target=0)
    classes = np.array([np.argmax(n.forward(x)) for n in nets])
    assert ev.classes.tolist() == classes.tolist()
    assert ev.target_share + ev.true_share + ev.other_share == pytest.approx(1.0)
    assert ev.target_probability + ev.true_probability + ev.other_probability == pytest.approx(1.0)


def test_evaluate_errors():
    with pytest.raises(ValueError, match="at least one network"):
        evaluate(np.zeros(2), [], 0, 1)
    with pytest.raises(ValueError, match="must differ"):
        evaluate(np.zeros(2), [_constant([0.5, 0.5])], 1, 1)
    with pytest.raises(ValueError, match="out of range"):
        evaluate(np.zeros(2), [_constant([0.5, 0.5])], 0, 5)


def test_accuracy():
    N = Network([Layer([[1.0], [-1.0]], [0.0, 0.0], Identity())])
    X = np.array([[1.0], [-1.0], [2.0], [-3.0]])
    assert accuracy(N, X, [0, 1, 0, 0]) == 0.75
    assert accuracy(lambda Z: softmax_probabilities(N, Z), X, [0, 1, 0, 0]) == 0.75
    with pytest.raises(ValueError, match="labels"):
        accuracy(N, X, [0, 1])


def test_d_osd_refuses_non_finite_reference_inputs():
    N = Network([Layer([[1.0], [0.0]], [0.0, 0.0], Identity())])
    with pytest.raises(ValueError, match="reference_inputs contain NaN or infinite entries"):
        d_osd(N, N, np.array([[0.0], [np.nan]]))
    with pytest.raises(ValueError, match="reference_inputs contain NaN or infinite entries"):
        d_osd(N, N, np.array([[np.inf]]))


def test_probability_functions_must_return_probabilities():
    N = Network([Layer([[1.0], [0.0]], [0.0, 0.0], Identity())])
    X = np.zeros((2, 1))
    with pytest.raises(ValueError, match="not probabilities.*entries >= 0 and rows summing to 1"):
        d_osd(N, _constant([5.0, -3.0]), X)
    with pytest.raises(ValueError, match="not probabilities"):
        d_osd(N, _constant([0.5, 0.6]), X)
    with pytest.raises(ValueError, match="not probabilities"):
        evaluate(np.zeros(1), [_constant([5.0, -3.0, 0.0])], 0, 1)
    # float32 rounding of a softmax is accepted
    p32 = np.array([0.1, 0.2, 0.7], dtype=np.float32)
    assert evaluate(np.zeros(1), [_constant(p32)], 0, 2).target_share == 1.0
    # so is a float16 softmax over 10 classes (row sums off by up to about 10 eps16 = 1e-2)
    logits = np.random.default_rng(0).normal(size=(200, 10))
    p16 = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).astype(np.float16)
    assert np.abs(p16.astype(np.float64).sum(axis=1) - 1.0).max() > 1e-5
    assert d_osd(lambda _X: p16, lambda _X: p16, np.zeros((200, 1))) == 0.0
    # but not values that are no probabilities in float16 either
    with pytest.raises(ValueError, match="not probabilities"):
        d_osd(N, _constant(np.array([0.5, 0.6], dtype=np.float16)), X)


def test_evaluate_refuses_a_missing_or_non_finite_example():
    net = _random_network(np.random.default_rng(0))
    with pytest.raises(ValueError, match="x_adv is None"):
        evaluate(None, [net], 0, 1)
    with pytest.raises(ValueError, match="x_adv contains NaN or infinite entries"):
        evaluate(np.full(3, np.nan), [net], 0, 1)
    with pytest.raises(ValueError, match="x_adv contains NaN or infinite entries"):
        evaluate(np.array([0.0, np.inf, 0.0]), [net], 0, 1)
    with pytest.raises(ValueError, match="input has 5 features, the network expects 3"):
        evaluate(np.zeros(5), [net], 0, 1)


@pytest.mark.parametrize("bad", [1.7, "1", True, None, np.array([1, 2])])
def test_evaluate_classes_must_be_integer_indices(bad):
    net = _random_network(np.random.default_rng(0))
    with pytest.raises(ValueError, match="target must be a class index \\(an integer\\)"):
        evaluate(np.zeros(3), [net], 0, bad)
    with pytest.raises(ValueError, match="true must be a class index \\(an integer\\)"):
        evaluate(np.zeros(3), [net], bad, 0)
    ev = evaluate(np.zeros(3), [net], np.int64(0), np.int32(1))  # numpy integers are class indices
    assert (ev.true, ev.target) == (0, 1)
    ev = evaluate(np.zeros(3), [net], np.array(0), 1.0)  # so are 0-d arrays and integral floats
    assert (ev.true, ev.target) == (0, 1)


def test_evaluate_networks_must_agree_on_the_classes():
    rng = np.random.default_rng(1)
    three, four = _random_network(rng, (3, 4, 3)), _random_network(rng, (3, 4, 4))
    with pytest.raises(ValueError, match="networks\\[1\\] gives 4 class probabilities, networks\\[0\\] 3"):
        evaluate(np.zeros(3), [three, four], 0, 1)


def test_evaluate_accepts_a_single_network_or_function():
    rng = np.random.default_rng(2)
    net = _random_network(rng)
    x = rng.uniform(size=3)
    assert evaluate(x, net, 0, 1).as_dict() == evaluate(x, [net], 0, 1).as_dict()
    one = evaluate(x, _constant([0.2, 0.8]), 0, 1)
    assert one.n_networks == 1 and one.target_share == 1.0
