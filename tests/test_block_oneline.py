"""``m.nn = NetworkBlock(net, inputs=m.x, ...)`` builds the block on construction, exactly as ``build`` does.

The one-line form takes the network (positionally or as ``network=``) and every keyword of ``build``; the
block it makes has the same components and the same optimum as ``NetworkBlock()`` + ``build``. Forms that
cannot work are refused at once with one line saying what to write.
"""

from __future__ import annotations

import logging

import numpy as np
import pyomo.environ as pyo
import pytest

from nnblocks import HardTanh, Identity, Layer, Network, ReLU
from nnblocks.blocks import NetworkBlock, TargetMargin
from nnblocks.bounds import InputDomain, compute_bounds
from nnblocks.solve import SolveStatus, solve


def network(seed: int = 0, hidden=None) -> Network:
    hidden = ReLU() if hidden is None else hidden
    rng = np.random.default_rng(seed)
    sizes = [3, 6, 5, 2]
    layers = []
    for k in range(1, len(sizes)):
        W = rng.normal(size=(sizes[k], sizes[k - 1])) * 1.5 / np.sqrt(sizes[k - 1])
        layers.append(Layer(W, rng.normal(scale=0.3, size=sizes[k]), hidden if k < len(sizes) - 1 else Identity()))
    return Network(layers)


NET = network()
X0 = np.array([0.2, -0.4, 0.6])


def model_x() -> pyo.ConcreteModel:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(3), bounds=(-1.0, 1.0), initialize=0.0)
    return m


def structure(block) -> dict:
    """Name -> number of elements of every variable and constraint of the block, and the fixed variables."""
    out = {}
    for ctype in (pyo.Var, pyo.Constraint):
        for c in block.component_objects(ctype, descend_into=True):
            out[c.getname(fully_qualified=True, relative_to=block)] = len(c)
    out["fixed"] = sorted(v.getname(fully_qualified=True, relative_to=block)
                          for v in block.component_data_objects(pyo.Var, descend_into=True) if v.fixed)
    return out


def maximise(m, expr) -> float:
    m.obj = pyo.Objective(expr=expr, sense=pyo.maximize)
    res = solve(m, solver="highs")
    assert res.status == SolveStatus.OPTIMAL, res
    return float(res.objective)


BUILD_KEYWORDS = [
    {},
    {"formulation": "hull"},
    {"formulation": "relaxation"},
    {"formulation": "pattern", "pattern": NET.activation_pattern(X0)},
    {"pattern": NET.activation_pattern(X0)},
    {"bounds": "lp"},
    {"bounds": compute_bounds(NET, InputDomain.box(-np.ones(3), np.ones(3)))},
    {"ball": {"center": X0, "norm": "inf", "radius": 0.3}},
]


@pytest.mark.parametrize("keywords", BUILD_KEYWORDS, ids=lambda kw: ",".join(kw) or "defaults")
@pytest.mark.parametrize("form", ["positional", "keyword"])
def test_the_one_line_form_equals_build(keywords, form):
    m = model_x()
    if form == "positional":
        m.nn = NetworkBlock(NET, inputs=m.x, **keywords)
    else:
        m.nn = NetworkBlock(network=NET, inputs=m.x, **keywords)
    ref = model_x()
    ref.nn = NetworkBlock()
    ref.nn.build(NET, inputs=ref.x, **keywords)
    assert isinstance(m.nn, NetworkBlock) and not m.nn.is_indexed()
    assert m.nn.network is NET and m.nn.formulation == ref.nn.formulation
    assert all(a is b for a, b in zip(m.nn.inputs, m.x.values()))
    assert structure(m.nn) == structure(ref.nn)
    assert maximise(m, m.nn.outputs[0]) == pytest.approx(maximise(ref, ref.nn.outputs[0]), abs=1e-7)


def test_inputs_may_be_positional_and_the_block_may_own_its_inputs():
    m = model_x()
    m.a = NetworkBlock(NET, m.x, formulation="hull")
    m.b = NetworkBlock(NET, input_bounds=(-1.0, 1.0), formulation="hull")
    assert m.a.inputs[0] is m.x[0] and m.b.inputs[0] is m.b.input[0]
    m.same = pyo.Constraint(range(3), rule=lambda m, i: m.b.input[i] == m.x[i])
    assert maximise(m, m.a.outputs[1] - m.b.outputs[1]) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("how", ["build", "one-line"])
def test_outputs_ties_the_callers_output_variables(how):
    """outputs=: the caller's y equals the network's output h^K (constraints output_link)."""
    m = model_x()
    m.y = pyo.Var(range(2))
    if how == "build":
        m.nn = NetworkBlock()
        m.nn.build(NET, inputs=m.x, outputs=m.y)
    else:
        m.nn = NetworkBlock(NET, inputs=m.x, outputs=[m.y[0], m.y[1]])
    assert len(m.nn.output_link) == 2
    for i, v in enumerate(X0):
        m.x[i].fix(float(v))
    assert maximise(m, m.y[0] + 2 * m.y[1]) == pytest.approx(NET.forward(X0) @ [1.0, 2.0], abs=1e-6)
    assert np.allclose([m.y[j].value for j in range(2)], NET.forward(X0), atol=1e-6)
    with pytest.raises(ValueError, match="2 outputs but 1 output variables"):
        m.bad = NetworkBlock(NET, inputs=m.x, outputs=[m.y[0]])


