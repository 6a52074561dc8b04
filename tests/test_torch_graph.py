"""from_torch on convolutional and residual modules: torch (float64, ``module.double()``) is the oracle.

Random modules are built from convolutions (1-D and 2-D, random padding incl. 'same'/'valid', stride,
dilation, groups, bias), batch norm in eval mode with random running statistics, max/average/adaptive
pooling, activations, and custom modules whose forward torch.fx traces: residual sums and differences,
concatenation, permutes, max/min of two tensors, reshapes. The imported Graph must equal torch's forward
to 1e-6 relative to the largest output; dense chains stay Networks; what cannot be translated is refused by
name.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnblocks import Network
from nnblocks.graph import Graph
from nnblocks.io import UnsupportedOperationError, from_torch
from nnblocks.io.torch import from_torch as dense_from_torch

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

HYP = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def torch_out(module, X: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(X)).numpy().reshape(X.shape[0], -1)


def assert_equal_to_torch(module, input_shape, n: int = 6, seed: int = 0) -> Graph | Network:
    module = module.double().eval()
    net = from_torch(module, input_shape=input_shape)
    X = np.random.default_rng(seed).normal(size=(n, *input_shape))
    ref = torch_out(module, X)
    got = net.forward(X.reshape(n, -1) if isinstance(net, Network) else X)
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6 * scale)
    return net


# ---------------------------------------------------------------------------------------------
# custom modules with a traced forward
# ---------------------------------------------------------------------------------------------
class Residual(nn.Module):
    """y = x +- body(x) (channels and spatial shape kept by 'same' padding)."""

    def __init__(self, body: nn.Module, sign: int) -> None:
        super().__init__()
        self.body, self.sign = body, sign

    def forward(self, x):
        out = self.body(x)
        return x + out if self.sign > 0 else x - out


class CatBranch(nn.Module):
    """torch.cat([branch(x), x], dim=1): more channels."""

    def __init__(self, branch: nn.Module) -> None:
        super().__init__()
        self.branch = branch

    def forward(self, x):
        return torch.cat([self.branch(x), x], dim=1)


class MaxOfTwo(nn.Module):
    def __init__(self, branch: nn.Module, use_min: bool) -> None:
        super().__init__()
        self.branch, self.use_min = branch, use_min

    def forward(self, x):
        y = self.branch(x)
        return torch.min(y, x) if self.use_min else torch.max(y, x)


class PermuteBack(nn.Module):
    """Swap the last two axes, scale, and swap back (2-D), or a transpose of channels and length (1-D)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.d = d

    def forward(self, x):
        if self.d == 2:
            return (F.relu(x.permute(0, 1, 3, 2)) * 0.5).permute(0, 1, 3, 2).contiguous()
        return x.transpose(1, 2).relu().transpose(1, 2)


class ViewFlatten(nn.Module):
    def forward(self, x):
        return x.view(x.size(0), -1)


# ---------------------------------------------------------------------------------------------
# random modules
# ---------------------------------------------------------------------------------------------
def _activation(draw):
    name = draw(st.sampled_from(["relu", "leaky", "hardtanh", "relu6", "hardsigmoid"]))
    return {
        "relu": nn.ReLU(),
        "leaky": nn.LeakyReLU(draw(st.floats(0.01, 0.5))),
        "hardtanh": nn.Hardtanh(-0.5, 0.7),
        "relu6": nn.ReLU6(),
        "hardsigmoid": nn.Hardsigmoid(),
    }[name]


def _conv(draw, d: int, C: int, same: bool = False):
    Conv = nn.Conv1d if d == 1 else nn.Conv2d
    groups = draw(st.sampled_from([g for g in (1, 2, 3) if C % g == 0]))
    M = C if same else groups * draw(st.integers(1, 3))
    k = draw(st.integers(1, 3))
    dil = draw(st.integers(1, 2))
    if same:
        return Conv(C, M, k, padding="same", dilation=dil, groups=groups, bias=draw(st.booleans()))
    stride = draw(st.integers(1, 2))
    padding = draw(st.sampled_from(["valid", 0, 1, 2] + (["same"] if stride == 1 else [])))
    return Conv(C, M, k, stride=stride, padding=padding, dilation=dil, groups=groups, bias=draw(st.booleans()))


