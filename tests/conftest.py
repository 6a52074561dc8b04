"""Shared fixtures: locating ../shared/data and small random networks."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

# Property tests explore new random examples on every local run; under CI=true they draw a fixed sequence, so that
# the result of a commit does not depend on the draw (a counterexample found locally is kept in .hypothesis/).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI", "").lower() == "true":
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("NNBLOCKS_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_data(*parts: str) -> Path:
    """Path below ../shared/data; fails under CI=true when missing, skips the test elsewhere."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        msg = f"shared data not found: {path}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