def test_the_one_line_block_goes_into_the_fischetti_jo_model():
    m = model_x()
    m.nn = NetworkBlock(NET, inputs=m.x, formulation="hull", bounds="lp")
    m.margin = TargetMargin(m.nn.outputs, target=0, gamma=0.1, kind="difference")
    best = maximise(m, m.nn.outputs[0] - m.nn.outputs[1])  # class 0 wins by at most ~0.15 on the box
    x = np.array([m.x[i].value for i in range(3)])
    y = NET.forward(x)
    assert best == pytest.approx(y[0] - y[1], abs=1e-6) and best >= 0.1 - 1e-6
    grid = np.random.default_rng(0).uniform(-1.0, 1.0, (2000, 3))
    assert best >= max(NET.forward(g) @ [1.0, -1.0] for g in grid) - 1e-6


def test_the_empty_and_the_indexed_forms_are_unchanged():
    m = model_x()
    m.e = NetworkBlock()
    assert not list(m.e.component_objects())
    m.nets = NetworkBlock(range(2))
    assert m.nets.is_indexed() and len(m.nets) == 2
    for i in range(2):
        m.nets[i].build(network(seed=i + 1), inputs=m.x)
    m.named = NetworkBlock(name="named", doc="a network")
    assert m.named.doc == "a network"


def test_bad_arguments_raise_where_the_block_is_written_without_a_pyomo_error_log(caplog):
    m = model_x()
    with caplog.at_level(logging.ERROR):
        with pytest.raises(ValueError, match="unknown formulation 'sos'"):
            m.nn = NetworkBlock(NET, inputs=m.x, formulation="sos")
        with pytest.raises(ValueError, match="3 inputs but 2"):
            m.nn = NetworkBlock(NET, inputs=[m.x[0], m.x[1]])
        m.x[1].setub(None)
        with pytest.raises(ValueError, match=r"inputs \[1\] are unbounded"):
            m.nn = NetworkBlock(NET, inputs=m.x)
    assert not caplog.records  # refused before Pyomo constructs anything
    assert "nn" not in m.component_map()


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((range(2),), {"network": NET}, r"single block: write NetworkBlock\(network=net, \.\.\.\) without an index"),
        ((), {"inputs": "x"}, r"needs the network: write NetworkBlock\(net, inputs=m.x, \.\.\.\)"),
        ((NET,), {"formulaton": "hull"}, "unexpected keyword argument 'formulaton'; it takes the network, then"),
        ((NET,), {"rule": print}, "either a network to build or rule=, not both"),
        (("model.onnx",), {"inputs": "x"}, r"first argument must be the nnblocks.Network, got str; write"),
        ((NET, "x", None, "bigm", "interval", None, None, None, "extra"), {}, "too many positional arguments"),
    ],
)
def test_forms_that_cannot_work_are_refused_with_what_to_write(args, kwargs, message):
    with pytest.raises(TypeError, match=message) as err:
        NetworkBlock(*args, **kwargs)
    assert "\n" not in str(err.value)


def test_a_network_keyword_is_not_taken_as_an_index_set():
    """The form that used to be read as an index set (and failed on the keywords) is the one-line form."""
    m = model_x()
    m.nn = NetworkBlock(NET, inputs=m.x)
    assert type(m.nn).__name__ == "ScalarNetworkBlock" and m.nn.n_binaries > 0


def test_changed_input_bounds_before_construction_are_used():
    """The arguments are checked when the component is written; the bounds come from the inputs as constructed."""
    m = model_x()
    blk = NetworkBlock(NET, inputs=m.x)
    for i in range(3):
        m.x[i].setlb(0.0)
    m.nn = blk
    before = compute_bounds(NET, InputDomain.box(-np.ones(3), np.ones(3)))
    assert not np.array_equal(m.nn.bounds.layers[0].lower, before.layers[0].lower)
    ref = model_x()
    for i in range(3):
        ref.x[i].setlb(0.0)
    ref.nn = NetworkBlock()
    ref.nn.build(NET, inputs=ref.x)
    assert np.array_equal(m.nn.bounds.layers[0].lower, ref.nn.bounds.layers[0].lower)


def test_unattached_concrete_block_and_abstract_model():
    blk = NetworkBlock(NET, input_bounds=(-1.0, 1.0), concrete=True)
    assert len(blk.outputs) == 2  # built right away
    a = pyo.AbstractModel()
    a.x = pyo.Var(range(3), bounds=(-1.0, 1.0))
    a.nn = NetworkBlock(NET, inputs=a.x, formulation="hull")  # the inputs do not exist yet: checked on construction
    inst = a.create_instance()
    assert inst.nn.inputs[0] is inst.x[0]
    ref = model_x()
    ref.nn = NetworkBlock(NET, inputs=ref.x, formulation="hull")
    assert maximise(inst, inst.nn.outputs[0]) == pytest.approx(maximise(ref, ref.nn.outputs[0]), abs=1e-7)


def test_a_block_built_on_construction_cannot_be_built_again():
    m = model_x()
    m.nn = NetworkBlock(NET, inputs=m.x)
    with pytest.raises(RuntimeError, match="already built"):
        m.nn.build(NET, inputs=m.x)


def test_other_activations_in_the_one_line_form():
    net = network(seed=4, hidden=HardTanh(-0.5, 1.0))
    m = model_x()
    m.nn = NetworkBlock(net, inputs=m.x, formulation="bigm")
    for i, v in enumerate(X0):
        m.x[i].fix(float(v))
    assert maximise(m, m.nn.outputs[0]) == pytest.approx(net.forward(X0)[0], abs=1e-6)
