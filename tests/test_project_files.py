"""Licence, citation and changelog agree with pyproject.toml; extras do not repeat base dependencies."""

from __future__ import annotations

import re
import tomllib

import yaml
from conftest import ROOT
from packaging.requirements import Requirement

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(requirements: list[str]) -> set[str]:
    return {Requirement(r).name.lower() for r in requirements}


def test_license_file_is_the_mit_licence_named_in_pyproject() -> None:
    assert PROJECT["license"] == {"text": "MIT"}
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert re.search(r"Copyright \(c\) \d{4} the nnblocks authors", text)
    assert "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND" in text


def test_citation_names_the_software_version_licence_and_the_three_papers() -> None:
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    assert cff["type"] == "software" and cff["title"] == PROJECT["name"]
    assert cff["version"] == PROJECT["version"] and cff["license"] == "MIT"
    refs = cff["references"]
    titles = [r["title"] for r in refs]
    assert titles.count("Towards robust adversarial examples for deep neural networks") == 1
    assert titles.count("Data-Driven Robust Optimization using Unsupervised Deep Learning") == 2  # two versions
    rambau = refs[titles.index("Towards robust adversarial examples for deep neural networks")]
    assert [a["family-names"] for a in rambau["authors"]] == ["Rambau", "Richter"]
    assert rambau["doi"] == "10.23952/jano.7.2025.3.02" and rambau["year"] == 2025
    for ref in refs[1:]:
        assert [a["family-names"] for a in ref["authors"]] == ["Goerigk", "Kurtz"]
    for ref in refs:
        assert {"type", "title", "authors"} <= set(ref)


def test_changelog_has_a_section_for_the_current_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "keepachangelog.com" in text
    assert re.search(rf"^## \[{re.escape(PROJECT['version'])}\] - (Unreleased|\d{{4}}-\d{{2}}-\d{{2}})$", text, re.M)
    assert "### Added" in text


def test_extras_do_not_repeat_base_dependencies_and_old_names_still_exist() -> None:
    base = _names(PROJECT["dependencies"])
    extras = PROJECT["optional-dependencies"]
    assert {"scip", "plot", "torch", "dask", "test", "all"} <= set(extras)  # names users may already install
    for name in ("scip", "plot", "torch", "dask", "all"):
        repeated = _names(extras[name]) & base
        assert not repeated, f"extra {name!r} repeats base dependencies {sorted(repeated)}"
    assert {"pyscipopt", "matplotlib"} <= base
    # "all" names only extras that exist
    for req in extras["all"]:
        r = Requirement(req)
        assert r.name == "nnblocks" and r.extras <= set(extras)
