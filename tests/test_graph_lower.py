"""The lowerings of nnblocks.graph.lower against torch.nn.functional (float64) on random shapes and
parameters: convolutions (padding incl. asymmetric, stride, dilation, groups), transposed convolutions,
pooling (padding, dilation, ceil_mode, count_include_pad), batch norm, permutes, strided slices, padding and
concatenation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nnblocks.graph import Linear, WindowMax
from nnblocks.graph.lower import (
    avg_pool,
    batch_norm,
    concat,
    conv,
    conv_transpose,
    elementwise_affine,
    global_avg_pool,
    max_pool,
    pad,
    slice_,
    transpose,
)

torch = pytest.importorskip("torch")
F = torch.nn.functional

SETTINGS = settings(max_examples=40, deadline=None)


def run(op, x: np.ndarray) -> np.ndarray:
    """The operation on a batch of per-sample tensors x (N, *shape): flat (N, size)."""
    return op.forward([x.reshape(x.shape[0], -1)])


def t(a: np.ndarray):
    return torch.from_numpy(np.array(a))


def close(ours: np.ndarray, theirs, shape: tuple[int, ...]) -> None:
    theirs = theirs.detach().numpy()
    assert theirs.shape[1:] == shape
    np.testing.assert_allclose(ours, theirs.reshape(theirs.shape[0], -1), rtol=1e-12, atol=1e-12)


@st.composite
def conv_case(draw, d: int):
    groups = draw(st.integers(1, 3))
    C, M = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 3))
    K = [draw(st.integers(1, 3)) for _ in range(d)]
    dil = [draw(st.integers(1, 2)) for _ in range(d)]
    stride = [draw(st.integers(1, 3)) for _ in range(d)]
    pads = [draw(st.integers(0, 2)) for _ in range(2 * d)]
    extent = [dl * (k - 1) + 1 for dl, k in zip(dil, K)]
    S = [max(1, e - pads[i] - pads[d + i]) + draw(st.integers(0, 4)) for i, e in enumerate(extent)]
    bias = draw(st.booleans())
    return C, M, K, dil, stride, pads, S, groups, bias


def torch_pad(pads: list[int], d: int) -> list[int]:
    """ONNX pads (begins, ends) as F.pad's (last axis first, begin then end)."""
    out: list[int] = []
    for i in range(d - 1, -1, -1):
        out += [pads[i], pads[d + i]]
    return out


