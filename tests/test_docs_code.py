"""Every Python code block of README.md and docs/*.md runs as written, from a directory outside the checkout.

The blocks of one page run in order in one namespace, as a reader follows the page (a block may use what an
earlier block of the same page defined). Blocks in other languages (shell commands, program output) are not
run; the fence's language decides. The blocks are extracted with mktestdocs. Pages whose blocks solve
models over the shipped 784-input networks, train networks or start a local cluster are marked slow.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from conftest import ROOT
from mktestdocs import grab_code_blocks

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# pages with blocks that take more than a few seconds: FJ/ARFJ solves on the shipped Fashion-MNIST networks
# (README, adversarial, solving), one-class training (robust), a Dask local cluster (parallel)
SLOW = {"README.md", "adversarial.md", "cnn.md", "solving.md", "robust.md", "parallel.md"}

# fence languages shown but never run: shell commands, program output, diagrams (no language)
NOT_RUN = {"bash", "sh", "console", "text", ""}

# what a page's text supplies before its first block: solving.md opens with a reference card for the
# reader's own `model`
PRELUDE = {
    "solving.md": """
import pyomo.environ as pyo
model = pyo.ConcreteModel()
model.x = pyo.Var(range(2), bounds=(0, 1))
model.c = pyo.Constraint(expr=model.x[0] + model.x[1] >= 0.5)
model.obj = pyo.Objective(expr=model.x[0] + 2 * model.x[1])
""",
}


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else page.name


def python_blocks(page: Path) -> list[tuple[int, str]]:
    """The page's ```python blocks with the line number of their first code line."""
    text = page.read_text()
    blocks, pos = [], 0
    for code in grab_code_blocks(text, lang="python"):
        start = text.find(code, pos)
        line = text.count("\n", 0, start) + 1 if start >= 0 else 0
        pos = max(pos, start + len(code)) if start >= 0 else pos
        blocks.append((line, code))
    return blocks


def run_page(page: Path) -> dict:
    """Run the page's Python blocks in order in one namespace (the current directory is the caller's)."""
    namespace: dict = {"__name__": "__main__"}
    prelude = PRELUDE.get(page.name)
    if prelude:
        exec(compile(prelude, f"{_name(page)} (prelude)", "exec"), namespace)
    for line, code in python_blocks(page):
        # the file name in a traceback names the page and the block's first line
        exec(compile(code, f"{_name(page)}, block at line {line}", "exec"), namespace)
    return namespace


def _params() -> list:
    return [pytest.param(page, id=_name(page), marks=[pytest.mark.slow] if page.name in SLOW else [])
            for page in PAGES if python_blocks(page)]


@pytest.fixture
def one_torch_thread():
    """torch on one thread while a page runs: the suite runs one worker per core, and on a loaded two-core
    machine torch's default two threads made the one-class training of robust.md take 213 s instead of 11 s."""
    if importlib.util.find_spec("torch") is None:
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("page", _params())
def test_page_code_blocks_run_from_any_directory(page: Path, tmp_path, monkeypatch, one_torch_thread) -> None:
    monkeypatch.chdir(tmp_path)  # shipped models by name, files written by the blocks land here
    run_page(page)


def test_every_fence_is_python_or_a_language_that_is_not_run() -> None:
    """A block in a misspelt language (```py, ```Python) would silently not run."""
    for page in PAGES:
        fences = re.findall(r"^```(.*)$", page.read_text(), re.M)
        openers = [lang.strip() for lang in fences[::2]]
        unknown = [lang for lang in openers if lang != "python" and lang not in NOT_RUN]
        assert not unknown, f"{_name(page)}: code fences in {unknown} are neither run nor known not to run"


def test_runner_sees_every_python_block() -> None:
    for page in PAGES:
        fences = re.findall(r"^```(.*)$", page.read_text(), re.M)
        n_python = sum(lang.strip() == "python" for lang in fences[::2])
        assert len(python_blocks(page)) == n_python, _name(page)


def test_runner_fails_on_a_block_that_does_not_run(tmp_path) -> None:
    page = tmp_path / "page.md"
    page.write_text("text\n\n```python\nx = 1\n```\n\n```bash\nexit 1\n```\n\n```python\nprint(y)\n```\n")
    with pytest.raises(NameError, match="'y'"):
        run_page(page)
    page.write_text("```python\nx = 1\n```\n\n```python\nassert x == 1\n```\n")
    assert run_page(page)["x"] == 1  # later blocks see earlier ones
