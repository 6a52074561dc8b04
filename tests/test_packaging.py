"""The README's Quick start and CI stay in step; the torch pin is where installs read it."""

from __future__ import annotations

import re

from conftest import ROOT


def _quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_quick_start_has_exactly_two_commands() -> None:
    commands = _quick_start_commands()
    assert len(commands) == 2
    assert commands[0].rstrip().endswith("nnblocks demo")
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    test_command = _quick_start_commands()[1]
    assert any(line.strip().startswith(test_command) for line in ci)


def test_constraints_pin_torch() -> None:
    lines = [ln.strip() for ln in (ROOT / "constraints.txt").read_text().splitlines()]
    assert "torch==2.13.0" in lines
