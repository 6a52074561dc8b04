"""The VNN-LIB reader and writer: every staged VNN-COMP property reads with the dimensions of its network,
spot checks against the files' text, one named error per kind of malformed input, and round trips."""

from __future__ import annotations

import csv
import re
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA, shared_data
from hypothesis import given, settings
from hypothesis import strategies as st

import nnblocks as nb
from nnblocks.spec import MAX_DISJUNCTS, Disjunct, Spec, SpecError, not_argmax_spec, read_vnnlib, write_vnnlib

VNNCOMP = SHARED_DATA / "vnncomp"
PROPERTY_FILES = sorted(VNNCOMP.glob("*/vnnlib/*.vnnlib"))


def _io_sizes(onnx_path: Path) -> tuple[int, int]:
    """The number of entries of the graph's (non-initializer) input and its output; symbolic or batch axes
    count 1."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    initializers = {t.name for t in graph.initializer}
    (inp,) = [i for i in graph.input if i.name not in initializers]

    def size(value) -> int:
        return int(np.prod([d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1
                            for d in value.type.tensor_type.shape.dim]))

    return size(inp), size(graph.output[0])


def _networks_of(prop: Path) -> list[Path]:
    """The networks that VNN-COMP's instances.csv pairs with ``prop``; a property the list does not name
    (some ACAS Xu ones) is paired with every network of its benchmark."""
    bench = prop.parent.parent
    with open(bench / "instances.csv", newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    nets = [bench / r[0] for r in rows if (bench / r[1]).resolve() == prop.resolve()]
    return nets or sorted((bench / "onnx").glob("*.onnx"))


@pytest.mark.shared_data
def test_staged_properties_are_there() -> None:
    shared_data("vnncomp")
    assert len(PROPERTY_FILES) >= 30


@pytest.mark.shared_data
@pytest.mark.parametrize("prop", PROPERTY_FILES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_every_staged_property_reads_with_the_network_dimensions(prop: Path) -> None:
    shared_data("vnncomp")
    nets = _networks_of(prop)
    assert nets
    for net in nets:
        n_in, n_out = _io_sizes(net)
        spec = read_vnnlib(prop, n_inputs=n_in, n_outputs=n_out)
        assert (spec.n_inputs, spec.n_outputs) == (n_in, n_out)
    assert spec.name == prop.stem
    assert len(spec) >= 1
    text = prop.read_text()
    # every declared variable is there, every disjunct has a finite box
    assert spec.n_inputs == len(re.findall(r"\(declare-const X_\d+ Real\)", text))
    for d in spec.disjuncts:
        assert np.isfinite(d.lower).all() and np.isfinite(d.upper).all()
        assert (d.lower <= d.upper).all()
    # the file's text written back reads as the same specification
    assert read_vnnlib(write_vnnlib(spec)) == spec


def _top_level_box(text: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The bounds of the one-variable asserts ``(assert (<= X_i c))`` / ``(assert (>= X_i c))``, read with a
    regular expression independently of the reader."""
    lower, upper = np.full(n, -np.inf), np.full(n, np.inf)
    for op, i, c in re.findall(r"\(assert \((<=|>=) X_(\d+) (\S+?)\)\)", text):
        if op == "<=":
            upper[int(i)] = min(upper[int(i)], float(c))
        else:
            lower[int(i)] = max(lower[int(i)], float(c))
    return lower, upper


