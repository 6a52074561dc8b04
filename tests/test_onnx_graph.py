"""The ONNX importer for graphs (nnblocks.io.onnx_graph, through from_onnx): onnxruntime is the oracle.

(a) every network of ../shared/data/vnncomp imports and agrees with onnxruntime on 100 inputs drawn inside
the boxes of the folder's VNN-LIB properties; (b) random torch graphs (convolutions, pooling, batch norm,
residual sums, concatenation, permutes, the activations) exported with both torch exporters agree with
torch (float64) and onnxruntime; (c) single-operation models of the ONNX vocabulary against onnxruntime,
opset variants, the batch axis present or absent, and refusals by name.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import shared_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from nnblocks import Network
from nnblocks.graph import Graph
from nnblocks.io import UnsupportedOperationError, from_onnx
from nnblocks.spec import read_vnnlib

torch = pytest.importorskip("torch")
nn = torch.nn

REL = 1e-5  # of the largest output


def run_ort(model: onnx.ModelProto, X: np.ndarray) -> np.ndarray:
    """onnxruntime on every sample of X (N, *per-sample shape) (one at a time for a static batch or a rank-1
    input), flat per sample."""
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    dtype = np.float64 if inp.type == "tensor(double)" else np.float32
    if len(inp.shape) == 1:
        return np.stack([sess.run(None, {inp.name: x.astype(dtype)})[0].ravel() for x in X])
    if inp.shape[0] == 1:
        return np.concatenate([sess.run(None, {inp.name: X[i:i + 1].astype(dtype)})[0].reshape(1, -1)
                               for i in range(len(X))])
    return sess.run(None, {inp.name: X.astype(dtype)})[0].reshape(len(X), -1)


def assert_matches(net, theirs: np.ndarray, X: np.ndarray, rel: float = REL) -> None:
    ours = net.forward(X.reshape(len(X), -1)).reshape(len(X), -1)
    assert ours.shape == theirs.shape
    err = np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-30)
    assert err <= rel, f"relative error {err:.2e}"


# ---------------------------------------------------------------------------------------------
# (a) the VNN-COMP networks
# ---------------------------------------------------------------------------------------------
def boxes(folder) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for f in sorted(folder.glob("vnnlib/*.vnnlib")):
        lo, hi = read_vnnlib(f).bounding_box()
        out.append((np.ravel(lo), np.ravel(hi)))
    return out


@pytest.mark.parametrize(
    "folder", ["acasxu", "acasxu_rank1", "cifar10_resnet", "marabou-cifar10", "mnistfc", "oval21", "test", "verivital"]
)
def test_vnncomp_networks_match_onnxruntime(folder):
    root = shared_data("vnncomp", folder)
    files = sorted(root.rglob("*.onnx"))
    assert files
    rng = np.random.default_rng(0)
    box_list = boxes(root)
    for path in files:
        model = onnx.load(str(path))
        try:
            net = from_onnx(path)
        except UnsupportedOperationError as exc:  # outside the list of operations: refused by name
            assert exc.op_type and exc.op_type in str(exc)
            continue
        size = net.n_inputs
        dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
        ps = dims if len(dims) == 1 else dims[1:]
        fitting = [(lo, hi) for lo, hi in box_list if lo.size == size]
        if fitting:
            k = rng.integers(len(fitting), size=100)
            lo, hi = np.stack([fitting[i][0] for i in k]), np.stack([fitting[i][1] for i in k])
            X = lo + (hi - lo) * rng.uniform(size=(100, size))
        else:
            X = rng.uniform(size=(100, size))
        X = X.reshape(100, *ps)
        assert_matches(net, run_ort(model, X), X)
        if len(dims) == 1 or folder in ("oval21", "cifar10_resnet", "verivital", "marabou-cifar10"):
            assert isinstance(net, Graph), path.name  # not a dense chain (or no batch axis)


# ---------------------------------------------------------------------------------------------
# (b) random torch graphs through both exporters
# ---------------------------------------------------------------------------------------------
ACTS = {"relu": nn.ReLU, "leaky": lambda: nn.LeakyReLU(0.1), "hardtanh": lambda: nn.Hardtanh(-0.5, 1.0),
        "relu6": nn.ReLU6, "hardsigmoid": nn.Hardsigmoid}


def _ceil_rules_differ(n: int, k: int, s: int, p: int) -> bool:
    """Whether the last ceil-mode window would start in the right padding. torch and onnxruntime's MaxPool
    kernel drop that window (and so does the importer), but onnx's shape inference keeps it, so onnxruntime
    refuses to load the exported model (the Gemm after it disagrees on its input size) and cannot be compared."""
    out = -(-(n + 2 * p - k) // s) + 1
    return (out - 1) * s >= n + p


class RandomNet(nn.Module):
    """conv -> act -> [blocks] -> flatten -> linear, the blocks drawn from: residual conv, concat of two conv
    branches, max pool, average pool, batch norm, a permute of H and W, an activation."""

    def __init__(self, draw, C: int, H: int, W: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList()
        self.kinds: list[str] = []
        c = draw(st.integers(1, 3))
        groups = draw(st.sampled_from([g for g in (1, 2, 3) if C % g == 0 and c * g % g == 0]))
        k = draw(st.integers(1, 3))
        dil = draw(st.integers(1, 2))
        pad = draw(st.integers(0, 2))
        stride = draw(st.integers(1, 2))
        self.ops.append(nn.Conv2d(C, c * groups, k, stride=stride, padding=pad, dilation=dil, groups=groups,
                                  bias=draw(st.booleans())))
        self.kinds.append("conv")
        h, w = ((n + 2 * pad - dil * (k - 1) - 1) // stride + 1 for n in (H, W))
        c = c * groups
        self.ops.append(ACTS[draw(st.sampled_from(sorted(ACTS)))]())
        self.kinds.append("act")
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["res", "cat", "maxpool", "avgpool", "bn", "permute", "act"]))
            if kind in ("maxpool", "avgpool") and min(h, w) < 2:
                continue
            self.kinds.append(kind)
            if kind == "res":
                self.ops.append(nn.Conv2d(c, c, 3, padding=1))
            elif kind == "cat":
                c2 = draw(st.integers(1, 2))
                self.ops.append(nn.ModuleList([nn.Conv2d(c, c2, 1), nn.Conv2d(c, c2, 3, padding=1)]))
                c = 2 * c2
            elif kind == "maxpool":
                kk = draw(st.integers(2, min(3, h, w)))
                s_, p_ = draw(st.integers(1, 2)), draw(st.integers(0, kk // 2))
                ceil = draw(st.booleans()) and not any(_ceil_rules_differ(n, kk, s_, p_) for n in (h, w))
                self.ops.append(nn.MaxPool2d(kk, stride=s_, padding=p_, ceil_mode=ceil))
            elif kind == "avgpool":
                self.ops.append(nn.AvgPool2d(2, stride=draw(st.integers(1, 2)), padding=draw(st.integers(0, 1)),
                                             count_include_pad=draw(st.booleans())))
            elif kind == "bn":
                bn = nn.BatchNorm2d(c)
                with torch.no_grad():
                    bn.running_mean.normal_()
                    bn.running_var.uniform_(0.5, 2.0)
                    bn.weight.normal_()
                    bn.bias.normal_()
                self.ops.append(bn)
            elif kind == "permute":
                self.ops.append(nn.Identity())
            else:
                self.ops.append(ACTS[draw(st.sampled_from(sorted(ACTS)))]())
            with torch.no_grad():
                h, w = self.eval()._spatial(torch.zeros(1, C, H, W))
        with torch.no_grad():
            n = self.eval()._features(torch.zeros(1, C, H, W)).shape[1]
        self.head = nn.Linear(n, 3)

    def _body(self, x):
        for kind, op in zip(self.kinds, self.ops):
            if kind == "res":
                x = x + torch.relu(op(x))
            elif kind == "cat":
                x = torch.cat([op[0](x), op[1](x)], dim=1)
            elif kind == "permute":
                x = x.permute(0, 1, 3, 2)
            else:
                x = op(x)
        return x

    def _spatial(self, x):
        y = self._body(x)
        return y.shape[2], y.shape[3]

    def _features(self, x):
        return torch.flatten(self._body(x), 1)

    def forward(self, x):
        return self.head(self._features(x))


def export(module, example: np.ndarray, dynamo: bool) -> onnx.ModelProto:
    x = torch.from_numpy(example.astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            return torch.onnx.export(module.eval(), (x,), dynamo=True, verbose=False).model_proto
        buf = io.BytesIO()
        torch.onnx.export(module.eval(), (x,), buf, dynamo=False, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}})
    return onnx.load_from_string(buf.getvalue())


def check_torch_graph(draw, dynamo: bool) -> None:
    C, H, W = draw(st.integers(1, 3)), draw(st.integers(5, 8)), draw(st.integers(5, 8))
    torch.manual_seed(draw(st.integers(0, 2**31 - 1)))
    module = RandomNet(draw, C, H, W).eval()
    X = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).normal(size=(8, C, H, W))
    model = export(module, X[:1] if dynamo else X, dynamo)
    net = from_onnx(model, as_graph=True)
    assert isinstance(net, Graph)
    with torch.no_grad():
        ref = module.double()(torch.from_numpy(X)).numpy()
    assert_matches(net, ref, X)
    assert_matches(net, run_ort(model, X if not dynamo else X), X)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_torch_graphs_legacy_exporter(data):
    check_torch_graph(data.draw, dynamo=False)


@pytest.mark.slow
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_torch_graphs_dynamo_exporter(data):
    pytest.importorskip("onnxscript")
    check_torch_graph(data.draw, dynamo=True)


# ---------------------------------------------------------------------------------------------
# (c) single operations, opsets, the batch axis, refusals
# ---------------------------------------------------------------------------------------------
def tensor(name: str, value, dtype=np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def model_of(nodes, in_shape, out_shape, inits=(), opset=17) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)], list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    if out_shape is not None:  # the checker wants the output's shape
        onnx.checker.check_model(m)
    return m


def check(model, ps, n=20, seed=0, rel=REL):
    X = np.random.default_rng(seed).normal(size=(n, *ps))
    net = from_onnx(model)
    assert_matches(net, run_ort(model, X), X, rel)
    return net


RNG = np.random.default_rng(7)
W3 = RNG.normal(size=(4, 2, 3, 3))


@pytest.mark.parametrize(
    ("attrs", "out"),
    [
        ({"pads": [1, 0, 2, 1], "strides": [2, 1]}, None),
        ({"auto_pad": "SAME_UPPER", "strides": [2, 2]}, None),
        ({"auto_pad": "SAME_LOWER", "strides": [2, 2]}, None),
        ({"auto_pad": "VALID", "dilations": [2, 1]}, None),
        ({"group": 2, "pads": [1, 1, 1, 1]}, "grouped"),
    ],
)
def test_conv_attributes(attrs, out):
    w = RNG.normal(size=(4, 1, 3, 3)) if out == "grouped" else W3
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["y"], name="conv", **attrs)]
    model = model_of(nodes, ["N", 2, 6, 7], None, [tensor("W", w), tensor("B", RNG.normal(size=4))])
    assert isinstance(check(model, (2, 6, 7)), Graph)


def test_conv1d_convtranspose_batchnorm_pools():
    nodes = [
        helper.make_node("Conv", ["x", "W1"], ["a"], name="conv1d", pads=[2, 1], strides=[2]),
        helper.make_node("Relu", ["a"], ["y"]),
    ]
    check(model_of(nodes, ["N", 2, 9], None, [tensor("W1", RNG.normal(size=(3, 2, 3)))]), (2, 9))
    nodes = [helper.make_node("ConvTranspose", ["x", "W", "B"], ["y"], name="ct", strides=[2, 2], pads=[1, 0, 0, 1],
                              output_padding=[1, 0])]
    check(model_of(nodes, ["N", 2, 4, 3], None, [tensor("W", RNG.normal(size=(2, 3, 3, 2))),
                                                  tensor("B", RNG.normal(size=3))]), (2, 4, 3))
    bn = [tensor(n, v) for n, v in zip("sbmv", (RNG.normal(size=2), RNG.normal(size=2), RNG.normal(size=2),
                                                RNG.uniform(0.5, 2, size=2)))]
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], name="bn", epsilon=1e-3)]
    check(model_of(nodes, ["N", 2, 3, 3], None, bn), (2, 3, 3))
    for op, attrs in [
        ("MaxPool", {"kernel_shape": [3, 2], "pads": [1, 0, 1, 1], "strides": [2, 1], "ceil_mode": 1}),
        ("MaxPool", {"kernel_shape": [2, 2], "dilations": [2, 1]}),
        ("AveragePool", {"kernel_shape": [2, 3], "pads": [1, 1, 0, 1], "count_include_pad": 0}),
        ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
        ("AveragePool", {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}),
        ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "count_include_pad": 1,
                         "ceil_mode": 1}),
        ("GlobalAveragePool", {}),
        ("GlobalMaxPool", {}),
    ]:
        nodes = [helper.make_node(op, ["x"], ["y"], name="pool", **attrs)]
        check(model_of(nodes, ["N", 2, 5, 6], None, opset=19), (2, 5, 6))


def test_shape_operations_and_nhwc():
    """Keras' NHWC input transposed to NCHW, Pad, Slice with steps, Squeeze/Unsqueeze, Concat with itself and a
    constant, Flatten, Gemm; shapes computed by Shape -> Gather -> Concat with a static batch are folded."""
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
        helper.make_node("Pad", ["t", "pads", "pv"], ["p"], mode="constant"),
        helper.make_node("Slice", ["p", "st", "en", "ax", "sp"], ["s"]),
        helper.make_node("Unsqueeze", ["s", "one"], ["u"]),
        helper.make_node("Squeeze", ["u", "one"], ["q"]),
        helper.make_node("Concat", ["q", "q", "k"], ["c"], axis=1),
        helper.make_node("Shape", ["c"], ["shp"]),
        helper.make_node("Gather", ["shp", "zero"], ["n"], axis=0),
        helper.make_node("Concat", ["n", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["c", "target"], ["f"]),
        helper.make_node("Gemm", ["f", "W"], ["y"], transB=1),
    ]
    inits = [tensor("pads", [0, 0, 1, 0, 0, 1, 0, 2], np.int64), tensor("pv", 0.5),
             tensor("st", [-1, 0], np.int64), tensor("en", [-100, 100], np.int64), tensor("ax", [2, 3], np.int64),
             tensor("sp", [-2, 2], np.int64), tensor("one", [1], np.int64), tensor("k", RNG.normal(size=(1, 1, 3, 4))),
             tensor("zero", [0], np.int64), tensor("minus1", [-1], np.int64), tensor("W", RNG.normal(size=(2, 84)))]
    check(model_of(nodes, [1, 4, 5, 2], None, inits), (4, 5, 2))


def test_residual_max_min_and_activations():
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["a"]),
        helper.make_node("Relu", ["a"], ["r"]),
        helper.make_node("Add", ["r", "a"], ["s"], name="residual"),
        helper.make_node("Sub", ["s", "r"], ["d"]),
        helper.make_node("Max", ["d", "r", "c"], ["m"]),
        helper.make_node("Min", ["m", "s"], ["mn"]),
        helper.make_node("Abs", ["mn"], ["ab"]),
        helper.make_node("PRelu", ["ab", "slope"], ["pr"]),
        helper.make_node("Neg", ["pr"], ["ng"]),
        helper.make_node("LeakyRelu", ["ng"], ["lr"], alpha=0.2),
        helper.make_node("Clip", ["lr", "lo", "hi"], ["cl"]),
        helper.make_node("HardSigmoid", ["cl"], ["y"], alpha=0.3, beta=0.4),
    ]
    inits = [tensor("W", RNG.normal(size=(3, 4))), tensor("c", RNG.normal(size=4)),
             tensor("slope", RNG.normal(size=4)), tensor("lo", -0.5), tensor("hi", 0.7)]
    assert isinstance(check(model_of(nodes, ["N", 3], None, inits), (3,)), Graph)


@pytest.mark.parametrize("opset", [9, 10, 11, 13, 18, 21])
def test_opsets_attributes_or_inputs(opset):
    """Clip bounds, Slice starts/ends, Pad pads and (Un)Squeeze axes move from attributes to inputs."""
    inits = [tensor("W", RNG.normal(size=(1, 2, 2, 2)))]
    nodes = [helper.make_node("Conv", ["x", "W"], ["a"], pads=[1, 1, 1, 1])]
    if opset < 11:
        nodes.append(helper.make_node("Clip", ["a"], ["b"], min=-0.5, max=0.5))
        nodes.append(helper.make_node("Pad", ["b"], ["p"], pads=[0, 0, 1, 0, 0, 0, 0, 1], value=0.25)
                     if opset >= 2 else None)
    else:
        inits += [tensor("lo", -0.5), tensor("hi", 0.5), tensor("pads", [0, 0, 1, 0, 0, 0, 0, 1], np.int64),
                  tensor("pv", 0.25)]
        nodes.append(helper.make_node("Clip", ["a", "lo", "hi"], ["b"]))
        nodes.append(helper.make_node("Pad", ["b", "pads", "pv"], ["p"]))
    if opset < 10:
        nodes.append(helper.make_node("Slice", ["p"], ["s"], starts=[1], ends=[100], axes=[3]))
    else:
        inits += [tensor("st", [1], np.int64), tensor("en", [100], np.int64), tensor("ax", [3], np.int64)]
        nodes.append(helper.make_node("Slice", ["p", "st", "en", "ax"], ["s"]))
    if opset < 13:
        nodes.append(helper.make_node("Squeeze", ["s"], ["q"], axes=[1]))
        nodes.append(helper.make_node("Unsqueeze", ["q"], ["u"], axes=[1]))
    else:
        inits.append(tensor("one", [1], np.int64))
        nodes.append(helper.make_node("Squeeze", ["s", "one"], ["q"]))
        nodes.append(helper.make_node("Unsqueeze", ["q", "one"], ["u"]))
    nodes.append(helper.make_node("Relu", ["u"], ["y"]))
    check(model_of(nodes, ["N", 2, 3, 4], None, inits, opset=opset), (2, 3, 4))


def test_batch_axis_absent_or_static():
    """A rank-1 input is one sample; a static batch of one is the batch axis; a dense chain stays a Network."""
    W = RNG.normal(size=(3, 4))
    nodes = [helper.make_node("MatMul", ["x", "W"], ["a"]), helper.make_node("Relu", ["a"], ["y"])]
    net = check(model_of(nodes, [3], [4], [tensor("W", W)]), (3,))
    assert isinstance(net, Graph) and net.input_shape == (3,)
    nodes = [helper.make_node("MatMul", ["W", "x"], ["y"])]  # a column vector: W^T x
    check(model_of(nodes, [4], [3], [tensor("W", W)]), (4,))
    dense = model_of([helper.make_node("Gemm", ["x", "W"], ["y"])], [1, 3], [1, 4], [tensor("W", W)])
    assert isinstance(from_onnx(dense), Network)
    assert isinstance(from_onnx(dense, as_graph=True), Graph)


def test_dense_refusals_become_graphs():
    """Models the dense importer refuses (a residual branch, a rank-1 input, a non-flattening reshape, Conv)
    are graphs by default."""
    W = tensor("W", RNG.normal(size=(2, 2)))
    branch = [helper.make_node("Gemm", ["x", "W"], ["a"]), helper.make_node("Add", ["a", "x"], ["y"])]
    check(model_of(branch, ["N", 2], ["N", 2], [W]), (2,))
    reshape = [helper.make_node("Reshape", ["x", "shape"], ["y"])]
    check(model_of(reshape, [2, 6], [2, 2, 3], [tensor("shape", [-1, 2, 3], np.int64)]), (6,), n=2)


@pytest.mark.parametrize("op", ["Sigmoid", "Tanh", "Softmax", "Exp"])
def test_not_piecewise_affine_is_refused_by_name(op):
    nodes = [helper.make_node("Conv", ["x", "W"], ["a"], name="c"), helper.make_node(op, ["a"], ["b"], name="bad"),
             helper.make_node("Relu", ["b"], ["y"])]
    model = model_of(nodes, ["N", 1, 3, 3], None, [tensor("W", np.ones((1, 1, 2, 2)))])
    with pytest.raises(UnsupportedOperationError, match=f"'{op}'.*'bad'.*not piecewise affine.*supported operations"):
        from_onnx(model)
    trailing = model_of(nodes[:2] + [], ["N", 1, 3, 3], None, [tensor("W", np.ones((1, 1, 2, 2)))])
    trailing.graph.node[1].output[0] = "y"
    with pytest.raises(UnsupportedOperationError, match=f"'{op}'") as err:  # at the output too, as for Networks
        from_onnx(trailing)
    assert err.value.op_type == op and err.value.node == "bad"


def test_other_refusals():
    W = tensor("W", np.ones((1, 1, 2, 2)))
    two_in = helper.make_graph([helper.make_node("Add", ["x", "z"], ["y"])], "g",
                               [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 2]) for n in ("x", "z")],
                               [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])])
    with pytest.raises(ValueError, match=r"exactly one input.*\['x', 'z'\]"):
        from_onnx(helper.make_model(two_in, opset_imports=[helper.make_opsetid("", 17)]), as_graph=True)
    prod = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Mul", ["a", "x"], ["y"], name="prod")]
    with pytest.raises(UnsupportedOperationError, match="'Mul'.*'prod'.*not piecewise affine"):
        from_onnx(model_of(prod, ["N", 2], ["N", 2]))
    nodes = [helper.make_node("Conv", ["x", "W"], ["a"]), helper.make_node("Shape", ["a"], ["s"], name="shape"),
             helper.make_node("Reshape", ["a", "s"], ["y"])]
    with pytest.raises(UnsupportedOperationError, match="'Shape'.*batch-dependent"):
        from_onnx(model_of(nodes, ["N", 1, 3, 3], None, [W]))
    merge = [helper.make_node("Conv", ["x", "W"], ["a"]), helper.make_node("Reshape", ["a", "t"], ["y"], name="r")]
    with pytest.raises(ValueError, match="merge the batch axis"):
        from_onnx(model_of(merge, [2, 1, 3, 3], None, [W, tensor("t", [-1], np.int64)]))
    lrn = [helper.make_node("LRN", ["x"], ["y"], name="lrn", size=3)]
    with pytest.raises(UnsupportedOperationError, match="'LRN'.*'lrn'.*supported operations: .*Conv"):
        from_onnx(model_of(lrn, ["N", 1, 3, 3], None))
