"""Import/export specification: PyTorch and onnxruntime are the oracles.

torch modules are evaluated in float64 (``module.double()``), so ``from_torch`` must agree to rounding;
ONNX models are float32 (what exporters write), so agreement with onnxruntime is to float32 tolerance.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import onnx.inliner
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from nnblocks import HardSigmoid, HardTanh, Identity, Layer, LeakyReLU, Network, PiecewiseLinear, ReLU, ReLU6
from nnblocks.io import (
    UnsupportedOperationError,
    from_onnx,
    from_torch,
    load_network,
    save_network,
    to_onnx,
)

torch = pytest.importorskip("torch")
nn = torch.nn

F32 = {"rtol": 1e-4, "atol": 1e-4}
HYP = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def run_ort(model: onnx.ModelProto, X: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    dtype = np.float64 if inp.type == "tensor(double)" else np.float32
    return sess.run(None, {inp.name: X.astype(dtype)})[0]


def torch_out(module, X: np.ndarray) -> np.ndarray:
    """The float64 output of ``module`` (a float32 module is evaluated on a float64 copy)."""
    import copy

    m = copy.deepcopy(module).double().eval()
    with torch.no_grad():
        return m(torch.from_numpy(X)).numpy().reshape(X.shape[0], -1)


def export_torch(module, example: np.ndarray, dynamo: bool) -> onnx.ModelProto:
    buf = io.BytesIO()
    x = torch.from_numpy(example.astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            prog = torch.onnx.export(
                module.eval(), (x,), dynamo=True, verbose=False, dynamic_shapes=({0: torch.export.Dim.DYNAMIC},)
            )
            return prog.model_proto
        torch.onnx.export(
            module.eval(),
            (x,),
            buf,
            dynamo=False,
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "batch"}},
        )
    return onnx.load_from_string(buf.getvalue())


def make_model(nodes, inputs, outputs, inits=(), opset=17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    return model


def tensor(name: str, value, dtype=np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def vinfo(name: str, shape, elem=TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


# ---------------------------------------------------------------------------------------------
# random architectures
# ---------------------------------------------------------------------------------------------
ACTIVATIONS = ["ReLU", "LeakyReLU", "Hardtanh", "Hardsigmoid", "ReLU6", "Identity", "Dropout", None]


def torch_activation(name: str, draw):
    if name == "LeakyReLU":
        return nn.LeakyReLU(draw(st.sampled_from([0.01, 0.1, 0.25, -0.5, 2.0])))
    if name == "Hardtanh":
        lo = draw(st.sampled_from([-2.0, -1.0, -0.5, 0.0]))
        return nn.Hardtanh(lo, lo + draw(st.sampled_from([0.5, 1.0, 3.0])))
    return {
        "ReLU": nn.ReLU,
        "Hardsigmoid": nn.Hardsigmoid,
        "ReLU6": nn.ReLU6,
        "Identity": nn.Identity,
        "Dropout": lambda: nn.Dropout(0.5),
    }[name]()


@st.composite
def torch_architectures(draw, max_layers: int = 4):
    """(module, input shape): Flatten-ed image-like or flat inputs, nested Sequentials, all listed modules."""
    seed = draw(st.integers(0, 2**31 - 1))
    torch.manual_seed(seed)
    image = draw(st.booleans())
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if image else (draw(st.integers(1, 6)),)
    n = int(np.prod(shape))
    mods: list = [nn.Flatten()] if image else []
    if draw(st.booleans()):
        mods.append(torch_activation(draw(st.sampled_from(ACTIVATIONS[:-1])), draw))
    for _ in range(draw(st.integers(1, max_layers))):
        out = draw(st.integers(1, 6))
        block = [nn.Linear(n, out, bias=draw(st.booleans()))]
        for _ in range(draw(st.integers(0, 2))):
            name = draw(st.sampled_from(ACTIVATIONS))
            if name is not None:
                block.append(torch_activation(name, draw))
        mods.extend([nn.Sequential(*block)] if draw(st.booleans()) else block)
        n = out
    with torch.no_grad():  # spread weights so that all pieces of the activations are reached
        for m in mods:
            for p in m.parameters():
                p.mul_(3.0)
    return nn.Sequential(*mods).eval(), shape


def inputs(shape, seed: int = 0, n: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=2.0, size=(n, *shape))


# ---------------------------------------------------------------------------------------------
# from_torch
# ---------------------------------------------------------------------------------------------
@HYP
@given(torch_architectures())
def test_from_torch_matches_torch(arch):
    module, shape = arch
    X = inputs(shape)
    net = from_torch(module)
    assert net.n_inputs == int(np.prod(shape))
    np.testing.assert_allclose(net.forward(X.reshape(len(X), -1)), torch_out(module, X), rtol=1e-9, atol=1e-9)


def test_from_torch_layers_and_named_activations():
    module = nn.Sequential(
        nn.Flatten(),
        nn.Linear(6, 5),
        nn.Sequential(nn.LeakyReLU(0.2), nn.Dropout(0.1)),
        nn.Linear(5, 4, bias=False),
        nn.Hardtanh(-0.5, 2.0),
        nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.Hardsigmoid())),
        nn.Linear(4, 3),
        nn.ReLU6(),
        nn.Identity(),
        nn.Linear(3, 2),
        nn.Linear(2, 2),
    )
    net = from_torch(module)
    assert net.layer_sizes == (6, 5, 4, 4, 3, 2, 2)
    acts = [layer.activation for layer in net.layers]
    assert acts == [LeakyReLU(0.2), HardTanh(-0.5, 2.0), HardSigmoid(), ReLU6(), Identity(), Identity()]
    assert isinstance(acts[0], LeakyReLU) and isinstance(acts[3], ReLU6)
    np.testing.assert_array_equal(net.layers[1].b, 0.0)
    np.testing.assert_array_equal(net.layers[0].W, module[1].weight.detach().numpy().astype(np.float64))
    # consecutive Linear layers are kept as two layers, the first with the Identity activation
    np.testing.assert_array_equal(net.layers[-1].W, module[-1].weight.detach().numpy())


def test_from_torch_composes_consecutive_activations_and_leading_activation():
    module = nn.Sequential(nn.ReLU(), nn.Linear(3, 4), nn.ReLU(), nn.ReLU6(), nn.Hardtanh(-1.0, 2.0), nn.Linear(4, 1))
    net = from_torch(module)
    assert len(net) == 3
    assert net.layers[0].activation == ReLU() and np.array_equal(net.layers[0].W, np.eye(3))
    assert net.layers[1].activation == HardTanh(0.0, 2.0)  # hardtanh(relu6(relu(z))) = clip(z, 0, 2)
    X = inputs((3,), n=200)
    np.testing.assert_allclose(net.forward(X), torch_out(module, X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("module", "name", "kind"),
    [
        (nn.Sequential(nn.Linear(2, 2), nn.Sigmoid()), "1", "Sigmoid"),
        (nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), nn.Tanh())), "1.1", "Tanh"),
        (nn.Sequential(nn.Conv1d(1, 1, 1), nn.Linear(2, 2)), "0", "Conv1d"),
        (nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU()), "0", "Conv2d"),  # no Linear at all: still named
    ],
)
def test_from_torch_unsupported_module_is_named(module, name, kind):
    with pytest.raises(UnsupportedOperationError, match=kind) as err:
        from_torch(module)
    assert err.value.op_type == kind and err.value.node == name
    assert repr(name) in str(err.value)


def test_from_torch_refuses_bad_flatten_custom_forward_and_no_linear():
    with pytest.raises(UnsupportedOperationError, match="start_dim=0"):
        from_torch(nn.Sequential(nn.Flatten(0), nn.Linear(2, 2)))

    class Residual(nn.Sequential):
        def forward(self, x):
            return x + super().forward(x)

    with pytest.raises(UnsupportedOperationError, match="overrides Sequential.forward"):
        from_torch(nn.Sequential(Residual(nn.Linear(2, 2))))
    with pytest.raises(UnsupportedOperationError, match="no nn.Linear"):
        from_torch(nn.Sequential(nn.ReLU()))
    with pytest.raises(ValueError, match="expects 3 inputs"):
        from_torch(nn.Sequential(nn.Linear(2, 2), nn.Linear(3, 1)))
    with pytest.raises(TypeError):
        from_torch(np.eye(2))


def test_from_torch_names_a_custom_module_it_cannot_read():
    """A custom nn.Module runs arbitrary Python in its forward: it is refused by name, not mistaken for a
    model without Linear layers nor translated as its parent class."""

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)

        def forward(self, x):
            return torch.relu(self.lin(x)) * 2 + self.lin(x)

    with pytest.raises(
        UnsupportedOperationError, match=r"custom PyTorch module Block \('<root>', containing Linear\).*forward"
    ) as err:
        from_torch(Block())
    assert err.value.op_type == "Block" and err.value.node == ""
    with pytest.raises(UnsupportedOperationError, match=r"custom PyTorch module Block \('1.0', containing Linear\)"):
        from_torch(nn.Sequential(nn.Linear(2, 3), nn.Sequential(Block())))

    class Doubled(nn.Linear):
        def forward(self, x):
            return 2 * super().forward(x)

    class Square(nn.Module):
        def forward(self, x):
            return x * x

    with pytest.raises(UnsupportedOperationError, match=r"custom PyTorch module Doubled \('0'\)"):
        from_torch(nn.Sequential(Doubled(2, 2)))
    with pytest.raises(UnsupportedOperationError, match=r"custom PyTorch module Square \('1'\)"):
        from_torch(nn.Sequential(nn.Linear(2, 2), Square()))

    class MyReLU(nn.ReLU):  # PyTorch's own forward: translated as ReLU
        pass

    class MyConv(nn.Conv2d):
        pass

    assert from_torch(nn.Sequential(nn.Linear(2, 2), MyReLU())).layers[0].activation == ReLU()
    with pytest.raises(UnsupportedOperationError, match=r"unsupported PyTorch module MyConv \(a Conv2d\) \('0'\)"):
        from_torch(nn.Sequential(MyConv(1, 1, 1)))


# importing torch._dynamo (torch.compile) warns about torch's own use of torch.jit.script_method
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_from_torch_reads_a_compiled_module_through_its_original():
    """torch.compile wraps the module without changing its parameters or function (no compilation happens
    until the wrapper is called)."""
    import torch

    torch.manual_seed(0)
    seq = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    net = from_torch(torch.compile(seq))
    assert net == from_torch(seq)
    nested = from_torch(torch.nn.Sequential(torch.compile(seq), torch.nn.ReLU()))
    X = np.random.default_rng(0).uniform(size=(5, 3))
    np.testing.assert_allclose(nested.forward(X), np.maximum(net.forward(X), 0.0), rtol=1e-12, atol=1e-12)


def test_from_torch_refuses_torchscript_modules_and_names_the_ways_out():
    """A scripted or traced module hides its layers behind TorchScript classes: it is refused by name (at the root
    or nested), and the routes the message names (the original module with the same state_dict, or the
    TorchScript-based ONNX exporter) give the network."""
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    example = torch.zeros(1, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted, traced = torch.jit.script(seq), torch.jit.trace(seq, example)
        nested = nn.Sequential(nn.Linear(2, 4), torch.jit.script(nn.Linear(4, 2)))
    cases = [(scripted, "scripted", "RecursiveScriptModule"), (traced, "traced", "TopLevelTracedModule")]
    for module, how, kind in cases:
        with pytest.raises(
            UnsupportedOperationError, match=rf"'<root>' is a {how} TorchScript module \({kind}, .* of a Sequential\)"
        ) as err:
            from_torch(module)
        assert err.value.op_type == kind and err.value.node == ""
        assert "original module" in str(err.value) and "dynamo=False" in str(err.value)
        rebuilt = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
        rebuilt.load_state_dict(module.state_dict())
        assert from_torch(rebuilt) == from_torch(seq)
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (example,), buf, dynamo=False)
        X = np.random.default_rng(0).normal(size=(5, 4))
        np.testing.assert_allclose(from_onnx(buf.getvalue()).forward(X), torch_out(seq, X), **F32)
    with pytest.raises(UnsupportedOperationError, match=r"'1' is a scripted TorchScript module .* of a Linear") as err:
        from_torch(nested)
    assert err.value.node == "1" and "from_onnx" not in str(err.value)  # no exporter takes this mix


def test_from_torch_single_linear_and_nan_weights():
    lin = nn.Linear(3, 2)
    assert from_torch(lin).layer_sizes == (3, 2)
    with torch.no_grad():
        lin.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        from_torch(lin)


def test_the_converters_are_top_level_names():
    import nnblocks

    module = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    net = nnblocks.from_torch(module)
    assert net == from_torch(module)
    assert nnblocks.from_onnx(nnblocks.to_onnx(net, dtype="float64")) == net
    assert nnblocks.from_onnx(to_onnx(net)).layer_sizes == (3, 2)


# ---------------------------------------------------------------------------------------------
# torch exporters -> from_onnx
# ---------------------------------------------------------------------------------------------
def _clip_min_above_max(model) -> bool:
    """True when the graph has a Clip whose constant min exceeds its max (torch's exporter fuses a Hardtanh
    with max < 0 and a following Relu into one)."""
    proto = model if isinstance(model, onnx.ModelProto) else onnx.load_from_string(model)
    consts = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    for node in proto.graph.node:
        if node.op_type == "Clip" and len(node.input) == 3 and {node.input[1], node.input[2]} <= consts.keys():
            if float(consts[node.input[1]]) > float(consts[node.input[2]]):
                return True
    return False


def check_exported(module, shape, dynamo: bool) -> None:
    X = inputs(shape, seed=1)
    model = export_torch(module, X[:2], dynamo)
    if _clip_min_above_max(model):
        # ambiguous node (ONNX spec: max; onnxruntime: min): refused with an error naming it
        with pytest.raises(ValueError, match="min .* > max"):
            from_onnx(model)
        return
    net = from_onnx(model)
    got = net.forward(X.reshape(len(X), -1))
    np.testing.assert_allclose(got, run_ort(model, X).reshape(len(X), -1), **F32)
    np.testing.assert_allclose(got, torch_out(module, X), **F32)


@HYP
@given(torch_architectures())
def test_from_onnx_torchscript_exporter(arch):
    check_exported(*arch, dynamo=False)


@pytest.mark.slow
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(torch_architectures(max_layers=3))
def test_from_onnx_dynamo_exporter(arch):
    check_exported(*arch, dynamo=True)


@pytest.mark.slow
def test_from_onnx_dynamo_exporter_all_modules():
    module = all_modules()
    X = inputs((2, 3), seed=1)
    model = export_torch(module, X[:2], dynamo=True)
    net = from_onnx(model)
    np.testing.assert_allclose(net.forward(X.reshape(len(X), -1)), torch_out(module, X), **F32)
    np.testing.assert_allclose(net.forward(X.reshape(len(X), -1)), run_ort(model, X), **F32)
    kinds = [type(layer.activation).__name__ for layer in net.layers]
    assert kinds == ["ReLU", "HardTanh", "HardSigmoid", "LeakyReLU", "ReLU6", "Identity", "Identity"]
    assert net.layers[3].activation == LeakyReLU(0.1)  # float32 attribute decoded to 0.1


def all_modules() -> nn.Sequential:
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 5, bias=False), nn.Hardtanh(-0.5, 2.0),
        nn.Linear(5, 4), nn.Hardsigmoid(), nn.Sequential(nn.Linear(4, 4), nn.LeakyReLU(0.1)), nn.Dropout(0.2),
        nn.Linear(4, 3), nn.ReLU6(), nn.Identity(), nn.Linear(3, 2), nn.Linear(2, 2),
    ).eval()  # fmt: skip


@pytest.mark.parametrize("opset", [7, 9, 11, 13, 17])
@pytest.mark.parametrize("fold", [True, False])
def test_torchscript_exporter_opsets(opset, fold):
    """Old opsets write Clip bounds as attributes; without constant folding weights arrive via Transpose."""
    module = all_modules()
    X = inputs((2, 3), seed=2)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.from_numpy(X[:2].astype(np.float32)),), buf, dynamo=False,
                          opset_version=opset, do_constant_folding=fold)  # fmt: skip
    net = from_onnx(buf.getvalue())
    np.testing.assert_allclose(net.forward(X.reshape(len(X), -1)), torch_out(module, X), **F32)
    assert [type(layer.activation).__name__ for layer in net.layers] == [
        "ReLU", "HardTanh", "HardSigmoid", "LeakyReLU", "ReLU6", "Identity", "Identity"
    ]  # fmt: skip


def test_from_torch_uses_evaluation_semantics_in_training_mode():
    module = all_modules().train()
    X = inputs((2, 3))
    net = from_torch(module)
    np.testing.assert_allclose(net.forward(X.reshape(len(X), -1)), torch_out(module.eval(), X), rtol=1e-9)


# ---------------------------------------------------------------------------------------------
# hand-built ONNX graphs
# ---------------------------------------------------------------------------------------------
def check_against_ort(model: onnx.ModelProto, shape, seed: int = 0, n: int = 200) -> Network:
    X = inputs(shape, seed=seed, n=n)
    net = from_onnx(model)
    np.testing.assert_allclose(net.forward(X.reshape(len(X), -1)), run_ort(model, X).reshape(len(X), -1), **F32)
    return net


@pytest.mark.parametrize("bias_first", [False, True])
def test_matmul_add_either_order(rng, bias_first):
    W1, b1, W2, b2 = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(4, 2)), rng.normal(size=2)
    add1 = ["b1", "m1"] if bias_first else ["m1", "b1"]
    add2 = ["b2", "m2"] if bias_first else ["m2", "b2"]
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["m1"], name="mm1"),
        helper.make_node("Add", add1, ["a1"], name="add1"),
        helper.make_node("Relu", ["a1"], ["h1"], name="relu1"),
        helper.make_node("MatMul", ["h1", "W2"], ["m2"], name="mm2"),
        helper.make_node("Add", add2, ["y"], name="add2"),
    ]
    inits = [tensor("W1", W1), tensor("b1", b1), tensor("W2", W2), tensor("b2", b2)]
    net = check_against_ort(make_model(nodes, [vinfo("x", ["N", 3])], [vinfo("y", ["N", 2])], inits), (3,))
    assert net.layer_sizes == (3, 4, 2) and net.layers[0].activation == ReLU()
    np.testing.assert_array_equal(net.layers[0].W, W1.T.astype(np.float32))
    np.testing.assert_array_equal(net.layers[1].b, b2.astype(np.float32))


@pytest.mark.parametrize(
    ("trans_b", "alpha", "beta", "bias_shape"),
    [(0, 1.0, 1.0, (4,)), (1, 0.5, 2.0, (1, 4)), (1, -1.5, 0.0, ()), (0, 2.0, -1.0, None)],
)
def test_gemm_row_layout_attributes(rng, trans_b, alpha, beta, bias_shape):
    B = rng.normal(size=(4, 3) if trans_b else (3, 4))
    inits = [tensor("B", B)]
    gemm_in = ["x", "B"]
    if bias_shape is not None:
        inits.append(tensor("C", rng.normal(size=bias_shape)))
        gemm_in.append("C")
    nodes = [helper.make_node("Gemm", gemm_in, ["y"], name="g", alpha=alpha, beta=beta, transB=trans_b)]
    net = check_against_ort(make_model(nodes, [vinfo("x", ["N", 3])], [vinfo("y", ["N", 4])], inits), (3,))
    assert net.layer_sizes == (3, 4)


def test_gemm_trans_a_and_constant_first_operand(rng):
    """x -> Transpose -> Gemm(W, x^T) (features x batch) -> Relu -> Gemm(h^T, W2, transA=1) -> row layout."""
    W1, c1 = rng.normal(size=(3, 5)), rng.normal(size=(5, 1))  # A = W1 used transposed: transA=1
    W2, c2 = rng.normal(size=(2, 5)), rng.normal(size=(1, 2))
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], name="t", perm=[1, 0]),
        helper.make_node("Gemm", ["W1", "xt", "c1"], ["a1"], name="g1", transA=1, alpha=0.7, beta=1.5),
        helper.make_node("Relu", ["a1"], ["h1"], name="r"),
        helper.make_node("Gemm", ["h1", "W2", "c2"], ["y"], name="g2", transA=1, transB=1, alpha=2.0, beta=-0.5),
    ]
    inits = [tensor("W1", W1), tensor("c1", c1), tensor("W2", W2), tensor("c2", c2)]
    net = check_against_ort(make_model(nodes, [vinfo("x", ["N", 3])], [vinfo("y", ["N", 2])], inits), (3,))
    assert net.layer_sizes == (3, 5, 2)
    np.testing.assert_allclose(net.layers[0].W, 0.7 * W1.T.astype(np.float32))
    # a column-layout bias that would broadcast over the batch is refused
    bad = [tensor("W1", W1), tensor("c1", c1.ravel()), tensor("W2", W2), tensor("c2", c2)]
    nodes_bad = nodes[:2]
    with pytest.raises(ValueError, match="batch index"):
        from_onnx(make_model(nodes_bad, [vinfo("x", [4, 3])], [vinfo("a1", [5, 4])], bad[:2]))


def test_gemm_contracting_over_batch_is_refused(rng):
    nodes = [helper.make_node("Gemm", ["x", "W"], ["y"], name="g", transA=1)]
    model = make_model(nodes, [vinfo("x", [3, 3])], [vinfo("y", [3, 3])], [tensor("W", rng.normal(size=(3, 3)))])
    with pytest.raises(ValueError, match="contract over the batch"):
        from_onnx(model)


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"min": 0.0, "max": 6.0}, ReLU6()),
        ({"min": -1.0, "max": 1.0}, HardTanh(-1.0, 1.0)),
        ({"min": 0.0}, ReLU()),
        ({"max": 0.5}, PiecewiseLinear([0.5], [1.0, 0.0], [0.0, 0.5])),
        ({}, Identity()),
    ],
)
def test_clip_attributes_opset6(rng, attrs, expected):
    W = rng.normal(size=(3, 3))
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["a"], name="mm"),
        helper.make_node("Clip", ["a"], ["y"], name="clip", **attrs),
    ]
    inits = [tensor("W", W)]
    net = check_against_ort(make_model(nodes, [vinfo("x", ["N", 3])], [vinfo("y", ["N", 3])], inits, 6), (3,))
    assert net.layers[0].activation == expected


@pytest.mark.parametrize(("lo", "hi"), [(-0.3, 0.7), (None, 0.25), (0.0, None), (None, None)])
def test_clip_inputs(rng, lo, hi):
    W = rng.normal(size=(3, 3))
    inits = [tensor("W", W)]
    names = ["a", "", ""]
    for i, (name, v) in enumerate((("lo", lo), ("hi", hi))):
        if v is not None:
            inits.append(tensor(name, v))
            names[i + 1] = name
    while names[-1] == "":
        names.pop()
    nodes = [helper.make_node("Gemm", ["x", "W"], ["a"], name="g"), helper.make_node("Clip", names, ["y"], name="c")]
    net = check_against_ort(make_model(nodes, [vinfo("x", ["N", 3])], [vinfo("y", ["N", 3])], inits, 13), (3,))
    expected = {(-0.3, 0.7): HardTanh(-0.3, 0.7), (0.0, None): ReLU(), (None, None): Identity()}.get((lo, hi))
    if expected is not None:
        assert net.layers[0].activation == expected


def test_clip_with_min_above_max_is_refused(rng):
    """The ONNX spec and onnxruntime disagree on Clip with min > max (max vs min): a clear error, no guess."""
    inits = [tensor("W", rng.normal(size=(3, 3))), tensor("lo", 0.0), tensor("hi", -1.5)]
    nodes = [
        helper.make_node("Gemm", ["x", "W"], ["a"], name="g"),
        helper.make_node("Clip", ["a", "lo", "hi"], ["y"], name="fused"),
    ]
    model = make_model(nodes, [vinfo("x", ["N", 3])], [vinfo("y", ["N", 3])], inits, 13)
    with pytest.raises(ValueError, match="Clip 'fused' has min 0 > max -1.5"):
        from_onnx(model)


def test_clip_bounds_from_constant_nodes(rng):
    nodes = [
        helper.make_node("Constant", [], ["lo"], value_float=-1.0),
        helper.make_node("Constant", [], ["hi"], value=tensor("hi", 2.0)),
        helper.make_node("Constant", [], ["W"], value=tensor("W", rng.normal(size=(2, 3)))),
        helper.make_node("Transpose", ["W"], ["Wt"], perm=[1, 0]),  # folded: constant operand
        helper.make_node("MatMul", ["x", "Wt"], ["a"], name="mm"),
        helper.make_node("Clip", ["a", "lo", "hi"], ["y"], name="c"),
    ]
    net = check_against_ort(make_model(nodes, [vinfo("x", ["N", 3])], [vinfo("y", ["N", 2])]), (3,))
    assert net.layers[0].activation == HardTanh(-1.0, 2.0)


@pytest.mark.parametrize(
    ("alpha", "beta"), [(0.2, 0.5), (1 / 6, 0.5), (0.5, 0.1), (-0.3, 0.4), (2.0, -1.0), (0.0, 0.7)]
)
def test_hard_sigmoid_general(rng, alpha, beta):
    nodes = [
        helper.make_node("Gemm", ["x", "W"], ["a"], name="g"),
        helper.make_node("HardSigmoid", ["a"], ["y"], name="hs", alpha=alpha, beta=beta),
    ]
    model = make_model(
        nodes, [vinfo("x", ["N", 3])], [vinfo("y", ["N", 3])], [tensor("W", 2 * rng.normal(size=(3, 3)))]
    )
    net = check_against_ort(model, (3,))
    if alpha == 1 / 6:
        assert isinstance(net.layers[0].activation, HardSigmoid)


def test_leaky_relu_default_and_attribute(rng):
    for attrs, alpha in (({}, 0.01), ({"alpha": 0.3}, 0.3)):
        nodes = [
            helper.make_node("Gemm", ["x", "W"], ["a"], name="g"),
            helper.make_node("LeakyRelu", ["a"], ["y"], name="lr", **attrs),
        ]
        model = make_model(
            nodes, [vinfo("x", ["N", 3])], [vinfo("y", ["N", 3])], [tensor("W", rng.normal(size=(3, 3)))]
        )
        assert check_against_ort(model, (3,)).layers[0].activation == LeakyReLU(alpha)


def test_consecutive_activations_compose(rng):
    nodes = [
        helper.make_node("Gemm", ["x", "W"], ["a"], name="g"),
        helper.make_node("Relu", ["a"], ["r"], name="relu"),
        helper.make_node("Clip", ["r", "", "hi"], ["c"], name="clip"),
        helper.make_node("LeakyRelu", ["c"], ["y"], name="lrelu", alpha=0.5),
    ]
    inits = [tensor("W", 3 * rng.normal(size=(3, 3))), tensor("hi", 2.0)]
    net = check_against_ort(make_model(nodes, [vinfo("x", ["N", 3])], [vinfo("y", ["N", 3])], inits), (3,))
    assert len(net) == 1 and net.layers[0].activation == HardTanh(0.0, 2.0)


@pytest.mark.parametrize("per_channel", [False, True])
def test_normalisation_folds_into_first_layer(rng, per_channel):
    """(x - mean) / std on a (N, 2, 2, 3) image, then Flatten, Gemm, Relu, Gemm: two layers, exact."""
    mshape = (1, 2, 1, 1) if per_channel else (1,)
    mean, std = rng.normal(size=mshape), rng.uniform(0.5, 2.0, size=mshape)
    W1, b1, W2 = rng.normal(size=(4, 12)), rng.normal(size=4), rng.normal(size=(1, 4))
    nodes = [
        helper.make_node("Sub", ["x", "mean"], ["xc"], name="sub"),
        helper.make_node("Div", ["xc", "std"], ["xn"], name="div"),
        helper.make_node("Mul", ["two", "xn"], ["xs"], name="mul"),
        helper.make_node("Flatten", ["xs"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "W1", "b1"], ["a1"], name="g1", transB=1),
        helper.make_node("Dropout", ["a1"], ["d1"], name="drop"),
        helper.make_node("Relu", ["d1"], ["h1"], name="relu"),
        helper.make_node("Identity", ["h1"], ["i1"], name="id"),
        helper.make_node("Gemm", ["i1", "W2"], ["y"], name="g2", transB=1),
    ]
    inits = [
        tensor("mean", mean),
        tensor("std", std),
        tensor("two", 2.0),
        tensor("W1", W1),
        tensor("b1", b1),
        tensor("W2", W2),
    ]
    model = make_model(nodes, [vinfo("x", ["N", 2, 2, 3])], [vinfo("y", ["N", 1])], inits)
    net = check_against_ort(model, (2, 2, 3))
    assert net.layer_sizes == (12, 4, 1)
    # the folded first layer is W1 diag(2 / std) and b1 - W1 (2 mean / std)
    s = np.broadcast_to(2.0 / std.astype(np.float32).astype(np.float64), (1, 2, 2, 3)).ravel()
    m = np.broadcast_to(mean.astype(np.float32).astype(np.float64), (1, 2, 2, 3)).ravel()
    W1f, b1f = W1.astype(np.float32).astype(np.float64), b1.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(net.layers[0].W, W1f * s, rtol=1e-12)
    np.testing.assert_allclose(net.layers[0].b, b1f - W1f @ (s * m), rtol=1e-10, atol=1e-12)


def test_input_scaling_then_activation_and_trailing_scale(rng):
    """Sub -> Relu (a diagonal first layer); output scaled by a scalar folds into the last activation."""
    nodes = [
        helper.make_node("Sub", ["c", "x"], ["a"], name="sub"),  # input as the second operand: c - x
        helper.make_node("Relu", ["a"], ["h"], name="relu"),
        helper.make_node("Gemm", ["h", "W"], ["g"], name="g"),
        helper.make_node("Relu", ["g"], ["r"], name="relu2"),
        helper.make_node("Mul", ["r", "s"], ["m"], name="mul"),
        helper.make_node("Add", ["m", "t"], ["y"], name="add"),
    ]
    inits = [
        tensor("c", rng.normal(size=3)),
        tensor("W", rng.normal(size=(3, 2))),
        tensor("s", 0.5),
        tensor("t", [1.0]),
    ]
    net = check_against_ort(make_model(nodes, [vinfo("x", ["N", 3])], [vinfo("y", ["N", 2])], inits), (3,))
    assert net.layer_sizes == (3, 3, 2)
    np.testing.assert_array_equal(net.layers[0].W, -np.eye(3))
    assert net.layers[1].activation == PiecewiseLinear([0.0], [0.0, 0.5], [1.0, 1.0])


@pytest.mark.parametrize("target", [[-1, 6], [0, -1], [0, 6], [1, 6]])
def test_flattening_reshape(rng, target):
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["f"], name="r"),
        helper.make_node("Gemm", ["f", "W"], ["y"], name="g", transB=1),
    ]
    inits = [tensor("shape", target, np.int64), tensor("W", rng.normal(size=(2, 6)))]
    batch = 1 if target[0] == 1 else "N"
    model = make_model(nodes, [vinfo("x", [batch, 2, 3])], [vinfo("y", [batch, 2])], inits)
    net = check_against_ort(model, (2, 3), n=1 if batch == 1 else 200)
    assert net.layer_sizes == (6, 2)


@pytest.mark.parametrize(("target", "out_shape"), [([-1, 2, 3], [2, 2, 3]), ([-1], [12]), ([3, 4], [3, 4])])
def test_non_flat_reshape_is_refused(target, out_shape):
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["y"], name="r")]
    model = make_model(nodes, [vinfo("x", [2, 6])], [vinfo("y", out_shape)], [tensor("shape", target, np.int64)])
    with pytest.raises(ValueError, match="only flattening reshapes"):
        from_onnx(model, as_graph=False)  # a Network or a refusal (a Graph otherwise)


def test_batch_dependent_shape_is_refused():
    nodes = [
        helper.make_node("Shape", ["x"], ["s"], name="shape_of_x"),
        helper.make_node("Reshape", ["x", "s"], ["y"], name="r"),
    ]
    model = make_model(nodes, [vinfo("x", ["N", 6])], [vinfo("y", ["N", 6])])
    with pytest.raises(UnsupportedOperationError, match="'Shape'.*shape_of_x.*batch-dependent"):
        from_onnx(model)
    # a constant that differs per sample of a static batch
    nodes = [helper.make_node("Add", ["x", "c"], ["y"], name="add")]
    model = make_model(nodes, [vinfo("x", [2, 3])], [vinfo("y", [2, 3])], [tensor("c", np.ones((2, 3)))])
    with pytest.raises(ValueError, match="batch index"):
        from_onnx(model)


@pytest.mark.parametrize(
    ("op", "extra_inputs", "attrs"),
    [("Sigmoid", [], {}), ("Conv", ["W"], {}), ("Tanh", [], {}), ("MaxPool", [], {"kernel_shape": [1]})],
)
def test_unsupported_op_names_type_and_node(rng, op, extra_inputs, attrs):
    inits = [tensor("W", rng.normal(size=(1, 1, 1)))] if extra_inputs else []
    nodes = [
        helper.make_node("Relu", ["x"], ["h"], name="first"),
        helper.make_node(op, ["h", *extra_inputs], ["y"], name="the_bad_node", **attrs),
    ]
    model = make_model(nodes, [vinfo("x", ["N", 1, 4])], [vinfo("y", ["N", 1, 4])], inits)
    with pytest.raises(UnsupportedOperationError, match=f"'{op}'.*'the_bad_node'") as err:
        from_onnx(model, as_graph=False)
    assert err.value.op_type == op and err.value.node == "the_bad_node"
    assert isinstance(err.value, ValueError)


def test_unsupported_op_on_constants_only_is_named():
    nodes = [helper.make_node("Sin", ["c"], ["s"], name="sin_of_const"), helper.make_node("Add", ["x", "s"], ["y"])]
    model = make_model(nodes, [vinfo("x", ["N", 2])], [vinfo("y", ["N", 2])], [tensor("c", [1.0, 2.0])])
    with pytest.raises(UnsupportedOperationError, match="'Sin'.*sin_of_const"):
        from_onnx(model)


@st.composite
def onnx_graphs(draw):
    """Random single-path graphs as other tools write them: Gemm / MatMul+Add with any attributes, element-wise
    normalisation and scaling, the activation ops with random parameters; (model, per-sample input shape)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = n0 = draw(st.integers(1, 5))
    nodes, inits, cur = [], [], "x"

    def fresh(prefix: str) -> str:
        return f"{prefix}{len(nodes)}_{len(inits)}"

    def emit(op: str, ins: list[str], **attrs) -> None:
        nonlocal cur
        out = fresh(op.lower())
        nodes.append(helper.make_node(op, ins, [out], name=f"{op}_{len(nodes)}", **attrs))
        cur = out

    def const(value) -> str:
        name = fresh("c")
        inits.append(tensor(name, value))
        return name

    for _ in range(draw(st.integers(0, 2))):  # element-wise maps on the input
        op = draw(st.sampled_from(["Sub", "Div", "Mul", "Add"]))
        k = rng.uniform(0.5, 2.0, size=draw(st.sampled_from([(), (1,), (n,), (1, n)])))
        emit(op, [cur, const(k)] if op == "Div" or draw(st.booleans()) else [const(k), cur])
    for _ in range(draw(st.integers(1, 3))):
        m = draw(st.integers(1, 5))
        if draw(st.booleans()):
            trans_b = draw(st.booleans())
            W = rng.normal(size=(m, n) if trans_b else (n, m))
            alpha, beta = draw(st.sampled_from([1.0, 0.5, -2.0])), draw(st.sampled_from([1.0, 0.0, 1.5]))
            ins = [cur, const(W)] + ([const(rng.normal(size=draw(st.sampled_from([(m,), (1, m), ()]))))]
                                     if draw(st.booleans()) else [])  # fmt: skip
            emit("Gemm", ins, transB=int(trans_b), alpha=alpha, beta=beta)
        else:
            emit("MatMul", [cur, const(rng.normal(size=(n, m)))])
            b = const(rng.normal(size=m))
            emit("Add", [cur, b] if draw(st.booleans()) else [b, cur])
        n = m
        act = draw(st.sampled_from(["Relu", "LeakyRelu", "Clip", "HardSigmoid", "Dropout", "Identity", None]))
        if act == "LeakyRelu":
            emit(act, [cur], alpha=draw(st.sampled_from([0.01, 0.2, -0.5])))
        elif act == "HardSigmoid":
            emit(
                act, [cur], alpha=draw(st.sampled_from([0.2, 1 / 6, -0.4, 1.5])), beta=draw(st.sampled_from([0.5, 0.1]))
            )
        elif act == "Clip":
            lo = draw(st.sampled_from([None, -1.0, 0.0]))
            hi = draw(st.sampled_from([None, 0.5, 2.0]))
            ins = [cur, "" if lo is None else const(lo), "" if hi is None else const(hi)]
            while ins[-1] == "":
                ins.pop()
            emit(act, ins)
        elif act is not None:
            emit(act, [cur])
    nodes[-1].output[0] = "y"
    return make_model(nodes, [vinfo("x", ["N", n0])], [vinfo("y", ["N", n])], inits), (n0,)


