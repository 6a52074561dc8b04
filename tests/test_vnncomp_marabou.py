"""benchmarks/vnncomp.py's Marabou runner on VNN-COMP's smoke-test networks (skipped without maraboupy)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.conftest import shared_data

pytest.importorskip("maraboupy")

ROOT = Path(__file__).resolve().parents[1]


def _vnncomp():
    spec = importlib.util.spec_from_file_location("vnncomp_benchmark", ROOT / "benchmarks" / "vnncomp.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.shared_data
def test_marabou_runner_on_the_test_networks():
    """Marabou's answers agree with nnblocks.verify on every test instance (sat and unsat both occur), its
    counterexample passes the float64 re-check, and the rows score against a published answer."""
    import nnblocks as nb

    v = _vnncomp()
    folder = shared_data("vnncomp", "test")
    rows = v.instances(folder)
    assert rows
    answers = set()
    for onnx, vnnlib, _ in rows:
        m = v.run_marabou(onnx, vnnlib, 20.0, grace=30.0)
        assert m["answer"] in ("sat", "unsat"), m
        assert m["time"] >= 0 and m["cpu"] >= 0
        ours = nb.verify(nb.from_onnx(onnx), vnnlib, time_limit=20.0)
        assert str(ours.status.value) == m["answer"], (onnx.name, vnnlib.name, m)
        if m["answer"] == "sat":
            assert m["cex"] is True and len(m["x"]) == nb.from_onnx(onnx).n_inputs
        answers.add(m["answer"])
        scored = v.score(dict(m), {"answer": m["answer"], "best_time_s": "1.0"})
        assert not scored["wrong"] and scored["ratio"] == pytest.approx(m["time"])
        assert v.score(dict(m), {"answer": "unsat" if m["answer"] == "sat" else "sat"})["wrong"]
    assert answers == {"sat", "unsat"}


@pytest.mark.shared_data
def test_marabou_runner_reports_a_failing_child_as_an_error(tmp_path):
    """A network Marabou cannot read is an "error: ..." row, not an exception, and the run goes on."""
    v = _vnncomp()
    folder = shared_data("vnncomp", "test")
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not an onnx file")
    m = v.run_marabou(bad, folder / "vnnlib" / "test_prop.vnnlib", 10.0)
    assert m["answer"].startswith("error: "), m


@pytest.mark.shared_data
def test_marabou_runner_kills_a_child_past_its_hard_limit(monkeypatch):
    """A child still running at timeout + grace is killed and the row says timeout."""
    v = _vnncomp()
    folder = shared_data("vnncomp", "test")
    monkeypatch.setattr(v, "MARABOU_CHILD", "import time; time.sleep(60)")
    m = v.run_marabou(folder / "onnx" / "test_sat.onnx", folder / "vnnlib" / "test_prop.vnnlib", 0.5, grace=0.5)
    assert m["answer"] == "timeout" and m["message"] == "killed" and m["time"] < 30
