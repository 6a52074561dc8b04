"""Specification: every result object converts to plain JSON data with ``as_dict()``.

``json.dumps(r.as_dict(), allow_nan=False)`` works for each result type (produced by a small real solve), and
reading the text back gives the same data: arrays as lists, enumerations as their values, nested results as dicts,
+-inf as "inf"/"-inf", NaN as None.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

import nnblocks as nb
from nnblocks import adversarial, metrics, sampling
from nnblocks._results import AsDict, to_jsonable
from nnblocks.bounds import compute_bounds
from nnblocks.network import Layer, Network
from nnblocks.robust import (
    DiscreteUncertaintySet,
    KernelUncertaintySet,
    NetworkUncertaintySet,
    out_of_sample,
    robust_obj,
)
from nnblocks.robust.lemma4 import ellipsoid_network
from nnblocks.solve import SolveStatus, model_size
from tests.models import small_milp


def roundtrip(result) -> dict:
    """``result.as_dict()`` through JSON text; the text reads back to the same data."""
    data = result.as_dict()
    back = json.loads(json.dumps(data, allow_nan=False))
    assert back == data
    return back


# ---- the conversion rules -----------------------------------------------------------------------------------
def test_the_conversion_rules():
    value = {
        "inf": np.float64(np.inf), "minus_inf": -math.inf, "nan": float("nan"), "float": np.float32(0.5),
        "int": np.int64(3), "bool": np.bool_(True), "status": SolveStatus.OPTIMAL, "tuple": (1, 2.0),
        "array": np.array([[1.0, -np.inf], [np.nan, 2.0]]), "ints": np.arange(3, dtype=np.uint8),
        "mask": np.array([True, False]), 7: "int key", "path": Path("a/b"), "none": None,
    }
    got = to_jsonable(value)
    assert got == {
        "inf": "inf", "minus_inf": "-inf", "nan": None, "float": 0.5, "int": 3, "bool": True, "status": "optimal",
        "tuple": [1, 2.0], "array": [[1.0, "-inf"], [None, 2.0]], "ints": [0, 1, 2], "mask": [True, False],
        "7": "int key", "path": str(Path("a/b")), "none": None,
    }
    assert type(got["int"]) is int and type(got["bool"]) is bool and type(got["float"]) is float
    assert float(got["inf"]) == math.inf
    json.dumps(got, allow_nan=False)


def test_an_object_without_json_form_is_named():
    with pytest.raises(TypeError, match=r"value\['x'\]: an object of type object has no JSON form"):
        to_jsonable({"x": object()})
    with pytest.raises(TypeError, match="complex128"):
        to_jsonable(np.array([1j]))


def test_every_public_result_dataclass_has_as_dict():
    modules = ["nnblocks.solve.results", "nnblocks.solve.classify", "nnblocks.bounds.results", "nnblocks.bounds.domain",
               "nnblocks.adversarial.result", "nnblocks.adversarial.model", "nnblocks.adversarial.heuristic",
               "nnblocks.adversarial.metrics", "nnblocks.adversarial.sampling", "nnblocks.regions",
               "nnblocks.robust.base", "nnblocks.robust.problems", "nnblocks.robust.scenario",
               "nnblocks.robust.sets.network", "nnblocks.robust.sets.patterns", "nnblocks.robust.sets.discrete",
               "nnblocks.robust.sets.kernel", "nnblocks.robust.evaluation"]
    not_results = {"InputDomain", "FJProblem"}  # inputs of compute_bounds and build_model, not results
    missing = [f"{m}.{name}" for m in modules for name, cls in vars(importlib.import_module(m)).items()
               if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == m
               and not name.startswith("_") and name not in not_results and not callable(getattr(cls, "as_dict", None))]
    assert not missing


# ---- solve --------------------------------------------------------------------------------------------------
_milp = small_milp


@pytest.mark.parametrize("solver", ["appsi_highs", "scip_direct"])
def test_solve_result(solver):
    r = nb.solve(_milp(), solver=solver)
    back = roundtrip(r)
    assert back["status"] == "optimal" == r.status.value
    assert back["objective"] == pytest.approx(0.5) and back["solver"] == solver
    assert back["solution_loaded"] is True
    # every field but the solver interface's own results object
    assert set(back) == {f.name for f in dataclasses.fields(r)} - {"raw"}
    for attempt, d in zip(getattr(r, "attempts", []), back.get("attempts", [])):  # the solver calls made
        assert d == attempt.as_dict() and d["status"] == attempt.status.value


def test_model_size():
    assert roundtrip(model_size(_milp())) == {"n_vars": 2, "n_binaries": 1, "n_integers": 0, "n_constraints": 1}


# ---- bounds -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["interval", "lp"])
def test_network_bounds(method):
    rng = np.random.default_rng(0)
    net = Network([Layer(rng.normal(size=(4, 3)), rng.normal(size=4), nb.ReLU()),
                   Layer(rng.normal(size=(2, 4)), np.zeros(2), nb.Identity())])
    b = compute_bounds(net, (np.zeros(3), np.ones(3)), method=method)
    back = roundtrip(b)
    assert back["method"] == method and back["complete"] == b.complete and back["n_lps"] == b.n_lps
    assert len(back["layers"]) == 2
    for layer, d in zip(b.layers, back["layers"]):
        assert d == layer.as_dict()
        for name in ("lower", "upper", "post_lower", "post_upper", "first_piece", "last_piece"):
            np.testing.assert_array_equal(np.asarray(d[name]), getattr(layer, name))


# ---- adversarial examples, evaluation, sampling ---------------------------------------------------------------
def _instance():
    rng = np.random.default_rng(3)
    for _ in range(100):
        net = Network([Layer(rng.normal(size=(6, 4)) / 2, rng.normal(scale=0.3, size=6), nb.ReLU()),
                       Layer(rng.normal(size=(3, 6)) / 2.5, rng.normal(scale=0.3, size=3), nb.Identity())])
        X = rng.uniform(size=(2000, 4))
        Y = net.forward(X)
        true = int(np.argmax(Y[0]))
        for t in range(3):
            if t != true and (Y[:, t] >= np.delete(Y, t, axis=1).max(axis=1) + 0.3).any():
                return net, X[0], true, t
    raise RuntimeError("no instance found")


def test_adversarial_result_and_evaluation():
    net, x_bar, true, target = _instance()
    res = adversarial.fj(net, x_bar, target, gamma=0.2)
    back = roundtrip(res)
    assert back["status"] == res.status.value and back["verified"] is res.verified
    assert back["distance"] == pytest.approx(res.distance)
    nets = [net, *sampling.inner(net, eps=0.01, n=3, rng=0)]
    ev = metrics.evaluate(res.x_adv, nets, true=true, target=target)
    assert roundtrip(ev)["target_share"] == ev.target_share


def test_outer_sample_leaves_the_networks_out():
    reference = Network([Layer([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [0.0, 0.0, 0.0], nb.Identity())])
    far = Network([Layer(np.zeros((3, 2)), [5.0, 0.0, 0.0], nb.Identity())])
    X = np.random.default_rng(0).uniform(size=(10, 2))
    s = sampling.outer(lambda seed: reference if seed % 2 else far, reference, X, eps=0.5, n=2, max_tries=10,
                       progress=False)
    back = roundtrip(s)
    assert "networks" not in back
    assert back["seeds"] == s.seeds == [1, 3] and back["tries"] == s.tries and back["eps"] == 0.5
    assert back["tried_distances"] == pytest.approx(s.tried_distances)


# ---- robust optimization ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def network_set() -> NetworkUncertaintySet:
    Sigma, a = np.diag([1.0, 4.0]), np.array([2.0, 1.0])
    network, c_bar, R = ellipsoid_network(Sigma, a)  # U = {c : (c-a)' Sigma (c-a) <= 1}
    data = np.random.default_rng(0).uniform(a - 1, a + 1, size=(50, 2))
    return NetworkUncertaintySet(network, c_bar, R, domain=(a - 1, a + 1), data=data)


@pytest.mark.parametrize("method", ["exact", "patterns"])
def test_worst_case(network_set, method):
    wc = network_set.worst_case(np.array([1.0, -1.0]), method=method)
    back = roundtrip(wc)
    assert back["method"] == method and back["status"] == wc.status
    assert back["value"] == pytest.approx(2.118033988749895, rel=1e-5)
    np.testing.assert_array_equal(back["scenario"], wc.scenario)
    assert set(back["stats"]) == set(wc.stats)


def test_pattern_set(network_set):
    p = network_set.patterns()
    back = roundtrip(p)
    np.testing.assert_array_equal(np.asarray(back["counts"]), p.counts)
    np.testing.assert_array_equal(np.asarray(back["representatives"]), p.representatives)


def test_robust_solution_with_scenario_generation(network_set):
    sol = robust_obj(network_set, rhs=0.3, method="scenarios")
    back = roundtrip(sol)
    assert back["status"] == sol.status and back["objective"] == pytest.approx(sol.objective)
    np.testing.assert_array_equal(back["x"], sol.x)
    assert back["worst_case"] == sol.worst_case.as_dict()
    sr, res = back["scenario_result"], sol.scenario_result
    assert sr == res.as_dict()
    assert sr["termination"] == res.termination.value
    assert [r["iteration"] for r in sr["log"]] == [r.iteration for r in res.log]
    assert sr["log"][0] == res.log[0].as_dict()
    assert {k: len(v) for k, v in sr["scenarios"].items()} == {k: len(v) for k, v in res.scenarios.items()}
    assert set(sr["worst_cases"]) == set(res.worst_cases)


def test_kernel_fit_and_counterpart():
    U = KernelUncertaintySet.fit(np.random.default_rng(0).normal(size=(30, 2)), q=0.5)
    back = roundtrip(U.fit_info)
    assert back["status"] == U.fit_info.status and back["theta_interval"] == list(U.fit_info.theta_interval)
    sol = robust_obj(U, rhs=0.3)
    assert roundtrip(sol)["objective"] == pytest.approx(sol.objective)


def test_out_of_sample_and_discrete_set():
    U = DiscreteUncertaintySet([[1.0, 2.0], [2.0, 1.0], [0.5, 0.5]])
    sol = robust_obj(U, rhs=0.3, method="counterpart")
    back = roundtrip(sol)
    assert back["worst_case"]["value"] == pytest.approx(0.45)
    oos = out_of_sample(sol.x, np.random.default_rng(1).normal(size=(20, 2)))
    assert roundtrip(oos)["oos_n"] == 20


def test_infinite_values_of_a_result_are_strings():
    wc = nb.robust.WorstCase(scenario=np.array([np.inf, 0.0]), value=-np.inf, bound=np.inf, status="unbounded",
                             method="lp", time=0.0, stats={"gap": np.nan})
    back = roundtrip(wc)
    assert back["scenario"] == ["inf", 0.0] and back["value"] == "-inf" and back["bound"] == "inf"
    assert back["stats"] == {"gap": None}


def test_results_derive_from_the_shared_base():
    assert issubclass(nb.SolveResult, AsDict) and issubclass(nb.robust.ScenarioResult, AsDict)


def test_an_adversarial_summary_with_an_infinite_bound_is_json():
    from nnblocks.adversarial import AdversarialResult

    required = [f for f in dataclasses.fields(AdversarialResult)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    probe = AdversarialResult(**{f.name: None for f in required})
    d = dataclasses.replace(probe, status=nb.SolveStatus.TIME_LIMIT, bound=float("inf"), gap=float("nan")).as_dict()
    assert d["bound"] == "inf" and d["gap"] is None
    json.dumps(d, allow_nan=False)