@pytest.mark.shared_data
def test_acasxu_property_1_against_the_text() -> None:
    path = shared_data("vnncomp", "acasxu", "vnnlib", "prop_1.vnnlib")
    spec = read_vnnlib(path, 5, 5)
    (d,) = spec.disjuncts
    np.testing.assert_array_equal(d.lower, [0.6, -0.5, -0.5, 0.45, -0.5])
    np.testing.assert_array_equal(d.upper, [0.679857769, 0.5, 0.5, 0.5, -0.45])
    assert d.input_A.shape == (0, 5)
    # (assert (>= Y_0 3.991125645861615)): -y_0 <= -3.991125645861615
    np.testing.assert_array_equal(d.output_A, [[-1.0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(d.output_b, [-3.991125645861615])
    centre = (d.lower + d.upper) / 2
    assert spec.counterexample_check(centre, [4.0, 0, 0, 0, 0]) == 0
    assert spec.counterexample_check(centre, [3.9, 0, 0, 0, 0]) is None
    assert spec.counterexample_check(d.upper + 0.01, [4.0, 0, 0, 0, 0]) is None


@pytest.mark.shared_data
def test_acasxu_property_6_two_boxes_times_four_output_cases() -> None:
    path = shared_data("vnncomp", "acasxu", "vnnlib", "prop_6.vnnlib")
    spec = read_vnnlib(path, 5, 5)
    assert len(spec) == 8  # (box 1 or box 2) and (y_1 <= y_0 or ... or y_4 <= y_0)
    assert not spec.shares_input_set()
    boxes = {(tuple(d.lower), tuple(d.upper)) for d in spec.disjuncts}
    assert boxes == {
        ((-0.129289109, 0.11140846, -0.499999896, -0.5, -0.5), (0.700434925, 0.499999896, -0.499204121, 0.5, 0.5)),
        ((-0.129289109, -0.499999896, -0.499999896, -0.5, -0.5),
         (0.700434925, -0.11140846, -0.499204121, 0.5, 0.5)),
    }
    rows = [tuple(d.output_A[0]) for d in spec.disjuncts[:4]]
    assert rows == [tuple(np.eye(5)[j] - np.eye(5)[0]) for j in range(1, 5)]  # (<= Y_j Y_0)
    assert all(d.output_b.tolist() == [0.0] for d in spec.disjuncts)


@pytest.mark.shared_data
def test_mnist_property_is_the_not_argmax_spec_of_its_label() -> None:
    path = shared_data("vnncomp", "mnistfc", "vnnlib", "prop_0_0.03.vnnlib")
    text = path.read_text()
    label = int(re.search(r"label: (\d+)", text).group(1))
    spec = read_vnnlib(path, 784, 10)
    lower, upper = _top_level_box(text, 784)
    assert spec.shares_input_set()
    np.testing.assert_array_equal(spec.disjuncts[0].lower, lower)
    np.testing.assert_array_equal(spec.disjuncts[0].upper, upper)
    # (>= Y_j Y_label) for j != label: exactly not_argmax_spec with margin 0
    assert spec == not_argmax_spec(lower, upper, label, 10)


@pytest.mark.shared_data
def test_marabou_target_property_is_one_conjunction() -> None:
    (path,) = shared_data("vnncomp", "marabou-cifar10", "vnnlib").glob("*index1783*")
    spec = read_vnnlib(path, 3072, 10)
    (d,) = spec.disjuncts
    # (assert (>= Y_9 Y_i)) for i = 0..8: y_i - y_9 <= 0, nine rows of one disjunct
    np.testing.assert_array_equal(d.output_A, np.eye(10)[:9] - np.eye(10)[9])
    lower, upper = _top_level_box(path.read_text(), 3072)
    np.testing.assert_array_equal(d.lower, lower)
    np.testing.assert_array_equal(d.upper, upper)


@pytest.mark.shared_data
def test_bounds_given_only_inside_the_disjunction() -> None:
    path = shared_data("vnncomp", "test", "vnnlib", "test_tiny.vnnlib")
    (d,) = read_vnnlib(path, 1, 1).disjuncts
    assert (d.lower.tolist(), d.upper.tolist()) == ([-1.0], [1.0])
    np.testing.assert_array_equal(d.output_A, [[-1.0]])
    np.testing.assert_array_equal(d.output_b, [-100.0])


@pytest.mark.shared_data
def test_a_cifar_property_reads_in_well_under_a_second() -> None:
    (path,) = shared_data("vnncomp", "oval21", "vnnlib").glob("*img2908*")
    read_vnnlib(path)  # warm
    start = time.perf_counter()
    spec = read_vnnlib(path, 3072, 10)
    seconds = time.perf_counter() - start
    assert spec.n_inputs == 3072 and len(spec) == 9
    assert seconds < 1.0, f"{seconds:.2f} s"  # 0.05-0.2 s on one core; the bound leaves room for a busy machine


def test_gzip_files_read_and_write(tmp_path) -> None:
    spec = not_argmax_spec([0.0, -1.0], [1.0, 1.0], 1, 3, name="p")
    path = tmp_path / "p.vnnlib.gz"
    write_vnnlib(spec, path)
    back = read_vnnlib(path)
    assert back == spec and back.name == "p"
    plain = tmp_path / "p.vnnlib"
    text = write_vnnlib(spec, plain)
    assert plain.read_text() == text and read_vnnlib(plain) == spec


# --- the subset read -------------------------------------------------------------------------------------

DECL = "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n"
BOX = "(assert (<= X_0 1))\n(assert (>= X_0 0))\n(assert (<= X_1 1))\n(assert (>= X_1 -1))\n"


def test_linear_terms_constants_and_polytope_rows() -> None:
    text = DECL + BOX + """
; a comment (with parentheses) is skipped
(assert (<= (+ X_0 (* -2 X_1) 0.5) (- 3e-1 X_1)))
(assert (>= (* 2 (- X_0)) -1.5E+0))
(assert (<= (* 2 3 X_1) 12))
(assert (or (and (<= (- Y_0 Y_1) -0.25) (>= Y_1 .5)) (and (<= (+ Y_0 Y_0) (- 1)))))
"""
    spec = read_vnnlib(text, 2, 2)
    assert spec.name == "" and len(spec) == 2
    d0, d1 = spec.disjuncts
    # x0 - 2 x1 + 0.5 <= 0.3 - x1  ->  x0 - x1 <= -0.2 (a row); -2 x0 >= -1.5 -> x0 <= 0.75; 6 x1 <= 12 -> x1 <= 2
    np.testing.assert_allclose(d0.input_A, [[1.0, -1.0]])
    np.testing.assert_allclose(d0.input_b, [0.3 - 0.5])
    np.testing.assert_array_equal(d0.upper, [0.75, 1.0])  # the tightest bound wins
    np.testing.assert_array_equal(d0.lower, [0.0, -1.0])
    np.testing.assert_array_equal(d0.output_A, [[1.0, -1.0], [0.0, -1.0]])
    np.testing.assert_array_equal(d0.output_b, [-0.25, -0.5])
    np.testing.assert_array_equal(d1.output_A, [[2.0, 0.0]])
    np.testing.assert_array_equal(d1.output_b, [-1.0])
    assert d0.same_input_set(d1)


def test_the_normal_form_of_nested_and_or() -> None:
    text = DECL + BOX + """
(assert (or (<= Y_0 0) (<= Y_1 0)))
(assert (and (or (>= Y_0 1) (>= Y_1 1)) (<= Y_0 5)))
"""
    spec = read_vnnlib(text)
    assert len(spec) == 4  # (a or b) and (c or d) and e
    got = [(d.output_A.tolist(), d.output_b.tolist()) for d in spec.disjuncts]
    # rows in the order of the asserts, and within a case in the order of the atoms (e before the or)
    for (A, b), (first, second) in zip(got, [(0, 0), (0, 1), (1, 0), (1, 1)]):
        assert A[0] == np.eye(2)[first].tolist() and b[0] == 0.0  # y_first <= 0
        assert A[1] == [1.0, 0.0] and b[1] == 5.0  # y_0 <= 5
        assert A[2] == (-np.eye(2)[second]).tolist() and b[2] == -1.0  # y_second >= 1


def test_constant_atoms_are_decided() -> None:
    spec = read_vnnlib(DECL + BOX + "(assert (or (<= 1 0) (and (<= 0 1) (<= Y_0 2))))\n")
    (d,) = spec.disjuncts  # the false case is dropped, the true atom is no row
    np.testing.assert_array_equal(d.output_A, [[1.0, 0.0]])
    assert len(read_vnnlib(DECL + BOX + "(assert (<= 2 1))\n")) == 0


def test_ignored_commands() -> None:
    spec = read_vnnlib("(set-logic QF_LRA)\n" + DECL + BOX + "(assert (<= Y_0 0))\n(check-sat)\n(get-model)\n")
    assert len(spec) == 1


# --- malformed input: one named error per kind, with line and token ----------------------------------------

def _error(text: str, **kw) -> str:
    with pytest.raises(SpecError) as info:
        read_vnnlib(text, **kw)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_error_unknown_function() -> None:
    assert _error(DECL + BOX + "(assert (not (<= Y_0 1)))\n") == "<string>:9: unknown function at token 'not'"
    assert _error(DECL + BOX + "(assert (<= (/ Y_0 2) 1))\n") == "<string>:9: unknown function at token '/'"
    assert _error(DECL + "(define-fun f () Real 1)\n") == "<string>:5: unknown function at token 'define-fun'"


def test_error_nonlinear_term() -> None:
    assert _error(DECL + BOX + "(assert (<= (* Y_0 Y_1) 1))\n") == \
        "<string>:9: nonlinear term (a product of variables) at token '*'"


def test_error_undeclared_variable() -> None:
    assert _error(DECL + BOX + "(assert (<= Y_2 1))\n") == \
        "<string>:9: undeclared variable (or a malformed number) at token 'Y_2'"
    assert _error(DECL + BOX + "(assert (<= Y_0 inf))\n").endswith("at token 'inf'")


def test_error_mixing_inputs_and_outputs() -> None:
    assert _error(DECL + BOX + "\n(assert (<= (+ X_0 Y_0) 1))\n") == \
        "<string>:10: a constraint mixes inputs X and outputs Y at token '<='"


def test_error_unbalanced_parentheses() -> None:
    assert _error(DECL + "(assert (<= X_0 1)\n" + BOX) == \
        "<string>:5: unbalanced parenthesis: '(' never closed at token '('"
    assert _error(DECL + "(assert (<= X_0 1)))\n" + BOX) == \
        "<string>:5: unbalanced parenthesis: ')' without '(' at token ')'"
    assert _error(DECL + "assert\n") == "<string>:5: expected '(' at the top level at token 'assert'"


def test_error_wrong_declared_counts() -> None:
    text = DECL + BOX + "(assert (<= Y_0 1))\n"
    assert _error(text, n_inputs=3) == \
        "<string>:2: the file declares 2 input variables X_i, expected n_inputs=3 at token 'X_1'"
    assert _error(text, n_outputs=10) == \
        "<string>:4: the file declares 2 output variables Y_i, expected n_outputs=10 at token 'Y_1'"
    gap = "(declare-const X_0 Real)\n(declare-const X_2 Real)\n"
    assert _error(gap) == "<string>:2: X_1 is not declared at token 'X_2'"
    assert _error(DECL + DECL).endswith("X_0 declared twice at token 'X_0'")


def test_error_unbounded_input() -> None:
    text = DECL + "(assert (<= X_0 1))\n(assert (>= X_0 0))\n(assert (<= X_1 1))\n(assert (<= Y_0 1))\n"
    assert _error(text) == \
        "<string>:2: X_1 has no lower bound (verification needs a bounded input set) at token 'X_1'"
    # bounded in one case of the disjunction only
    cases = DECL + BOX.replace("(assert (>= X_1 -1))\n", "") + "(assert (or (>= X_1 0) (<= Y_0 1)))\n"
    assert _error(cases) == ("<string>:2: X_1 has no lower bound in disjunct 1 (verification needs a bounded "
                             "input set) at token 'X_1'")


def test_error_malformed_atoms_and_declarations() -> None:
    assert _error(DECL + BOX + "(assert (<= Y_0))\n") == "<string>:9: '<=' takes two arguments at token '<='"
    assert _error("(declare-const Z Real)\n").startswith("<string>:1: declared names must be X_<i>")
    assert _error("(declare-const X_0 Int)\n").endswith("unsupported sort of X_0 (only Real) at token 'Int'")
    assert _error(DECL + BOX + "(assert Y_0)\n") == "<string>:9: expected a constraint at token 'Y_0'"


def test_error_the_normal_form_too_large(monkeypatch) -> None:
    import nnblocks.spec.vnnlib as vnnlib

    monkeypatch.setattr(vnnlib, "MAX_DISJUNCTS", 8)
    text = DECL + BOX + "(assert (or (<= Y_0 0) (<= Y_0 1) (<= Y_0 2)))\n(assert (or (<= Y_1 0) (<= Y_1 1)))\n"
    assert len(read_vnnlib(text)) == 6
    message = _error(text + "(assert (or (<= Y_1 2) (<= Y_1 3)))\n")
    assert message.startswith("<string>:") and "MAX_DISJUNCTS=8" in message
    assert MAX_DISJUNCTS == 100_000


def test_file_errors_name_the_file(tmp_path) -> None:
    path = tmp_path / "bad.vnnlib"
    path.write_text(DECL + "(assert (<= (* Y_0 Y_1) 1))\n")
    with pytest.raises(SpecError, match=r"bad\.vnnlib:5: nonlinear term .* at token '\*'"):
        read_vnnlib(path)


# --- round trips -----------------------------------------------------------------------------------------

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False) | st.sampled_from(
    [0.0, -0.0, 1.0, -1.0, 1e-300, 5e-324, 0.1, 1 / 3, 1e15])


@st.composite
def specs(draw) -> Spec:
    """Random specifications in the reader's normal form: polytope rows have none or at least two non-zero
    coefficients (a row with one is a bound)."""
    n_in = draw(st.integers(1, 5))
    n_out = draw(st.integers(1, 4))

    def vector(n):
        return np.array(draw(st.lists(finite, min_size=n, max_size=n)), dtype=np.float64)

    def input_set():
        a, b = vector(n_in), vector(n_in)
        lower, upper = np.minimum(a, b), np.maximum(a, b)
        rows = []
        for _ in range(draw(st.integers(0, 2)) if n_in >= 2 else 0):
            row = vector(n_in)
            keep = draw(st.lists(st.integers(0, n_in - 1), min_size=2, max_size=n_in, unique=True))
            mask = np.zeros(n_in, bool)
            mask[keep] = True
            row[~mask] = 0.0
            row[mask & (row == 0.0)] = 1.0
            rows.append(row * draw(st.sampled_from([1.0, 0.0])))
        A = np.array(rows).reshape(-1, n_in)
        return lower, upper, A, vector(A.shape[0])

    def outputs():
        rows = []
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["dense", "difference", "zero"]))
            if kind == "difference" and n_out >= 2:
                i, j = draw(st.lists(st.integers(0, n_out - 1), min_size=2, max_size=2, unique=True))
                rows.append((np.eye(n_out)[i] - np.eye(n_out)[j], draw(st.sampled_from([0.0, 0.5]))))
            elif kind == "zero":
                rows.append((np.zeros(n_out), draw(finite)))
            else:
                rows.append((vector(n_out), draw(finite)))
        A = np.array([r for r, _ in rows]).reshape(-1, n_out)
        return A, np.array([b for _, b in rows])

    shared = draw(st.booleans())
    common = input_set()
    disjuncts = []
    for _ in range(draw(st.integers(0, 4))):
        lower, upper, iA, ib = common if shared else input_set()
        oA, ob = outputs()
        disjuncts.append(Disjunct(lower, upper, iA, ib, oA, ob))
    return Spec(n_in, n_out, tuple(disjuncts), name=draw(st.sampled_from(["", "random"])))


