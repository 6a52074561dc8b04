"""``nnblocks verify``, ``nnblocks batch`` and ``nnblocks fj --batch`` on tiny instances whose answers are known.

The network y = (relu(x0) + relu(x1), relu(x0) - relu(x1)) over the box [-1, 1]^2 has y0 in [0, 2]: the
property's negation "y0 >= 1.5" is sat (at x = (1, 1)), "y0 >= 2.5" unsat. Every counterexample in a result
file is re-checked by onnxruntime on the exported network.
"""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import onnxruntime as ort
import pytest
from typer.testing import CliRunner

import nnblocks as nb
from nnblocks.batch import read_rows
from nnblocks.cli import app
from nnblocks.spec import box_spec, read_result, read_vnnlib, write_vnnlib
from tests.conftest import ROOT, shared_data
from tests.models import small_cli_network

runner = CliRunner()


def _invoke(args):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def _said(res) -> str:
    return re.sub(r"[\s│╭╮╰╯─]+", " ", res.output)


def _one_line_error(res) -> str:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
    return lines[0]


def tiny_network(gain: float = 1.0) -> nb.Network:
    return nb.Network([nb.Layer(np.eye(2), np.zeros(2), nb.ReLU()),
                       nb.Layer(gain * np.array([[1.0, 1.0], [1.0, -1.0]]), np.zeros(2), nb.Identity())])


def y0_at_least(level: float):
    return box_spec([-1.0, -1.0], [1.0, 1.0], [[-1.0, 0.0]], [-level])


@pytest.fixture
def instance(tmp_path):
    """net.onnx, sat.vnnlib (y0 >= 1.5), unsat.vnnlib (y0 >= 2.5) in tmp_path."""
    nb.to_onnx(tiny_network(), tmp_path / "net.onnx")
    write_vnnlib(y0_at_least(1.5), tmp_path / "sat.vnnlib")
    write_vnnlib(y0_at_least(2.5), tmp_path / "unsat.vnnlib")
    return tmp_path


def onnx_confirms(onnx_path, vnnlib_path, result_path) -> None:
    """The result file's counterexample: onnxruntime's output at x equals the file's y (float32) and satisfies
    the property's negation."""
    res = read_result(result_path)
    assert res.status == "sat"
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    shape = [1 if not isinstance(d, int) else d for d in inp.shape]  # the batch dimension (named or 1) as 1
    y = session.run(None, {inp.name: res.x.astype(np.float32).reshape(shape)})[0].ravel().astype(np.float64)
    np.testing.assert_allclose(y, res.y, rtol=1e-5, atol=1e-5)
    spec = read_vnnlib(vnnlib_path)
    assert spec.counterexample_check(res.x, y, tol=1e-5) is not None


# -- verify -------------------------------------------------------------------------------------------------------
def test_verify_sat_writes_the_counterexample_confirmed_by_onnxruntime(instance):
    out = instance / "sat.result"
    res = _invoke(["verify", instance / "net.onnx", instance / "sat.vnnlib", "--timeout", "30", "--out", out])
    assert res.exit_code == 0, res.output
    said = _said(res)
    assert "status sat" in said and "stage" in said and "confirmed by a float64 forward pass" in said
    assert "falsify" in said and "wrote" in said
    onnx_confirms(instance / "net.onnx", instance / "sat.vnnlib", out)


def test_verify_unsat_writes_unsat_and_the_stage_that_proved_it(instance):
    out = instance / "unsat.result"
    js = instance / "unsat.json"
    res = _invoke(["verify", instance / "net.onnx", instance / "unsat.vnnlib", "--timeout", "30", "--out", out,
                   "--json", js])
    assert res.exit_code == 0, res.output
    assert out.read_text() == "unsat\n"
    record = json.loads(js.read_text())
    assert record["status"] == "unsat" and record["stage"] in ("bounds", "branch", "milp")
    assert f"status unsat stage {record['stage']}" in _said(res)
    assert [s["stage"] for s in record["stages"]][-1] == record["stage"]


