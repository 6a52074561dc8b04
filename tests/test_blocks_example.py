"""examples/own_model.py runs, its two solvers agree, its answer passes the forward-pass check, it exports."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own_model.py"


@pytest.mark.slow
def test_own_model_example_runs_and_exports(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE), "--out", str(tmp_path)])
    runpy.run_path(str(EXAMPLE), run_name="__main__")  # asserts the margin by a forward pass inside
    out = capsys.readouterr().out
    assert "scip_direct" in out and "highs" in out
    assert (tmp_path / "model.lp").stat().st_size > 0
    assert (tmp_path / "model.mps").stat().st_size > 0


@pytest.mark.slow
def test_own_model_example_exports_into_the_current_directory_by_default(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE)])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    assert (tmp_path / "model.lp").stat().st_size > 0
    assert (tmp_path / "model.mps").stat().st_size > 0
