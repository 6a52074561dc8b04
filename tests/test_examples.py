"""The example scripts write their files into --out (default: the current directory), never into docs/img, and
print the status of every solve."""

from __future__ import annotations

import hashlib
import runpy
import sys

import pytest
from conftest import ROOT

EXAMPLES = ROOT / "examples"


def _docs_images() -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((ROOT / "docs" / "img").glob("*"))}


def _run(name: str, args: list[str], monkeypatch) -> None:
    path = EXAMPLES / name
    monkeypatch.setattr(sys, "argv", [str(path), *args])
    runpy.run_path(str(path), run_name="__main__")


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_every_example_documents_out_with_the_current_directory_as_default(name, monkeypatch, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _run(name, ["--help"], monkeypatch)
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--out" in text and "(default: .)" in text


@pytest.mark.slow
def test_fashion_fj_writes_into_the_current_directory(tmp_path, monkeypatch, capsys) -> None:
    before = _docs_images()
    monkeypatch.chdir(tmp_path)
    _run("fashion_fj.py", [], monkeypatch)
    assert (tmp_path / "fj_pullover_trouser.png").stat().st_size > 0
    assert _docs_images() == before
    results = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(("FJAE", "max_distance"))]
    assert len(results) == 3 and all("status " in ln for ln in results)


@pytest.mark.slow
def test_fashion_arfj_writes_into_out_and_prints_the_status_of_the_time_limited_orae(tmp_path, monkeypatch,
                                                                                     capsys) -> None:
    before = _docs_images()
    monkeypatch.chdir(tmp_path)
    _run("fashion_arfj.py", ["--out", "pictures", "--time-limit", "5"], monkeypatch)
    lines = capsys.readouterr().out.splitlines()
    results = {ln.split(":")[0]: ln for ln in lines if ln.startswith(("FJAE:", "IRAE:", "ORAE:"))}
    assert set(results) == {"FJAE", "IRAE", "ORAE"}
    assert all(": status " in ln for ln in results.values())
    orae_found = "no example found" not in results["ORAE"]  # within 5 s the ORAE may have no example yet
    assert orae_found or results["ORAE"].startswith("ORAE: status time_limit")
    pictures = ["irae_pullover_trouser.png", "robustness_pullover_trouser.png"]
    for picture in pictures + ["orae_pullover_trouser.png"] * orae_found:
        assert (tmp_path / "pictures" / picture).stat().st_size > 0
    assert _docs_images() == before


@pytest.mark.slow
def test_robust_tutorial_writes_into_the_current_directory(tmp_path, monkeypatch, capsys) -> None:
    before = _docs_images()
    monkeypatch.chdir(tmp_path)
    torch = pytest.importorskip("torch")  # the tutorial trains a one-class network
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one torch thread per test worker: two oversubscribe a loaded two-core machine
    try:
        _run("robust_tutorial.py", ["--epochs", "20"], monkeypatch)
    finally:
        torch.set_num_threads(threads)
    for picture in ("robust_level_sets.png", "robust_oos.png", "robust_path.png"):
        assert (tmp_path / picture).stat().st_size > 0
    assert _docs_images() == before
    lines = capsys.readouterr().out.splitlines()
    assert len([ln for ln in lines if ln.split(" ")[0] in ("NN", "Kernel", "Discrete")]) == 3  # name, status, x...
    assert any(ln.startswith("own model: ") for ln in lines) and any(ln.startswith("path: ") for ln in lines)