def test_verify_undecided_exits_1_and_writes_timeout(instance):
    # bounds alone cannot show a counterexample: the sat instance stays open
    out = instance / "r.txt"
    res = _invoke(["verify", instance / "net.onnx", instance / "sat.vnnlib", "--timeout", "10", "--out", out,
                   "--stages", "bounds"])
    assert res.exit_code == 1, res.output
    assert out.read_text() == "timeout\n" and "status timeout" in _said(res)


def test_verify_bad_input_is_one_line_with_exit_2(instance):
    net, sat = instance / "net.onnx", instance / "sat.vnnlib"
    line = _one_line_error(_invoke(["verify", instance / "missing.onnx", sat]))
    assert "network file not found" in line and "missing.onnx" in line
    line = _one_line_error(_invoke(["verify", net, instance / "missing.vnnlib"]))
    assert "property file not found" in line and "missing.vnnlib" in line
    bad = instance / "bad.vnnlib"
    bad.write_text("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n"
                   "(declare-const Y_1 Real)\n(assert (<= X_0 1.0)\n")
    line = _one_line_error(_invoke(["verify", net, bad]))
    assert "bad.vnnlib:5" in line and "parenthes" in line
    wrong_size = instance / "three.vnnlib"
    write_vnnlib(box_spec([0, 0, 0], [1, 1, 1], [[1.0, 0.0]], [0.0]), wrong_size)
    line = _one_line_error(_invoke(["verify", net, wrong_size]))
    assert "three.vnnlib" in line
    for args, flag in ((["--timeout", "0"], "--timeout"), (["--solver", "no_such_solver"], "--solver"),
                       (["--out", instance / "no" / "r.txt"], "--out")):
        res = _invoke(["verify", net, sat, *args])
        assert res.exit_code == 2 and flag in _said(res), res.output


# -- batch --------------------------------------------------------------------------------------------------------
def _instances(folder, rows, name="instances.csv"):
    path = folder / name
    path.write_text("".join(f"{o},{v},{t}\n" for o, v, t in rows))
    return path


@pytest.fixture
def instance_list(instance):
    """A VNN-COMP-like folder: onnx/ and vnnlib/ with three instances (sat, unsat, sat on a second network)."""
    (instance / "onnx").mkdir()
    (instance / "vnnlib").mkdir()
    nb.to_onnx(tiny_network(), instance / "onnx" / "a.onnx")
    nb.to_onnx(tiny_network(2.0), instance / "onnx" / "b.onnx")  # y0 in [0, 4]
    write_vnnlib(y0_at_least(1.5), instance / "vnnlib" / "p15.vnnlib")
    write_vnnlib(y0_at_least(2.5), instance / "vnnlib" / "p25.vnnlib")
    return instance, [("onnx/a.onnx", "vnnlib/p15.vnnlib", 30), ("onnx/a.onnx", "vnnlib/p25.vnnlib", 30),
                      ("onnx/b.onnx", "vnnlib/p25.vnnlib", 30)]


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_batch_runs_a_list_and_resumes_with_the_rest(instance_list, suffix):
    folder, rows = instance_list
    out = folder / "results" / f"results.{suffix}"
    out.parent.mkdir()
    first = _invoke(["batch", _instances(folder, rows[:2], "first.csv"), "--out", out, "--no-progress"])
    assert first.exit_code == 0, first.output
    assert [r["key"] for r in read_rows(out)] == ["onnx/a.onnx|vnnlib/p15.vnnlib", "onnx/a.onnx|vnnlib/p25.vnnlib"]
    res = _invoke(["batch", _instances(folder, rows), "--out", out, "--no-progress", "--timeout-cap", "20"])
    assert res.exit_code == 0, res.output
    assert "1 run now, 2 done before" in _said(res)
    got = {(r["onnx"], r["vnnlib"]): r for r in read_rows(out)}
    assert len(read_rows(out)) == 3 and set(got) == {(o, v) for o, v, _ in rows}
    answers = {k: r["answer"] for k, r in got.items()}
    assert answers == {("onnx/a.onnx", "vnnlib/p15.vnnlib"): "sat", ("onnx/a.onnx", "vnnlib/p25.vnnlib"): "unsat",
                       ("onnx/b.onnx", "vnnlib/p25.vnnlib"): "sat"}
    assert float(got[("onnx/b.onnx", "vnnlib/p25.vnnlib")]["timeout"]) == 20.0  # capped
    for (onnx, vnnlib), r in got.items():
        assert r["task_status"] == "ok" and float(r["time"]) >= 0 and r["stage"]
        if r["answer"] == "sat":
            cx = out.parent / r["counterexample"]
            assert cx.parent.name == "results_counterexamples"
            onnx_confirms(folder / onnx, folder / vnnlib, cx)
        else:
            assert r["counterexample"] in ("", None)


