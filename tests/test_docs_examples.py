"""The code shown on the front pages runs as written and gives the answer it claims."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT


def _python_blocks(path) -> list[str]:
    return re.findall(r"```python\n(.+?)```", path.read_text(), re.S)


def test_docs_index_example_runs() -> None:
    (code,) = _python_blocks(ROOT / "docs" / "index.md")
    namespace: dict = {}
    exec(compile(code, "docs/index.md", "exec"), namespace)  # the block asserts against a forward pass
    assert namespace["result"].status == "optimal"


@pytest.mark.slow
def test_readme_example_finds_a_verified_adversarial_example(tmp_path, monkeypatch) -> None:
    import numpy as np

    monkeypatch.chdir(ROOT)
    code = _python_blocks(ROOT / "README.md")[0]
    code = code.replace('"fj.mps"', repr(str(tmp_path / "fj.mps")))
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    m, net, result = namespace["m"], namespace["net"], namespace["result"]
    assert result.status == "optimal"
    x = np.array([m.x[i].value for i in range(784)])
    y = net.forward(x)
    assert y[1] >= 1.2 * np.delete(y, 1).max() - 1e-6
    assert abs(np.abs(x - namespace["x_bar"]).sum() - result.objective) < 1e-5
    assert (tmp_path / "fj.mps").stat().st_size > 0


@pytest.mark.slow
def test_readme_adversarial_calls_return_verified_examples() -> None:
    namespace: dict = {}
    exec(compile(_python_blocks(ROOT / "README.md")[1], "README.md", "exec"), namespace)
    res, rob = namespace["res"], namespace["rob"]
    assert res.verified and rob.verified
    assert rob.distance >= res.distance - 1e-6  # a set of networks never makes the example closer
    for net in namespace["nets"]:
        y = net.forward(rob.x_adv)
        assert y.argmax() == 1


def test_readme_worst_case_matches_the_ellipsoid_closed_form() -> None:
    import numpy as np

    namespace: dict = {}
    exec(compile(_python_blocks(ROOT / "README.md")[2], "README.md", "exec"), namespace)
    a, x, Sigma, wc = namespace["a"], namespace["x"], namespace["Sigma"], namespace["wc"]
    assert wc.value == pytest.approx(a @ x + np.sqrt(x @ np.linalg.inv(Sigma) @ x), abs=1e-5)