@HYP
@given(onnx_graphs())
def test_from_onnx_random_graphs_match_onnxruntime(graph):
    check_against_ort(*graph)


def test_graph_structure_errors(rng):
    def dense(model):  # the dense importer's refusals (the default reads these models as graphs)
        return from_onnx(model, as_graph=False)

    W = tensor("W", rng.normal(size=(2, 2)))
    branch = [
        helper.make_node("Gemm", ["x", "W"], ["a"], name="g"),
        helper.make_node("Add", ["a", "x"], ["y"], name="res"),
    ]
    with pytest.raises(ValueError, match="not a single path.*'x'"):
        dense(make_model(branch, [vinfo("x", ["N", 2])], [vinfo("y", ["N", 2])], [W]))
    two_in = [helper.make_node("Add", ["x", "z"], ["y"], name="add")]
    with pytest.raises(ValueError, match="exactly one input"):
        dense(make_model(two_in, [vinfo("x", ["N", 2]), vinfo("z", ["N", 2])], [vinfo("y", ["N", 2])]))
    two_out = [helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Relu", ["y"], ["z"])]
    with pytest.raises(ValueError, match="exactly one output"):
        dense(make_model(two_out, [vinfo("x", ["N", 2])], [vinfo("y", ["N", 2]), vinfo("z", ["N", 2])]))
    with pytest.raises(ValueError, match="not the end of the path"):
        dense(make_model(two_out, [vinfo("x", ["N", 2])], [vinfo("y", ["N", 2])]))
    square = [helper.make_node("Mul", ["x", "x"], ["y"], name="sq")]
    with pytest.raises(UnsupportedOperationError, match="twice"):
        dense(make_model(square, [vinfo("x", ["N", 2])], [vinfo("y", ["N", 2])]))
    with pytest.raises(ValueError, match="symbolic or unknown feature"):
        dense(
            make_model([helper.make_node("Relu", ["x"], ["y"])], [vinfo("x", ["N", "M"])], [vinfo("y", ["N", "M"])])
        )
    with pytest.raises(ValueError, match="batch dimension"):
        dense(make_model([helper.make_node("Relu", ["x"], ["y"])], [vinfo("x", [3])], [vinfo("y", [3])]))
    flat0 = [helper.make_node("Flatten", ["x"], ["y"], name="f", axis=0)]
    with pytest.raises(ValueError, match="axis=0"):
        dense(make_model(flat0, [vinfo("x", [3, 2, 2])], [vinfo("y", [1, 12])]))
    div = [helper.make_node("Div", ["c", "x"], ["y"], name="inv")]
    with pytest.raises(UnsupportedOperationError, match="'Div'.*inv"):
        dense(make_model(div, [vinfo("x", ["N", 2])], [vinfo("y", ["N", 2])], [tensor("c", 1.0)]))
    train = [helper.make_node("Dropout", ["x", "r", "t"], ["y"], name="d")]
    inits = [tensor("r", 0.5), tensor("t", True, np.bool_)]
    with pytest.raises(ValueError, match="training mode"):
        dense(make_model(train, [vinfo("x", ["N", 2])], [vinfo("y", ["N", 2])], inits))


def test_topological_order_is_used(rng):
    """Nodes listed out of order (allowed by some tools) are walked from the input."""
    W = rng.normal(size=(3, 2))
    nodes = [
        helper.make_node("Relu", ["a"], ["y"], name="relu"),
        helper.make_node("MatMul", ["x", "W"], ["a"], name="mm"),
    ]
    graph = helper.make_graph(nodes, "g", [vinfo("x", ["N", 3])], [vinfo("y", ["N", 2])], [tensor("W", W)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    net = from_onnx(model)
    X = inputs((3,))
    np.testing.assert_allclose(net.forward(X), np.maximum(X @ W.astype(np.float32), 0), rtol=1e-12)


def test_from_onnx_accepts_path_bytes_and_proto(tmp_path, rng):
    net = Network([Layer(rng.normal(size=(2, 3)), rng.normal(size=2), ReLU())])
    model = to_onnx(net, tmp_path / "n.onnx", dtype="float64")
    for source in (tmp_path / "n.onnx", str(tmp_path / "n.onnx"), model.SerializeToString(), model):
        assert from_onnx(source) == net
    with pytest.raises(TypeError):
        from_onnx(3)
    with pytest.raises(ValueError, match="not an ONNX model"):
        from_onnx(b"not a model")
    with pytest.raises(FileNotFoundError):
        from_onnx(tmp_path / "missing.onnx")
    # weights stored as external data next to the model
    onnx.save_model(model, tmp_path / "ext.onnx", save_as_external_data=True, location="w.bin", size_threshold=0)
    assert (tmp_path / "w.bin").exists()
    assert from_onnx(tmp_path / "ext.onnx") == net


# ---------------------------------------------------------------------------------------------
# to_onnx and round trips
# ---------------------------------------------------------------------------------------------
@st.composite
def activations(draw) -> PiecewiseLinear:
    kind = draw(st.sampled_from(["ReLU", "LeakyReLU", "HardTanh", "ReLU6", "HardSigmoid", "Identity", "PWL", "clip"]))
    if kind == "LeakyReLU":
        return LeakyReLU(draw(st.sampled_from([0.01, 0.2, 0.5, -1.0])))
    if kind == "HardTanh":
        lo = draw(st.integers(-4, 2)) / 2
        return HardTanh(lo, lo + draw(st.integers(1, 4)) / 2)
    if kind == "clip":
        t = draw(st.integers(-4, 4)) / 4
        return draw(
            st.sampled_from([PiecewiseLinear([t], [0.0, 1.0], [t, 0.0]), PiecewiseLinear([t], [1.0, 0.0], [0.0, t])])
        )
    if kind == "PWL":
        return draw(pwl_activations())
    return {"ReLU": ReLU, "ReLU6": ReLU6, "HardSigmoid": HardSigmoid, "Identity": Identity}[kind]()


@st.composite
def pwl_activations(draw, max_pieces: int = 5) -> PiecewiseLinear:
    """A random continuous PWL function: distinct breakpoints, any slopes, intercepts by continuity."""
    n = draw(st.integers(1, max_pieces))
    t = np.array(sorted(draw(st.sets(st.integers(-12, 12), min_size=n - 1, max_size=n - 1)))) / 4.0
    a = np.array(draw(st.lists(st.integers(-8, 8), min_size=n, max_size=n))) / 4.0
    c0 = draw(st.integers(-4, 4)) / 2.0
    c = c0 + np.concatenate([[0.0], np.cumsum((a[:-1] - a[1:]) * t)])
    return PiecewiseLinear(t, a, c)


@st.composite
def networks(draw, max_layers: int = 4) -> Network:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    sizes = draw(st.lists(st.integers(1, 6), min_size=2, max_size=max_layers + 1))
    return Network(
        [
            Layer(rng.normal(scale=1.5, size=(o, i)), rng.normal(size=o), draw(activations()))
            for i, o in zip(sizes[:-1], sizes[1:])
        ]
    )


@HYP
@given(networks())
def test_to_onnx_runs_in_onnxruntime(net):
    X = np.random.default_rng(0).normal(scale=2.0, size=(100, net.n_inputs))
    for dtype, tol in (("float64", {"rtol": 1e-12, "atol": 1e-12}), ("float32", F32)):
        model = to_onnx(net, dtype=dtype)
        onnx.checker.check_model(model, full_check=True)
        np.testing.assert_allclose(run_ort(model, X), net.forward(X), **tol)


@HYP
@given(networks())
def test_round_trip_through_onnx(net):
    assert from_onnx(to_onnx(net, dtype="float64")) == net  # exact, activations by value and by name
    back = from_onnx(to_onnx(net))  # float32: parameters rounded to float32, activations recovered
    assert back.layer_sizes == net.layer_sizes
    np.testing.assert_allclose(back.parameters(), net.parameters().astype(np.float32), rtol=0, atol=0)
    for a, b in zip(net.layers, back.layers):
        if type(a.activation) is not PiecewiseLinear:  # named activations keep their name
            assert type(b.activation) is type(a.activation)
        np.testing.assert_allclose(b.activation.breakpoints, a.activation.breakpoints, rtol=1e-6)
        np.testing.assert_allclose(b.activation.slopes, a.activation.slopes, rtol=1e-6)
        np.testing.assert_allclose(b.activation.intercepts, a.activation.intercepts, rtol=1e-6, atol=1e-6)


def test_to_onnx_operators_and_dynamic_batch(tmp_path):
    rng = np.random.default_rng(0)
    acts = [
        ReLU(),
        LeakyReLU(0.1),
        HardTanh(-1, 2),
        HardSigmoid(),
        PiecewiseLinear([0, 1], [1, -1, 0.5], [0, 0, -1.5]),
        Identity(),
    ]
    net = Network([Layer(rng.normal(size=(3, 3)), rng.normal(size=3), a) for a in acts])
    model = to_onnx(net, tmp_path / "net.onnx")
    ops = [(n.domain, n.op_type) for n in model.graph.node]
    assert ops == [
        ("", "Gemm"),
        ("", "Relu"),
        ("", "Gemm"),
        ("", "LeakyRelu"),
        ("", "Gemm"),
        ("", "Clip"),
        ("", "Gemm"),
        ("", "HardSigmoid"),
        ("", "Gemm"),
        ("ai.nnblocks", "PiecewiseLinear"),
        ("", "Gemm"),
    ]
    assert (tmp_path / "net.onnx").exists()
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 3
    for n in (1, 7):
        X = rng.normal(size=(n, 3))
        np.testing.assert_allclose(run_ort(model, X), net.forward(X), **F32)
    with pytest.raises(ValueError, match="float32 or float64"):
        to_onnx(net, dtype="int32")


def test_pwl_export_keeps_many_kinks_exact():
    """Lemma 4 (iii) activation of Goerigk & Kurtz through the ONNX function, checked at and between kinks."""
    pwl = PiecewiseLinear([0.0, 0.5, 1.0], [-1.0, 1.0, -1.0, 1.0], [0.0, 0.0, 1.0, -1.0])
    net = Network([Layer(np.eye(1), np.zeros(1), pwl)])
    z = np.linspace(-2, 3, 101).reshape(-1, 1)
    model = to_onnx(net, dtype="float64")
    np.testing.assert_allclose(run_ort(model, z), pwl(z), rtol=0, atol=1e-15)
    # the function body alone (inlined) is standard ONNX and computes the same
    inlined = onnx.inliner.inline_local_functions(model)
    assert not inlined.functions and all(n.domain == "" for n in inlined.graph.node)
    np.testing.assert_allclose(run_ort(inlined, z), pwl(z), rtol=0, atol=1e-15)


def test_save_and_load_network_by_suffix(tmp_path, rng):
    net = Network(
        [
            Layer(rng.normal(size=(4, 3)), rng.normal(size=4), LeakyReLU(0.3)),
            Layer(rng.normal(size=(2, 4)), rng.normal(size=2), HardTanh(-1.0, 1.0)),
        ]
    )
    save_network(net, tmp_path / "n.npz")
    assert load_network(tmp_path / "n.npz") == net
    save_network(net, tmp_path / "n.onnx")
    back = load_network(str(tmp_path / "n.onnx"))
    np.testing.assert_allclose(back.parameters(), net.parameters(), rtol=1e-6)
    assert [type(layer.activation) for layer in back.layers] == [LeakyReLU, HardTanh]
    with pytest.raises(ValueError, match=r"\.onnx, \.npz"):
        save_network(net, tmp_path / "n.pt")
    with pytest.raises(ValueError, match=r"\.onnx, \.npz"):
        load_network(tmp_path / "n.h5")
    with pytest.raises(FileNotFoundError):
        load_network(tmp_path / "missing.onnx")


def test_load_network_names_a_corrupt_or_truncated_npz(tmp_path, rng):
    net = Network([Layer(rng.normal(size=(4, 3)), rng.normal(size=4), ReLU())])
    save_network(net, tmp_path / "n.npz")
    data = (tmp_path / "n.npz").read_bytes()
    (tmp_path / "garbage.npz").write_bytes(b"not a network")
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    for name in ("garbage.npz", "cut.npz"):
        with pytest.raises(ValueError, match=rf"{name} is not an nnblocks network file: .*corrupt or truncated"):
            load_network(tmp_path / name)
    damaged = bytearray(data)
    damaged[100:160] = bytes(60)  # inside the first entry; the zip directory at the end is intact
    (tmp_path / "damaged.npz").write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match=r"damaged.npz is not a readable nnblocks network file"):
        load_network(tmp_path / "damaged.npz")


def test_shipped_models_agree_across_formats():
    """The networks shipped under models/ read the same from .onnx (float32) and .npz (exact)."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "models" / "fashion-mnist"
    pairs = [(p, p.with_suffix(".npz")) for p in sorted(folder.glob("*.onnx")) if p.with_suffix(".npz").exists()]
    if not pairs:
        pytest.skip("no shipped .onnx/.npz model pairs")
    X = np.random.default_rng(0).uniform(0.0, 1.0, size=(50, 784))
    for onnx_path, npz_path in pairs:
        a, b = load_network(onnx_path), load_network(npz_path)
        assert a.layer_sizes == b.layer_sizes
        np.testing.assert_allclose(a.forward(X), b.forward(X), **F32)
        np.testing.assert_allclose(run_ort(onnx.load(str(onnx_path)), X), b.forward(X), **F32)


def test_networks_page_examples_run(tmp_path, monkeypatch):
    """The code blocks of docs/networks.md run as written (in order, in one namespace)."""
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "networks.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile("\n".join(blocks), str(page), "exec"), namespace)
    assert namespace["back"] == namespace["net"]
    assert (tmp_path / "net.onnx").exists()