def test_batch_errors_are_rows_and_exit_1(instance_list):
    folder, rows = instance_list
    out = folder / "results.csv"
    lst = _instances(folder, [rows[1], ("onnx/missing.onnx", "vnnlib/p15.vnnlib", 10),
                              ("onnx/a.onnx", "vnnlib/missing.vnnlib", 10)])
    res = _invoke(["batch", lst, "--out", out, "--no-progress"])
    assert res.exit_code == 1, res.output
    got = {(r["onnx"], r["vnnlib"]): r for r in read_rows(out)}
    assert got[("onnx/a.onnx", "vnnlib/p25.vnnlib")]["answer"] == "unsat"
    missing = got[("onnx/missing.onnx", "vnnlib/p15.vnnlib")]
    assert missing["answer"] == missing["task_status"] == "error" and "network file not found" in missing["message"]
    assert "property file not found" in got[("onnx/a.onnx", "vnnlib/missing.vnnlib")]["message"]
    # --rerun error: the error rows are done again (still errors), each instance once
    res = _invoke(["batch", lst, "--out", out, "--no-progress", "--rerun", "error"])
    assert res.exit_code == 1 and "2 run now, 1 done before" in _said(res)
    assert len(read_rows(out)) == 3


def test_batch_bad_input_is_exit_2(instance_list, tmp_path):
    folder, rows = instance_list
    line = _one_line_error(_invoke(["batch", folder / "none.csv", "--out", folder / "r.csv"]))
    assert "instance list not found" in line
    bad = folder / "bad.csv"
    bad.write_text("onnx,vnnlib,timeout\nonnx/a.onnx,vnnlib/p15.vnnlib\n")
    line = _one_line_error(_invoke(["batch", bad, "--out", folder / "r.csv"]))
    assert "bad.csv:2: expected 3 columns" in line
    bad.write_text("onnx/a.onnx,vnnlib/p15.vnnlib,soon\n")
    assert "is not a number" in _one_line_error(_invoke(["batch", bad, "--out", folder / "r.csv"]))
    lst = _instances(folder, rows)
    for args, flag in ((["--out", folder / "r.txt"], None), (["--workers", "0"], "--workers"),
                       (["--workers", "2", "--dask", "tcp://127.0.0.1:1"], "--workers"),
                       (["--timeout-cap", "-1"], "--timeout-cap"), (["--rerun", "sat"], "--rerun")):
        res = _invoke(["batch", lst, *args] if args[0] == "--out" else ["batch", lst, "--out", folder / "r.csv",
                                                                         *args])
        assert res.exit_code == 2, res.output
        if flag:
            assert flag in _said(res)
    assert not (folder / "r.csv").exists()


def test_batch_reads_a_header_row_and_comments(instance_list):
    from nnblocks.cli.batch import read_instances

    folder, rows = instance_list
    path = folder / "h.csv"
    path.write_text("onnx,vnnlib,timeout\n# a comment\n\nonnx/a.onnx, vnnlib/p15.vnnlib ,116\n")
    assert read_instances(path) == [("onnx/a.onnx", "vnnlib/p15.vnnlib", 116.0)]


@pytest.mark.slow
def test_batch_on_two_workers_equals_the_serial_answers(instance_list):
    folder, rows = instance_list
    lst = _instances(folder, rows)
    serial, pooled = folder / "serial.csv", folder / "pooled.csv"
    assert _invoke(["batch", lst, "--out", serial, "--no-progress"]).exit_code == 0
    res = _invoke(["batch", lst, "--out", pooled, "--no-progress", "--workers", "2"])
    assert res.exit_code == 0, res.output
    answers = {str(p): sorted((r["key"], r["answer"], r["stage"]) for r in read_rows(p)) for p in (serial, pooled)}
    assert answers[str(serial)] == answers[str(pooled)]