@settings(max_examples=150, deadline=None)
@given(specs())
def test_write_then_read_gives_the_same_spec(spec: Spec) -> None:
    text = write_vnnlib(spec)
    back = read_vnnlib(text, n_inputs=spec.n_inputs, n_outputs=spec.n_outputs)
    assert back == spec
    assert write_vnnlib(back) == (text if not spec.name else text.split("\n", 1)[1])


def test_writer_layout_is_vnncomp_style() -> None:
    spec = not_argmax_spec([0.0, 0.25], [1.0, 0.5], 0, 3)
    text = write_vnnlib(spec)
    assert text.splitlines() == [
        "(declare-const X_0 Real)", "(declare-const X_1 Real)", "",
        "(declare-const Y_0 Real)", "(declare-const Y_1 Real)", "(declare-const Y_2 Real)", "",
        "(assert (<= X_0 1.0))", "(assert (>= X_0 0.0))", "(assert (<= X_1 0.5))", "(assert (>= X_1 0.25))", "",
        "(assert (or", "    (and (<= Y_0 Y_1))", "    (and (<= Y_0 Y_2))", "))",
    ]
    boxes = Spec(1, 1, (Disjunct([0.0], [1.0], np.zeros((0, 1)), [], [[1.0]], [2.0]),
                        Disjunct([2.0], [3.0], np.zeros((0, 1)), [], [[-1.0]], [0.0])))
    assert write_vnnlib(boxes).splitlines()[-3:] == [
        "    (and (<= X_0 1.0) (>= X_0 0.0) (<= (* 1.0 Y_0) 2.0))",
        "    (and (<= X_0 3.0) (>= X_0 2.0) (<= (* -1.0 Y_0) 0.0))", "))"]
    assert read_vnnlib(write_vnnlib(boxes)) == boxes


def test_writer_refuses_balls() -> None:
    spec = nb.ball_spec([0.5, 0.5], 0.1, norm=2, k=0, n_outputs=2)
    with pytest.raises(SpecError, match="L2 ball"):
        write_vnnlib(spec)
    with pytest.raises(TypeError, match="spec must be a Spec"):
        write_vnnlib("(assert)")
