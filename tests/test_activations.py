"""Activations: definitions, validation, piece indices and exact image bounds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnblocks import HardSigmoid, HardTanh, Identity, LeakyReLU, PiecewiseLinear, ReLU, ReLU6

Z = np.linspace(-8.0, 8.0, 1601)


def lemma4_iii() -> PiecewiseLinear:
    """The 4-piece activation of Goerigk & Kurtz, Lemma 4 (iii)."""
    return PiecewiseLinear([0.0, 0.5, 1.0], [-1.0, 1.0, -1.0, 1.0], [0.0, 0.0, 1.0, -1.0])


@st.composite
def pwl_activations(draw, max_pieces: int = 5) -> PiecewiseLinear:
    """Random continuous PWL function: distinct breakpoints, any slopes (incl. 0), intercepts by continuity."""
    n = draw(st.integers(1, max_pieces))
    t = np.array(sorted(draw(st.sets(st.integers(-12, 12), min_size=n - 1, max_size=n - 1)))) / 4.0
    a = np.array(draw(st.lists(st.integers(-8, 8), min_size=n, max_size=n))) / 4.0
    c0 = draw(st.integers(-4, 4)) / 2.0
    c = c0 + np.concatenate([[0.0], np.cumsum((a[:-1] - a[1:]) * t)])
    return PiecewiseLinear(t, a, c)


def naive_eval(act: PiecewiseLinear, z: float) -> tuple[int, float]:
    """Piece p with t_{p-1} < z <= t_p found by scanning, and its value a_p z + c_p."""
    lo, hi = act.piece_bounds()
    for p in range(act.n_pieces):
        if lo[p] < z <= hi[p]:
            return p, act.slopes[p] * z + act.intercepts[p]
    raise AssertionError("no piece contains z")


# ---------------------------------------------------------------------------------------------
# definitions
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("act", "f"),
    [
        (Identity(), lambda z: z),
        (ReLU(), lambda z: np.maximum(z, 0.0)),
        (LeakyReLU(0.1), lambda z: np.where(z > 0, z, 0.1 * z)),
        (LeakyReLU(-2.0), lambda z: np.where(z > 0, z, -2.0 * z)),
        (HardTanh(-0.5, 2.0), lambda z: np.clip(z, -0.5, 2.0)),
        (HardTanh(), lambda z: np.clip(z, -1.0, 1.0)),
        (ReLU6(), lambda z: np.clip(z, 0.0, 6.0)),
        (HardSigmoid(), lambda z: np.clip(z / 6.0 + 0.5, 0.0, 1.0)),
    ],
)
def test_named_activations(act, f):
    np.testing.assert_allclose(act(Z), f(Z), rtol=0, atol=1e-15)
    assert act == PiecewiseLinear(act.breakpoints, act.slopes, act.intercepts)


def test_hard_sigmoid_is_pytorchs():
    torch = pytest.importorskip("torch")
    ref = torch.nn.functional.hardsigmoid(torch.from_numpy(Z)).numpy()
    np.testing.assert_allclose(HardSigmoid()(Z), ref, rtol=0, atol=1e-15)


def test_lemma4_iii_activation_is_expressible():
    act = lemma4_iii()
    assert act.n_pieces == 4
    expected = np.select([Z <= 0, Z <= 0.5, Z <= 1.0], [-Z, Z, -Z + 1.0], Z - 1.0)
    np.testing.assert_allclose(act(Z), expected, rtol=0, atol=1e-15)
    assert act(np.array([0.0, 0.5, 1.0])).tolist() == [0.0, 0.5, 0.0]
    # its image over [-1, 2] is [0, 1]; over [0.2, 0.8] it is [0.2, 0.5] (peak at the kink 1/2)
    lo, hi = act.image_bounds(np.array([-1.0, 0.2]), np.array([2.0, 0.8]))
    np.testing.assert_allclose(lo, [0.0, 0.2])
    np.testing.assert_allclose(hi, [1.0, 0.5])


def test_piece_index_ties_go_to_lower_piece():
    act = HardTanh(-1.0, 1.0)
    assert act.piece_index(np.array([-2.0, -1.0, -0.5, 1.0, 1.5])).tolist() == [0, 0, 1, 1, 2]
    assert ReLU().piece_index(np.array([-1.0, 0.0, 1e-12])).tolist() == [0, 0, 1]
    lo, hi = act.piece_bounds()
    assert lo.tolist() == [-np.inf, -1.0, 1.0] and hi.tolist() == [-1.0, 1.0, np.inf]


@settings(max_examples=40, deadline=None)
@given(pwl_activations(), st.lists(st.integers(-40, 40), min_size=1, max_size=20))
def test_evaluation_matches_naive_piece_search(act, zs):
    z = np.array(zs) / 8.0  # includes every breakpoint (multiples of 1/4)
    for zi, p, v in zip(z, act.piece_index(z), act(z)):
        assert (p, v) == naive_eval(act, zi)


# ---------------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([0.0], [0.0, 1.0], [0.0, 1.0]), "not continuous at breakpoint 0"),
        (([0.0, 1.0], [1.0, 0.0, 1.0], [0.0, 0.0, 5.0]), "not continuous at breakpoint 1"),
        (([1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]), "strictly increasing"),
        (([0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]), "strictly increasing"),
        (([0.0], [1.0], [0.0]), "P-1 breakpoints"),
        (([], [1.0, 2.0], [0.0]), "P slopes, P intercepts"),
        (([], [], []), "P slopes"),
        (([np.nan], [0.0, 1.0], [0.0, 0.0]), "breakpoints must be finite"),
        (([0.0], [0.0, np.inf], [0.0, 0.0]), "slopes must be finite"),
        (([], [1.0], [np.nan]), "intercepts must be finite"),
    ],
)
def test_invalid_activations_raise(args, match):
    with pytest.raises(ValueError, match=match):
        PiecewiseLinear(*args)


def test_hardtanh_needs_lo_below_hi():
    with pytest.raises(ValueError, match="lo < hi"):
        HardTanh(1.0, 1.0)


def test_activation_arrays_are_read_only_and_hashable():
    act = lemma4_iii()
    with pytest.raises(ValueError):
        act.slopes[0] = 3.0
    assert ReLU() == PiecewiseLinear([0.0], [0.0, 1.0], [0.0, 0.0])
    assert hash(ReLU()) == hash(PiecewiseLinear([0.0], [0.0, 1.0], [0.0, 0.0]))
    assert len({ReLU(), ReLU(), LeakyReLU(0.1), LeakyReLU(0.2), HardTanh(0, 6), ReLU6()}) == 4
    assert ReLU() != LeakyReLU(0.0 + 1e-3) and ReLU() != "ReLU"


# ---------------------------------------------------------------------------------------------
# exact image bounds
# ---------------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(pwl_activations(), st.lists(st.tuples(st.integers(-24, 24), st.integers(0, 24)), min_size=1, max_size=8))
def test_image_bounds_are_exact_on_finite_intervals(act, boxes):
    lower = np.array([b[0] for b in boxes]) / 4.0
    upper = lower + np.array([b[1] for b in boxes]) / 3.0
    lo, hi = act.image_bounds(lower, upper)
    for l_, u_, lo_k, hi_k in zip(lower, upper, lo, hi):
        z = np.concatenate(
            [np.linspace(l_, u_, 2001), act.breakpoints[(act.breakpoints >= l_) & (act.breakpoints <= u_)]]
        )
        v = act(z)
        # sound: the dense sample never leaves the bounds; exact: the sample (which contains the
        # interval's ends and inner breakpoints, where extremes lie) attains them
        assert lo_k == pytest.approx(v.min(), abs=1e-12) and hi_k == pytest.approx(v.max(), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(pwl_activations(), st.integers(-12, 12), st.sampled_from(["left", "right", "both"]))
def test_image_bounds_with_infinite_ends(act, m, side):
    x = m / 4.0
    lower = np.array([-np.inf if side in ("left", "both") else x])
    upper = np.array([np.inf if side in ("right", "both") else x])
    lo, hi = act.image_bounds(lower, upper)
    a_first, a_last = act.slopes[0], act.slopes[-1]
    # the range is unbounded below iff an outer piece on an infinite side goes to -inf
    left_down = side in ("left", "both") and a_first > 0
    right_down = side in ("right", "both") and a_last < 0
    left_up = side in ("left", "both") and a_first < 0
    right_up = side in ("right", "both") and a_last > 0
    assert (lo[0] == -np.inf) == (left_down or right_down)
    assert (hi[0] == np.inf) == (left_up or right_up)
    # finite bounds are attained: compare with a wide dense sample on the interval
    far = 1e3
    z = np.linspace(max(lower[0], -far), min(upper[0], far), 20001)
    z = np.concatenate([z, act.breakpoints[(act.breakpoints >= lower[0]) & (act.breakpoints <= upper[0])]])
    v = act(z)
    if np.isfinite(lo[0]):
        assert lo[0] == pytest.approx(v.min(), abs=1e-9)
    if np.isfinite(hi[0]):
        assert hi[0] == pytest.approx(v.max(), abs=1e-9)


def test_image_bounds_vectorised_shape():
    lo, hi = ReLU6().image_bounds(np.full((3, 4), -1.0), np.full((3, 4), 7.0))
    assert lo.shape == hi.shape == (3, 4)
    assert np.all(lo == 0.0) and np.all(hi == 6.0)