@pytest.mark.shared_data
def test_batch_on_the_staged_test_benchmark(tmp_path):
    """VNN-COMP's test benchmark: test_sat is sat, test_unsat unsat; the others are answered or error rows."""
    lst = shared_data("vnncomp", "test", "instances.csv")
    out = tmp_path / "r.jsonl"
    res = _invoke(["batch", lst, "--out", out, "--no-progress", "--timeout-cap", "30"])
    assert res.exit_code in (0, 1), res.output
    got = {r["onnx"]: r for r in read_rows(out)}
    assert len(got) == 5
    assert got["onnx/test_sat.onnx"]["answer"] == "sat" and got["onnx/test_unsat.onnx"]["answer"] == "unsat"
    onnx_confirms(lst.parent / "onnx/test_sat.onnx", lst.parent / "vnnlib/test_prop.vnnlib",
                  tmp_path / got["onnx/test_sat.onnx"]["counterexample"])


# -- fj --batch ---------------------------------------------------------------------------------------------------
def test_fj_batch_writes_one_row_per_example_and_resumes(tmp_path):
    net, path, img, true, target = small_cli_network(tmp_path)
    others = [t for t in range(3) if t != true]
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("image,target\n" + f"x.npy,{others[0]}\n")
    out = tmp_path / "fj.csv"
    res = _invoke(["fj", "-n", path, "--batch", pairs, "--out", out, "--time-limit", "60"])
    assert res.exit_code in (0, 1), res.output
    pairs.write_text("image,target\n" + "".join(f"x.npy,{t}\n" for t in others))
    res = _invoke(["fj", "-n", path, "--batch", pairs, "--out", out, "--time-limit", "60"])
    assert "1 run now, 1 done before" in _said(res)
    rows = read_rows(out)
    assert [r["key"] for r in rows] == [f"x.npy|{t}" for t in others]
    for r in rows:
        assert r["task_status"] == "ok" and r["status"] in ("optimal", "infeasible", "feasible")
        assert r["verified"] in ("True", "False") and float(r["time"]) >= 0
    by_target = {int(r["target"]): r for r in rows}
    assert by_target[target]["verified"] == "True" and float(by_target[target]["objective"]) > 0
    # exit code 0 exactly when every row has a verified example
    assert res.exit_code == (0 if all(r["verified"] == "True" for r in rows) else 1)


def test_fj_batch_bad_rows_name_the_line(tmp_path):
    _, path, img, true, target = small_cli_network(tmp_path)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("image,target\nx.npy,one\n")
    res = _invoke(["fj", "-n", path, "--batch", pairs, "--out", tmp_path / "fj.csv"])
    assert res.exit_code == 2 and "pairs.csv:2" in _said(res) and "--batch" in _said(res)
    pairs.write_text("nope.npy,1\n")
    res = _invoke(["fj", "-n", path, "--batch", pairs, "--out", tmp_path / "fj.csv"])
    assert res.exit_code == 2 and "pairs.csv:1" in _said(res) and "not found" in _said(res)
    res = _invoke(["fj", "-n", path, "--batch", pairs, "--json", tmp_path / "a.json"])
    assert res.exit_code == 2 and "not with --batch" in _said(res)


def test_the_example_batch_holds_the_ten_pairs_of_table_3():
    from nnblocks.cli.adversarial import _batch_rows

    rows = _batch_rows(ROOT / "examples" / "fj_pairs.csv")
    assert [(int(i), t) for i, t, _ in rows] == [(2, 1), (3, 2), (4, 3), (5, 4), (6, 5), (7, 6), (8, 7), (9, 8),
                                                 (0, 9), (1, 0)]
    with (ROOT / "examples" / "fj_pairs.csv").open() as f:
        assert sum(1 for r in csv.reader(f) if r and not r[0].startswith("#")) == 11  # the header and ten rows
