"""The formulation registry: the built-in formulations by name, a formulation registered from outside the
package selectable in NetworkBlock like a built-in one, and one line naming the registered ones for an
unknown name."""

from __future__ import annotations

import pickle

import numpy as np
import pyomo.environ as pyo
import pytest

from nnblocks import HardTanh, Identity, Layer, LeakyReLU, Network, ReLU
from nnblocks.blocks import FORMULATIONS, Formulation, NetworkBlock, register_formulation
from nnblocks.blocks.formulations import BigM, Hull, LayerSpec, Pattern, Relaxation, get_formulation
from nnblocks.solve import SolveStatus, solve

BUILT_IN = {"bigm": BigM, "hull": Hull, "pattern": Pattern, "relaxation": Relaxation}
EXACT = {"mip_gap": 0.0, "primal_feasibility_tolerance": 1e-9, "dual_feasibility_tolerance": 1e-9}


class BigMCopy(BigM):
    """Big-M under another name, to be registered by the tests."""

    name = "bigm_copy"


class HullWithAffinePre(Hull):
    """The hull formulation with the base's pre-activation, W h + b, instead of sum_p v_p."""

    name = "hull_affine_pre"

    def pre_activation(self, lb, spec: LayerSpec, j: int):
        return Formulation.pre_activation(self, lb, spec, j)


@pytest.fixture
def toys():
    """BigMCopy and HullWithAffinePre registered for one test."""
    for cls in (BigMCopy, HullWithAffinePre):
        register_formulation(cls)
    yield
    for cls in (BigMCopy, HullWithAffinePre):
        FORMULATIONS.pop(cls.name, None)


def network(activation, seed: int = 0) -> Network:
    """2-5-4-1 with ``activation`` on the hidden layers."""
    rng = np.random.default_rng(seed)
    sizes = [2, 5, 4, 1]
    layers = []
    for k in range(1, len(sizes)):
        W = rng.normal(size=(sizes[k], sizes[k - 1])) * 2.0 / np.sqrt(sizes[k - 1])
        b = rng.normal(scale=0.3, size=sizes[k])
        layers.append(Layer(W, b, activation if k < len(sizes) - 1 else Identity()))
    return Network(layers)


def model(net: Network, formulation: str) -> pyo.ConcreteModel:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(net.n_inputs), bounds=(-1.0, 1.0))
    m.nn = NetworkBlock(net, inputs=m.x, formulation=formulation)
    m.obj = pyo.Objective(expr=m.nn.outputs[0], sense=pyo.maximize)
    return m


def optimum(m) -> float:
    res = solve(m, solver="highs", **EXACT)
    assert res.status == SolveStatus.OPTIMAL, res
    return float(res.objective)


def test_the_registry_lists_the_built_in_formulations():
    assert {name: FORMULATIONS[name] for name in BUILT_IN} == BUILT_IN
    assert list(FORMULATIONS)[:4] == ["bigm", "hull", "pattern", "relaxation"]
    for name, cls in BUILT_IN.items():
        assert issubclass(cls, Formulation) and cls.name == name
        assert isinstance(get_formulation(name), cls)
    assert Pattern.builds_pattern and not Pattern.needs_bounds
    assert all(cls.needs_bounds and not cls.builds_pattern for n, cls in BUILT_IN.items() if n != "pattern")


@pytest.mark.parametrize("activation", [ReLU(), LeakyReLU(0.2), HardTanh(-0.5, 1.0)], ids=["relu", "leaky", "hardtanh"])
def test_a_registered_formulation_is_usable_by_name_and_gives_the_same_optimum(toys, activation):
    net = network(activation)
    expected = optimum(model(net, "bigm"))
    m = model(net, "bigm_copy")
    assert m.nn.formulation == "bigm_copy"
    assert m.nn.n_binaries == model(net, "bigm").nn.n_binaries > 0
    assert optimum(m) == pytest.approx(expected, abs=1e-7)
    # fix_pattern, the pre-activations and unfix_pattern go through the registered class
    x = np.array([0.4, -0.7])
    for i, v in enumerate(x):
        m.x[i].fix(float(v))
    m.nn.fix_pattern(net.activation_pattern(x))
    assert optimum(m) == pytest.approx(net.forward(x)[0], abs=1e-6)
    pre = [pyo.value(m.nn.pre(1)[j]) for j in range(net.layers[0].n_out)]
    assert np.allclose(pre, net.layers[0].W @ x + net.layers[0].b, atol=1e-6)
    m.nn.unfix_pattern()
    assert m.nn.pattern is None and m.nn.n_binaries > 0


def test_the_base_pre_activation_is_w_h_plus_b(toys):
    net = network(LeakyReLU(0.2), seed=1)
    m = model(net, "hull_affine_pre")
    assert optimum(m) == pytest.approx(optimum(model(net, "hull")), abs=1e-7)
    x = np.array([-0.3, 0.8])
    for i, v in enumerate(x):
        m.x[i].fix(float(v))
    m.nn.fix_pattern(net.activation_pattern(x))
    optimum(m)
    assert all(m.nn.unstable(k).size for k in (1, 2))  # the neurons with indicators take the default
    for k, a in enumerate(net.pre_activations(x), start=1):
        pre = m.nn.pre(k)
        assert np.allclose([pyo.value(pre[j]) for j in pre], a, atol=1e-6)


def test_a_model_with_a_registered_formulation_pickles(toys):
    net = network(ReLU())
    m = model(net, "bigm_copy")
    copy = pickle.loads(pickle.dumps(m))
    assert copy.nn.formulation == "bigm_copy"
    assert optimum(copy) == pytest.approx(optimum(m), abs=1e-7)


def test_an_unknown_name_is_one_line_listing_the_registered_formulations(toys):
    net = network(ReLU())
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(2), bounds=(-1.0, 1.0))
    with pytest.raises(ValueError) as err:
        m.nn = NetworkBlock(net, inputs=m.x, formulation="sos1")
    msg = str(err.value)
    assert "\n" not in msg
    assert msg == (
        "unknown formulation 'sos1'; choose one of bigm, hull, pattern, relaxation, bigm_copy, hull_affine_pre"
    )
    with pytest.raises(ValueError, match="unknown formulation 'bigm_copy'"):
        FORMULATIONS.pop("bigm_copy")
        NetworkBlock(net, inputs=m.x, formulation="bigm_copy")


def test_register_formulation_refuses_what_it_cannot_register(toys):
    with pytest.raises(TypeError, match="subclass of nnblocks.blocks.formulations.Formulation"):
        register_formulation(object)

    class Abstract(Formulation):
        name = "abstract"

    with pytest.raises(TypeError, match="does not implement build_layer, fix_layer, indicator_names"):
        register_formulation(Abstract)

    class Nameless(BigM):
        name = ""

    with pytest.raises(ValueError, match="name must be a non-empty string"):
        register_formulation(Nameless)

    class Other(BigM):
        name = "bigm"

    with pytest.raises(ValueError, match="'bigm' is already registered"):
        register_formulation(Other)
    assert FORMULATIONS["bigm"] is BigM
    assert register_formulation(BigMCopy) is BigMCopy  # registering the same class again is a no-op
    assert "abstract" not in FORMULATIONS and "" not in FORMULATIONS