def _batch_norm(draw, d: int, C: int):
    bn = (nn.BatchNorm1d if d == 1 else nn.BatchNorm2d)(C, affine=draw(st.booleans()))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    with torch.no_grad():
        bn.running_mean.copy_(torch.from_numpy(rng.normal(size=C)))
        bn.running_var.copy_(torch.from_numpy(rng.uniform(0.2, 3.0, size=C)))
        if bn.affine:
            bn.weight.copy_(torch.from_numpy(rng.normal(size=C)))
            bn.bias.copy_(torch.from_numpy(rng.normal(size=C)))
    return bn.eval()


def _pool(draw, d: int):
    k = draw(st.integers(1, 3))
    stride = draw(st.sampled_from([None, 1, 2]))
    padding = draw(st.integers(0, k // 2))
    ceil = draw(st.booleans())
    if draw(st.booleans()):
        Max = nn.MaxPool1d if d == 1 else nn.MaxPool2d
        return Max(k, stride=stride, padding=padding, dilation=draw(st.integers(1, 2)) if padding == 0 else 1,
                   ceil_mode=ceil)
    Avg = nn.AvgPool1d if d == 1 else nn.AvgPool2d
    return Avg(k, stride=stride, padding=padding, ceil_mode=ceil, count_include_pad=draw(st.booleans()))


def _channels(module, shape) -> tuple[int, ...] | None:
    """The per-sample output shape of module on samples of ``shape``, or None when torch refuses it."""
    try:
        with torch.no_grad():
            return tuple(module.double().eval()(torch.zeros(2, *shape, dtype=torch.float64)).shape[1:])
    except RuntimeError:
        return None


@st.composite
def conv_modules(draw):
    """(module, input_shape): a random nn.Sequential of convolutional blocks and custom traced modules."""
    d = draw(st.sampled_from([1, 2]))
    C = draw(st.integers(1, 4))
    spatial = tuple(draw(st.integers(4, 9)) for _ in range(d))
    shape = (C, *spatial)
    torch.manual_seed(draw(st.integers(0, 2**16)))
    mods: list = []
    for _ in range(draw(st.integers(1, 5))):
        c = shape[0]
        kind = draw(st.sampled_from(["conv", "bn", "act", "pool", "residual", "cat", "max", "permute"]))
        if kind == "conv":
            m = _conv(draw, d, c)
        elif kind == "bn":
            m = _batch_norm(draw, d, c)
        elif kind == "act":
            m = _activation(draw)
        elif kind == "pool":
            m = _pool(draw, d)
        elif kind == "residual":
            body = nn.Sequential(_conv(draw, d, c, same=True), _batch_norm(draw, d, c), _activation(draw))
            m = Residual(body, draw(st.sampled_from([1, -1])))
        elif kind == "cat":
            m = CatBranch(nn.Sequential(_conv(draw, d, c), _activation(draw)))
        elif kind == "max":
            m = MaxOfTwo(nn.Sequential(_conv(draw, d, c, same=True), _activation(draw)), draw(st.booleans()))
        else:
            m = PermuteBack(d)
        out = _channels(m, shape)
        if out is None or min(out) < 1:
            continue
        mods.append(m)
        shape = out
    if draw(st.booleans()):
        mods += [ViewFlatten() if draw(st.booleans()) else nn.Flatten(), nn.Linear(int(np.prod(shape)), 3)]
    if not mods:
        mods = [nn.Identity()]
    return nn.Sequential(*mods), (C, *spatial)


@HYP
@given(conv_modules())
def test_random_conv_modules_equal_torch(case):
    module, shape = case
    net = assert_equal_to_torch(module, shape)
    if isinstance(net, Network):  # the draw happened to be a dense chain: the dense importer's Network
        assert net == dense_from_torch(module)
    else:
        assert isinstance(net, Graph)


def test_a_residual_cnn_with_adaptive_pooling_equals_torch():
    torch.manual_seed(1)

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out += x
            return F.relu(out)

    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(), Block(4), Block(4),
        nn.MaxPool2d(2), nn.AdaptiveAvgPool2d((2, 3)), nn.Flatten(), nn.Linear(24, 5),
    )
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    graph = assert_equal_to_torch(model, (3, 15, 13))
    assert isinstance(graph, Graph) and graph.input_shape == (3, 15, 13) and graph.output_shape == (5,)
    assert_equal_to_torch(nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()), (1, 6, 7))
    assert_equal_to_torch(nn.Sequential(nn.AdaptiveAvgPool2d((3, 2)), nn.ReLU()), (2, 7, 5))  # not divisible


