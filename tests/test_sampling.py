"""Inner and outer sampling of network uncertainty sets (Rambau and Richter, Sections 3-4)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from nnblocks import Identity, Layer, Network, ReLU
from nnblocks.metrics import d_in, d_osd, softmax_probabilities
from nnblocks.sampling import OuterSample, inner, l1_sphere, outer


def _network(rng: np.random.Generator, sizes=(6, 5, 4, 3)) -> Network:
    return Network(
        [Layer(rng.normal(size=(m, n)), rng.normal(size=m), ReLU()) for n, m in zip(sizes[:-1], sizes[1:])]
    )


# -- inner ------------------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), eps=st.floats(1e-4, 10.0))
def test_inner_samples_lie_exactly_on_the_eps_sphere(seed, eps):
    rng = np.random.default_rng(seed)
    N = _network(rng)
    samples = inner(N, eps=eps, n=3, rng=rng)
    assert len(samples) == 3
    for S in samples:
        assert S.layer_sizes == N.layer_sizes
        assert [type(a.activation) for a in S.layers] == [type(a.activation) for a in N.layers]
        assert d_in(S, N) == pytest.approx(eps, rel=1e-9)


def test_inner_is_reproducible_and_samples_differ(rng):
    N = _network(rng)
    a = inner(N, eps=0.05, n=4, rng=7)
    b = inner(N, eps=0.05, n=4, rng=np.random.default_rng(7))
    assert all(x == y for x, y in zip(a, b))
    assert len({tuple(S.parameters()) for S in a}) == 4


def test_inner_bad_input(rng):
    N = _network(rng)
    with pytest.raises(ValueError, match="eps"):
        inner(N, eps=0.0)
    with pytest.raises(ValueError, match="eps"):
        inner(N, eps=float("nan"))
    with pytest.raises(TypeError, match="Network"):
        inner(np.zeros(3), eps=0.1)


def test_l1_sphere_norms_are_exact(rng):
    V = l1_sphere(50, 2.5, 200, rng)
    assert V.shape == (200, 50)
    np.testing.assert_allclose(np.abs(V).sum(axis=1), 2.5, rtol=1e-13)


def test_l1_sphere_in_two_dimensions_is_uniform_along_the_perimeter(rng):
    # On the diamond |v1| + |v2| = r, arc length is proportional to v1 within each facet: uniformity means
    # |v1| ~ Uniform(0, r), and the four facets (sign patterns) are equally likely.
    V = l1_sphere(2, 1.0, 4000, rng)
    assert stats.kstest(np.abs(V[:, 0]), "uniform").pvalue > 1e-3
    facets = np.bincount((V[:, 0] > 0) * 2 + (V[:, 1] > 0), minlength=4)
    assert stats.chisquare(facets).pvalue > 1e-3


def test_l1_sphere_marginals_in_high_dimension(rng):
    # Uniform on the L1 sphere of radius 1 in R^d: |v_i| ~ Beta(1, d - 1), signs symmetric.
    d = 20
    V = l1_sphere(d, 1.0, 3000, rng)
    assert stats.kstest(np.abs(V[:, 3]), stats.beta(1, d - 1).cdf).pvalue > 1e-3
    assert abs(np.mean(V > 0) - 0.5) < 0.01


# -- outer ------------------------------------------------------------------------------------------------
def _fake_train(reference: Network):
    """Seeds divisible by 3 return the reference itself (d_osd = 0); others a network far from it."""
    far = Network([Layer(np.zeros((3, 2)), [5.0, 0.0, 0.0], Identity())])

    def train(seed: int) -> Network:
        return reference if seed % 3 == 0 else far

    return train


@pytest.fixture
def reference() -> Network:
    return Network([Layer([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [0.0, 0.0, 0.0], Identity())])


def test_outer_accepts_only_below_eps_and_reports_tries(reference):
    X = np.random.default_rng(0).uniform(size=(10, 2))
    far_distance = d_osd(_fake_train(reference)(1), reference, X)
    assert far_distance > 0.5
    result = outer(_fake_train(reference), reference, X, eps=0.5, n=3, max_tries=50, progress=False)
    assert isinstance(result, OuterSample)
    assert result.complete
    assert result.seeds == [3, 6, 9]
    assert result.tries == 9 and result.acceptances == 3
    assert result.tried_seeds == list(range(1, 10))
    assert result.acceptance_rate == pytest.approx(1 / 3)
    assert result.distances == [0.0, 0.0, 0.0]
    assert all(net is reference for net in result.networks)
    np.testing.assert_allclose([d for s, d in zip(result.tried_seeds, result.tried_distances) if s % 3], far_distance)


def test_outer_eps_is_strict(reference):
    X = np.random.default_rng(1).uniform(size=(4, 2))
    far_distance = d_osd(_fake_train(reference)(1), reference, X)
    # a network at exactly d_osd == eps is not in the open neighbourhood U_eps (Definition 3.4)
    with pytest.warns(RuntimeWarning, match="accepted 0 of 1"):
        result = outer(_fake_train(reference), reference, X, eps=far_distance, n=1, max_tries=2, progress=False)
    assert result.tries == 2 and result.acceptances == 0 and not result.complete


def test_outer_with_a_grey_box_oracle_and_an_executor_equals_sequential(reference):
    X = np.random.default_rng(2).uniform(size=(6, 2))
    oracle = lambda Z: softmax_probabilities(reference, Z)  # noqa: E731 - only probabilities are exposed
    sequential = outer(_fake_train(reference), reference, X, eps=0.1, n=2, max_tries=20, progress=False)
    with ThreadPoolExecutor(max_workers=3) as pool:
        parallel = outer(_fake_train(reference), oracle, X, eps=0.1, n=2, max_tries=20, executor=pool,
                         progress=False)
    assert parallel.seeds == sequential.seeds == [3, 6]
    assert parallel.tries == sequential.tries == 6
    assert parallel.tried_distances == pytest.approx(sequential.tried_distances, abs=1e-15)


def test_outer_bad_input(reference):
    X = np.zeros((3, 2))
    with pytest.raises(ValueError, match="eps"):
        outer(_fake_train(reference), reference, X, eps=-1.0, progress=False)
    with pytest.raises(ValueError, match="reference_inputs"):
        outer(_fake_train(reference), reference, np.zeros(2), progress=False)
    with pytest.raises(TypeError, match="must return an nnblocks Network"):
        outer(lambda seed: "net", reference, X, progress=False)
    other = Network([Layer(np.zeros((3, 2)), np.zeros(3), ReLU()), Layer(np.zeros((3, 3)), np.zeros(3), ReLU())])
    with pytest.raises(ValueError, match="sizes"):
        outer(lambda seed: other, reference, X, progress=False)


def test_outer_refuses_non_finite_reference_inputs_before_training(reference):
    def train(seed):
        raise AssertionError("no network is trained for invalid reference inputs")

    X = np.array([[0.0, 1.0], [np.nan, 0.5]])
    with pytest.raises(ValueError, match="reference_inputs contain NaN or infinite entries"):
        outer(train, reference, X, progress=False)
