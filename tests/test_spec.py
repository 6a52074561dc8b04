"""Specifications: the disjuncts' sets and the counterexample check (with its tolerance), the Python builders
(checked on concrete points), and VNN-COMP result files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nnblocks as nb
from nnblocks.spec import (
    Disjunct,
    ResultStatus,
    Spec,
    SpecError,
    ball_spec,
    box_spec,
    not_argmax_rows,
    not_argmax_spec,
    read_result,
    read_vnnlib,
    write_result,
    write_vnnlib,
)


def test_top_level_names() -> None:
    for name in ("Spec", "Disjunct", "SpecError", "read_vnnlib", "write_vnnlib", "box_spec", "ball_spec",
                 "not_argmax_spec"):
        assert getattr(nb, name) is getattr(nb.spec, name)
    assert issubclass(SpecError, ValueError)


# --- the objects ---------------------------------------------------------------------------------------------

def _disjunct(**kw) -> Disjunct:
    args = dict(lower=[0.0, 0.0], upper=[1.0, 2.0], input_A=np.zeros((0, 2)), input_b=[], output_A=[[1.0, -1.0]],
                output_b=[0.0])
    args.update(kw)
    return Disjunct(**args)


def test_disjunct_arrays_are_float64_read_only_and_compared_by_value() -> None:
    d = _disjunct()
    assert d.lower.dtype == np.float64 and not d.lower.flags.writeable
    assert d.input_A.shape == (0, 2) and d.input_b.shape == (0,)
    assert (d.n_inputs, d.n_outputs) == (2, 2)
    assert d == _disjunct() and d != _disjunct(output_b=[0.5])
    with pytest.raises(TypeError):
        hash(d)
    with pytest.raises(Exception):  # noqa: B017 - frozen dataclass
        d.lower = np.zeros(2)


@pytest.mark.parametrize(("kw", "message"), [
    (dict(lower=[0.0, -np.inf]), "lower must be finite"),
    (dict(upper=[1.0]), r"upper must be a vector of shape \(2,\)"),
    (dict(input_A=[[1.0, 2.0, 3.0]], input_b=[1.0]), "input_A must be a matrix with 2 columns"),
    (dict(input_A=[[1.0, 2.0]], input_b=[1.0, 2.0]), r"input_b must be a vector of shape \(1,\)"),
    (dict(output_b=[0.0, 1.0]), r"output_b must be a vector of shape \(1,\)"),
    (dict(output_A=[1.0, 2.0]), "output_A must be a matrix"),
    (dict(ball=([0.5], 0.1, 2)), r"ball center must be a vector of shape \(2,\)"),
    (dict(ball=([0.5, 0.5], 0.1, 3)), "unknown ball norm"),
])
def test_disjunct_refuses_bad_arrays(kw, message) -> None:
    with pytest.raises((SpecError, ValueError, TypeError), match=message):
        _disjunct(**kw)


def test_spec_checks_dimensions() -> None:
    with pytest.raises(SpecError, match=r"disjuncts\[0\] is over 2 inputs and 2 outputs"):
        Spec(3, 2, (_disjunct(),))
    with pytest.raises(SpecError, match="must be a Disjunct"):
        Spec(2, 2, ("box",))
    spec = Spec(2, 2, [_disjunct()], name="p")
    assert isinstance(spec.disjuncts, tuple) and len(spec) == 1
    assert spec == Spec(2, 2, (_disjunct(),), name="other")  # the name is a label, not compared


def test_membership_and_counterexample_check() -> None:
    d0 = _disjunct(input_A=[[1.0, 1.0]], input_b=[2.5])  # box [0,1]x[0,2] with x0 + x1 <= 2.5; y0 <= y1
    d1 = _disjunct(lower=[5.0, 5.0], upper=[6.0, 6.0], output_A=[[-1.0, 0.0]], output_b=[-10.0])  # y0 >= 10
    spec = Spec(2, 2, (d0, d1))
    assert d0.contains_input([0.5, 1.0]) and not d0.contains_input([1.0, 2.0])  # outside the polytope row
    assert spec.counterexample_check([0.5, 1.0], [1.0, 2.0]) == 0
    assert spec.counterexample_check([0.5, 1.0], [3.0, 2.0]) is None  # y0 > y1
    assert spec.counterexample_check([5.5, 5.5], [11.0, 0.0]) == 1
    assert spec.counterexample_check([5.5, 5.5], [1.0, 2.0]) is None  # the output case of d0, the input of d1
    # ONNX shapes are flattened
    assert spec.counterexample_check(np.array([[[0.5, 1.0]]]), np.array([[1.0, 2.0]])) == 0
    with pytest.raises(ValueError, match="x must have 2 entries"):
        spec.counterexample_check([0.5], [1.0, 2.0])
    batch = spec.check_batch([[0.5, 1.0], [0.5, 1.0], [5.5, 5.5], [9.0, 9.0]],
                             [[1.0, 2.0], [3.0, 2.0], [11.0, 0.0], [11.0, 0.0]])
    assert batch.tolist() == [0, -1, 1, -1]


def test_the_tolerance_is_absolute_near_zero_and_relative_beyond() -> None:
    d = _disjunct(lower=[0.0, 0.0], upper=[1.0, 1e6], output_A=[[1.0, 0.0]], output_b=[0.0])
    spec = Spec(2, 2, (d,))
    # absolute near 0: y0 <= 0 accepts 9e-7 with tol 1e-6, not 2e-6
    assert spec.counterexample_check([0.5, 0.5], [9e-7, 0.0]) == 0
    assert spec.counterexample_check([0.5, 0.5], [2e-6, 0.0]) is None
    assert spec.counterexample_check([0.5, 0.5], [2e-6, 0.0], tol=1e-5) == 0
    assert spec.counterexample_check([0.5, 0.5], [2e-6, 0.0], tol=0.0) is None
    # relative for large magnitudes: x1 <= 1e6 accepts 1e6 + 0.5 (tol * 1e6 = 1)
    assert spec.counterexample_check([0.5, 1e6 + 0.5], [0.0, 0.0]) == 0
    assert spec.counterexample_check([0.5, 1e6 + 2.0], [0.0, 0.0]) is None
    assert spec.counterexample_check([-9e-7, 0.5], [0.0, 0.0]) == 0
    with pytest.raises(ValueError, match="tol must be finite and >= 0"):
        spec.counterexample_check([0.5, 0.5], [0.0, 0.0], tol=-1.0)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, (20, 3), elements=st.floats(-2, 2)),
       hnp.arrays(np.float64, (20, 2), elements=st.floats(-5, 5)))
def test_check_batch_agrees_with_the_single_point_check(X, Y) -> None:
    spec = Spec(3, 2, (
        Disjunct([-1.0] * 3, [1.0] * 3, [[1.0, 1.0, 0.0]], [0.5], [[1.0, -1.0]], [0.0]),
        Disjunct([0.0] * 3, [2.0] * 3, np.zeros((0, 3)), [], [[0.0, 1.0], [-1.0, 0.0]], [1.0, 0.0]),
    ))
    expected = [spec.counterexample_check(x, y) for x, y in zip(X, Y)]
    assert spec.check_batch(X, Y).tolist() == [-1 if e is None else e for e in expected]


def test_bounding_box_and_shared_input_sets() -> None:
    a = _disjunct()
    b = _disjunct(lower=[-1.0, 0.5], upper=[0.5, 3.0])
    spec = Spec(2, 2, (a, b))
    lower, upper = spec.bounding_box()
    assert lower.tolist() == [-1.0, 0.0] and upper.tolist() == [1.0, 3.0]
    assert not spec.shares_input_set() and Spec(2, 2, (a, a)).shares_input_set()
    with pytest.raises(SpecError, match="without disjuncts"):
        Spec(2, 2, ()).bounding_box()


def test_as_dict_is_json() -> None:
    spec = ball_spec([0.5, 0.5], 0.25, norm=1, k=1, n_outputs=3, name="b")
    data = json.loads(json.dumps(spec.as_dict(), allow_nan=False))
    assert data["n_inputs"] == 2 and data["name"] == "b" and len(data["disjuncts"]) == 2
    assert data["disjuncts"][0]["ball"] == [[0.5, 0.5], 0.25, 1]
    assert data["disjuncts"][0]["output_A"] == [[-1.0, 1.0, 0.0]]


# --- builders ------------------------------------------------------------------------------------------------

@settings(max_examples=100, deadline=None)
@given(st.integers(2, 6).flatmap(lambda n: st.tuples(
    st.just(n), st.integers(0, n - 1), hnp.arrays(np.float64, n, elements=st.integers(-3, 3).map(float)),
    st.sampled_from([0.0, 0.5, 1.0]))))
def test_not_argmax_spec_on_concrete_outputs(case) -> None:
    """A counterexample exactly when some j != k has y_j >= y_k - margin (with margin 0: y_k is not the
    strict maximum)."""
    n, k, y, margin = case
    spec = not_argmax_spec([0.0], [1.0], k, n, margin=margin)
    assert len(spec) == n - 1 and spec.n_outputs == n
    found = spec.counterexample_check([0.5], y, tol=0.0)
    others = np.delete(y, k)
    assert (found is not None) == bool((others >= y[k] - margin).any())
    if margin == 0.0:
        assert (found is None) == bool(y[k] > others.max())  # robust iff y_k is the unique maximum
    if found is not None:
        j = [i for i in range(n) if i != k][found]
        assert y[j] >= y[k] - margin


def test_not_argmax_rows_and_errors() -> None:
    rows = not_argmax_rows(1, 3, margin=0.25)
    assert [A.tolist() for A, _ in rows] == [[[-1.0, 1.0, 0.0]], [[0.0, 1.0, -1.0]]]
    assert [b.tolist() for _, b in rows] == [[0.25], [0.25]]
    with pytest.raises(SpecError, match="k must be an output index 0..2"):
        not_argmax_spec([0.0], [1.0], 3, 3)
    with pytest.raises(TypeError, match="k must be an integer"):
        not_argmax_spec([0.0], [1.0], 0.5, 3)


def test_box_spec_one_case_or_a_list_of_cases() -> None:
    one = box_spec([0, 0], [1, 1], [[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0])
    assert len(one) == 1 and one.disjuncts[0].output_A.shape == (2, 2)
    several = box_spec([0, 0], [1, 1], [np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])], [[0.0], [0.0]])
    assert len(several) == 2 and several.shares_input_set()
    poly = box_spec([0, 0], [1, 1], [[1.0, 0.0]], [0.0], input_A=[[1.0, 1.0]], input_b=[1.0])
    assert poly.disjuncts[0].input_A.tolist() == [[1.0, 1.0]]
    assert read_vnnlib(write_vnnlib(poly)) == poly
    with pytest.raises(SpecError, match="lower\\[1\\] = 2.0 exceeds upper\\[1\\] = 1.0"):
        box_spec([0, 2], [1, 1], [[1.0, 0.0]], [0.0])
    with pytest.raises(SpecError, match="must be finite"):
        box_spec([0, -np.inf], [1, 1], [[1.0, 0.0]], [0.0])
    with pytest.raises(SpecError, match="do not match"):
        box_spec([0, 0], [1, 1], [[1.0, 0.0]], [0.0, 1.0])


def test_ball_spec_inf_is_a_clipped_box() -> None:
    spec = ball_spec([0.0, 0.5, 0.98], 0.05, lower=0.0, upper=1.0, k=2, n_outputs=3)
    d = spec.disjuncts[0]
    np.testing.assert_allclose(d.lower, [0.0, 0.45, 0.93])
    np.testing.assert_allclose(d.upper, [0.05, 0.55, 1.0])
    assert d.ball is None and len(spec) == 2
    assert read_vnnlib(write_vnnlib(spec)) == spec


@pytest.mark.parametrize("norm", [1, 2])
def test_ball_spec_l1_l2_keeps_the_ball(norm) -> None:
    x0 = np.array([0.5, 0.5])
    spec = ball_spec(x0, 0.3, norm=norm, output_A=[[1.0, 0.0]], output_b=[0.0])
    (d,) = spec.disjuncts
    center, radius, p = d.ball
    assert center.tolist() == [0.5, 0.5] and radius == 0.3 and p == norm
    np.testing.assert_allclose(d.lower, [0.2, 0.2])  # the bounding box
    assert d.contains_input(x0 + [0.29, 0.0])
    assert not d.contains_input(x0 + 0.29)  # in the bounding box, outside the ball


def test_ball_spec_errors() -> None:
    with pytest.raises(SpecError, match="either output_A and output_b, or k and n_outputs"):
        ball_spec([0.0], 0.1)
    with pytest.raises(SpecError, match="k needs n_outputs"):
        ball_spec([0.0], 0.1, k=0)
    with pytest.raises(ValueError, match="eps must be finite and >= 0"):
        ball_spec([0.0], -0.1, k=0, n_outputs=2)
    with pytest.raises(SpecError, match="does not meet the box"):
        ball_spec([2.0], 0.1, lower=0.0, upper=1.0, k=0, n_outputs=2)


# --- result files --------------------------------------------------------------------------------------------

def test_result_file_sat_format(tmp_path) -> None:
    path = tmp_path / "out.txt"
    text = write_result(path, "sat", np.array([[0.5, -1e-3]]), [1.0, 2.0, 0.1])
    assert text == "sat\n((X_0 0.5)\n (X_1 -0.001)\n (Y_0 1.0)\n (Y_1 2.0)\n (Y_2 0.1))\n"
    assert path.read_text() == text
    back = read_result(path)
    assert back.status is ResultStatus.SAT and back.status == "sat"
    assert back.x.tolist() == [0.5, -1e-3] and back.y.tolist() == [1.0, 2.0, 0.1]


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 8), elements=st.floats(allow_nan=False, allow_infinity=False)))
def test_result_values_read_back_exactly(x) -> None:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.txt"
        write_result(path, ResultStatus.SAT, x, x[:1])
        back = read_result(path)
    assert np.array_equal(back.x, x) and np.array_equal(back.y, x[:1])


@pytest.mark.parametrize("status", ["unsat", "timeout", "error", "unknown"])
def test_result_file_other_answers(tmp_path, status) -> None:
    path = tmp_path / "r.txt"
    assert write_result(path, status) == f"{status}\n"
    back = read_result(path)
    assert back.status.value == status and back.x is None and back.y is None
    with pytest.raises(ValueError, match="has no counterexample"):
        write_result(path, status, [0.0], [0.0])


def test_result_file_errors_and_2021_names(tmp_path) -> None:
    path = tmp_path / "r.txt"
    with pytest.raises(ValueError, match="status must be one of"):
        write_result(path, "safe")
    with pytest.raises(ValueError, match="needs the counterexample"):
        write_result(path, "sat")
    path.write_text("violated\n((X_0 1.0)\n (Y_0 2.0))\n")
    assert read_result(path).status is ResultStatus.SAT
    path.write_text("holds\n")
    assert read_result(path).status is ResultStatus.UNSAT
    path.write_text("sat\n")
    assert read_result(path).x is None
    for bad, message in [("maybe\n", "unknown result 'maybe'"), ("sat\n((X_1 1.0))\n", "X_1 out of order"),
                         ("sat\n((X_0 1.0) junk)\n", "other than"), ("sat\n((X_0 abc))\n", "not a number"),
                         ("unsat\n((X_0 1.0))\n", "has no counterexample"), ("sat\n(X_0 1.0\n", "parentheses")]:
        path.write_text(bad)
        with pytest.raises(SpecError, match=message):
            read_result(path)


def test_a_written_counterexample_passes_the_check(tmp_path) -> None:
    """The way a verifier uses the pieces: check a point, write it, read it back and check again."""
    spec = not_argmax_spec([0.0, 0.0], [1.0, 1.0], 0, 3)
    x, y = np.array([0.25, 0.75]), np.array([1.0, 1.5, -2.0])
    assert spec.counterexample_check(x, y) == 0
    write_result(tmp_path / "r.txt", "sat", x, y)
    back = read_result(tmp_path / "r.txt")
    assert spec.counterexample_check(back.x, back.y) == 0