@pytest.mark.parametrize("d", [1, 2])
@SETTINGS
@given(data=st.data())
def test_conv_equals_torch(d, data):
    C, M, K, dil, stride, pads, S, groups, has_bias = data.draw(conv_case(d))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    w = rng.normal(size=(M, C // groups, *K))
    b = rng.normal(size=M) if has_bias else None
    x = rng.normal(size=(3, C, *S))
    op, shape = conv((C, *S), w, b, strides=stride, pads=pads, dilations=dil, groups=groups)
    assert isinstance(op, Linear)
    f = F.conv1d if d == 1 else F.conv2d
    ref = f(F.pad(t(x), torch_pad(pads, d)), t(w), None if b is None else t(b), stride=stride, dilation=dil,
            groups=groups)
    close(run(op, x), ref, shape)
    # a row reads at most kernel x channels-per-group entries
    assert np.diff(op.matrix().indptr).max() <= int(np.prod(K)) * (C // groups)


@SETTINGS
@given(data=st.data())
def test_conv_transpose_equals_torch(data):
    groups = data.draw(st.integers(1, 2))
    C, Mg = groups * data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))
    K = [data.draw(st.integers(1, 3)) for _ in range(2)]
    dil = [data.draw(st.integers(1, 2)) for _ in range(2)]
    stride = [data.draw(st.integers(1, 3)) for _ in range(2)]
    p = [data.draw(st.integers(0, 1)) for _ in range(2)]
    # torch's output_padding must be smaller than the stride or the dilation
    op_ = [data.draw(st.integers(0, max(s, dl) - 1)) for s, dl in zip(stride, dil)]
    S = [data.draw(st.integers(1, 5)) for _ in range(2)]
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    w = rng.normal(size=(C, Mg, *K))
    b = rng.normal(size=Mg * groups)
    x = rng.normal(size=(2, C, *S))
    out_sp = [s * (n - 1) + o + dl * (k - 1) + 1 - 2 * pp for s, n, o, dl, k, pp in zip(stride, S, op_, dil, K, p)]
    assume(min(out_sp) >= 1)
    op, shape = conv_transpose((C, *S), w, b, strides=stride, pads=p + p, dilations=dil, groups=groups,
                               output_padding=op_)
    ref = F.conv_transpose2d(t(x), t(w), t(b), stride=stride, padding=p, output_padding=op_, groups=groups,
                             dilation=dil)
    close(run(op, x), ref, shape)


@st.composite
def pool_case(draw, dilation: bool):
    K = [draw(st.integers(1, 3)) for _ in range(2)]
    stride = [draw(st.integers(1, 3)) for _ in range(2)]
    dil = [draw(st.integers(1, 2)) for _ in range(2)] if dilation else [1, 1]
    # torch: padding at most half the kernel
    p = [draw(st.integers(0, k // 2)) for k in K]
    S = [max(1, dl * (k - 1) + 1 - 2 * pp) + draw(st.integers(0, 5)) for pp, dl, k in zip(p, dil, K)]
    return K, stride, dil, p, S, draw(st.booleans())


@SETTINGS
@given(case=pool_case(dilation=True), seed=st.integers(0, 2**32 - 1))
def test_max_pool_equals_torch(case, seed):
    K, stride, dil, p, S, ceil = case
    x = np.random.default_rng(seed).normal(size=(3, 2, *S))
    ref = F.max_pool2d(t(x), K, stride, p, dil, ceil_mode=ceil)
    if torch.isinf(ref).any():  # a window wholly in the padding (possible with dilation): refused
        with pytest.raises(ValueError, match="wholly in the padding"):
            max_pool((2, *S), K, stride, p + p, dil, ceil_mode=ceil)
        return
    op, shape = max_pool((2, *S), K, stride, p + p, dil, ceil_mode=ceil)
    assert isinstance(op, WindowMax)
    close(run(op, x), ref, shape)


@SETTINGS
@given(case=pool_case(dilation=False), include=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_avg_pool_equals_torch(case, include, seed):
    K, stride, _, p, S, ceil = case
    x = np.random.default_rng(seed).normal(size=(3, 2, *S))
    op, shape = avg_pool((2, *S), K, stride, p + p, count_include_pad=include, ceil_mode=ceil)
    ref = F.avg_pool2d(t(x), K, stride, p, ceil_mode=ceil, count_include_pad=include)
    close(run(op, x), ref, shape)


def test_avg_pool_asymmetric_pads_without_count_equal_explicit_mean():
    """Asymmetric pads (no torch equivalent): the mean over the window's places inside the input."""
    x = np.random.default_rng(0).normal(size=(1, 1, 4, 5))
    op, shape = avg_pool((1, 4, 5), [2, 3], [2, 2], [1, 0, 0, 2])
    y = run(op, x).reshape(shape)
    xp = np.pad(x[0, 0], ((1, 0), (0, 2)), constant_values=np.nan)
    ref = np.array([[np.nanmean(xp[2 * i:2 * i + 2, 2 * j:2 * j + 3]) for j in range(shape[2])]
                    for i in range(shape[1])])
    np.testing.assert_allclose(y[0], ref, rtol=1e-12)


@SETTINGS
@given(C=st.integers(1, 3), S=st.lists(st.integers(1, 5), min_size=1, max_size=2), seed=st.integers(0, 2**32 - 1))
def test_global_avg_pool_and_batch_norm(C, S, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4, C, *S))
    op, shape = global_avg_pool((C, *S))
    close(run(op, x), F.adaptive_avg_pool2d(t(x), 1) if len(S) == 2 else F.adaptive_avg_pool1d(t(x), 1), shape)
    g, b, m, v = rng.normal(size=C), rng.normal(size=C), rng.normal(size=C), rng.uniform(0.1, 2, size=C)
    bn = batch_norm((C, *S), g, b, m, v, 1e-3)
    ref = F.batch_norm(t(x), t(m), t(v), t(g), t(b), training=False, eps=1e-3)
    close(run(bn, x), ref, (C, *S))


shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


@SETTINGS
@given(shape=shapes, data=st.data())
def test_transpose_equals_permute(shape, data):
    perm = data.draw(st.permutations(range(len(shape))))
    x = np.random.default_rng(0).normal(size=(2, *shape))
    op, out = transpose(shape, perm)
    close(run(op, x), t(x).permute(0, *[p + 1 for p in perm]), out)


@SETTINGS
@given(shape=shapes, data=st.data())
def test_slice_equals_numpy_steps(shape, data):
    axes = data.draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1, max_size=len(shape),
                              unique_by=lambda a: a % len(shape)))
    starts, ends, steps = [], [], []
    for a in axes:
        n = shape[a]
        steps.append(data.draw(st.sampled_from([1, 2, 3, -1, -2])))
        starts.append(data.draw(st.integers(-n - 2, n + 2)))
        ends.append(data.draw(st.sampled_from([-(2**63), 2**63 - 1, *range(-n - 2, n + 3)])))
    index = [slice(None)] * len(shape)
    for a, s, e, k in zip(axes, starts, ends, steps):
        index[a % len(shape)] = slice(s, e, k)
    x = np.random.default_rng(1).normal(size=(2, *shape))
    ref = x[(slice(None), *index)]
    if ref.size == 0:
        with pytest.raises(ValueError, match="empty"):
            slice_(shape, starts, ends, axes, steps)
        return
    op, out = slice_(shape, starts, ends, axes, steps)
    close(run(op, x), torch.from_numpy(ref.copy()), out)


@SETTINGS
@given(shape=shapes, data=st.data())
def test_pad_equals_torch(shape, data):
    r = len(shape)
    pads = [data.draw(st.integers(-((shape[i % r] - 1) // 2), 2)) for i in range(2 * r)]
    value = data.draw(st.floats(-3, 3))
    x = np.random.default_rng(2).normal(size=(2, *shape))
    op, out = pad(shape, pads, value)
    close(run(op, x), F.pad(t(x), torch_pad(pads, r), value=value), out)


@SETTINGS
@given(shape=shapes, data=st.data())
def test_concat_equals_cat(shape, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    k = data.draw(st.integers(1, 3))
    shapes_ = [tuple(data.draw(st.integers(1, 3)) if i == axis % len(shape) else s for i, s in enumerate(shape))
               for _ in range(k)]
    rng = np.random.default_rng(3)
    xs = [rng.normal(size=(2, *s)) for s in shapes_]
    op, out = concat(shapes_, axis)
    y = op.forward([x.reshape(2, -1) for x in xs])
    close(y, torch.cat([t(x) for x in xs], dim=axis % len(shape) + 1), out)


@SETTINGS
@given(shape=shapes, data=st.data())
def test_elementwise_affine_broadcasts(shape, data):
    sub = tuple(data.draw(st.sampled_from([1, s])) for s in shape[data.draw(st.integers(0, len(shape))):])
    rng = np.random.default_rng(4)
    a, c = rng.normal(size=sub), rng.normal(size=shape)
    x = rng.normal(size=(2, *shape))
    op = elementwise_affine(shape, a, c)
    np.testing.assert_allclose(run(op, x), (a * x + c).reshape(2, -1), rtol=1e-12)
    with pytest.raises(ValueError, match="does not broadcast"):
        elementwise_affine(shape, np.ones((2, *shape)))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="groups"):
        conv((3, 4, 4), np.ones((2, 2, 1, 1)), groups=2)
    with pytest.raises(ValueError, match="pads must have 4"):
        conv((1, 4, 4), np.ones((1, 1, 1, 1)), pads=[1, 1])
    with pytest.raises(ValueError, match="perm"):
        transpose((2, 3), [0, 0])
    with pytest.raises(ValueError, match="wholly in the padding"):
        max_pool((1, 2), [1], [1], [1, 0])