def test_functions_methods_and_indexing_equal_torch():
    torch.manual_seed(2)

    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(2, 4, 3, padding=1)
            self.lin = nn.Linear(5, 5)
            self.register_buffer("shift", torch.linspace(-1, 1, 5))

        def forward(self, x):
            y = self.conv(x)  # (N, 4, 5)
            y = torch.clamp(y, min=-0.3) - 2 * self.shift / 4
            z = F.leaky_relu(self.lin(y), 0.1)  # Linear on the last axis of every channel
            a = torch.maximum(z[:, :2], z[:, 2:])  # slices, elementwise max
            b = F.pad(a, (1, 0)).abs()
            c = torch.flatten(b.unsqueeze(1), 2).squeeze(1)
            return -torch.cat([c.reshape(-1, 12), F.hardtanh(x.view(x.shape[0], 10), -0.2, 0.4)], 1)

    graph = assert_equal_to_torch(Mixed(), (2, 5))
    assert isinstance(graph, Graph) and graph.output_shape == (22,)


def test_dense_chains_stay_networks_equal_to_the_dense_importer():
    torch.manual_seed(3)
    seq = nn.Sequential(nn.Flatten(), nn.Linear(6, 4), nn.ReLU(), nn.Dropout(), nn.Linear(4, 2))
    net = from_torch(seq, input_shape=(2, 3))
    assert isinstance(net, Network) and net == dense_from_torch(seq) == from_torch(seq)
    graph = from_torch(seq.double(), input_shape=(2, 3), as_graph=True)
    assert isinstance(graph, Graph)
    X = np.random.default_rng(0).normal(size=(5, 2, 3))
    np.testing.assert_allclose(graph.forward(X), net.forward(X.reshape(5, -1)), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="input_shape"):
        from_torch(seq, input_shape=(7,))
    with pytest.raises(ValueError, match="input_shape"):
        from_torch(seq, as_graph=True)
    with pytest.raises(UnsupportedOperationError, match="Conv2d"):
        from_torch(nn.Sequential(nn.Conv2d(1, 1, 1), nn.Flatten(), nn.Linear(4, 1)), input_shape=(1, 2, 2),
                   as_graph=False)


def test_without_input_shape_a_convolution_is_refused_with_the_way_out():
    with pytest.raises(UnsupportedOperationError, match=r"Conv2d.*with input_shape") as err:
        from_torch(nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU()))
    assert err.value.op_type == "Conv2d" and err.value.node == "0"


# ---------------------------------------------------------------------------------------------
# refusals by name
# ---------------------------------------------------------------------------------------------
def test_training_mode_batch_norm_is_refused_by_name():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU())  # training mode by default
    with pytest.raises(UnsupportedOperationError, match=r"BatchNorm2d \('1'.*training mode.*eval\(\)") as err:
        from_torch(model, input_shape=(1, 5, 5))
    assert err.value.op_type == "BatchNorm2d" and err.value.node == "1"
    assert isinstance(from_torch(model.eval(), input_shape=(1, 5, 5)), Graph)
    no_stats = nn.Sequential(nn.BatchNorm1d(3, track_running_stats=False).eval())
    with pytest.raises(UnsupportedOperationError, match="track_running_stats=False"):
        from_torch(no_stats, input_shape=(3, 4))


def test_sigmoid_in_the_middle_is_refused_as_not_piecewise_affine():
    model = nn.Sequential(nn.Conv1d(1, 2, 2), nn.Sigmoid(), nn.Flatten(), nn.Linear(6, 1))
    with pytest.raises(UnsupportedOperationError, match=r"Sigmoid \('1'.*not piecewise-affine.*Conv2d") as err:
        from_torch(model, input_shape=(1, 4))
    assert err.value.op_type == "Sigmoid" and err.value.node == "1"

    class Gate(nn.Module):
        def forward(self, x):
            return torch.tanh(x) + x

    with pytest.raises(UnsupportedOperationError, match=r"torch.tanh.*tanh is not piecewise-affine") as err:
        from_torch(nn.Sequential(nn.Conv1d(1, 1, 1), Gate()), input_shape=(1, 4))
    assert err.value.op_type == "torch.tanh"


def test_reflect_padding_is_refused_by_name():
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect"))
    with pytest.raises(UnsupportedOperationError, match=r"Conv2d \('0'.*padding_mode='reflect'") as err:
        from_torch(model, input_shape=(1, 4, 4))
    assert err.value.op_type == "Conv2d"


def test_an_untraceable_forward_is_refused_by_name():
    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 1)

        def forward(self, x):
            y = self.conv(x)
            if y.sum() > 0:
                return y
            return -y

    with pytest.raises(UnsupportedOperationError, match=r"DataDependent \('<root>'\) cannot be traced by torch.fx"
                       ) as err:
        from_torch(DataDependent(), input_shape=(1, 3, 3))
    assert err.value.op_type == "DataDependent"
    with pytest.raises(UnsupportedOperationError, match=r"DataDependent \('1'\) cannot be traced") as err:
        from_torch(nn.Sequential(nn.ReLU(), DataDependent()), input_shape=(1, 3, 3))
    assert err.value.node == "1"


def test_nonlinear_products_batch_reshapes_and_unknown_functions_are_refused():
    class Product(nn.Module):
        def forward(self, x):
            return x * x

    class BatchMix(nn.Module):
        def forward(self, x):
            return x.reshape(1, -1)

    class Sine(nn.Module):
        def forward(self, x):
            return torch.sin(x)

    class TwoInputs(nn.Module):
        def forward(self, x, y):
            return x + y

    cases = [
        (Product(), r"operator.mul.*product of two computed tensors", "operator.mul"),
        (BatchMix(), r"Tensor.reshape.*batch", "Tensor.reshape"),
        (Sine(), r"unsupported PyTorch function torch.sin .*supported functions", "torch.sin"),
    ]
    for module, pattern, op in cases:
        with pytest.raises(UnsupportedOperationError, match=pattern) as err:
            from_torch(module, input_shape=(2, 3))
        assert err.value.op_type == op
    with pytest.raises(UnsupportedOperationError, match="more than one input"):
        from_torch(TwoInputs(), input_shape=(3,))
    with pytest.raises(UnsupportedOperationError, match=r"MaxPool2d.*return_indices"):
        from_torch(nn.Sequential(nn.MaxPool2d(2, return_indices=True)), input_shape=(1, 4, 4))
    with pytest.raises(ValueError, match="input_shape"):
        from_torch(nn.Sequential(nn.ReLU()), input_shape=(0, 3))


@pytest.mark.parametrize(
    "module, shape",
    [
        (nn.ConvTranspose2d(2, 4, 3, stride=2, padding=1, output_padding=1, groups=2, dilation=1), (2, 4, 5)),
        (nn.ConvTranspose1d(3, 2, 2, stride=3, padding=0, dilation=2), (3, 6)),
        (nn.Conv2d(2, 3, (2, 3), stride=(2, 1), padding=(1, 0), dilation=(1, 2)), (2, 6, 7)),
        (nn.Sequential(nn.ZeroPad2d((1, 0, 2, 1)), nn.ConstantPad1d(1, 0.5)), (1, 3, 3)),
        (nn.Sequential(nn.AdaptiveAvgPool1d(3), nn.Unflatten(1, (1, 2)), nn.Flatten(2)), (2, 7)),
        (nn.Sequential(nn.MaxPool2d((2, 3), stride=(1, 2), padding=(1, 1), ceil_mode=True)), (2, 5, 6)),
        (nn.Sequential(nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=True)), (1, 6, 6)),
        (nn.Conv2d(1, 2, 3), (1, 4, 4)),  # a single module as the root
    ],
)
def test_single_modules_equal_torch(module, shape):
    torch.manual_seed(4)
    for p in module.parameters():
        torch.nn.init.normal_(p)
    assert isinstance(assert_equal_to_torch(module, shape), Graph)
